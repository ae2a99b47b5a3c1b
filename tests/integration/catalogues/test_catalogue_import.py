"""Catalogue imports and the interaction stream on the real local stand-ins (the session's private stack):
contract files -> Postgres + Qdrant (idempotent), invalid files (nothing imported), the movielens-100k source in
full, and events through Pub/Sub -> interaction sink (stored once, history version bumped once, poison to the
dead-letter topic)."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from tests.integration.signals.stack_helpers import wait_for

pytestmark = pytest.mark.integration


def run(coro):
    return asyncio.run(coro)


async def _with_pool(fn):
    from shared.adapters.postgres import create_pool

    pool = await create_pool(max_size=2)
    try:
        return await fn(pool)
    finally:
        await pool.close()


def query(sql: str, *args):
    return run(_with_pool(lambda pool: pool.fetch(sql, *args)))


def value(sql: str, *args):
    return run(_with_pool(lambda pool: pool.fetchval(sql, *args)))


def qdrant():
    from shared.adapters.qdrant import client_for
    from shared.settings import get_settings

    return client_for(get_settings().qdrant_url)


def redis():
    import redis as redis_lib

    from shared.settings import get_settings

    return redis_lib.Redis.from_url(get_settings().redis_url)


def job(capsys, *argv: str) -> tuple[int, dict | None, str]:
    from jobs.import_catalogue.main import main

    code = main([*argv, "--json"])
    out = capsys.readouterr()
    result = json.loads(out.out.strip().splitlines()[-1]) if code == 0 else None
    return code, result, out.err


ITEMS_CSV = """item_id,title,text,categories,attributes
b1,The Hobbit,A fantasy adventure with dragons and dwarves,fantasy|classic,"{""pages"": 310}"
b2,Dune,Desert planet politics and giant sandworms,scifi,"{""pages"": 412}"
b3,Emma,A comedy of manners in Regency England,romance|classic,
b4,Neuromancer,Cyberpunk hackers in a neon future,scifi,
"""
INTERACTIONS_CSV = """user_id,item_id,timestamp,event_type,weight,event_id
u1,b1,2024-05-01T10:00:00Z,read,1,
u1,b2,2024-05-02T10:00:00Z,,,
u1,b2,1714644000,,,
u2,b3,2024-05-01T09:00:00+02:00,like,2.0,own-7
u2,b1,2024-05-03,read,1,
"""


def _catalogue_files(tmp_path, items: str = ITEMS_CSV, interactions: str = INTERACTIONS_CSV):
    (tmp_path / "items.csv").write_text(items)
    (tmp_path / "interactions.csv").write_text(interactions)
    return str(tmp_path / "items.csv"), str(tmp_path / "interactions.csv")


def test_contract_files_import_once_and_a_reimport_inserts_nothing(stack, tmp_path, capsys):
    from shared.domains.catalogues import store

    cid = f"books-{uuid.uuid4().hex[:8]}"
    items, interactions = _catalogue_files(tmp_path)
    args = ("--catalogue", cid, "--title", "Books", "--items", items, "--interactions", interactions)
    code, first, err = job(capsys, *args)
    assert code == 0, err
    # row 3 is row 2 again (epoch seconds for the same instant, same default type): one event
    assert (first["items"], first["interactions"], first["interactions_inserted"], first["interactions_skipped"]) \
        == (4, 5, 4, 1)
    assert first["vectors_embedded"] == 4 and "validate" in first["seconds"] and "interactions" in first["seconds"]
    rows = query("SELECT event_id, user_id, item_id, event_type, weight, occurred_at FROM catalogue_interactions "
                 "WHERE catalogue_id = $1 ORDER BY id", cid)
    assert [(r["user_id"], r["item_id"], r["event_type"], r["weight"]) for r in rows] == [
        ("u1", "b1", "read", 1.0), ("u1", "b2", "interaction", 1.0), ("u2", "b3", "like", 2.0),
        ("u2", "b1", "read", 1.0)]
    assert rows[2]["event_id"] == f"{cid}:own-7" and rows[2]["occurred_at"] == datetime(2024, 5, 1, 7, tzinfo=UTC)
    info = run(_with_pool(lambda pool: store.get_catalogue(pool, cid)))
    assert (info.title, info.item_count, info.interaction_count) == ("Books", 4, 4)
    assert info.embedding_version and info.imported_at is not None
    items_read = run(_with_pool(lambda pool: store.all_items(pool, cid)))
    assert items_read[0] == store.ItemRow("b1", "The Hobbit", ("fantasy", "classic"), {"pages": 310})
    assert run(_with_pool(lambda pool: store.user_history(pool, cid, "u2"))) == ["b3", "b1"]
    assert run(_with_pool(lambda pool: store.users_histories(pool, cid, ["u1", "u2", "nobody"], 1))) == \
        {"u1": ["b2"], "u2": ["b1"], "nobody": []}
    pop = run(_with_pool(lambda pool: store.popularity(pool, cid, None, datetime.now(UTC))))
    assert pop == {"b1": 2.0, "b2": 1.0, "b3": 2.0}
    decayed = run(_with_pool(lambda pool: store.popularity(pool, cid, 1.0, datetime(2024, 5, 3, 10, tzinfo=UTC))))
    assert decayed["b2"] == pytest.approx(0.5) and decayed["b3"] == pytest.approx(2 * 0.5 ** (51 / 24))

    client = qdrant()
    try:
        ids, vectors = run(store.item_vectors(client, cid))
        assert ids == ["b1", "b2", "b3", "b4"] and vectors.shape == (4, 384)
        from shared.engine.embeddings.encoder import get_encoder

        expected = get_encoder().encode(["The Hobbit. A fantasy adventure with dragons and dwarves", "Emma. A comedy "
                                         "of manners in Regency England"])
        assert float(vectors[0] @ expected[0]) == pytest.approx(1.0, abs=1e-4)   # title + text, this encoder
        assert float(vectors[2] @ expected[1]) == pytest.approx(1.0, abs=1e-4)
        point = client.retrieve(store.collection_name(cid), ids=[store.point_id("b1")], with_payload=True)[0]
        assert point.payload["item_id"] == "b1"
    finally:
        client.close()
    recorded = query("SELECT status, summary FROM catalogue_imports WHERE catalogue_id = $1", cid)
    assert [r["status"] for r in recorded] == ["done"] and recorded[0]["summary"]["interactions_inserted"] == 4

    code, again, err = job(capsys, *args)
    assert code == 0, err
    assert (again["interactions_inserted"], again["interactions_skipped"], again["items_written"],
            again["vectors_embedded"], again["vectors_reused"]) == (0, 5, 0, 0, 4)
    assert value("SELECT count(*) FROM catalogue_interactions WHERE catalogue_id = $1", cid) == 4
    assert value("SELECT interaction_count FROM catalogues WHERE id = $1", cid) == 4


def test_an_invalid_file_imports_nothing_and_names_each_row_and_field(stack, tmp_path, capsys):
    cid = f"bad-{uuid.uuid4().hex[:8]}"
    items, interactions = _catalogue_files(
        tmp_path,
        items="item_id,title\nb1,Fine\nb2,\n",                              # items row 2: no title
        interactions="user_id,item_id,timestamp\n"
                     "u1,b1,2024-05-01\n"
                     "u1,ghost,2024-05-01\n"                                  # row 2: an unknown item
                     "u1,b1,last tuesday\n")                                  # row 3: a bad timestamp
    code, _result, err = job(capsys, "--catalogue", cid, "--title", "Bad", "--items", items,
                             "--interactions", interactions)
    assert code == 2
    assert "items row 2, field 'title'" in err
    assert "interactions row 2, field 'item_id': unknown item 'ghost'" in err
    assert "interactions row 3, field 'timestamp'" in err
    assert "nothing was imported" in err
    assert value("SELECT count(*) FROM catalogues WHERE id = $1", cid) == 0
    assert value("SELECT count(*) FROM catalogue_items WHERE catalogue_id = $1", cid) == 0
    assert value("SELECT count(*) FROM catalogue_interactions WHERE catalogue_id = $1", cid) == 0
    assert [r["status"] for r in query("SELECT status FROM catalogue_imports WHERE catalogue_id = $1", cid)] \
        == ["failed"]
    client = qdrant()
    try:
        assert not client.collection_exists(f"catalogue_{cid}")
    finally:
        client.close()


def test_the_movielens_100k_source_imports_fully(stack, capsys):
    from shared.domains.catalogues import store
    from shared.engine.data.loaders import movielens_100k

    started = time.perf_counter()
    code, result, err = job(capsys, "--catalogue", "movielens-100k")
    seconds = time.perf_counter() - started
    print(f"movielens-100k imported in {seconds:.1f}s: {result and result['seconds']}")
    assert code == 0, err
    assert result["items"] == 1682 and result["interactions"] == 100_000
    assert result["interactions_inserted"] + result["interactions_skipped"] == 100_000
    assert value("SELECT count(*) FROM catalogue_interactions WHERE catalogue_id = 'movielens-100k'") == 100_000
    assert value("SELECT count(*) FROM catalogue_items WHERE catalogue_id = 'movielens-100k'") == 1682
    assert value("SELECT interaction_count FROM catalogues WHERE id = 'movielens-100k'") == 100_000
    client = qdrant()
    try:
        assert client.count("catalogue_movielens-100k", exact=True).count == 1682
    finally:
        client.close()
    # what we stored is what the engine's benchmark loads: same users, items, rows, order, times and weights
    stored = run(_with_pool(lambda pool: store.interaction_dataset(pool, "movielens-100k")))
    assert stored.fingerprint == movielens_100k(with_titles=False).fingerprint
    assert stored.item_features["title"][stored.item_index["1"]] == "Toy Story (1995)"
    assert seconds < 60, f"movielens-100k took {seconds:.0f}s"


class DeadLetters:
    """A private subscription on the interactions' dead-letter topic (created before anything is published)."""

    def __init__(self, project: str):
        from google.cloud import pubsub_v1

        from shared.adapters.pubsub import topic_path
        from shared.domains.catalogues.interactions import DEAD_LETTER_TOPIC

        self.sub = pubsub_v1.SubscriberClient()
        self.path = self.sub.subscription_path(project, f"ci-dlq-observer-{uuid.uuid4().hex[:8]}")
        self.sub.create_subscription(request={"name": self.path, "topic": topic_path(DEAD_LETTER_TOPIC)})
        self.seen: list[tuple[dict, dict]] = []

    def poll(self):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # return_immediately: no blocking pull to abandon
            resp = self.sub.pull(request={"subscription": self.path, "max_messages": 100,
                                          "return_immediately": True}, timeout=10)
        if resp.received_messages:
            self.sub.acknowledge(request={"subscription": self.path,
                                          "ack_ids": [m.ack_id for m in resp.received_messages]})
        self.seen += [(json.loads(m.message.data), dict(m.message.attributes)) for m in resp.received_messages]
        return self.seen

    def close(self):
        self.sub.delete_subscription(request={"subscription": self.path})


