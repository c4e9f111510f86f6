-- Accounts, users, sessions, API tokens, the audit log and throttles.
-- Timestamps are Unix milliseconds; booleans are 0/1 (BIGINT), as on SQLite,
-- so one set of queries serves both backends.

CREATE TABLE accounts (
    id          BIGSERIAL PRIMARY KEY,
    number      TEXT      NOT NULL,
    name        TEXT      NOT NULL,
    is_provider BIGINT    NOT NULL DEFAULT 0,
    created_at  BIGINT    NOT NULL,
    CONSTRAINT accounts_number_key UNIQUE (number)
);

CREATE TABLE users (
    id                   BIGSERIAL PRIMARY KEY,
    account_id           BIGINT  NOT NULL REFERENCES accounts (id),
    username             TEXT    NOT NULL,
    email                TEXT    NOT NULL,
    name                 TEXT    NOT NULL DEFAULT '',
    role                 TEXT    NOT NULL CHECK (role IN ('operator', 'admin', 'user')),
    status               TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash        TEXT    NOT NULL,
    must_change_password BIGINT  NOT NULL DEFAULT 0,
    failed_logins        BIGINT  NOT NULL DEFAULT 0,
    lockouts             BIGINT  NOT NULL DEFAULT 0,
    locked_until         BIGINT,
    last_login_at        BIGINT,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE INDEX users_account_username ON users (account_id, username);

CREATE TABLE sessions (
    id_hash      TEXT   PRIMARY KEY,
    user_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT   NOT NULL,
    csrf_token   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    client_addr  TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);

-- The audit log. Entries are written with `seq` NULL and sealed into the
-- hash chain shortly after by a single sealer (`seq`, `prev_hash`, `hash`),
-- so writers never wait on the chain's head.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    seq         BIGINT,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    actor       TEXT   NOT NULL,
    account_id  BIGINT,
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    client_addr TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    prev_hash   TEXT,
    hash        TEXT,
    CONSTRAINT audit_log_seq_key UNIQUE (seq)
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;

-- Sealed entries never change; unsealed ones may only receive their chain
-- fields; nothing is ever deleted.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.seq IS NOT NULL
       OR (NEW.id, NEW.at, NEW.actor_id, NEW.actor, NEW.account_id, NEW.action, NEW.target,
           NEW.client_addr, NEW.outcome, NEW.detail)
          IS DISTINCT FROM
          (OLD.id, OLD.at, OLD.actor_id, OLD.actor, OLD.account_id, OLD.action, OLD.target,
           OLD.client_addr, OLD.outcome, OLD.detail) THEN
        RAISE EXCEPTION 'the audit log is append-only';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE throttles (
    key          TEXT   PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL
);
