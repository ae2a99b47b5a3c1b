"""The LLM paths of trip planning with the real Anthropic client code (SDK, adapter, LLM ranker, persona writer)
against the local fake that speaks the Messages API (tests/fakes/anthropic_server.py), and the real stores of the
session stack (Postgres, Qdrant, Redis) behind the planner.

What is pinned here (issue 4): a cold user is ranked by Claude Haiku through a forced `submit_ranking` tool call and
the response says so; every failure (API error, unparseable or invalid output, timeout) is answered by the heuristic
ranker inside the latency budget with the reason; the cost guard records each call's tokens and, once the day's
budget is spent, keeps every LLM call off (persona included); the persona description comes from the LLM when a key
is set and from the template when the call fails; a warm user never reaches the LLM ranker.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest

from shared.adapters.anthropic_client import DEFAULT_MODEL
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    Reply,
    delayed,
    error,
    malformed_json,
    overloaded,
    server_error,
    text_reply,
    tool_use,
)
from tests.integration.trips.conftest import (drain as _drain, flush_trip_cache, hold_prewarm, run_planner as _run,
                                           trip_request)

pytestmark = pytest.mark.integration

USAGE_DAY = dt.date(2003, 7, 14)   # the cost guard's "today" in this file: our rows never mix with real days
PERSONA_TEXT = "A slow-paced ramen and coffee lover who lingers in small local places."
RANKING_TOKENS = (1234, 321)       # what the fake bills for one ranking reply (input, output)
LLM_VERSION = f"llm:{DEFAULT_MODEL}@rank-v1"
CANDIDATES_HEADER = "Candidates (id|name|category|tags|price|quality):\n"


# --- the fake, scripted per tool --------------------------------------------------------------------------------------
def offered_ids(request: dict) -> list[str]:
    """The candidate ids a ranking prompt offers, in prompt order (one `id|name|...` line each)."""
    prompt = request["messages"][0]["content"]
    block = prompt.split(CANDIDATES_HEADER, 1)[1].split("\nRank at least", 1)[0]
    return [line.split("|", 1)[0] for line in block.splitlines()]


def llm_order(request: dict) -> list[str]:
    """The order our scripted model chooses: the offered ids reversed (worst retrieval first), so an answer that
    follows it can only come from the LLM, never from retrieval or the heuristic."""
    return list(reversed(offered_ids(request)))


def ranking_reply(entries: list[dict]) -> Reply:
    return tool_use("submit_ranking", {"ranking": entries}, input_tokens=RANKING_TOKENS[0],
                    output_tokens=RANKING_TOKENS[1])


def good_ranking(request: dict) -> Reply:
    ids = llm_order(request)
    return ranking_reply([{"id": cid, "confidence": round(0.95 - 0.01 * i, 2)} for i, cid in enumerate(ids)])


def unknown_ids(request: dict) -> Reply:
    ids = llm_order(request)
    return ranking_reply([{"id": cid, "confidence": 0.8} for cid in ids[:-1]]
                         + [{"id": "trips-testville:not-a-venue", "confidence": 0.8}])


def duplicated_ids(request: dict) -> Reply:
    ids = llm_order(request)
    return ranking_reply([{"id": cid, "confidence": 0.8} for cid in ids[:25] + ids[:1]])


def confidence_out_of_range(request: dict) -> Reply:
    ids = llm_order(request)
    return ranking_reply([{"id": cid, "confidence": 1.7 if i == 3 else 0.8} for i, cid in enumerate(ids)])


class Scripted:
    """A responder that answers each tool with its own behaviour (persona and ranking calls share one fake)."""

    def __init__(self, ranking=good_ranking, persona=None):
        self.ranking = ranking
        self.persona = persona or (lambda req: tool_use("submit_persona", {"description": PERSONA_TEXT},
                                                        input_tokens=150, output_tokens=30))

    def __call__(self, request: dict) -> Reply:
        tool = request["tools"][0]["name"]
        return self.ranking(request) if tool == "submit_ranking" else self.persona(request)


def tool_requests(fake: FakeAnthropic, tool: str) -> list[dict]:
    return [r for r in fake.requests if r.get("tool_choice", {}).get("name") == tool]


# --- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake(stack):
    """The fake, with the settings pointing the real client at it. Its own MonkeyPatch context is undone before the
    settings cache is cleared, so no later test sees the key."""
    from shared.settings import get_settings

    with FakeAnthropic() as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANTHROPIC_API_KEY", "test-key")
        mp.setenv("ANTHROPIC_BASE_URL", server.base_url)
        mp.delenv("ANTHROPIC_MODEL", raising=False)
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()


@pytest.fixture
def usage_day(stack, monkeypatch):
    """The cost guard's day is USAGE_DAY, with no usage on it before or after the test."""
    from shared.engine import cost_guard

    monkeypatch.setattr(cost_guard, "today_utc", lambda: USAGE_DAY)
    asyncio.run(_sql(stack, "DELETE FROM llm_usage WHERE day = $1", USAGE_DAY))
    yield USAGE_DAY
    asyncio.run(_sql(stack, "DELETE FROM llm_usage WHERE day = $1", USAGE_DAY))


