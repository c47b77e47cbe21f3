-- review_reason 'repeated_red_flags': a number whose red-flag calls keep
-- ending before a nurse answers (queue.toml [caps] red_flags_per_number_per_day)
-- goes to the review list instead of the top of the callback queue again.
ALTER TABLE cases DROP CONSTRAINT cases_review_reason_check;
ALTER TABLE cases ADD CONSTRAINT cases_review_reason_check CHECK (review_reason IS NULL
    OR review_reason IN ('not_reached', 'no_number', 'repeated_red_flags'));
