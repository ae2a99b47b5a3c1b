-- Catalogue (issue 3): seeding runs started from the admin API, and the Places API daily cap.

-- One row per seeding run requested through POST /v1/admin/seed-city. The Cloud Tasks handler claims a queued run
-- (status -> running) exactly once, updates progress as it goes and stores the job summary at the end.
CREATE TABLE seed_runs (
    id           text PRIMARY KEY,
    city_id      text NOT NULL,
    sources      text[] NOT NULL,
    venue_limit  integer CHECK (venue_limit IS NULL OR venue_limit > 0),
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    progress     jsonb NOT NULL DEFAULT '{}'::jsonb,
    summary      jsonb,
    error        text,
    requested_by text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seed_runs_city ON seed_runs (city_id, created_at DESC);

-- Paid Places API calls per UTC day. The client reserves a call with one conditional upsert
-- (calls < cap), so concurrent processes can never exceed the cap together.
CREATE TABLE places_api_usage (
    day        date PRIMARY KEY,
    calls      integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    cache_hits integer NOT NULL DEFAULT 0 CHECK (cache_hits >= 0),
    refused    integer NOT NULL DEFAULT 0 CHECK (refused >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Seeding reconciles a city's existing nodes by name; scraped posts are linked per city.
CREATE INDEX IF NOT EXISTS activity_nodes_city_name ON activity_nodes (city_id, lower(name));
CREATE INDEX IF NOT EXISTS scraped_posts_city ON scraped_posts (city_id);
