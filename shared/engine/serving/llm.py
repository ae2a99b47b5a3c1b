"""The cold-start ranker: Claude Haiku, through tool use, ranks a compressed view of the candidates.

Why tool use: the model must return structured output we can validate (ids we sent, each once,
confidences in [0, 1]); a forced tool call gives us a JSON object instead of prose to parse. Anything
that fails validation raises RankerError and the router falls back to the heuristic ranker.

Only the top `max_sent` candidates (by retrieval score) are sent, each as one short line, to keep the
prompt small (tokens are cost and latency); the rest keep their heuristic order below the LLM's list.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from shared.engine.serving.heuristic import HeuristicRanker
from shared.engine.serving.types import Candidate, RankedItem, RankerError, RankingContext

PROMPT_VERSION = "rank-v1"

RANK_TOOL = {
    "name": "submit_ranking",
    "description": "Submit the candidates ranked best-first for this traveller, each with a confidence in [0,1].",
    "input_schema": {
        "type": "object",
        "properties": {
            "ranking": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                    "required": ["id", "confidence"],
                },
            }
        },
        "required": ["ranking"],
    },
}


def compress_candidate(c: Candidate) -> str:
    price = "$" * c.price_level if c.price_level else "-"
    tags = ",".join(list(c.tags)[:5])
    flag = " overrated" if c.overrated else ""
    return f"{c.id}|{c.name[:40]}|{c.category}|{tags}|{price}|q{c.quality:.1f}{flag}"


def build_prompt(ctx: RankingContext, sent: list[Candidate]) -> str:
    when = []
    if ctx.day_part:
        when.append(f"day part: {ctx.day_part}")
    if ctx.day_of_trip:
        when.append(f"trip day {ctx.day_of_trip}")
    if ctx.group_size > 1:
        when.append(f"group of {ctx.group_size}")
    lines = "\n".join(compress_candidate(c) for c in sent)
    text = (
        f"Traveller: {ctx.persona_text or ', '.join(ctx.tags)}\n"
        + (f"Context: {'; '.join(when)}\n" if when else "")
        + "Candidates (id|name|category|tags|price|quality):\n"
        + lines
        + f"\nRank at least {min_required(len(sent))} candidates best-first for this traveller, "
        "preferring local favourites over overrated ones. Use only the ids above."
    )
    return text


def min_required(n_sent: int) -> int:
    return min(n_sent, 20)


def validate_ranking(raw: Any, sent_ids: list[str]) -> list[tuple[str, float]]:
    """The model's tool input → [(id, confidence)], or RankerError naming what was wrong."""
    if not isinstance(raw, dict) or not isinstance(raw.get("ranking"), list):
        raise RankerError("tool input has no 'ranking' list")
    allowed = set(sent_ids)
    seen: set[str] = set()
    out: list[tuple[str, float]] = []
    for entry in raw["ranking"]:
        if not isinstance(entry, dict):
            raise RankerError("ranking entry is not an object")
        cid, conf = entry.get("id"), entry.get("confidence")
        if not isinstance(cid, str) or cid not in allowed:
            raise RankerError(f"ranking names an id that was not offered: {cid!r}")
        if cid in seen:
            raise RankerError(f"ranking repeats id {cid!r}")
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0.0 <= float(conf) <= 1.0:
            raise RankerError(f"confidence for {cid!r} is not a number in [0,1]: {conf!r}")
        seen.add(cid)
        out.append((cid, float(conf)))
    if len(out) < min_required(len(sent_ids)):
        raise RankerError(f"ranking has {len(out)} entries; at least {min_required(len(sent_ids))} required")
    return out


