-- Contextual suggestions (functions/suggest, functions/suggest_event_sink): every impression /v1/suggest served
-- and the clicks and conversions on them, one row each. event_id is '<type>:<impression_id>', so a redelivery, a
-- client retry or a client's confirmation of a logged impression is a no-op, and an impression has at most one
-- click and one conversion (never double-counted). Clicks and conversions copy user, item, arm and model from
-- their impression, so per-arm figures are one GROUP BY.
CREATE TABLE IF NOT EXISTS suggest_events (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    event_type    text NOT NULL CHECK (event_type IN ('impression', 'click', 'conversion')),
    impression_id text NOT NULL,
    request_id    text,
    user_id       text NOT NULL,
    item_id       text NOT NULL,
    surface       text NOT NULL,
    position      integer,
    score         double precision,
    served_by     text,
    model_version text,
    experiment    text,
    arm           text,
    propensity    double precision,        -- the serving policy's probability of this item in this slot
    context       jsonb NOT NULL DEFAULT '{}'::jsonb,  -- the request context and the full candidate set
    value         double precision,        -- a conversion's value
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS suggest_events_impression ON suggest_events (impression_id);
CREATE INDEX IF NOT EXISTS suggest_events_arm ON suggest_events (experiment, arm, event_type, occurred_at);
