"""Done-when 2: San Francisco and Manhattan seed through exactly the same code as Seattle (no city-specific code:
a city is whatever the sources file under its name, plus data-only aliases)."""
from __future__ import annotations

import json

import pytest

from jobs.seed_city.main import main as seed_main
from shared.settings import get_settings
from tests.integration.catalogue.conftest import reset_city, run, with_pool

pytestmark = pytest.mark.integration

FULL_DATA = get_settings().data_dir / "venues" / "wikivoyage-2014" / "listings.csv"
needs_full_data = pytest.mark.skipif(not FULL_DATA.exists(), reason="the full datasets (../shared/data) are absent")


@needs_full_data
@pytest.mark.parametrize(("city", "min_venues", "cross_source"), [
    ("san-francisco", 1000, {"Coit Tower", "California Academy of Sciences", "de Young Museum"}),
    ("manhattan", 650, {"Empire State Building", "Flatiron Building", "Masa"}),
])
def test_city_merges_all_its_sources(city, min_venues, cross_source):
    from shared.domains.travel.catalogue.pipeline import collect_venues

    venues, skipped = collect_venues(city)
    assert len(venues) >= min_venues
    by_name = {v.name: v for v in venues}
    for name in cross_source:  # the same place from two sources became one node
        assert len(by_name[name].sources) >= 2 and by_name[name].source_tier == 1, name
    assert any(reason.startswith("not a venue") for reason in skipped)


@needs_full_data
@pytest.mark.parametrize("city", ["San Francisco", "manhattan"])
def test_city_seeds_end_to_end(city, pg_dsn, qdrant_path, encoder_ready, capsys):
    from shared.adapters.qdrant import get_qdrant
    from shared.domains.travel.catalogue.normalise import slugify
    from shared.domains.travel.catalogue.vectors import collection_name

    city_id = slugify(city)
    run(reset_city(city_id))
    assert seed_main(["--city", city, "--limit", "60", "--json"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["city_id"] == city_id and first["inserted"] == 60
    assert first["skipped"][f"over --limit 60"] > 500
    count = run(with_pool(lambda pool: pool.fetchval("SELECT count(*) FROM activity_nodes WHERE city_id = $1", city_id)))
    assert count == 60 == get_qdrant().count(collection_name(city_id), exact=True).count
    assert seed_main(["--city", city, "--limit", "60", "--json"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 0, 60)
