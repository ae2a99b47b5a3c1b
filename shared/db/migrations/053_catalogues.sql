-- Catalogues other than venues (recipes, movies, ...): items, the interactions users have with them, and the
-- import runs that loaded them. Served by functions/recommendations (shared.domains.catalogues).
CREATE TABLE IF NOT EXISTS catalogues (
    id                text PRIMARY KEY,              -- url-safe: movielens-1m, foodcom
    title             text NOT NULL,
    item_count        integer NOT NULL DEFAULT 0,
    interaction_count bigint NOT NULL DEFAULT 0,
    embedding_version text,                          -- the text encoder of the Qdrant collection catalogue_<id>
    source            jsonb NOT NULL DEFAULT '{}'::jsonb,
    imported_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS catalogue_items (
    catalogue_id text NOT NULL REFERENCES catalogues (id) ON DELETE CASCADE,
    item_id      text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL DEFAULT '',
    categories   text[] NOT NULL DEFAULT '{}',
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (catalogue_id, item_id)
);
CREATE INDEX IF NOT EXISTS catalogue_items_categories ON catalogue_items USING gin (categories);

-- One row per interaction; event_id makes redelivery (Pub/Sub at-least-once, client retries) a no-op.
CREATE TABLE IF NOT EXISTS catalogue_interactions (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    catalogue_id text NOT NULL REFERENCES catalogues (id) ON DELETE CASCADE,
    user_id      text NOT NULL,
    item_id      text NOT NULL,
    event_type   text NOT NULL DEFAULT 'interaction',  -- view, like, rate, cook, purchase, ... (per catalogue)
    weight       real NOT NULL DEFAULT 1.0,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (catalogue_id, item_id) REFERENCES catalogue_items (catalogue_id, item_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS catalogue_interactions_user
    ON catalogue_interactions (catalogue_id, user_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS catalogue_interactions_item ON catalogue_interactions (catalogue_id, item_id);

CREATE TABLE IF NOT EXISTS catalogue_imports (
    id           text PRIMARY KEY,
    catalogue_id text NOT NULL,
    source       jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress     jsonb NOT NULL DEFAULT '{}'::jsonb,
    summary      jsonb,
    error        text,
    requested_by text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
