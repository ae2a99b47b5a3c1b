-- Signals: anonymisation tombstones, the candidate-set lookup the export needs, and the LLM cost guard.

-- One row per deleted user, keyed by their pseudonym (not personal data): lets the sink store a late signal of a
-- deleted user already anonymised.
CREATE TABLE anonymised_users (
    pseudonym       text PRIMARY KEY,
    anonymised_at   timestamptz NOT NULL DEFAULT now(),
    signals_rekeyed bigint NOT NULL DEFAULT 0
);

-- The export attaches to each action the latest generation of its trip: a small partial index keeps that lookup
-- an index probe per row.
CREATE INDEX behavioral_signals_candidate_sets
    ON behavioral_signals (trip_id, user_id, created_at)
    WHERE signal_type = 'candidate_set_logged';

-- Every LLM call's tokens and cost, aggregated per UTC day, path and model (one upsert per call).
CREATE TABLE llm_usage (
    day           date NOT NULL,
    path          text NOT NULL,
    model         text NOT NULL,
    calls         bigint NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      numeric(14, 6) NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, path, model)
);

-- At most one cost-spike alert per day: the row is the alert's record, and its insert is what fires it once.
CREATE TABLE llm_cost_alerts (
    day             date PRIMARY KEY,
    cost_usd        numeric(14, 6) NOT NULL,
    rolling_avg_usd numeric(14, 6) NOT NULL,
    raised_at       timestamptz NOT NULL DEFAULT now()
);

-- Counters for operational metrics (locally the metric itself; in the cloud a log-based metric counts the same
-- structured log entries).
CREATE TABLE ops_metrics (
    name       text NOT NULL,
    day        date NOT NULL,
    value      bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, day)
);
