"""Anthropic Messages API, through the official SDK.

ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL come from settings, so a local fake server that speaks the Messages wire format
can stand in (tests/fakes/anthropic_server.py). The model defaults to Claude Haiku (ANTHROPIC_MODEL overrides it), the
production choice the architecture fixes for cost.

Why retries live here rather than in the SDK: we want one policy (exponential backoff with jitter, honouring
retry-after) for 429, 529 and 5xx, a count of attempts returned to the caller, and the same policy for a reply that
arrives but is malformed (no tool_use block, or input the caller's validator rejects). Every call returns its token
usage and its cost in USD so callers can account per run (and feed the LLM cost guard).
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shared.settings import get_settings

log = logging.getLogger("concierge.anthropic")
T = TypeVar("T")

DEFAULT_MODEL = "claude-haiku-4-5"  # claude-3-5-haiku-latest reaches end-of-life on 2026-02-19 (SDK warning)
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}

# USD per million tokens (input, output), by model-name prefix, longest prefix first. Public list prices.
_PRICES: list[tuple[str, float, float]] = [
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4", 1.00, 5.00),
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4-5", 5.00, 25.00),
    ("claude-opus-4", 15.00, 75.00),
    ("claude-3-opus", 15.00, 75.00),
]
_FALLBACK_PRICE = (3.00, 15.00)  # unknown model: price it like Sonnet rather than under-report


def model_setting() -> str:
    """Model for production paths; ANTHROPIC_MODEL overrides the Haiku default."""
    return os.environ.get("ANTHROPIC_MODEL") or DEFAULT_MODEL


def price_per_mtok(model: str) -> tuple[float, float, bool]:
    """(input, output, known): unknown models are priced conservatively and flagged."""
    for prefix, p_in, p_out in sorted(_PRICES, key=lambda p: -len(p[0])):
        if model.startswith(prefix):
            return p_in, p_out, True
    return _FALLBACK_PRICE[0], _FALLBACK_PRICE[1], False


@dataclass
class Usage:
    """Token and cost accounting; add usages together to total a run."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    attempts: int = 0
    priced_exactly: bool = True

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            round(self.cost_usd + other.cost_usd, 8),
            self.calls + other.calls,
            self.attempts + other.attempts,
            self.priced_exactly and other.priced_exactly,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "calls": self.calls,
            "attempts": self.attempts,
            "priced_exactly": self.priced_exactly,
        }


def usage_from_reply(model: str, raw_usage: Any) -> Usage:
    def get(name: str) -> int:
        value = getattr(raw_usage, name, None) if raw_usage is not None else None
        return int(value or 0)

    p_in, p_out, known = price_per_mtok(model)
    inp, out = get("input_tokens"), get("output_tokens")
    c_write, c_read = get("cache_creation_input_tokens"), get("cache_read_input_tokens")
    # Prompt-cache writes cost 1.25x input, reads 0.1x input (Anthropic's published multipliers).
    cost = (inp * p_in + out * p_out + c_write * p_in * 1.25 + c_read * p_in * 0.10) / 1_000_000
    return Usage(inp, out, c_write, c_read, cost, calls=1, attempts=0, priced_exactly=known)


class AnthropicUnavailable(RuntimeError):
    """No API key is configured: callers use their offline path and say so."""