@pytest.fixture
def city(testville, fake_encoder):
    """The synthetic city with an empty ranked cache (so every case really ranks) and no cache pre-warm enqueued
    from here (the prewarm function would rank the same keys in another process, without our fake)."""
    hold_prewarm(testville)
    flush_trip_cache(testville)
    yield testville
    flush_trip_cache(testville)


async def _sql(stack, query: str, *args):
    import asyncpg

    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


TAGS = {"food": ["ramen", "coffee"], "pace": "slow"}


async def _usage(pool, path: str) -> dict | None:
    row = await pool.fetchrow("SELECT calls, input_tokens, output_tokens, cost_usd FROM llm_usage "
                              "WHERE day = $1 AND path = $2 AND model = $3", USAGE_DAY, path, DEFAULT_MODEL)
    return dict(row) if row else None


def _slots(body: dict) -> list[dict]:
    return [s for d in body["days"] for s in d["slots"]]


# --- 1. a valid ranking -----------------------------------------------------------------------------------------------
def test_cold_user_is_ranked_by_the_llm_and_its_usage_is_recorded(city, fake, usage_day):
    from shared.domains.travel.trips.planner import plan_trip
    from shared.engine.serving.cache import base_key

    fake.responder = Scripted()

    async def go(deps):
        body, version = await plan_trip(deps, "llm-user-ok", trip_request(city, 2, tags=TAGS))
        await _drain()
        base = json.loads(await deps.redis.get(base_key(city, body["persona"]["archetype"])))
        venue_ids = {r["id"] for r in await deps.pool.fetch("SELECT id FROM activity_nodes WHERE city_id = $1", city)}
        return body, version, base, venue_ids, await _usage(deps.pool, "trips.ranking")

    body, version, base, venue_ids, usage = _run(go)

    assert (body["served_by"], body["ranker"], body["fallback_reason"]) == ("llm", "llm", None)
    assert body["model_version"] == version == LLM_VERSION and "haiku" in LLM_VERSION
    assert body["cache"] == {"hit": False, "ranker_calls": 1}
    assert all(len(day["slots"]) >= 2 for day in body["days"])

    (req,) = tool_requests(fake, "submit_ranking")
    assert req["model"] == DEFAULT_MODEL
    assert [t["name"] for t in req["tools"]] == ["submit_ranking"]
    assert req["tool_choice"] == {"type": "tool", "name": "submit_ranking"}
    offered = offered_ids(req)
    assert len(offered) == len(set(offered)) == 60          # the top 60 by retrieval, each once
    assert set(offered) <= venue_ids                          # only real venues of this city...
    assert set(offered) <= {v["id"] for v in base["venues"]}  # ...that retrieval returned for this ranking

    # the stored ranking follows the LLM's order for everything it ranked, the rest below it
    assert [i[0] for i in base["items"][:60]] == llm_order(req)
    assert (base["served_by"], base["model_version"]) == ("llm", LLM_VERSION)
    assert len(base["items"]) == len(base["venues"]) > 60

    # the cost guard saw exactly the tokens the fake billed, priced as Haiku 4.5 ($1 / $5 per MTok)
    assert usage is not None
    assert (usage["calls"], usage["input_tokens"], usage["output_tokens"]) == (1, *RANKING_TOKENS)
    assert float(usage["cost_usd"]) == pytest.approx((1234 * 1.0 + 321 * 5.0) / 1e6, abs=1e-6)


