-- A sign-in through the RADIUS front end has no page to show the number
-- the app asks for: the number travels in the push, and the person
-- confirms it in the app (SPEC §12).
ALTER TABLE pf_challenges ADD COLUMN number_in_push BIGINT NOT NULL DEFAULT 0;