class AnthropicCallFailed(RuntimeError):
    """Retries were exhausted; `usage` still carries whatever tokens were spent on the failed attempts."""

    def __init__(self, message: str, usage: Usage, *, malformed: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.usage = usage
        self.malformed = malformed
        self.status = status


class MalformedReply(ValueError):
    """The model answered, but not in the shape the tool schema demands."""


@dataclass
class StructuredResult(Generic[T]):
    data: T
    usage: Usage
    model: str
    stop_reason: str | None = None
    raw_input: dict[str, Any] = field(default_factory=dict)


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    malformed_retries: int = 1

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        backoff = self.base_delay_s * (2 ** (attempt - 1))
        return min(backoff, self.max_delay_s) * (0.5 + random.random() / 2)


class AnthropicClient:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings = get_settings()
        self.api_key = api_key if api_key is not None else settings.anthropic_api_key
        if not self.api_key:
            raise AnthropicUnavailable("ANTHROPIC_API_KEY is not set")
        self.base_url = base_url if base_url is not None else (settings.anthropic_base_url or None)
        self.model = model or model_setting()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        import anthropic

        self._anthropic = anthropic
        # max_retries=0: the retry policy above is the only one, so attempts are counted honestly.
        self._client = anthropic.Anthropic(
            api_key=self.api_key, base_url=self.base_url, max_retries=0, timeout=timeout_s
        )

    @staticmethod
    def available() -> bool:
        return bool(get_settings().anthropic_api_key)

    def _retry_after(self, exc: Exception) -> float | None:
        response = getattr(exc, "response", None)
        if response is None:
            return None
        raw = response.headers.get("retry-after")
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None

    def _create(self, **kwargs: Any) -> tuple[Any, int]:
        """One reply, retrying transport failures and retryable statuses; returns (message, attempts)."""
        errors = self._anthropic
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._client.messages.create(**kwargs), attempt
            except errors.APIStatusError as exc:
                status = exc.status_code
                if status not in RETRYABLE_STATUS or attempt >= self.retry.max_attempts:
                    raise AnthropicCallFailed(
                        f"Anthropic API answered {status} after {attempt} attempt(s): {exc.message}",
                        Usage(attempts=attempt), status=status,
                    ) from exc
                wait = self.retry.delay(attempt, self._retry_after(exc))
                log.warning("anthropic: %s (attempt %d), retrying in %.2fs", status, attempt, wait)
            except (errors.APIConnectionError, errors.APITimeoutError) as exc:
                if attempt >= self.retry.max_attempts:
                    raise AnthropicCallFailed(
                        f"Anthropic API unreachable after {attempt} attempt(s): {exc}", Usage(attempts=attempt)
                    ) from exc
                wait = self.retry.delay(attempt)
                log.warning("anthropic: connection error (attempt %d), retrying in %.2fs", attempt, wait)
            self._sleep(wait)

    def structured(
        self,
        *,
        system: str,
        prompt: str,
        tool_name: str,
        tool_description: str,
        input_schema: dict[str, Any],
        validate: Callable[[dict[str, Any]], T],
        max_tokens: int = 2048,
        temperature: float = 0.0,
        model: str | None = None,
    ) -> StructuredResult[T]:
        """Force a tool call and return its validated input.

        `validate` turns the tool input into the caller's type and raises ValueError (or MalformedReply) when it is
        not acceptable; such a reply is retried up to `retry.malformed_retries` times before AnthropicCallFailed.
        """
        model = model or self.model
        total = Usage(calls=0)
        tools = [{"name": tool_name, "description": tool_description, "input_schema": input_schema}]
        malformed_seen = 0
        last_problem = ""
        while True:
            try:
                message, attempts = self._create(
                    model=model,
                    max_tokens=max_tokens,
                    system=system,
                    messages=[{"role": "user", "content": prompt}],
                    tools=tools,
                    tool_choice={"type": "tool", "name": tool_name},
                    # in the body rather than as a keyword: SDK releases differ on accepting it as one
                    extra_body={"temperature": temperature},
                )
            except AnthropicCallFailed as exc:
                exc.usage = total + exc.usage
                raise
            except (ValueError, self._anthropic.APIResponseValidationError) as exc:
                # A 200 whose body is not a Message (truncated or not JSON): malformed, tokens unknown.
                message, problem = None, f"unparseable reply body: {exc}"
                total = total + Usage(calls=1, attempts=1)
            else:
                usage = usage_from_reply(model, getattr(message, "usage", None))
                usage.attempts = attempts
                total = total + usage
                problem = ""
            try:
                if message is None:
                    raise MalformedReply(problem)
                block = next(
                    (b for b in message.content if getattr(b, "type", None) == "tool_use" and b.name == tool_name),
                    None,
                )
                if block is None:
                    raise MalformedReply(f"reply has no tool_use block for {tool_name} (stop_reason={message.stop_reason})")
                if not isinstance(block.input, dict):
                    raise MalformedReply("tool_use input is not a JSON object")
                data = validate(block.input)
                return StructuredResult(data, total, model, message.stop_reason, dict(block.input))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                malformed_seen += 1
                last_problem = str(exc)
                log.warning("anthropic: malformed reply (%s), %d of %d retries used",
                            last_problem, malformed_seen - 1, self.retry.malformed_retries)
                if malformed_seen > self.retry.malformed_retries:
                    raise AnthropicCallFailed(
                        f"Anthropic reply was malformed {malformed_seen} time(s): {last_problem}", total, malformed=True
                    ) from exc

    def converse(self, *, system: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                 max_tokens: int = 1024, temperature: float = 0.0, model: str | None = None) -> tuple[Any, Usage]:
        """One turn of a tool-using conversation (tool_choice "any": the model must call one of `tools`): the
        reply message and its usage. Transport failures and retryable statuses are retried as for `structured`;
        what the model asked for is the caller's to validate, since only the caller can answer a bad tool call."""
        model = model or self.model
        try:
            message, attempts = self._create(model=model, max_tokens=max_tokens, system=system, messages=messages,
                                             tools=tools, tool_choice={"type": "any"},
                                             extra_body={"temperature": temperature})
        except (ValueError, self._anthropic.APIResponseValidationError) as exc:
            raise AnthropicCallFailed(f"unparseable reply body: {exc}", Usage(calls=1, attempts=1),
                                      malformed=True) from exc
        usage = usage_from_reply(model, getattr(message, "usage", None))
        usage.attempts = attempts
        return message, usage
