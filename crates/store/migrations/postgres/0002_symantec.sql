-- Symantec Identity Protection: credential inventory, catalog (prices,
-- promo codes, MSA versions), orders and subscriptions, temporary security
-- codes, API clients for the validation API.

CREATE TABLE credentials (
    id                BIGSERIAL PRIMARY KEY,
    credential_id     TEXT    NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind IN ('totp', 'hotp')),
    algorithm         TEXT    NOT NULL DEFAULT 'SHA1',
    digits            BIGINT  NOT NULL DEFAULT 6,
    period            BIGINT  NOT NULL DEFAULT 30,
    secret            BYTEA,
    validation        TEXT    NOT NULL DEFAULT 'local' CHECK (validation IN ('local', 'remote')),
    source            TEXT    NOT NULL,
    last_used         BIGINT ,
    next_counter      BIGINT  NOT NULL DEFAULT 0,
    drift             BIGINT  NOT NULL DEFAULT 0,
    failures          BIGINT  NOT NULL DEFAULT 0,
    locked_until      BIGINT ,
    enabled           BIGINT  NOT NULL DEFAULT 1,
    user_id           BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    last_validated_at BIGINT ,
    created_at        BIGINT  NOT NULL,
    CONSTRAINT credentials_credential_id_key UNIQUE (credential_id)
);
CREATE UNIQUE INDEX credentials_one_per_user ON credentials (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE prices (
    method     TEXT    PRIMARY KEY,
    amount     BIGINT  NOT NULL CHECK (amount >= 0),
    currency   TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE promo_codes (
    code            TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('percent', 'amount')),
    value           BIGINT  NOT NULL CHECK (value > 0),
    months          BIGINT ,
    max_redemptions BIGINT ,
    redemptions     BIGINT  NOT NULL DEFAULT 0,
    valid_from      BIGINT ,
    valid_until     BIGINT ,
    method          TEXT,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE msa_versions (
    id           BIGSERIAL PRIMARY KEY,
    version      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    published_at BIGINT  NOT NULL,
    CONSTRAINT msa_versions_version_key UNIQUE (version)
);

CREATE TABLE orders (
    id                BIGSERIAL PRIMARY KEY,
    number            TEXT    NOT NULL,
    account_id        BIGINT  NOT NULL REFERENCES accounts (id),
    user_id           BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    username          TEXT    NOT NULL,
    method            TEXT    NOT NULL,
    credential_id     TEXT,
    monthly_price     BIGINT  NOT NULL,
    currency          TEXT    NOT NULL,
    promo_code        TEXT,
    promo_kind        TEXT,
    promo_value       BIGINT ,
    promo_months      BIGINT ,
    msa_version       TEXT    NOT NULL,
    msa_sha256        TEXT    NOT NULL,
    acknowledged_by   BIGINT ,
    acknowledged_name TEXT    NOT NULL,
    acknowledged_at   BIGINT  NOT NULL,
    acknowledged_addr TEXT    NOT NULL,
    idempotency_key   TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    CONSTRAINT orders_number_key UNIQUE (number),
    CONSTRAINT orders_idempotency_key UNIQUE (account_id, idempotency_key)
);

CREATE TABLE subscriptions (
    id         BIGSERIAL PRIMARY KEY,
    order_id   BIGINT  NOT NULL REFERENCES orders (id),
    account_id BIGINT  NOT NULL REFERENCES accounts (id),
    user_id    BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    method     TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('active', 'ended')),
    started_at BIGINT  NOT NULL,
    ended_at   BIGINT 
);
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (user_id, method) WHERE status = 'active';
CREATE INDEX subscriptions_account ON subscriptions (account_id, status);

CREATE TABLE temporary_codes (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    single_use BIGINT  NOT NULL,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE api_clients (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT ,
    CONSTRAINT api_clients_secret_hash_key UNIQUE (secret_hash)
);
