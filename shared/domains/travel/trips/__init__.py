"""Trip planning: personas, archetypes, itinerary assembly, narratives, pivots and group compromise."""
