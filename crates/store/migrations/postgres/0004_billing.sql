-- Monthly billing: closed periods and their statements. Once written, a
-- closed period, its statements and their lines never change (triggers).

CREATE TABLE billing_periods (
    period    TEXT   PRIMARY KEY,
    closed_at BIGINT NOT NULL,
    closed_by TEXT   NOT NULL
);

CREATE TABLE statements (
    id             BIGSERIAL PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id),
    period         TEXT   NOT NULL REFERENCES billing_periods (period),
    -- The account as it was named when the period was closed.
    account_number TEXT   NOT NULL,
    account_name   TEXT   NOT NULL,
    closed_at      BIGINT NOT NULL,
    CONSTRAINT statements_account_period_key UNIQUE (account_id, period)
);
CREATE INDEX statements_period ON statements (period);

CREATE TABLE statement_lines (
    id            BIGSERIAL PRIMARY KEY,
    statement_id  BIGINT NOT NULL REFERENCES statements (id),
    -- No foreign key: a statement keeps the lines of users deleted later.
    user_id       BIGINT,
    username      TEXT   NOT NULL,
    method        TEXT   NOT NULL,
    order_number  TEXT   NOT NULL,
    days          BIGINT NOT NULL CHECK (days >= 1),
    days_in_month BIGINT NOT NULL CHECK (days_in_month BETWEEN 28 AND 31),
    monthly_price BIGINT NOT NULL CHECK (monthly_price >= 0),
    gross         BIGINT NOT NULL CHECK (gross >= 0),
    discount      BIGINT NOT NULL CHECK (discount >= 0),
    amount        BIGINT NOT NULL CHECK (amount >= 0 AND amount = gross - discount),
    currency      TEXT   NOT NULL
);
CREATE INDEX statement_lines_statement ON statement_lines (statement_id);

CREATE FUNCTION billing_closed_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'closed statements cannot be changed';
END;
$$;
CREATE TRIGGER billing_periods_final BEFORE UPDATE OR DELETE ON billing_periods
    FOR EACH ROW EXECUTE FUNCTION billing_closed_is_final();
CREATE TRIGGER statements_final BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION billing_closed_is_final();
CREATE TRIGGER statement_lines_final BEFORE UPDATE OR DELETE ON statement_lines
    FOR EACH ROW EXECUTE FUNCTION billing_closed_is_final();
