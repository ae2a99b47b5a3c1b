-- Itinerary quality (issue 10): what the planner needs to know about each venue, decided at seeding
-- (shared/domains/travel/catalogue/classify.py and hours.py).
ALTER TABLE activity_nodes
    ADD COLUMN IF NOT EXISTS opening          jsonb,      -- hours.Schedule JSON when the listed hours parsed
    ADD COLUMN IF NOT EXISTS hours_status     text NOT NULL DEFAULT 'missing'
        CHECK (hours_status IN ('parsed', 'unparsed', 'missing')),
    ADD COLUMN IF NOT EXISTS visit_kind       text NOT NULL DEFAULT 'venue'
        CHECK (visit_kind IN ('venue', 'event', 'service')),
    ADD COLUMN IF NOT EXISTS venue_type       text,
    ADD COLUMN IF NOT EXISTS season_months    smallint[], -- events: the months they take place in
    ADD COLUMN IF NOT EXISTS plannable        boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS plannable_reason text,
    ADD COLUMN IF NOT EXISTS coord_precision  text CHECK (coord_precision IN ('exact', 'district', 'city')),
    ADD COLUMN IF NOT EXISTS prominence       real NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS landmark         boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS activity_nodes_landmarks ON activity_nodes (city_id) WHERE landmark AND plannable;