# --- 2. every kind of failure: the heuristic answers, and says why ----------------------------------------------------
FAILURES = [
    # (case, ranking behaviour, reason prefix, words the reason must contain, billed tokens?)
    ("overloaded_529", lambda req: overloaded(), "llm_error", "529", False),
    ("server_error_500", lambda req: server_error(), "llm_error", "500", False),
    ("malformed_json", lambda req: malformed_json(), "llm_invalid", "unparseable", False),
    ("text_no_tool_call", lambda req: text_reply("Here are my favourites: ..."), "llm_invalid", "no tool_use", True),
    ("unknown_id", unknown_ids, "llm_invalid", "not offered", True),
    ("duplicated_id", duplicated_ids, "llm_invalid", "repeats", True),
    ("confidence_out_of_range", confidence_out_of_range, "llm_invalid", "[0,1]", True),
]


@pytest.mark.parametrize("case,behaviour,prefix,words,billed", FAILURES, ids=[f[0] for f in FAILURES])
def test_llm_failures_fall_back_to_the_heuristic_with_the_reason(city, fake, usage_day, case, behaviour, prefix,
                                                                 words, billed):
    from shared.domains.travel.trips.planner import plan_trip
    from shared.engine.serving.cache import FALLBACK_TTL_S, base_key

    fake.responder = Scripted(ranking=behaviour)

    async def go(deps):
        body, _ = await plan_trip(deps, f"llm-user-{case}", trip_request(city, 2, tags=TAGS))
        await _drain()
        stored = await deps.pool.fetchrow("SELECT served_by, model_version FROM trips WHERE id = $1", body["trip_id"])
        ttl = await deps.redis.ttl(base_key(city, body["persona"]["archetype"]))
        return body, stored, ttl, await _usage(deps.pool, "trips.ranking")

    body, stored, ttl, usage = _run(go)

    assert (body["served_by"], body["ranker"], body["model_version"]) == ("heuristic", "heuristic", "heuristic-v1")
    reason = body["fallback_reason"]
    assert reason.startswith(prefix + ":") and words in reason, reason
    assert body["cache"] == {"hit": False, "ranker_calls": 2}   # the LLM, then the heuristic
    assert all(len(day["slots"]) >= 2 for day in body["days"])
    assert dict(stored) == {"served_by": "heuristic", "model_version": "heuristic-v1"}
    assert len(tool_requests(fake, "submit_ranking")) == 1       # one attempt: the budget is the retry policy
    # a fallback ranking is cached only briefly, so the LLM gets the next chance soon
    assert 0 < ttl <= FALLBACK_TTL_S
    # a reply that arrived was billed even though it was unusable; the cost guard must count it too
    if billed:
        assert usage is not None and usage["calls"] == 1 and usage["input_tokens"] > 0, usage
    else:
        assert usage is None


