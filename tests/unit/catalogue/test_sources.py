"""File sources and city resolution, on the repository's attributed Seattle extract and on tiny temp files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.domains.travel.catalogue.cities import City, UnknownCity, known_cities, resolve_city
from shared.domains.travel.catalogue.sources import make_source

DEMO = Path(__file__).resolve().parents[3] / "emulators" / "demo_data"


def test_demo_extract_covers_exactly_seattle():
    cities = known_cities(DEMO)
    assert list(cities) == ["seattle"]
    assert cities["seattle"].names == {"wikivoyage": ("Seattle",), "travelplanner": ("Seattle",)}


def test_unknown_city_lists_how_to_find_valid_ones():
    with pytest.raises(UnknownCity) as info:
        resolve_city("atlantis", DEMO)
    assert "--list-cities" in str(info.value)
    with pytest.raises(UnknownCity) as info:
        resolve_city("seatle", DEMO)
    assert info.value.suggestions == ["seattle"]


def test_wikivoyage_rows_become_records_with_evidence():
    city = resolve_city("Seattle", DEMO)
    records = list(make_source("wikivoyage", DEMO).read(city))
    assert len(records) == 572
    gas = next(r for r in records if r.name == "Gas Works Park")
    assert gas.category == "sight" and gas.lat and gas.description
    assert gas.evidence["page"] == "Seattle/Fremont" and gas.evidence["revision_id"] == "2596260"
    assert sum(r.category is None for r in records) == 35  # 'other' listings: transport, consulates, ...


def test_travelplanner_and_missing_michelin():
    city = resolve_city("seattle", DEMO)
    records = list(make_source("travelplanner", DEMO).read(city))
    assert {r.raw_category for r in records} == {"attraction", "restaurant"} and len(records) == 50
    restaurant = next(r for r in records if r.raw_category == "restaurant")
    assert restaurant.rating is not None and restaurant.price_level is not None and restaurant.cuisines
    assert "not found" in make_source("michelin", DEMO).available()


def test_posts_jsonl(tmp_path):
    (tmp_path / "posts").mkdir()
    lines = [
        {"source": "reddit", "id": "t3_a", "city": "Seattle", "title": "Space Needle?", "selftext": "Overrated.",
         "subreddit": "Seattle", "score": 12},
        {"source": "reddit", "id": "t3_b", "city": "Portland", "title": "Voodoo", "text": "Touristy."},
        {"source": "blog", "id": "", "city": "seattle", "text": "no id: skipped"},
    ]
    (tmp_path / "posts" / "local.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    posts = list(make_source("posts", tmp_path).read(City("seattle", "Seattle")))
    assert [(p.source, p.external_id, p.channel, p.score) for p in posts] == [("reddit", "t3_a", "Seattle", 12)]
    assert posts[0].full_text == "Space Needle?\nOverrated."
    assert "no scraped posts" in make_source("posts", DEMO).available()


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="unknown source 'yelp'"):
        make_source("yelp", DEMO)
