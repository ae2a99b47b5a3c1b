"""The overrated detector on constructed cases: prominence and criticism must coincide."""
from __future__ import annotations

from shared.domains.travel.catalogue.mentions import link_posts, post_locality
from shared.domains.travel.catalogue.merge import merge_cluster
from shared.domains.travel.catalogue.overrated import assess, phrase_hits, _CRITICAL
from shared.domains.travel.catalogue.records import PostRecord, VenueRecord


def venue(name, description="", *, category="sight", main_page=False, pages=1, tp_attraction=False, stars=0):
    records = [VenueRecord("wikivoyage", f"page{i}#{name}", "testville", name, category,
                           description=description if i == 0 else "",
                           evidence={"page": f"page{i}", "main_page": main_page and i == 0})
               for i in range(pages)]
    if tp_attraction:
        records.append(VenueRecord("travelplanner", f"a:{name}", "testville", name, "sight",
                                   evidence={"kind": "attraction"}))
    if stars:
        records.append(VenueRecord("michelin", f"m:{name}", "testville", name, "food",
                                   evidence={"stars": stars}))
    return merge_cluster("testville", records)


def post(text, source="reddit", pid="p1"):
    return PostRecord(source, pid, "testville", text, channel="r/testville")


def test_prominent_place_with_tourist_trap_language_is_flagged():
    v = venue("Harbor Tower", "The city's most iconic landmark, a must-see, but a tourist trap with overpriced tickets.",
              main_page=True, pages=2, tp_attraction=True)
    r = assess(v)
    assert r.flag and r.score > 0.5
    whats = [e["what"] for e in r.evidence["criticism"]]
    assert "guidebook text: 'tourist trap'" in whats and "guidebook text: 'overpriced'" in whats
    assert any("TravelPlanner" in e["what"] for e in r.evidence["prominence"])


def test_obscure_bad_place_is_not_overrated():
    r = assess(venue("Sad Diner", "Mediocre food and overpriced coffee.", category="food"))
    assert r.criticism > 0.5 and r.prominence == 0 and not r.flag


def test_famous_place_locals_love_is_not_overrated():
    r = assess(venue("Old Market", "A famous, iconic market and a local favorite; locals shop here daily.",
                     main_page=True, tp_attraction=True))
    assert r.prominence > 0.6 and r.criticism == 0 and not r.flag and r.local_love > 0.4


def test_negated_and_comparative_criticism_does_not_count():
    assert phrase_hits("This is not a tourist trap at all.", _CRITICAL) == []
    assert phrase_hits("Less touristy than the wharf.", _CRITICAL) == []
    assert phrase_hits("A bargain compared to the touristy joints on Grant.", _CRITICAL) == []
    assert phrase_hits("Inexpensive and good.", _CRITICAL) == []
    assert phrase_hits("The most expensive elevator ride in America.", _CRITICAL) == [("most expensive", 0.45)]


def test_price_words_count_half_for_restaurants():
    sight = assess(venue("Tower", "Very expensive.", main_page=True, tp_attraction=True))
    diner = assess(venue("Steakhouse", "Very expensive.", category="food", main_page=True, tp_attraction=True))
    assert diner.criticism == sight.criticism / 2


def test_local_posts_can_flag_a_prominent_place():
    v = venue("Harbor Tower", "The city's most iconic landmark.", main_page=True, tp_attraction=True)
    assert not assess(v).flag
    links = link_posts([post("Honestly Harbor Tower is overrated. Go to the park instead.")], [v])
    r = assess(v, links.by_venue[v.id])
    assert r.flag and any(e["what"] == "local post: 'overrated'" and e["source"] == "reddit"
                          for e in r.evidence["criticism"])


def test_visitor_posts_count_less_than_local_ones():
    v = venue("Harbor Tower", "The city's most iconic landmark.", main_page=True, tp_attraction=True)
    local = assess(v, link_posts([post("Harbor Tower is overrated.")], [v]).by_venue[v.id])
    visitor_post = post("Visiting next week: Harbor Tower is overrated, I heard.", pid="p2")
    assert post_locality(visitor_post)[1] is True
    visitor = assess(v, link_posts([visitor_post], [v]).by_venue[v.id])
    assert visitor.criticism < local.criticism


def test_short_names_are_not_matched_in_posts():
    short = venue("Fuel", "A bar.", category="drink")
    links = link_posts([post("We need fuel before the hike.")], [short])
    assert links.by_venue == {}
