"""An imported catalogue's stored interactions, read the one way the jobs that train and evaluate on it read them."""
from __future__ import annotations

import asyncio


class CatalogueMissing(LookupError):
    pass


def load_catalogue_dataset(catalogue_id: str):
    """InteractionDataset of catalogue_interactions (with the items' title and text as item features)."""
    from shared.adapters.postgres import create_pool
    from shared.domains.catalogues.store import get_catalogue, interaction_dataset

    async def read():
        pool = await create_pool(max_size=1)
        try:
            if await get_catalogue(pool, catalogue_id) is None:
                raise CatalogueMissing(f"no catalogue {catalogue_id!r}: import it first "
                                       f"(python -m jobs.import_catalogue.main --catalogue {catalogue_id})")
            return await interaction_dataset(pool, catalogue_id)
        finally:
            await pool.close()

    return asyncio.run(read())
