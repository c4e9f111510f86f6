-- Temporary Security Codes count their own tries (they end after a few
-- wrong ones, whatever the credential's state).
ALTER TABLE temporary_codes ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
