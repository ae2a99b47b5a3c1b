"""Retrospectives: ratings become signals in the sink's shape, preferences and history move, and the next
spectrum's safe option starts from what worked."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from shared.domains.errors import InvalidRequest
from shared.domains.groups.retrospective import (
    Review,
    signal_records,
    updated_history,
    updated_preferences,
)
from shared.domains.groups.spectrum import GroupHistory, spectrum
from shared.engine.events.schema import POSITIVE_TYPES, SignalRecord
from shared.engine.events.weights import IN_APP_WEIGHT
from tests.unit.groups.venues import BY_ID, VENUES, members, saturday_evening

UTC = dt.timezone.utc
REVIEWED = dt.datetime(2031, 6, 9, 10, 0, tzinfo=UTC)
WINDOW = saturday_evening()
EVERYONE = ("ana", "ben", "cara", "dev")


@pytest.fixture(scope="module")
def bowling_night():
    """An outing that went bowling after dinner: the outing that happened (planned from the dinners and the bowling
    alley alone, so that which option the full spectrum shows does not matter here)."""
    dinner_or_bowling = [v for v in VENUES if v.extra["venue_type"] == "restaurant" or v.id == "s_bowling"]
    return spectrum(dinner_or_bowling, members(), WINDOW)[0]


def test_ratings_become_signals_in_the_sinks_shape(bowling_night):
    dinner = bowling_night.venue_ids[0]
    reviews = [Review("ana", 5, {"s_bowling": 5, dinner: 4}), Review("ben", 3, {"s_bowling": 2, dinner: 1}),
               Review("cara", 3, {}), Review("dev", None, {"s_bowling": 5})]
    records = signal_records("outing-7", bowling_night, reviews, attended=EVERYONE, reviewed_at=REVIEWED)
    got = {(r["user_id"], r["activity_node_id"]): r["signal_type"] for r in records}
    assert got == {("ana", "s_bowling"): "thumbs_up", ("ana", dinner): "slot_accept",
                   ("ben", "s_bowling"): "slot_skip", ("ben", dinner): "thumbs_down",
                   ("dev", "s_bowling"): "thumbs_up"}   # cara's 3 says nothing; dev did not rate dinner
    for r in records:
        rec = SignalRecord.model_validate(r)             # what the sink reads
        assert rec.weight == IN_APP_WEIGHT and rec.trip_id == "outing-7"
        assert rec.context.group_size == 4 and rec.context.day_part == "evening"
    positives = {k for k, t in got.items() if t in POSITIVE_TYPES}
    assert positives == {("ana", "s_bowling"), ("ana", dinner), ("dev", "s_bowling")}
    again = signal_records("outing-7", bowling_night, reviews, attended=EVERYONE, reviewed_at=REVIEWED)
    assert [r["event_id"] for r in again] == [r["event_id"] for r in records]   # idempotent in the sink


def test_the_outing_rating_stands_in_for_unrated_venues_and_absentees_are_ignored(bowling_night):
    reviews = [Review("ana", 1, {}), Review("ben", 5, {"s_bowling": 5})]
    records = signal_records("outing-7", bowling_night, reviews, attended=("ana",), reviewed_at=REVIEWED)
    assert {(r["user_id"], r["signal_type"]) for r in records} == {("ana", "thumbs_down")}
    assert len(records) == len(bowling_night.stops)


def test_ratings_are_validated(bowling_night):
    with pytest.raises(InvalidRequest) as err:
        signal_records("o", bowling_night, [Review("ana", 6)], EVERYONE, REVIEWED)
    assert err.value.field == "reviews[0].outing_rating"
    with pytest.raises(InvalidRequest) as err:
        signal_records("o", bowling_night, [Review("ana", 4, {"r_steak": 5})], EVERYONE, REVIEWED)
    assert err.value.field == "reviews[0].venue_ratings.r_steak"


def test_preferences_move_toward_what_was_loved_and_away_from_what_was_not(bowling_night):
    dinner = bowling_night.venue_ids[0]
    prefs = {"active": 0.9, "beer": 1.0}
    after = updated_preferences(prefs, Review("ben", 3, {"s_bowling": 5, dinner: 1}), bowling_night, BY_ID)
    assert after["active"] == 1.0                       # +0.3, clipped
    assert after["groups"] == 0.3 and after["sports"] == 0.3
    assert after["beer"] == 1.0                          # the venues say nothing about beer
    assert after["restaurant"] == -0.3                   # dinner's venue type, rated 1
    assert updated_preferences(prefs, Review("ben", 3, {}), bowling_night, BY_ID) == prefs


def test_history_keeps_what_the_group_liked(bowling_night):
    dinner = bowling_night.venue_ids[0]
    start = GroupHistory(venue_ids=frozenset({dinner}))
    reviews = [Review(u, 3, {"s_bowling": 5, dinner: 2}) for u in EVERYONE]
    history = updated_history(start, bowling_night, reviews, EVERYONE)
    assert history.venue_ids == frozenset({"s_bowling"})            # dinner disliked: out
    assert history.categories == frozenset({"sports"}) and history.areas == frozenset({"sodo"})
    no_shows = updated_history(GroupHistory(), bowling_night, reviews, attended=())
    assert no_shows == GroupHistory()


@pytest.mark.parametrize("aggregation", ["least_misery", "nash_welfare", "average"])
def test_a_five_star_venue_makes_the_next_safe_option_do_that_again(aggregation, bowling_night):
    group = members()
    before = spectrum(VENUES, group, WINDOW, aggregation=aggregation)
    assert "sports" not in {s.category for s in before[0].stops}

    dinner = bowling_night.venue_ids[0]
    reviews = [Review(m.user_id, 4, {"s_bowling": 5, dinner: 3}) for m in group]
    history = updated_history(GroupHistory(), bowling_night, reviews, EVERYONE)
    learned = [dataclasses.replace(m, preferences=updated_preferences(m.preferences, r, bowling_night, BY_ID))
               for m, r in zip(group, reviews)]
    after = spectrum(VENUES, learned, WINDOW, history, aggregation=aggregation)
    assert "sports" in {s.category for s in after[0].stops}
    assert after[0].novelty < before[0].novelty