def test_streamed_events_are_stored_once_and_bump_the_history_version_once(stack, tmp_path, capsys):
    from shared.domains.catalogues import store
    from shared.domains.catalogues.interactions import publish_interaction_events

    cid = f"stream-{uuid.uuid4().hex[:8]}"
    items, interactions = _catalogue_files(tmp_path)
    dead = DeadLetters(stack.project)
    # the job with --publish: items imported, the file's interactions (4 distinct events) sent through the topic
    code, result, err = job(capsys, "--catalogue", cid, "--title", "Streamed books", "--items", items,
                            "--interactions", interactions, "--publish")
    assert code == 0, err
    assert result["interactions_published"] == 5 and result["interactions_inserted"] == 0
    r = redis()
    try:
        events = [{"user_id": "reader", "item_id": "b1", "timestamp": "2024-06-01T10:00:00Z"},
                  {"user_id": "reader", "item_id": "b2", "timestamp": 1717239600, "event_type": "like",
                   "event_id": "client-1"},
                  {"user_id": "other", "item_id": "b3", "timestamp": "2024-06-01T12:00:00Z", "weight": 0.5}]
        ids = publish_interaction_events(cid, events)
        assert ids[1] == f"{cid}:client-1" and len(set(ids)) == 3
        assert publish_interaction_events(cid, events) == ids        # the same events again: duplicates
        (poison_id,) = publish_interaction_events(cid, [{"user_id": "reader", "item_id": "nope",
                                                         "timestamp": "2024-06-01T13:00:00Z"}])

        def stored():
            rows = query("SELECT event_id FROM catalogue_interactions WHERE catalogue_id = $1", cid)
            return rows if len(rows) >= 7 else None

        wait_for(stored, 30, "7 streamed interactions in Postgres")
        seen = wait_for(lambda: [d for d in dead.poll() if d[1].get("event_id") == poison_id], 90,
                        "the unknown item's event on catalogue-interactions-dead-letter")
        data, attributes = seen[0]
        assert data["item_id"] == "nope" and attributes["dead_letter_reason"] == "unknown_item"
        assert attributes["catalogue"] == cid
        assert attributes["dead_letter_source_subscription"] == "catalogue-interactions-to-sink"
        time.sleep(1.0)  # the duplicates had time to arrive too (they were published before the poison)
        rows = query("SELECT event_id, user_id FROM catalogue_interactions WHERE catalogue_id = $1", cid)
        assert sorted(r["event_id"] for r in rows if r["user_id"] in ("reader", "other")) == sorted(ids)
        assert len(rows) == 7 and value("SELECT interaction_count FROM catalogues WHERE id = $1", cid) == 7
        assert r.get(store.history_version_key(cid, "u1")) == b"2"       # the file's u1 events (one duplicate)
        assert r.get(store.history_version_key(cid, "reader")) == b"2"   # two real inserts, duplicates not counted
        assert r.get(store.history_version_key(cid, "other")) == b"1"
        assert run(_with_pool(lambda pool: store.user_history(pool, cid, "reader"))) == ["b1", "b2"]
    finally:
        dead.close()
        r.close()
