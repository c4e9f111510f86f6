-- RADIUS clients (SPEC §12): network gear that asks this server, over
-- RADIUS, whether a user of one customer account may sign in. The shared
-- secret is sealed under the master key (its client's name as associated
-- data); `address` is a CIDR range of the sources it may send from.
CREATE TABLE radius_clients (
    id                            INTEGER PRIMARY KEY AUTOINCREMENT,
    name                          TEXT    NOT NULL,
    account_id                    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address                       TEXT    NOT NULL,
    secret                        BLOB   NOT NULL,
    mode                          TEXT    NOT NULL CHECK (mode IN ('password-and-code', 'code-only')),
    require_message_authenticator INTEGER NOT NULL DEFAULT 1,
    allow_password_only           INTEGER NOT NULL DEFAULT 0,
    separator                     TEXT    NOT NULL DEFAULT ',',
    timeout_secs                  INTEGER NOT NULL DEFAULT 60,
    class                         TEXT,
    filter_id                     TEXT,
    created_at                    INTEGER NOT NULL,
    CONSTRAINT radius_clients_name_key UNIQUE (name)
);
CREATE INDEX radius_clients_account_id ON radius_clients (account_id);
