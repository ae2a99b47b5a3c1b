"""The corpora semantic search knows, and the documents of each: SciFact (the benchmark collection) and a
city's venues (activity_nodes in Postgres).

Corpus names: `scifact`, or `venues:<city id>`. Each has a slug used in registry and object names
(`scifact`, `venues-<city>`), since ':' is not welcome in either.
"""
from __future__ import annotations

from shared.domains.errors import InvalidRequest
from shared.engine.search.bundle import SearchDoc

SCIFACT = "scifact"
VENUES_PREFIX = "venues:"


def slug(corpus: str) -> str:
    if corpus == SCIFACT:
        return SCIFACT
    if corpus.startswith(VENUES_PREFIX) and corpus[len(VENUES_PREFIX):]:
        return "venues-" + corpus[len(VENUES_PREFIX):]
    raise InvalidRequest(f"unknown corpus {corpus!r}: use scifact or venues:<city id>", "corpus")


def city_of(corpus: str) -> str | None:
    return corpus[len(VENUES_PREFIX):] if corpus.startswith(VENUES_PREFIX) else None


def scifact_documents(max_docs: int | None = None) -> list[SearchDoc]:
    from shared.engine.search.scifact import default_dir, load_documents

    docs = load_documents(default_dir() / "corpus.jsonl")
    return [SearchDoc(d.doc_id, d.title, d.text) for d in docs[:max_docs]]


def venue_text(name: str, category: str | None, description: str | None, tags, address: str | None) -> str:
    """What a venue is searched by: its category, tags, description and address (the name is the title)."""
    parts = [category or "", " ".join(t.replace("-", " ") for t in (tags or [])), description or "", address or ""]
    return ". ".join(p for p in parts if p)


async def venue_documents(conn, city: str) -> list[SearchDoc]:
    rows = await conn.fetch(
        "SELECT id, name, category, description, vibe_tags, address FROM activity_nodes WHERE city_id = $1 "
        "ORDER BY id", city)
    return [SearchDoc(r["id"], r["name"], venue_text(r["name"], r["category"], r["description"], r["vibe_tags"],
                                                     r["address"])) for r in rows]


async def city_exists(conn, city: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM cities WHERE id = $1", city))
