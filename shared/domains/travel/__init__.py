"""Cities, venues (activity nodes), seeding, vibe taxonomy, overrated detection, the places cache,
personas, itineraries and pivots."""
