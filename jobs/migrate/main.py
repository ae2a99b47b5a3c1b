"""Cloud Run Job: bring the database schema up to date (idempotent)."""
from __future__ import annotations

import asyncio
import sys

from shared.db.migrate import apply_migrations
from shared.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    applied = asyncio.run(apply_migrations(get_settings().database_url))
    print(f"migrate: {len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied else "; schema is current"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
