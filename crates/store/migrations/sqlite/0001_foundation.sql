-- Accounts, users, sessions, API tokens, the audit log and throttles.
-- Timestamps are Unix milliseconds; booleans are 0/1.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    number      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    is_provider INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    CONSTRAINT accounts_number_key UNIQUE (number)
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id           INTEGER NOT NULL REFERENCES accounts (id),
    username             TEXT    NOT NULL,
    email                TEXT    NOT NULL,
    name                 TEXT    NOT NULL DEFAULT '',
    role                 TEXT    NOT NULL CHECK (role IN ('operator', 'admin', 'user')),
    status               TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash        TEXT    NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    lockouts             INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    last_login_at        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE INDEX users_account_username ON users (account_id, username);

CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT    NOT NULL,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    client_addr  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);

-- The audit log. Entries are written with `seq` NULL and sealed into the
-- hash chain shortly after by a single sealer (`seq`, `prev_hash`, `hash`),
-- so writers never wait on the chain's head.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    seq         INTEGER,
    at          INTEGER NOT NULL,
    actor_id    INTEGER,
    actor       TEXT    NOT NULL,
    account_id  INTEGER,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    client_addr TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT,
    hash        TEXT,
    CONSTRAINT audit_log_seq_key UNIQUE (seq)
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;

-- Sealed entries never change; unsealed ones may only receive their chain
-- fields; nothing is ever deleted.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.seq IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at
  OR NEW.actor_id IS NOT OLD.actor_id OR NEW.actor IS NOT OLD.actor
  OR NEW.account_id IS NOT OLD.account_id OR NEW.action IS NOT OLD.action
  OR NEW.target IS NOT OLD.target OR NEW.client_addr IS NOT OLD.client_addr
  OR NEW.outcome IS NOT OLD.outcome OR NEW.detail IS NOT OLD.detail
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE throttles (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);
