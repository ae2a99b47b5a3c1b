-- The core data model of ARCHITECTURE.md. Later features add their own numbered files:
-- 010-019 catalogue, 020-029 signals, 030-039 engine, 040-049 trips, 050-059 groups.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE users (
    id                text PRIMARY KEY,
    persona_embedding vector(128),
    persona_description text,
    onboarding_tags   jsonb NOT NULL DEFAULT '{}'::jsonb,
    signal_count      integer NOT NULL DEFAULT 0 CHECK (signal_count >= 0),
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cities (
    id          text PRIMARY KEY,          -- slug, e.g. 'seattle'
    name        text NOT NULL,
    country     text,
    lat         double precision,
    lon         double precision,
    seeded_at   timestamptz,
    venue_count integer NOT NULL DEFAULT 0
);

CREATE TABLE activity_nodes (
    id                   text PRIMARY KEY,
    city_id              text NOT NULL REFERENCES cities(id),
    name                 text NOT NULL,
    category             text,
    description          text,
    address              text,
    vibe_embedding       vector(64),
    vibe_tags            text[] NOT NULL DEFAULT '{}',
    quality_signals      jsonb NOT NULL DEFAULT '{}'::jsonb,
    cross_ref_confidence real NOT NULL DEFAULT 0,
    overrated_flag       boolean NOT NULL DEFAULT false,
    overrated_score      real NOT NULL DEFAULT 0,
    source_tier          smallint NOT NULL DEFAULT 3,
    lat                  double precision,
    lon                  double precision,
    hours                text,
    price_level          smallint CHECK (price_level BETWEEN 0 AND 4),
    provenance           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_nodes_city ON activity_nodes (city_id);
CREATE INDEX activity_nodes_tags ON activity_nodes USING gin (vibe_tags);
CREATE INDEX activity_nodes_vibe_hnsw ON activity_nodes USING hnsw (vibe_embedding vector_cosine_ops);

CREATE TABLE trips (
    id          text PRIMARY KEY,
    user_id     text REFERENCES users(id) ON DELETE CASCADE,
    group_id    text,
    city_id     text NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL,
    status      text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'active', 'completed', 'cancelled')),
    request     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (user_id IS NOT NULL OR group_id IS NOT NULL),
    CHECK (end_date >= start_date)
);
CREATE INDEX trips_user ON trips (user_id);

CREATE TABLE itinerary_slots (
    id                  text PRIMARY KEY,
    trip_id             text NOT NULL REFERENCES trips(id) ON DELETE CASCADE,
    day_number          smallint NOT NULL CHECK (day_number >= 1),
    slot_order          smallint NOT NULL,
    day_part            text NOT NULL CHECK (day_part IN ('morning', 'afternoon', 'evening')),
    activity_node_id    text REFERENCES activity_nodes(id),
    generated_narrative text,
    model_version       text NOT NULL,
    serves              jsonb NOT NULL DEFAULT '[]'::jsonb,
    UNIQUE (trip_id, day_number, slot_order)
);

-- Signals outlive their users: user_id is a plain text key (re-keyed to a pseudonym on deletion),
-- never a foreign key that would cascade the training data away.
CREATE TABLE behavioral_signals (
    id               bigserial PRIMARY KEY,
    event_id         text NOT NULL UNIQUE,
    user_id          text NOT NULL,
    signal_type      text NOT NULL,
    activity_node_id text,
    trip_id          text,
    context          jsonb NOT NULL DEFAULT '{}'::jsonb,
    weight           real NOT NULL,
    model_version    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX behavioral_signals_user ON behavioral_signals (user_id, created_at);
CREATE INDEX behavioral_signals_created ON behavioral_signals (created_at);

CREATE TABLE model_registry (
    id            bigserial PRIMARY KEY,
    model_name    text NOT NULL,
    version       text NOT NULL,
    artifact_path text NOT NULL,
    training_date timestamptz NOT NULL DEFAULT now(),
    metrics       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'candidate'
                  CHECK (status IN ('candidate', 'shadow', 'production', 'retired')),
    promoted_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_name, version)
);
-- The database, not the application, guarantees one production model per name.
CREATE UNIQUE INDEX model_registry_one_production ON model_registry (model_name) WHERE status = 'production';

CREATE TABLE scraped_posts (
    id               bigserial PRIMARY KEY,
    source           text NOT NULL,
    external_id      text NOT NULL,
    city_id          text NOT NULL,
    raw_text         text NOT NULL,
    url              text,
    activity_node_id text REFERENCES activity_nodes(id) ON DELETE SET NULL,
    local_score      real,
    tourist_flag     boolean NOT NULL DEFAULT false,
    processed_at     timestamptz,
    UNIQUE (source, external_id)
);

CREATE TABLE places_api_cache (
    place_id       text PRIMARY KEY,
    raw_response   jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    refresh_due_at timestamptz NOT NULL
);
