"""Schema migrations: plain SQL files applied in order, once each, recorded in schema_migrations."""
