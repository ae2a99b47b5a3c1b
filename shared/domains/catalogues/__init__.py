"""Further item catalogues (recipes, movies, ...) for generic recommendations, contextual suggestions and search.

    contract.py      the catalogue file contract (items, interactions): rows, files, errors naming row and field
    sources.py       named sources (movielens-100k, movielens-1m, foodcom) as contract rows
    importer.py      import_catalogue: validate, embed (Qdrant catalogue_<id>), write Postgres idempotently
    store.py         the reads serving and training use (histories, items, popularity, datasets, vectors)
    interactions.py  interactions as a stream: publish to catalogue-interactions, the sink's idempotent insert
    recommend.py     serving (models.py, result_cache.py, schemas.py, view_models.py, intake.py)
"""
