-- Housekeeping deletes old rows in small batches by these columns.
CREATE INDEX pf_challenges_created ON pf_challenges (created_at);
CREATE INDEX throttles_window_start ON throttles (window_start);
