-- Monthly billing: closed periods and their statements. Once written, a
-- closed period, its statements and their lines never change (triggers).

CREATE TABLE billing_periods (
    period    TEXT    PRIMARY KEY,
    closed_at INTEGER NOT NULL,
    closed_by TEXT    NOT NULL
);

CREATE TABLE statements (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    period         TEXT    NOT NULL REFERENCES billing_periods (period),
    -- The account as it was named when the period was closed.
    account_number TEXT    NOT NULL,
    account_name   TEXT    NOT NULL,
    closed_at      INTEGER NOT NULL,
    CONSTRAINT statements_account_period_key UNIQUE (account_id, period)
);
CREATE INDEX statements_period ON statements (period);

CREATE TABLE statement_lines (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    statement_id  INTEGER NOT NULL REFERENCES statements (id),
    -- No foreign key: a statement keeps the lines of users deleted later.
    user_id       INTEGER,
    username      TEXT    NOT NULL,
    method        TEXT    NOT NULL,
    order_number  TEXT    NOT NULL,
    days          INTEGER NOT NULL CHECK (days >= 1),
    days_in_month INTEGER NOT NULL CHECK (days_in_month BETWEEN 28 AND 31),
    monthly_price INTEGER NOT NULL CHECK (monthly_price >= 0),
    gross         INTEGER NOT NULL CHECK (gross >= 0),
    discount      INTEGER NOT NULL CHECK (discount >= 0),
    amount        INTEGER NOT NULL CHECK (amount >= 0 AND amount = gross - discount),
    currency      TEXT    NOT NULL
);
CREATE INDEX statement_lines_statement ON statement_lines (statement_id);

CREATE TRIGGER billing_periods_no_update BEFORE UPDATE ON billing_periods
BEGIN SELECT RAISE(ABORT, 'closed billing periods cannot be changed'); END;
CREATE TRIGGER billing_periods_no_delete BEFORE DELETE ON billing_periods
BEGIN SELECT RAISE(ABORT, 'closed billing periods cannot be changed'); END;
CREATE TRIGGER statements_no_update BEFORE UPDATE ON statements
BEGIN SELECT RAISE(ABORT, 'closed statements cannot be changed'); END;
CREATE TRIGGER statements_no_delete BEFORE DELETE ON statements
BEGIN SELECT RAISE(ABORT, 'closed statements cannot be changed'); END;
CREATE TRIGGER statement_lines_no_update BEFORE UPDATE ON statement_lines
BEGIN SELECT RAISE(ABORT, 'closed statements cannot be changed'); END;
CREATE TRIGGER statement_lines_no_delete BEFORE DELETE ON statement_lines
BEGIN SELECT RAISE(ABORT, 'closed statements cannot be changed'); END;
