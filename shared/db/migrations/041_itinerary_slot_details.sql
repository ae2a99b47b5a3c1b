-- Itinerary quality (issue 10): what a slot is (breakfast, visit, lunch, dinner, night), when the traveller
-- leaves, the leg from the previous stop, and the claims its narrative is made of (each checkable against
-- the catalogue). One jsonb column: the slot's view model reads it whole, and nothing queries inside it.
ALTER TABLE itinerary_slots ADD COLUMN IF NOT EXISTS details jsonb NOT NULL DEFAULT '{}'::jsonb;
