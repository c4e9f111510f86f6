-- API tokens expire and can be revoked (SPEC §11 `api-token`). A revoked
-- token keeps its row (who had it, when it ended) and is refused from then
-- on. Tokens made before this migration get the default lifetime, counted
-- from their creation: 90 days.

ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
UPDATE api_tokens SET expires_at = created_at + 7776000000;
-- Listing a user's tokens, and ending them all at once (disable, password
-- reset or change).
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
