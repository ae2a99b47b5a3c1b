"""Teacher taggers: label venues with taxonomy tags.

AnthropicTeacher — Claude Haiku, batches of venues per Messages API call, a forced tool call whose JSON schema
  enumerates the taxonomy (the model cannot invent tags), retries with backoff in the adapter, token/cost accounting.
  A batch whose reply stays malformed or whose call fails is tagged by the offline teacher instead, and the node's
  provenance says so.
OfflineTeacher — used when no ANTHROPIC_API_KEY is set (labelled "offline-zero-shot" in provenance):
  score(tag) = z + 2·keyword + prior, where
    z       = (cos(venue, tag description) − μ_tag) / σ_tag, with μ/σ from offline_teacher_calibration.npz (how close
              venues usually are to that description: raw MiniLM cosines are inflated for some tags);
    keyword = 1 when one of the tag's keywords occurs in the venue's name, descriptions, hours, price or cuisines;
    prior   = structured evidence: price level 0 -> free, <=1 -> budget, 4 -> splurge, Michelin stars -> fine-dining.
  z is halved for a venue with no description (a bare name says little). Tags whose categories exclude the venue's
  category are never chosen. A tag is kept when score >= 2.5 (2.5 standard deviations of similarity alone, or a
  keyword backed by half a standard deviation); at most 6 per venue, and the best-scoring allowed tag when none
  clears the bar.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.domains.travel.catalogue.merge import MergedVenue
from shared.domains.travel.catalogue.taxonomy import Taxonomy, get_taxonomy

log = logging.getLogger("concierge.catalogue.teacher")

CALIBRATION_FILE = Path(__file__).with_name("offline_teacher_calibration.npz")
OFFLINE_VERSION = "offline-zero-shot-1"
ANTHROPIC_VERSION = "anthropic-tool-1"
THRESHOLD = 2.5
KEYWORD_WEIGHT = 2.0
NO_TEXT_SIMILARITY_WEIGHT = 0.5
MAX_TAGS = 6


@dataclass
class TagResult:
    tags: list[str]
    provenance: dict[str, Any]
    scores: dict[str, float] = field(default_factory=dict)


def tag_texts(taxonomy: Taxonomy) -> list[str]:
    return [f"{t.id.replace('-', ' ')}: {t.description}" for t in taxonomy.tags]


def evidence_text(venue: MergedVenue) -> str:
    record_bits = [r.price_text for r in venue.records if r.price_text]
    return " ".join([venue.name, *venue.texts(), venue.hours, *record_bits, " ".join(venue.cuisines)])


def structured_priors(venue: MergedVenue) -> dict[str, float]:
    prior: dict[str, float] = {}
    if venue.price_level == 0 and venue.category in ("sight", "activity"):
        prior["free"] = 2.5
    if venue.price_level is not None and 1 <= venue.price_level <= 1:
        prior["budget"] = 1.0
    if venue.price_level == 4:
        prior["splurge"] = 2.5
    stars = max((e.get("stars", 0) for e in venue.quality_signals.get("sources", {}).get("michelin", [])), default=0)
    if stars:
        prior["fine-dining"] = 2.5
        prior["splurge"] = prior.get("splurge", 0) + 1.0 + 0.5 * stars
    return prior


class Calibration:
    def __init__(self, taxonomy: Taxonomy, path: Path = CALIBRATION_FILE) -> None:
        from shared.engine.embeddings.model_files import EXPORT_VERSION

        if not path.exists():
            raise FileNotFoundError(
                f"{path.name} is missing; run `python -m shared.domains.travel.catalogue.fit_vibe_projection`"
            )
        with np.load(path, allow_pickle=False) as data:
            ids = [str(x) for x in data["tag_ids"]]
            if ids != taxonomy.ids or str(data["taxonomy_version"]) != taxonomy.version:
                raise ValueError(
                    f"{path.name} was fitted for another taxonomy; re-run "
                    "`python -m shared.domains.travel.catalogue.fit_vibe_projection`"
                )
            if not str(data["embedding_version"]).startswith(EXPORT_VERSION):
                raise ValueError(f"{path.name} was fitted with another encoder; re-run the fit")
            self.mean = data["mean"].astype(np.float32)
            self.std = np.clip(data["std"].astype(np.float32), 1e-3, None)


class OfflineTeacher:
    name = "offline-zero-shot"

    def __init__(self, taxonomy: Taxonomy | None = None, *, reason: str = "no ANTHROPIC_API_KEY") -> None:
        from shared.engine.embeddings import encode

        self.taxonomy = taxonomy or get_taxonomy()
        self.calibration = Calibration(self.taxonomy)
        self.tag_matrix = encode(tag_texts(self.taxonomy))
        self.reason = reason
        self.version = OFFLINE_VERSION

    def score(self, venues: list[MergedVenue], text_embeddings: np.ndarray) -> np.ndarray:
        z = (text_embeddings @ self.tag_matrix.T - self.calibration.mean) / self.calibration.std
        scores = z.astype(np.float64)
        for i, venue in enumerate(venues):
            if not venue.description:
                scores[i] *= NO_TEXT_SIMILARITY_WEIGHT  # a bare name is weak evidence
            text = evidence_text(venue)
            prior = structured_priors(venue)
            for j, tag in enumerate(self.taxonomy.tags):
                if not tag.applies_to(venue.category):
                    scores[i, j] = -np.inf
                    continue
                if tag.keyword_hits(text):
                    scores[i, j] += KEYWORD_WEIGHT
                scores[i, j] += prior.get(tag.id, 0.0)
        return scores

    def tag(self, venues: list[MergedVenue], text_embeddings: np.ndarray, *, note: str | None = None) -> list[TagResult]:
        scores = self.score(venues, text_embeddings)
        out = []
        for i, venue in enumerate(venues):
            row = scores[i]
            order = [j for j in np.argsort(-row, kind="stable") if np.isfinite(row[j])]
            chosen = [j for j in order if row[j] >= THRESHOLD][:MAX_TAGS] or order[:1]
            ids = self.taxonomy.ids
            chosen_ids = [ids[j] for j in sorted(chosen)]
            text = evidence_text(venue)
            keywords = {ids[j]: self.taxonomy.tags[j].keyword_hits(text) for j in chosen}
            out.append(TagResult(
                tags=chosen_ids,
                provenance={
                    "tagger": self.name, "tagger_version": self.version, "reason": note or self.reason,
                    "keywords": {k: v for k, v in keywords.items() if v},
                },
                scores={ids[j]: round(float(row[j]), 3) for j in chosen},
            ))
        return out


# -- the LLM teacher ------------------------------------------------------------------------------------------------
SYSTEM_PROMPT = (
    "You label travel venues with vibe tags from a fixed taxonomy, for a trip-planning product. Use only the "
    "venue's own text as evidence. Choose the 1-6 tags that a visitor would find most useful and accurate; prefer "
    "fewer, well-supported tags. Never invent tags: use only ids from the enum. Answer by calling the tool once, "
    "with one entry per venue id you were given."
)


def tool_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "venues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "the venue id exactly as given"},
                        "tags": {"type": "array", "items": {"type": "string", "enum": taxonomy.ids},
                                 "minItems": 1, "maxItems": MAX_TAGS},
                    },
                    "required": ["id", "tags"],
                },
            }
        },
        "required": ["venues"],
    }


def batch_prompt(taxonomy: Taxonomy, venues: list[MergedVenue]) -> str:
    tag_lines = "\n".join(f"- {t.id}: {t.description}" for t in taxonomy.tags)
    items = [
        {"id": v.id, "name": v.name, "category": v.category, "cuisines": v.cuisines or None,
         "price_level": v.price_level, "hours": v.hours or None, "descriptions": v.texts()[:3] or None}
        for v in venues
    ]
    return (
        f"Taxonomy (id: meaning):\n{tag_lines}\n\nVenues (JSON):\n"
        + json.dumps(items, ensure_ascii=False, default=str)
        + "\n\nCall record_vibe_tags with tags for every venue."
    )


def make_validator(taxonomy: Taxonomy, expected_ids: list[str]) -> Callable[[dict], dict[str, list[str]]]:
    def validate(data: dict) -> dict[str, list[str]]:
        entries = data.get("venues")
        if not isinstance(entries, list):
            raise ValueError("tool input has no 'venues' array")
        out: dict[str, list[str]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("tags"), list):
                raise ValueError(f"venue entry is not {{id, tags[]}}: {str(entry)[:80]}")
            known, unknown = taxonomy.clean(entry["tags"])
            if unknown:
                log.info("teacher: dropped tags outside the taxonomy: %s", unknown)
            out[str(entry.get("id"))] = known[:MAX_TAGS]
        missing = [i for i in expected_ids if i not in out or not out[i]]
        if missing:
            raise ValueError(f"reply lacks tags for {len(missing)} of {len(expected_ids)} venues")
        return out

    return validate


class AnthropicTeacher:
    name = "anthropic"

    def __init__(self, client, *, taxonomy: Taxonomy | None = None, batch_size: int = 20,
                 fallback: OfflineTeacher | None = None) -> None:
        from shared.adapters.anthropic_client import Usage

        self.client = client
        self.taxonomy = taxonomy or get_taxonomy()
        self.batch_size = batch_size
        self._fallback = fallback
        self.usage = Usage(calls=0)
        self.call_log: list[tuple[str, Usage]] = []  # (model, usage) per batch, for the LLM cost guard
        self.failed_batches = 0
        self.version = ANTHROPIC_VERSION

    @property
    def fallback(self) -> OfflineTeacher:
        if self._fallback is None:
            self._fallback = OfflineTeacher(self.taxonomy, reason="Anthropic reply unusable")
        return self._fallback

    def tag(self, venues: list[MergedVenue], text_embeddings: np.ndarray) -> list[TagResult]:
        from shared.adapters.anthropic_client import AnthropicCallFailed

        results: list[TagResult] = []
        schema = tool_schema(self.taxonomy)
        for start in range(0, len(venues), self.batch_size):
            batch = venues[start : start + self.batch_size]
            ids = [v.id for v in batch]
            try:
                answer = self.client.structured(
                    system=SYSTEM_PROMPT,
                    prompt=batch_prompt(self.taxonomy, batch),
                    tool_name="record_vibe_tags",
                    tool_description="Record the vibe tags chosen for each venue.",
                    input_schema=schema,
                    validate=make_validator(self.taxonomy, ids),
                    max_tokens=200 + 60 * len(batch),
                )
            except AnthropicCallFailed as exc:
                self.usage = self.usage + exc.usage
                if exc.usage.calls:
                    self.call_log.append((self.client.model, exc.usage))
                self.failed_batches += 1
                log.warning("teacher: batch of %d fell back to the offline teacher: %s", len(batch), exc)
                note = f"fallback: {exc}"[:300]
                results.extend(self.fallback.tag(batch, text_embeddings[start : start + len(batch)], note=note))
                continue
            self.usage = self.usage + answer.usage
            self.call_log.append((answer.model, answer.usage))
            for v in batch:
                results.append(TagResult(
                    tags=answer.data[v.id],
                    provenance={"tagger": self.name, "tagger_version": self.version, "model": answer.model},
                ))
        return results


def make_teacher(kind: str = "auto"):
    """'auto': Anthropic when a key is configured, else offline; 'anthropic' insists; 'offline' never calls out."""
    from shared.adapters.anthropic_client import AnthropicClient

    if kind == "offline" or (kind == "auto" and not AnthropicClient.available()):
        return OfflineTeacher()
    return AnthropicTeacher(AnthropicClient())
