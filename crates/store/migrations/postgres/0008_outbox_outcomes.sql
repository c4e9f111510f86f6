-- At most one text or call per queued message. Providers do not recognise a
-- repeated create, so an attempt whose outcome is unknown (a timeout after
-- the request went out) must be looked up before anything is sent again:
--
-- check_first         1 when the next claim must ask the gateway whether
--                     the message exists before sending (an unknown
--                     outcome, or a claim whose lease ran out mid-send).
--                     On a failed row: it failed because the outcome stayed
--                     unknown, so a later status callback still resolves it.
-- attempt_started_at  when the earliest attempt not known to have failed
--                     started (the lookup's window), Unix milliseconds.
-- provider_status     the provider's last reported status (callbacks:
--                     queued, sent, delivered, undelivered, completed, …).
ALTER TABLE outbox ADD COLUMN check_first BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN attempt_started_at BIGINT;
ALTER TABLE outbox ADD COLUMN provider_status TEXT;

-- Provider references recorded for other messages to the same number are
-- excluded from a lookup.
CREATE INDEX outbox_destination ON outbox (destination, kind, sent_at);
