"""The city catalogue: sources -> normalised, de-duplicated ActivityNodes with vibe tags, vibe vectors and
overrated flags, written to Postgres (activity_nodes) and Qdrant (one collection per city, see vectors.py).

Entry point for jobs and functions: shared.domains.travel.catalogue.pipeline.seed_city.
"""
