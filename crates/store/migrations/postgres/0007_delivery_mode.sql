-- The virtual phone shows a number's traffic only to the user it was sent
-- for (and to operators): each text and call records that user. Replies
-- record the user who sent them. The delivery mode itself is a row of
-- `settings` (key 'delivery_mode'), written on the first start.
ALTER TABLE virtual_messages ADD COLUMN user_id BIGINT;
ALTER TABLE virtual_calls ADD COLUMN user_id BIGINT;

UPDATE virtual_calls SET user_id =
    (SELECT c.user_id FROM pf_challenges c WHERE c.id = virtual_calls.challenge_id)
  WHERE challenge_id IS NOT NULL;
UPDATE virtual_messages SET user_id =
    (SELECT c.user_id FROM outbox o JOIN pf_challenges c ON c.id = o.challenge_id
      WHERE o.id = virtual_messages.outbox_id)
  WHERE outbox_id IS NOT NULL;

CREATE INDEX virtual_messages_user ON virtual_messages (user_id, phone, id);
CREATE INDEX virtual_calls_user ON virtual_calls (user_id, phone, created_at);
