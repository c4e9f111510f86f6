-- RADIUS clients (SPEC §12): network gear that asks this server, over
-- RADIUS, whether a user of one customer account may sign in. The shared
-- secret is sealed under the master key (its client's name as associated
-- data); `address` is a CIDR range of the sources it may send from.
CREATE TABLE radius_clients (
    id                            BIGSERIAL PRIMARY KEY,
    name                          TEXT    NOT NULL,
    account_id                    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address                       TEXT    NOT NULL,
    secret                        BYTEA   NOT NULL,
    mode                          TEXT    NOT NULL CHECK (mode IN ('password-and-code', 'code-only')),
    require_message_authenticator BIGINT NOT NULL DEFAULT 1,
    allow_password_only           BIGINT NOT NULL DEFAULT 0,
    separator                     TEXT    NOT NULL DEFAULT ',',
    timeout_secs                  BIGINT NOT NULL DEFAULT 60,
    class                         TEXT,
    filter_id                     TEXT,
    created_at                    BIGINT NOT NULL,
    CONSTRAINT radius_clients_name_key UNIQUE (name)
);
CREATE INDEX radius_clients_account_id ON radius_clients (account_id);
