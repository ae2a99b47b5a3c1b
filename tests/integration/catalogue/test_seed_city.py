"""Done-when 1: seed_city writes >= 500 real Seattle venues with tags and vectors to Postgres and Qdrant; a re-run
writes no duplicates and updates only what changed; an unknown city exits non-zero with a clear message."""
from __future__ import annotations

import csv
import json
import shutil

import pytest

from jobs.seed_city.main import main as seed_main
from tests.integration.catalogue.conftest import DEMO_DATA, reset_city, run, with_pool

pytestmark = pytest.mark.integration


def _summary(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


async def _pg_state(city_id: str) -> dict:
    async def go(pool):
        rows = await pool.fetch(
            "SELECT id, name, category, description, lat, lon, vibe_tags, vibe_embedding, quality_signals, "
            "source_tier, cross_ref_confidence, provenance FROM activity_nodes WHERE city_id = $1", city_id)
        city = await pool.fetchrow("SELECT * FROM cities WHERE id = $1", city_id)
        return {"rows": rows, "city": city}

    return await with_pool(go)


def test_seed_seattle_from_the_demo_extract_is_idempotent(pg_dsn, qdrant_path, encoder_ready, capsys, tmp_path):
    from shared.adapters.qdrant import get_qdrant
    from shared.domains.travel.catalogue.vectors import VIBE_VECTOR, collection_name

    run(reset_city("seattle"))
    assert seed_main(["--city", "seattle", "--demo", "--json"]) == 0
    first = _summary(capsys)
    assert first["inserted"] >= 500 and first["updated"] == 0
    assert first["tagged"] == {"offline-zero-shot": first["inserted"]}  # no key in tests: labelled offline

    state = run(_pg_state("seattle"))
    rows = state["rows"]
    assert len(rows) == first["inserted"] == state["city"]["venue_count"]
    names = {r["name"] for r in rows}
    assert {"Space Needle", "Pike Place Market", "Discovery Park", "Prost!"} <= names
    assert names & {"Gas Works Park", "Gasworks Park"}  # one node for the two spellings on two pages
    assert all(r["category"] in {"sight", "activity", "food", "drink", "shopping", "lodging"} for r in rows)
    assert sum(1 for r in rows if r["description"]) >= 450
    assert sum(1 for r in rows if r["lat"] is not None) >= 350
    assert all(r["vibe_tags"] for r in rows)
    assert all(r["vibe_embedding"] is not None and len(r["vibe_embedding"]) == 64 for r in rows)
    assert all(r["provenance"]["tagger"] == "offline-zero-shot" for r in rows)
    # Same place from several sources -> one node whose quality_signals keep every source's evidence.
    discovery = next(r for r in rows if r["name"] == "Discovery Park")
    assert set(discovery["quality_signals"]["sources"]) == {"wikivoyage", "travelplanner"}
    assert discovery["source_tier"] == 1 and discovery["cross_ref_confidence"] > 0.7
    space_needle = next(r for r in rows if r["name"] == "Space Needle")
    assert space_needle["quality_signals"]["overrated"]["flag"] is True

    coll = collection_name("seattle")
    assert get_qdrant().count(coll, exact=True).count == len(rows)  # the job closes its client: fetch anew
    point = get_qdrant().retrieve(coll, ids=[space_needle["id"]], with_payload=True, with_vectors=True)[0]
    assert len(point.vector[VIBE_VECTOR]) == 64 and len(point.vector["text"]) == 384
    assert point.payload["city_id"] == "seattle" and point.payload["category"] == "sight"
    assert point.payload["tags"] == list(space_needle["vibe_tags"])
    assert {"price_level", "lat", "lon", "location"} <= set(point.payload)

    # A second run adds nothing and rewrites nothing.
    assert seed_main(["--city", "seattle", "--demo", "--json"]) == 0
    second = _summary(capsys)
    assert (second["inserted"], second["updated"], second["vectors_upserted"]) == (0, 0, 0)
    assert second["unchanged"] == first["inserted"]
    assert len(run(_pg_state("seattle"))["rows"]) == len(rows)
    assert get_qdrant().count(coll, exact=True).count == len(rows)

    # Change one description in a copy of the extract: exactly that node is updated, nothing is added.
    data = tmp_path / "data"
    shutil.copytree(DEMO_DATA, data)
    listings = data / "venues" / "wikivoyage-2014" / "listings.csv"
    with open(listings, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        table, fields = list(reader), reader.fieldnames
    target = next(r for r in table if r["name"] == "Prost!")
    target["description"] += " Kite flying on windy days."
    with open(listings, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(table)
    assert seed_main(["--city", "seattle", "--data-dir", str(data), "--json"]) == 0
    third = _summary(capsys)
    assert (third["inserted"], third["updated"]) == (0, 1)
    prost = next(r for r in run(_pg_state("seattle"))["rows"] if r["name"] == "Prost!")
    assert prost["description"].endswith("Kite flying on windy days.")

    # A point lost from Qdrant is repaired from the stored node on the next run.
    from qdrant_client.http import models

    get_qdrant().delete(coll, points_selector=models.PointIdsList(points=[space_needle["id"]]))
    assert seed_main(["--city", "seattle", "--data-dir", str(data), "--json"]) == 0
    fourth = _summary(capsys)
    assert (fourth["inserted"], fourth["updated"], fourth["vectors_repaired"]) == (0, 0, 1)
    assert get_qdrant().count(coll, exact=True).count == len(rows)


def test_unknown_city_exits_non_zero_with_a_clear_message(capsys):
    assert seed_main(["--city", "atlantis", "--demo"]) == 2
    err = capsys.readouterr().err
    assert "unknown city 'atlantis'" in err and "--list-cities" in err


def test_bad_arguments_exit_non_zero(capsys):
    assert seed_main(["--city", "seattle", "--source", "wikivoyage,yelp", "--demo"]) == 2
    assert "unknown source(s) yelp" in capsys.readouterr().err
    assert seed_main(["--city", "seattle", "--limit", "0", "--demo"]) == 2
