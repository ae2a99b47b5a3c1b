"""Online serving: one ranking interface, the router that picks a ranker per request (cold users to the
LLM or heuristic ranker, warm users to the production ML ranker), MMR diversity, ranked-result cache keys
and the ANN retrieval helper. Domain-agnostic: items are ids with tags, a vector and quality features."""
