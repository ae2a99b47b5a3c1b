-- Trip planning (issue 4): what a generated trip needs beyond the core model.
-- trips: the ranker that served it, the archetype used for the cache, precomputed pivot fallbacks
--        (venue_closed / weather alternatives per slot, with venue snapshots, so a pivot needs no ranker
--        call and no catalogue read), and why an itinerary is empty when it is.
ALTER TABLE trips ADD COLUMN IF NOT EXISTS served_by     text;
ALTER TABLE trips ADD COLUMN IF NOT EXISTS model_version text;
ALTER TABLE trips ADD COLUMN IF NOT EXISTS fallbacks     jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE trips ADD COLUMN IF NOT EXISTS meta          jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE trips ADD COLUMN IF NOT EXISTS member_ids    text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS trips_members ON trips USING gin (member_ids);

-- itinerary_slots: a snapshot of the venue as planned (name, category, tags, hours, price, coordinates),
-- so reading a trip is one indexed query and venues from the unseeded-city fallback (no activity_nodes
-- row) can be stored too; the planned arrival time and the slot's score.
ALTER TABLE itinerary_slots ADD COLUMN IF NOT EXISTS venue  jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE itinerary_slots ADD COLUMN IF NOT EXISTS arrive text;
ALTER TABLE itinerary_slots ADD COLUMN IF NOT EXISTS score  real;
ALTER TABLE itinerary_slots ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS itinerary_slots_trip ON itinerary_slots (trip_id, day_number, slot_order);

-- Pivots applied to a trip (venue_closed, weather, mood, swap): the audit trail the live stream replays.
CREATE TABLE IF NOT EXISTS trip_pivots (
    id          bigserial PRIMARY KEY,
    trip_id     text NOT NULL REFERENCES trips(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('venue_closed', 'weather', 'mood', 'swap')),
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS trip_pivots_trip ON trip_pivots (trip_id, id);
