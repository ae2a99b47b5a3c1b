-- Per-user daily shares (issue 12): no one user may spend the whole day's LLM budget or Places cap. One row per
-- (day, user); deleting an account deletes its rows (ON DELETE CASCADE).
CREATE TABLE IF NOT EXISTS llm_usage_by_user (
    day      date NOT NULL,
    user_id  text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    calls    bigint NOT NULL DEFAULT 0,
    cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (day, user_id)
);

CREATE TABLE IF NOT EXISTS places_usage_by_user (
    day     date NOT NULL,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    calls   integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    PRIMARY KEY (day, user_id)
);
