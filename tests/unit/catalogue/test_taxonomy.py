from __future__ import annotations

from shared.domains.travel.catalogue.taxonomy import CATEGORIES, get_taxonomy


def test_taxonomy_is_a_documented_closed_list_of_30_to_60_tags():
    tax = get_taxonomy()
    assert 30 <= len(tax.tags) <= 60
    assert len(set(tax.ids)) == len(tax.ids)
    for tag in tax.tags:
        assert tag.id == tag.id.lower() and " " not in tag.id
        assert len(tag.description) > 20 and tag.description.endswith(".")
        assert set(tag.categories) <= set(CATEGORIES)
    assert {"hole-in-the-wall", "late-night", "scenic", "family", "splurge", "quiet", "local-favourite"} <= set(tax.ids)


def test_keywords_match_on_word_boundaries():
    tax = get_taxonomy()
    assert tax.get("splurge").keyword_hits("Inexpensive Thai food") == []
    assert tax.get("splurge").keyword_hits("an expensive tasting menu") == ["expensive", "tasting menu"]
    assert tax.get("art").keyword_hits("a party every night") == []
    assert tax.get("late-night").keyword_hits("Open 24 hours, every day") == ["24 hours"]


def test_clean_keeps_taxonomy_order_and_reports_unknown_tags():
    tax = get_taxonomy()
    known, unknown = tax.clean(["Seafood", "quiet", "instagrammable"])
    assert known == ["quiet", "seafood"] and unknown == ["instagrammable"]
