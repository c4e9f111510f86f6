-- Symantec Identity Protection: credential inventory, catalog (prices,
-- promo codes, MSA versions), orders and subscriptions, temporary security
-- codes, API clients for the validation API.

CREATE TABLE credentials (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    credential_id     TEXT    NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind IN ('totp', 'hotp')),
    algorithm         TEXT    NOT NULL DEFAULT 'SHA1',
    digits            INTEGER NOT NULL DEFAULT 6,
    period            INTEGER NOT NULL DEFAULT 30,
    secret            BLOB,
    validation        TEXT    NOT NULL DEFAULT 'local' CHECK (validation IN ('local', 'remote')),
    source            TEXT    NOT NULL,
    last_used         INTEGER,
    next_counter      INTEGER NOT NULL DEFAULT 0,
    drift             INTEGER NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0,
    locked_until      INTEGER,
    enabled           INTEGER NOT NULL DEFAULT 1,
    user_id           INTEGER REFERENCES users (id) ON DELETE SET NULL,
    last_validated_at INTEGER,
    created_at        INTEGER NOT NULL,
    CONSTRAINT credentials_credential_id_key UNIQUE (credential_id)
);
CREATE UNIQUE INDEX credentials_one_per_user ON credentials (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE prices (
    method     TEXT    PRIMARY KEY,
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    currency   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE promo_codes (
    code            TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('percent', 'amount')),
    value           INTEGER NOT NULL CHECK (value > 0),
    months          INTEGER,
    max_redemptions INTEGER,
    redemptions     INTEGER NOT NULL DEFAULT 0,
    valid_from      INTEGER,
    valid_until     INTEGER,
    method          TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE msa_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    version      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    CONSTRAINT msa_versions_version_key UNIQUE (version)
);

CREATE TABLE orders (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    number            TEXT    NOT NULL,
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    user_id           INTEGER REFERENCES users (id) ON DELETE SET NULL,
    username          TEXT    NOT NULL,
    method            TEXT    NOT NULL,
    credential_id     TEXT,
    monthly_price     INTEGER NOT NULL,
    currency          TEXT    NOT NULL,
    promo_code        TEXT,
    promo_kind        TEXT,
    promo_value       INTEGER,
    promo_months      INTEGER,
    msa_version       TEXT    NOT NULL,
    msa_sha256        TEXT    NOT NULL,
    acknowledged_by   INTEGER,
    acknowledged_name TEXT    NOT NULL,
    acknowledged_at   INTEGER NOT NULL,
    acknowledged_addr TEXT    NOT NULL,
    idempotency_key   TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    CONSTRAINT orders_number_key UNIQUE (number),
    CONSTRAINT orders_idempotency_key UNIQUE (account_id, idempotency_key)
);

CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    method     TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('active', 'ended')),
    started_at INTEGER NOT NULL,
    ended_at   INTEGER
);
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (user_id, method) WHERE status = 'active';
CREATE INDEX subscriptions_account ON subscriptions (account_id, status);

CREATE TABLE temporary_codes (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    single_use INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_clients (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    CONSTRAINT api_clients_secret_hash_key UNIQUE (secret_hash)
);
