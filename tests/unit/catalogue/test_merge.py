from __future__ import annotations

from shared.domains.travel.catalogue.merge import filter_records, merge_records, node_id, same_place
from shared.domains.travel.catalogue.normalise import normalise_name, parse_price_level, slugify
from shared.domains.travel.catalogue.records import VenueRecord


def rec(source, name, category="sight", lat=None, lon=None, description="", sid=None, **evidence):
    return VenueRecord(source, sid or f"{source}:{name}", "testville", name, category, raw_category=category or "other",
                       description=description, lat=lat, lon=lon, evidence=evidence)


def test_names_normalise_for_matching():
    assert normalise_name("The Space Needle") == normalise_name("space needle")
    assert normalise_name("Café Flore (Castro)") == "cafe flore"
    assert normalise_name("Dick's Drive-In") == normalise_name("Dicks Drive In")
    assert normalise_name("Beecher’s & Co.") == "beechers and co"
    assert slugify("Cambridge (Massachusetts)") == "cambridge-massachusetts"
    assert slugify("San Francisco") == "san-francisco"


def test_prices_parse_to_levels():
    assert parse_price_level("Free", "sight") == 0
    assert parse_price_level("$10-20", "food") == 2
    assert parse_price_level("Adults $25, children $10", "sight") == 2
    assert parse_price_level("$189-259", "lodging") == 3
    assert parse_price_level("$$$$", "food") == 4
    assert parse_price_level("varies", "food") is None


def test_same_place_rules():
    a = rec("wikivoyage", "Discovery Park", lat=47.657, lon=-122.405)
    assert same_place(a, rec("travelplanner", "Discovery Park", lat=47.658, lon=-122.404))
    assert not same_place(a, rec("travelplanner", "Discovery Park", lat=47.70, lon=-122.30))  # same name, far away
    assert same_place(a, rec("travelplanner", "Discovery Park"))  # same name, location unknown
    # containment only when close, and only within compatible categories
    col = rec("wikivoyage", "Columbia Center", lat=47.6045, lon=-122.3305)
    assert same_place(col, rec("travelplanner", "Sky View Observatory - Columbia Center", lat=47.6046, lon=-122.3307))
    square = rec("wikivoyage", "Pioneer Square", lat=47.6015, lon=-122.3343)
    hotel = rec("wikivoyage", "Best Western Pioneer Square Hotel", "lodging", lat=47.6016, lon=-122.3340)
    assert not same_place(square, hotel)


def test_merge_keeps_every_sources_evidence_and_scores_corroboration():
    records = [
        rec("wikivoyage", "Kerry Park", lat=47.6295, lon=-122.3599, description="The view.", page="Seattle",
            main_page=True, sid="wv1"),
        rec("wikivoyage", "Kerry Park", lat=47.6294, lon=-122.3600, description="The most photographed view.",
            page="Seattle/Queen_Anne", sid="wv2"),
        rec("travelplanner", "Kerry Park", lat=47.6295, lon=-122.3598, kind="attraction"),
        rec("wikivoyage", "Tiny Noodle Bar", "food", description="Cheap noodles.", sid="wv3"),
        rec("travelplanner", "Chain Burger", "food"),
    ]
    kept, skipped = filter_records(records + [rec("wikivoyage", "Airport bus", None), rec("wikivoyage", "", "food")])
    assert dict(skipped) == {"not a venue (listing category 'other')": 1, "no name": 1}
    venues = {v.name: v for v in merge_records("testville", kept)}
    assert set(venues) == {"Kerry Park", "Tiny Noodle Bar", "Chain Burger"}
    kerry = venues["Kerry Park"]
    assert kerry.description == "The most photographed view."  # the longest text wins; all stay as evidence
    assert len(kerry.quality_signals["sources"]["wikivoyage"]) == 2
    assert kerry.quality_signals["sources"]["travelplanner"][0]["kind"] == "attraction"
    assert kerry.source_tier == 1 and kerry.cross_ref_confidence > venues["Tiny Noodle Bar"].cross_ref_confidence
    assert venues["Tiny Noodle Bar"].source_tier == 2  # one editorial source with text
    assert venues["Chain Burger"].source_tier == 3  # one bare listing


def test_node_ids_are_deterministic():
    a = node_id("seattle", "The Space Needle", 47.62012, -122.34931)
    assert a == node_id("seattle", "space needle", 47.62041, -122.34929)  # same ~100 m cell
    assert a != node_id("portland", "space needle", 47.62012, -122.34931)
    assert node_id("seattle", "Space Needle", None, None) != a
    records = [rec("wikivoyage", "Gas Works Park", lat=47.6456, lon=-122.3344, sid="1"),
               rec("wikivoyage", "Gasworks Park", lat=47.6457, lon=-122.3343, sid="2")]
    first = merge_records("testville", records)
    again = merge_records("testville", list(reversed(records)))
    assert [v.id for v in first] == [v.id for v in again] and len(first) == 1


def test_coordinates_far_from_the_city_are_dropped_not_the_venue():
    records = [rec("wikivoyage", f"Place {i}", lat=47.6 + i / 1000, lon=-122.3) for i in range(6)]
    records.append(rec("wikivoyage", "Misplaced Museum", lat=40.7, lon=-74.0))
    kept, skipped = filter_records(records)
    misplaced = next(r for r in kept if r.name == "Misplaced Museum")
    assert misplaced.lat is None and misplaced.evidence["dropped_coords"] == [40.7, -74.0]
    assert skipped["coordinates dropped (> 60 km from the city centre)"] == 1
