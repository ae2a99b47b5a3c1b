"""The offline teacher (no ANTHROPIC_API_KEY): zero-shot similarity + keyword + structured evidence, labelled."""
from __future__ import annotations

import pytest

from shared.domains.travel.catalogue.merge import merge_cluster
from shared.domains.travel.catalogue.records import VenueRecord


def venue(name, description, category, price_level=None, **evidence):
    return merge_cluster("t", [VenueRecord("wikivoyage", name, "t", name, category, description=description,
                                           price_level=price_level, evidence=evidence)])


@pytest.fixture(scope="module")
def tagged(encoder_ready):
    from shared.domains.travel.catalogue.teacher import OfflineTeacher
    from shared.engine.embeddings import encode

    venues = [
        venue("Pier Oyster House", "Fresh oysters, clam chowder and salmon on the waterfront pier.", "food"),
        venue("Night Noodle", "Cheap noodles until 3am; a late night favourite of students.", "food", 1),
        venue("Bunk Backpackers", "A hostel with dorm beds and a shared kitchen for backpackers.", "lodging", 1),
        venue("Hilltop Viewpoint", "A small park with a panoramic view of the skyline at sunset.", "sight", 0),
        venue("Mystery Spot", "", "food"),
    ]
    teacher = OfflineTeacher()
    emb = encode([v.embedding_text() for v in venues])
    return {v.name: r for v, r in zip(venues, teacher.tag(venues, emb))}, teacher, venues, emb


def test_tags_follow_the_evidence(tagged):
    results, *_ = tagged
    assert {"seafood", "waterfront"} <= set(results["Pier Oyster House"].tags)
    assert {"late-night", "budget"} <= set(results["Night Noodle"].tags)
    assert "hostel" in results["Bunk Backpackers"].tags
    assert {"scenic", "free"} <= set(results["Hilltop Viewpoint"].tags)


def test_every_venue_gets_one_to_six_taxonomy_tags_allowed_for_its_category(tagged):
    from shared.domains.travel.catalogue.taxonomy import get_taxonomy

    results, *_ = tagged
    tax = get_taxonomy()
    for name, r in results.items():
        assert 1 <= len(r.tags) <= 6, name
        category = {"Bunk Backpackers": "lodging", "Hilltop Viewpoint": "sight"}.get(name, "food")
        assert all(tax.get(t).applies_to(category) for t in r.tags), (name, r.tags)


def test_provenance_says_offline_and_why(tagged):
    results, *_ = tagged
    prov = results["Pier Oyster House"].provenance
    assert prov["tagger"] == "offline-zero-shot" and prov["reason"] == "no ANTHROPIC_API_KEY"
    assert "oysters" in prov["keywords"]["seafood"]


def test_it_is_deterministic(tagged):
    results, teacher, venues, emb = tagged
    again = teacher.tag(venues, emb)
    assert [r.tags for r in again] == [results[v.name].tags for v in venues]
