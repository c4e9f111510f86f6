-- PhoneFactor: per-user activation state, sign-in and activation
-- challenges, the delivery queue (texts, calls, e-mail) and the virtual
-- phone used when no gateway is configured.

CREATE TABLE phonefactor (
    user_id             BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id),
    status              TEXT    NOT NULL CHECK (status IN ('awaiting_activation', 'active', 'deactivated')),
    phone               TEXT,
    mode                TEXT    CHECK (mode IN ('call', 'sms', 'app')),
    device_id           TEXT,
    device_key          TEXT,
    app_secret          BYTEA,
    app_last_step       BIGINT,
    fraud_blocked_until BIGINT,
    bypass_until        BIGINT,
    activated_at        BIGINT,
    updated_at          BIGINT  NOT NULL
);
CREATE UNIQUE INDEX phonefactor_device ON phonefactor (device_id) WHERE device_id IS NOT NULL;

CREATE TABLE pf_challenges (
    id           TEXT    PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id   BIGINT  NOT NULL,
    session_hash TEXT    NOT NULL,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('activation', 'sign_in')),
    mode         TEXT    NOT NULL CHECK (mode IN ('call', 'sms', 'app')),
    phone        TEXT    NOT NULL,
    code_hash    TEXT,
    number_match BIGINT,
    status       TEXT    NOT NULL,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    pairing_hash TEXT,
    device_id    TEXT,
    device_key   TEXT,
    app_secret   BYTEA,
    expires_at   BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    answered_at  BIGINT
);
CREATE INDEX pf_challenges_user ON pf_challenges (user_id, created_at);
CREATE INDEX pf_challenges_session ON pf_challenges (session_hash);
CREATE UNIQUE INDEX pf_challenges_pairing ON pf_challenges (pairing_hash) WHERE pairing_hash IS NOT NULL;

CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('sms', 'call', 'email')),
    destination  TEXT    NOT NULL,
    subject      TEXT    NOT NULL DEFAULT '',
    body         BYTEA,
    challenge_id TEXT,
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts     BIGINT  NOT NULL DEFAULT 0,
    available_at BIGINT  NOT NULL,
    provider_ref TEXT,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    sent_at      BIGINT
);
CREATE INDEX outbox_due ON outbox (status, available_at);

CREATE TABLE virtual_messages (
    id         BIGSERIAL PRIMARY KEY,
    phone      TEXT    NOT NULL,
    direction  TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    body       TEXT    NOT NULL,
    outbox_id  BIGINT,
    created_at BIGINT  NOT NULL,
    CONSTRAINT virtual_messages_outbox_key UNIQUE (outbox_id)
);
CREATE INDEX virtual_messages_phone ON virtual_messages (phone, id);

CREATE TABLE virtual_calls (
    id           TEXT    PRIMARY KEY,
    phone        TEXT    NOT NULL,
    prompt       TEXT    NOT NULL,
    challenge_id TEXT,
    status       TEXT    NOT NULL CHECK (status IN ('ringing', 'completed')),
    digits       TEXT,
    outbox_id    BIGINT,
    created_at   BIGINT  NOT NULL,
    ended_at     BIGINT,
    CONSTRAINT virtual_calls_outbox_key UNIQUE (outbox_id)
);
CREATE INDEX virtual_calls_phone ON virtual_calls (phone, created_at);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);
