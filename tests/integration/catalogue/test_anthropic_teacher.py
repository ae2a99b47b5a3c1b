"""Done-when 4 (Anthropic): the real client and the LLM teacher against a local server speaking the Messages API —
tool_use replies, a malformed reply, a 529 overloaded error, cost accounting, and the pipeline end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shared.adapters.anthropic_client import DEFAULT_MODEL, AnthropicCallFailed, AnthropicClient, RetryPolicy, price_per_mtok
from shared.domains.travel.catalogue.merge import merge_cluster
from shared.domains.travel.catalogue.records import VenueRecord
from shared.domains.travel.catalogue.teacher import AnthropicTeacher, OfflineTeacher
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    malformed_json,
    overloaded,
    rate_limited,
    server_error,
    error,
    text_reply,
    tool_use,
)

pytestmark = pytest.mark.integration
NO_WAIT = RetryPolicy(max_attempts=4, base_delay_s=0.0, malformed_retries=1)


def venue(i: int, name: str, description: str, category: str = "food"):
    return merge_cluster("testville", [VenueRecord("wikivoyage", f"p#{i}", "testville", name, category,
                                                   description=description)])


VENUES = [
    venue(1, "Harbor Oyster Bar", "Fresh oysters and chowder on the pier with views of the bay."),
    venue(2, "Night Owl Diner", "Open 24 hours; cheap breakfast plates and strong coffee."),
    venue(3, "Quiet Pages", "A calm independent bookstore with reading nooks.", "shopping"),
]


def venues_in(request: dict) -> list[dict]:
    prompt = request["messages"][0]["content"]
    return json.loads(prompt.split("Venues (JSON):\n", 1)[1].rsplit("\n\nCall record_vibe_tags", 1)[0])


def answer_all(request: dict):
    """A responder in the shape another test author would write: read the batch, tag every venue."""
    tags = {"food": ["seafood", "waterfront"], "shopping": ["shopping", "quiet"]}
    items = [{"id": v["id"], "tags": tags.get(v["category"], ["casual"])} for v in venues_in(request)]
    return tool_use(request["tools"][0]["name"], {"venues": items})


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def client_for(fake: FakeAnthropic, **kw) -> AnthropicClient:
    return AnthropicClient(api_key="test-key", base_url=fake.base_url, retry=kw.pop("retry", NO_WAIT), **kw)


@pytest.fixture(scope="module")
def offline(encoder_ready):
    return OfflineTeacher(reason="Anthropic reply unusable")


def test_teacher_tags_in_batches_with_a_forced_tool_and_accounts_cost(fake, offline):
    fake.responder = answer_all
    teacher = AnthropicTeacher(client_for(fake), batch_size=2, fallback=offline)
    results = teacher.tag(VENUES, np.zeros((3, 384), dtype=np.float32))

    assert [r.tags for r in results] == [["waterfront", "seafood"], ["waterfront", "seafood"], ["quiet", "shopping"]]
    assert all(r.provenance["tagger"] == "anthropic" for r in results)
    assert len(fake.requests) == 2  # batches of 2
    req = fake.requests[0]
    assert req["model"] == DEFAULT_MODEL and "haiku" in DEFAULT_MODEL  # Haiku by default
    assert req["tool_choice"] == {"type": "tool", "name": "record_vibe_tags"}
    enum = req["tools"][0]["input_schema"]["properties"]["venues"]["items"]["properties"]["tags"]["items"]["enum"]
    assert "hole-in-the-wall" in enum and len(enum) == 56
    p_in, p_out, known = price_per_mtok(DEFAULT_MODEL)
    assert known and teacher.usage.calls == 2
    assert (teacher.usage.input_tokens, teacher.usage.output_tokens) == (2400, 600)
    assert math.isclose(teacher.usage.cost_usd, (2400 * p_in + 600 * p_out) / 1e6)
    assert len(teacher.call_log) == 2


def test_529_overloaded_is_retried_then_succeeds(fake, offline):
    fake.script(overloaded(), overloaded())
    fake.responder = answer_all
    teacher = AnthropicTeacher(client_for(fake), batch_size=10, fallback=offline)
    results = teacher.tag(VENUES, np.zeros((3, 384), dtype=np.float32))
    assert all(r.provenance["tagger"] == "anthropic" for r in results)
    assert len(fake.requests) == 3 and teacher.usage.attempts == 3 and teacher.usage.calls == 1


def test_429_honours_retry_after_and_5xx_is_retried(fake):
    waits: list[float] = []
    fake.script(rate_limited(retry_after=1.5), server_error(), tool_use("t", {"ok": True}))
    client = AnthropicClient(api_key="k", base_url=fake.base_url, retry=RetryPolicy(max_attempts=4, base_delay_s=0.01),
                             sleep=waits.append)
    result = client.structured(system="s", prompt="p", tool_name="t", tool_description="d",
                               input_schema={"type": "object"}, validate=lambda d: d)
    assert result.data == {"ok": True} and result.usage.attempts == 3
    assert waits[0] == 1.5 and 0 < waits[1] <= 0.02


def test_persistent_529_gives_up_after_max_attempts(fake):
    fake.responder = lambda _req: overloaded()
    with pytest.raises(AnthropicCallFailed) as info:
        client_for(fake).structured(system="s", prompt="p", tool_name="t", tool_description="d",
                                    input_schema={"type": "object"}, validate=lambda d: d)
    assert info.value.status == 529 and len(fake.requests) == NO_WAIT.max_attempts


def test_client_errors_are_not_retried(fake):
    fake.script(error(400, "invalid_request_error", "max_tokens: must be positive"))
    with pytest.raises(AnthropicCallFailed) as info:
        client_for(fake).structured(system="s", prompt="p", tool_name="t", tool_description="d",
                                    input_schema={"type": "object"}, validate=lambda d: d)
    assert info.value.status == 400 and len(fake.requests) == 1


@pytest.mark.parametrize("bad", [
    text_reply("Here are your tags: seafood"),                          # no tool_use block
    tool_use("record_vibe_tags", {"venues": [{"id": "nope", "tags": ["seafood"]}]}),  # ids do not match the batch
    tool_use("record_vibe_tags", {"tags": "seafood"}),                  # wrong shape
    malformed_json(),                                                   # 200 whose body is not JSON
])
def test_malformed_reply_is_retried_once(fake, offline, bad):
    fake.script(bad)
    fake.responder = answer_all
    teacher = AnthropicTeacher(client_for(fake), batch_size=10, fallback=offline)
    results = teacher.tag(VENUES, np.zeros((3, 384), dtype=np.float32))
    assert all(r.provenance["tagger"] == "anthropic" for r in results)
    assert len(fake.requests) == 2 and teacher.failed_batches == 0


def test_malformed_twice_falls_back_to_the_offline_teacher_and_says_so(fake, offline):
    fake.responder = lambda _req: text_reply("no tools today")
    teacher = AnthropicTeacher(client_for(fake), batch_size=10, fallback=offline)
    from shared.engine.embeddings import encode

    results = teacher.tag(VENUES, encode([v.embedding_text() for v in VENUES]))
    assert teacher.failed_batches == 1 and len(fake.requests) == 2
    assert all(r.provenance["tagger"] == "offline-zero-shot" for r in results)
    assert all(r.provenance["reason"].startswith("fallback: Anthropic reply was malformed 2 time(s)") for r in results)
    assert all(r.tags for r in results)
    assert teacher.usage.calls == 2 and teacher.usage.input_tokens == 2400  # the failed calls still cost money


def test_unknown_tags_are_dropped_not_stored(fake, offline):
    def reply(request):
        items = [{"id": v["id"], "tags": ["seafood", "instagrammable"]} for v in venues_in(request)]
        return tool_use("record_vibe_tags", {"venues": items})

    fake.responder = reply
    results = AnthropicTeacher(client_for(fake), fallback=offline).tag(VENUES, np.zeros((3, 384), np.float32))
    assert [r.tags for r in results] == [["seafood"]] * 3


def test_seeding_with_a_key_uses_the_llm_teacher_and_records_cost(fake, pg_dsn, qdrant_path, encoder_ready,
                                                                  monkeypatch, capsys):
    from jobs.seed_city.main import main as seed_main
    from shared.settings import get_settings
    from tests.integration.catalogue.conftest import DEMO_DATA, reset_city, run, with_pool

    run(reset_city("seattle"))
    # Without a key: offline teacher, labelled as such.
    assert seed_main(["--city", "seattle", "--data-dir", str(DEMO_DATA), "--limit", "12", "--json"]) == 0
    offline_run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert offline_run["tagged"] == {"offline-zero-shot": 12} and offline_run["llm"] is None

    # With a key (pointed at the fake): the same nodes are upgraded to LLM tags, cost is accounted and recorded.
    fake.responder = answer_all
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    get_settings.cache_clear()
    before = run(with_pool(lambda pool: pool.fetchval(
        "SELECT coalesce(sum(calls), 0) FROM llm_usage WHERE path = 'catalogue.seed_city.teacher'")))
    assert seed_main(["--city", "seattle", "--data-dir", str(DEMO_DATA), "--limit", "12", "--json"]) == 0
    llm_run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert llm_run["tagged"] == {"anthropic": 12} and (llm_run["inserted"], llm_run["updated"]) == (0, 12)
    assert llm_run["llm"]["calls"] == 1 and llm_run["llm"]["cost_usd"] > 0
    assert llm_run["llm"]["cost_guard"] == "1 call(s) recorded with the cost guard"
    after = run(with_pool(lambda pool: pool.fetchval(
        "SELECT coalesce(sum(calls), 0) FROM llm_usage WHERE path = 'catalogue.seed_city.teacher'")))
    assert after - before == 1
    providers = run(with_pool(lambda pool: pool.fetch(
        "SELECT DISTINCT provenance->>'tagger' AS t FROM activity_nodes WHERE city_id = 'seattle'")))
    assert [r["t"] for r in providers] == ["anthropic"]

    # A later run without a key keeps the LLM's tags (never downgrades) and calls nothing.
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    get_settings.cache_clear()
    assert seed_main(["--city", "seattle", "--data-dir", str(DEMO_DATA), "--limit", "12", "--json"]) == 0
    keyless = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (keyless["inserted"], keyless["updated"], keyless["unchanged"]) == (0, 0, 12)
    assert len(fake.requests) == 1