def failure_kind(exc: BaseException) -> str:
    """Why a call failed, for the fallback reason: a reply that failed validation is "invalid", no reply in time is
    "timeout", anything else (an error status, a dropped connection, no key) is "error"."""
    if getattr(exc, "malformed", False):
        return "invalid"
    timeouts: tuple[type[BaseException], ...] = (TimeoutError,)
    sdk = sys.modules.get("anthropic")  # not imported means the failure cannot be the SDK's (and is slow to import)
    if sdk is not None:
        timeouts += (sdk.APITimeoutError,)
    return "timeout" if isinstance(exc, timeouts) or isinstance(exc.__cause__, timeouts) else "error"


def default_call(*, system: str, prompt: str, tool: dict, validate: Callable[[dict], Any],
                 max_tokens: int, timeout: float) -> tuple[Any, dict]:
    """One forced tool call through the project's Anthropic adapter → (validated data, usage dict).

    One attempt and no malformed-reply retry: the router's latency budget is the retry policy (the
    heuristic answers instead)."""
    from shared.adapters.anthropic_client import AnthropicClient, RetryPolicy

    client = AnthropicClient(retry=RetryPolicy(max_attempts=1, malformed_retries=0), timeout_s=timeout)
    result = client.structured(
        system=system, prompt=prompt, tool_name=tool["name"], tool_description=tool["description"],
        input_schema=tool["input_schema"], validate=validate, max_tokens=max_tokens,
    )
    return result.data, {**result.usage.as_dict(), "model": result.model}


class LLMRanker:
    name = "llm"

    @property
    def version(self) -> str:
        from shared.adapters.anthropic_client import model_setting

        return f"llm:{model_setting()}@{PROMPT_VERSION}"

    def __init__(self, call: Callable[..., tuple[dict, dict]] | None = None, *, max_sent: int = 60,
                 timeout_s: float = 4.0, on_usage: Callable[[dict], None] | None = None):
        self._call = call or default_call
        self.max_sent = max_sent
        self.timeout_s = timeout_s
        self._on_usage = on_usage
        self._fallback_order = HeuristicRanker()

    def rank(self, ctx: RankingContext, candidates: list[Candidate]) -> list[RankedItem]:
        if not candidates:
            return []
        sent = sorted(candidates, key=lambda c: -c.retrieval_score)[: self.max_sent]
        sent_ids = [c.id for c in sent]

        def validate(raw: dict) -> list[tuple[str, float]]:
            try:
                return validate_ranking(raw, sent_ids)
            except RankerError as exc:  # the adapter treats ValueError as a malformed reply
                raise ValueError(str(exc)) from None

        try:
            ranked, usage = self._call(
                system="You rank travel venues for one traveller. Answer only by calling submit_ranking.",
                prompt=build_prompt(ctx, sent),
                tool=RANK_TOOL,
                validate=validate,
                max_tokens=1500,
                timeout=self.timeout_s,
            )
        except RankerError:
            raise
        except Exception as exc:  # network, API error, timeout, malformed: all mean "fall back"
            spent = getattr(exc, "usage", None)  # a reply that arrived but was unusable was still billed
            if self._on_usage and (getattr(spent, "input_tokens", 0) or getattr(spent, "output_tokens", 0)):
                from shared.adapters.anthropic_client import model_setting

                self._on_usage({**spent.as_dict(), "model": model_setting()})
            raise RankerError(f"LLM call failed: {type(exc).__name__}: {exc}", failure_kind(exc)) from exc
        if self._on_usage and usage:
            self._on_usage(usage)
        m = len(ranked)
        out = [
            RankedItem(cid, round(0.5 + 0.25 * conf + 0.25 * (1 - pos / m), 6), round(conf, 4))
            for pos, (cid, conf) in enumerate(ranked)
        ]
        chosen = {cid for cid, _ in ranked}
        rest = [c for c in candidates if c.id not in chosen]
        for item in self._fallback_order.rank(ctx, rest):
            # below every LLM-ranked item, keeping the heuristic's order and its confidence
            out.append(RankedItem(item.id, round(0.49 * item.score / (1 + abs(item.score)), 6), item.confidence))
        return out