# --- 3. timeouts ------------------------------------------------------------------------------------------------------
def test_a_hung_llm_is_cut_off_inside_the_latency_budget(city, fake, usage_day):
    """The planner's real budget (client timeout 3 s inside a 3.5 s router budget): the plan returns well before the
    fake would have answered, served by the heuristic and labelled as a timeout."""
    from shared.domains.travel.trips.planner import plan_trip

    fake.responder = Scripted(ranking=lambda req: delayed(good_ranking(req), 20.0))

    async def go(deps):
        from shared.domains.travel.trips.members import ensure_persona
        from shared.domains.travel.trips.tags import parse_tags

        async with deps.pool.acquire() as conn:  # the persona first, so only the ranking is timed
            await ensure_persona(deps.pool, conn, "llm-user-slow", parse_tags(TAGS))
        t0 = time.perf_counter()
        body, _ = await plan_trip(deps, "llm-user-slow", trip_request(city, 2, tags=TAGS))
        return body, time.perf_counter() - t0

    body, elapsed = _run(go)
    reason = body["fallback_reason"]
    assert body["served_by"] == "heuristic" and reason.startswith("llm_timeout"), reason
    assert all(len(day["slots"]) >= 2 for day in body["days"])
    assert len(tool_requests(fake, "submit_ranking")) == 1
    assert elapsed < 3.5 + 2.0, elapsed


def test_the_router_budget_cuts_off_a_slow_client_by_itself(fake):
    """When the client's own timeout is longer than the router's budget, the router stops waiting at its budget."""
    from shared.engine.serving.llm import LLMRanker
    from shared.engine.serving.router import RankerRouter
    from shared.engine.serving.types import RankingContext
    from tests.unit.trips.trips_synthetic import make_venues

    fake.responder = Scripted(ranking=lambda req: delayed(good_ranking(req), 10.0))
    router = RankerRouter(llm=LLMRanker(timeout_s=8.0), llm_budget_s=0.5)
    t0 = time.perf_counter()
    res = router.rank(RankingContext(user_id="u", signal_count=0, tags=("coffee",)), list(make_venues(40).values()))
    elapsed = time.perf_counter() - t0
    assert res.served_by == "heuristic" and res.fallback_reason.startswith("llm_timeout")
    assert len(res.items) == 40 and router.calls == ["llm", "heuristic"]
    assert elapsed < 0.5 + 0.5, elapsed


# --- 4. the cost guard ------------------------------------------------------------------------------------------------
def test_an_exhausted_daily_budget_keeps_every_llm_call_off(city, fake, usage_day):
    from shared.domains.travel.trips.persona import template_description
    from shared.domains.travel.trips.planner import plan_trip
    from shared.domains.travel.trips.tags import parse_tags
    from shared.settings import get_settings

    fake.responder = Scripted()
    budget = get_settings().daily_llm_budget_usd

    async def go(deps):
        await deps.pool.execute(
            "INSERT INTO llm_usage (day, path, model, calls, input_tokens, output_tokens, cost_usd) "
            "VALUES ($1, 'catalogue.seed_city.teacher', $2, 900, 9000000, 900000, $3)",
            USAGE_DAY, DEFAULT_MODEL, budget + 0.5)
        body, _ = await plan_trip(deps, "llm-user-broke", trip_request(city, 2, tags=TAGS))
        stored = await deps.pool.fetchval("SELECT persona_description FROM users WHERE id = 'llm-user-broke'")
        return body, stored

    body, stored = _run(go)
    assert fake.requests == []                    # neither the ranker nor the persona writer called the LLM
    assert (body["served_by"], body["fallback_reason"]) == ("heuristic", "llm_budget_exhausted")
    assert all(len(day["slots"]) >= 2 for day in body["days"])
    assert stored == body["persona"]["description"] == template_description(parse_tags(TAGS))


