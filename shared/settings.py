"""One settings object, built from the environment only.

Locally the emulator stack exports the same variables the cloud deployment sets, so no
code path asks "am I local?": only the values differ.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be an integer, got {raw!r}") from exc


DEFAULT_RATE_LIMITS = {"trips": "20/600", "pivots": "30/60", "streams": "6/60"}


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    database_url: str
    redis_url: str
    qdrant_url: str
    pubsub_emulator_host: str
    tasks_emulator_host: str
    storage_emulator_host: str
    tasks_service_account: str
    anthropic_api_key: str
    anthropic_base_url: str
    data_dir: Path
    model_dir: Path
    function_urls: dict[str, str] = field(default_factory=dict)
    qdrant_api_key: str = ""           # Qdrant's service API key (the cloud's QDRANT_API_KEY secret); "" locally
    push_service_account: str = ""     # the account Pub/Sub push requests must come from (its OIDC token's email)
    caller_auth: str = "oidc"          # push and task handlers verify their caller's OIDC token; "local": the
                                       # local stack, whose emulators attach none (shared/api/caller_identity.py)
    daily_llm_budget_usd: float = 5.0
    places_daily_cap: int = 500
    places_api_key: str = ""
    places_base_url: str = "https://places.googleapis.com"
    pivot_ignored_after_s: int = 7200  # a pivot the traveller has not answered by then was ignored
    shadow_share: float = 0.5          # share of warm travellers' trips a model in shadow scores
    ml_holdout_share: float = 0.0      # share of users never served by ML (the A/B control arm)
    exploration_share: float = 0.1     # share of stops that take a random one of their best options (IPS logs)
    # per-user token buckets, BURST/SECONDS (shared.engine.quotas): trip creation, swaps and pivots, live streams
    rate_limits: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    llm_user_share: float = 0.2        # the most of the daily LLM budget one user's requests may spend
    places_user_share: float = 0.1     # the most of the daily Places cap one user's requests may spend
    # Google Calendar freeBusy (groups): members share a calendar with the service's account; a token in the env
    # (local fakes, tests) or the account's own credentials (google.auth.default) read it
    calendar_base_url: str = "https://www.googleapis.com"
    calendar_access_token: str = ""

    def function_url(self, name: str) -> str:
        """URL of a deployed function; Pulumi and the local stack both export FUNCTION_URL_<NAME>."""
        try:
            return self.function_urls[name]
        except KeyError:
            raise LookupError(
                f"no URL for function {name!r}: set FUNCTION_URL_{name.upper()} "
                "(the local stack exports it; in the cloud Pulumi sets it)"
            ) from None


def load_settings() -> Settings:
    function_urls = {
        key[len("FUNCTION_URL_"):].lower(): value
        for key, value in os.environ.items()
        if key.startswith("FUNCTION_URL_") and value
    }
    return Settings(
        project=_env("GOOGLE_CLOUD_PROJECT", "concierge-local"),
        region=_env("GOOGLE_CLOUD_REGION", "europe-west1"),
        database_url=_env("DATABASE_URL", "postgresql://postgres@127.0.0.1:54329/concierge"),
        redis_url=_env("REDIS_URL", "redis://127.0.0.1:63799/0"),
        qdrant_url=_env("QDRANT_URL", "http://127.0.0.1:63333"),
        pubsub_emulator_host=_env("PUBSUB_EMULATOR_HOST"),
        tasks_emulator_host=_env("CLOUD_TASKS_EMULATOR_HOST"),
        storage_emulator_host=_env("STORAGE_EMULATOR_HOST"),
        tasks_service_account=_env("TASKS_SERVICE_ACCOUNT"),
        anthropic_api_key=_env("ANTHROPIC_API_KEY"),
        anthropic_base_url=_env("ANTHROPIC_BASE_URL"),
        data_dir=Path(_env("CONCIERGE_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data"))),
        model_dir=Path(_env("CONCIERGE_MODEL_DIR", str(REPO_ROOT / ".cache" / "models"))),
        function_urls=function_urls,
        qdrant_api_key=_env("QDRANT_API_KEY"),
        push_service_account=_env("PUSH_SERVICE_ACCOUNT"),
        caller_auth=_env("CALLER_AUTH", "oidc"),
        daily_llm_budget_usd=float(_env("LLM_DAILY_BUDGET_USD", "5.0")),
        places_daily_cap=_int("PLACES_DAILY_CAP", 500),
        places_api_key=_env("PLACES_API_KEY"),
        places_base_url=_env("PLACES_BASE_URL", "https://places.googleapis.com"),
        pivot_ignored_after_s=_int("PIVOT_IGNORED_AFTER_S", 7200),
        shadow_share=float(_env("SHADOW_SHARE", "0.5")),
        ml_holdout_share=float(_env("ML_HOLDOUT_SHARE", "0.0")),
        exploration_share=float(_env("EXPLORATION_SHARE", "0.1")),
        rate_limits={name: _env(f"RATE_LIMIT_{name.upper()}", spec) for name, spec in DEFAULT_RATE_LIMITS.items()},
        llm_user_share=float(_env("LLM_USER_SHARE", "0.2")),
        places_user_share=float(_env("PLACES_USER_SHARE", "0.1")),
        calendar_base_url=_env("GOOGLE_CALENDAR_BASE_URL", "https://www.googleapis.com"),
        calendar_access_token=_env("GOOGLE_CALENDAR_ACCESS_TOKEN"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests that change the environment call get_settings.cache_clear()."""
    return load_settings()