# --- 5. the persona description ---------------------------------------------------------------------------------------
def test_persona_description_is_written_by_the_llm_and_recorded(stack, fake, usage_day, fake_encoder):
    from shared.domains.travel.trips.members import ensure_persona
    from shared.domains.travel.trips.tags import parse_tags

    fake.responder = Scripted()

    async def go(deps):
        async with deps.pool.acquire() as conn:
            persona, signals = await ensure_persona(deps.pool, conn, "llm-persona-ok", parse_tags(TAGS))
            stored = await conn.fetchval("SELECT persona_description FROM users WHERE id = 'llm-persona-ok'")
        await _drain()
        return persona, signals, stored, await _usage(deps.pool, "trips.persona")

    persona, signals, stored, usage = _run(go)
    (req,) = fake.requests
    assert req["model"] == DEFAULT_MODEL
    assert req["tool_choice"] == {"type": "tool", "name": "submit_persona"}
    prompt = req["messages"][0]["content"]
    assert "ramen" in prompt and "coffee" in prompt and "pace=slow" in prompt
    assert persona.description == stored == PERSONA_TEXT and persona.description_source == "llm"
    assert signals == 0
    assert usage is not None and (usage["calls"], usage["input_tokens"], usage["output_tokens"]) == (1, 150, 30)


@pytest.mark.parametrize("status,reply", [(500, server_error),
                                          (400, lambda: error(400, "invalid_request_error", "bad request"))])
def test_persona_falls_back_to_the_template_on_an_error_reply(stack, fake, usage_day, fake_encoder, status, reply):
    from shared.domains.travel.trips.persona import template_description
    from shared.domains.travel.trips.members import ensure_persona
    from shared.domains.travel.trips.tags import parse_tags

    fake.responder = Scripted(persona=lambda req: reply())
    user = f"llm-persona-err-{status}"

    async def go(deps):
        async with deps.pool.acquire() as conn:
            persona, _ = await ensure_persona(deps.pool, conn, user, parse_tags(TAGS))
            stored = await conn.fetchval("SELECT persona_description FROM users WHERE id = $1", user)
        return persona, stored

    persona, stored = _run(go)
    # a 500 is retried once (the persona writer's policy), a 400 is not
    assert [r["tool_choice"]["name"] for r in fake.requests] == ["submit_persona"] * (2 if status == 500 else 1)
    assert persona.description == stored == template_description(parse_tags(TAGS))
    assert persona.description_source == "template"


# --- 6. warm users ----------------------------------------------------------------------------------------------------
class _ML:
    name, version = "ml", "ml:als@test"

    def __init__(self):
        self.calls = 0

    def rank(self, ctx, cands):
        from shared.engine.serving.types import RankedItem

        self.calls += 1
        return [RankedItem(c.id, 1.0 - i / 1000, 0.7) for i, c in enumerate(cands)]


@pytest.mark.parametrize("with_ml", [True, False], ids=["production_model", "no_production_model"])
def test_a_warm_user_never_reaches_the_llm(fake, with_ml):
    from shared.engine.serving.llm import LLMRanker
    from shared.engine.serving.router import COLD_THRESHOLD, RankerRouter
    from shared.engine.serving.types import RankingContext
    from tests.unit.trips.trips_synthetic import make_venues

    fake.responder = Scripted()
    ml = _ML() if with_ml else None
    cands = list(make_venues(30).values())
    for signals in (COLD_THRESHOLD, COLD_THRESHOLD + 200):
        router = RankerRouter(llm=LLMRanker(timeout_s=3.0), ml=ml, llm_budget_s=3.5)
        res = router.rank(RankingContext(user_id="warm", signal_count=signals, tags=("coffee",)), cands)
        assert "llm" not in router.calls and len(res.items) == 30
        if with_ml:
            assert res.arbitration is not None
            assert (res.served_by == "ml") == res.model_version.startswith("ml:als@test")
        else:
            assert (res.served_by, res.fallback_reason) == ("heuristic", "no_production_ml_model")
    assert fake.requests == []
    # the same router sends a cold user to the LLM (the fake is reachable: the test above is not vacuous)
    cold = RankerRouter(llm=LLMRanker(timeout_s=3.0), ml=ml, llm_budget_s=3.5)
    res = cold.rank(RankingContext(user_id="cold", signal_count=COLD_THRESHOLD - 1, tags=("coffee",)), cands)
    assert res.served_by == "llm" and len(tool_requests(fake, "submit_ranking")) == 1
