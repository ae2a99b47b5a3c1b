"""Onboarding tags → persona description → 128-d persona embedding → 64-d query in vibe space.

The persona embedding (users.persona_embedding, 128-d) has two 64-d blocks:
  [0:64]   the persona's vibe vector: its tags expanded to catalogue vibe terms, encoded by the SAME
           encoder the catalogue uses for venues (MiniLM → 64-d vibe projection), L2-normalised;
  [64:128] structured preferences: archetype leanings, pace, day-part leanings, padded with zeros,
           L2-normalised. These are features for learned models later; retrieval does not use them.

User tower (documented choice): with no interaction data to train one yet, the user tower is the
item tower's own encoder applied to the persona's vibe terms, i.e. `user_tower(p) = normalise(p[0:64])`.
Both towers share weights, so users and venues live in one space by construction and ANN over the
venues' "vibe" vectors is meaningful from the first request. A trained user tower (engine issue) can
replace `user_tower` without changing the stored format.

The description is written by Claude Haiku when a key is set (given only the tags) and by a
deterministic template otherwise; `description_source` says which.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.domains.travel.trips.archetypes import assign_archetype
from shared.domains.travel.trips.tags import CULTURE_LEANING, FOOD_LEANING, OUTDOOR_LEANING, PACES, Tags

log = logging.getLogger(__name__)
PERSONA_DIM = 128
VIBE_DIM = 64
MORNING_TAGS = {"coffee", "tea", "bakery", "brunch", "parks", "hiking", "markets"}
EVENING_TAGS = {"cocktails", "beer", "wine", "nightlife", "live_music", "theatre", "fine_dining", "lively"}

VibeEncoder = Callable[[list[str]], np.ndarray]   # one text -> (64,)


@dataclass
class Persona:
    tags: Tags
    description: str
    description_source: str       # "template" | "llm"
    archetype: str
    embedding: np.ndarray         # (128,)

    @property
    def vibe_vector(self) -> np.ndarray:
        return user_tower(self.embedding)


def template_description(tags: Tags) -> str:
    def join(xs):
        xs = [x.replace("_", " ") for x in xs]
        return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]

    bits = [f"A {tags.pace}-paced traveller"]
    if tags.food:
        bits.append(f"who seeks out {join(tags.food)}")
    if tags.interests:
        bits.append(("and " if tags.food else "who ") + f"enjoys {join(tags.interests)}")
    text = " ".join(bits)
    if tags.vibe:
        text += f", preferring places that feel {join(tags.vibe)}"
    if not tags.all:
        text += " open to a bit of everything"
    return text + "."


def vibe_text_for_terms(terms) -> str:
    """Text in the register the vibe projection was fitted on: the taxonomy's own one-sentence tag
    descriptions (venue descriptions and these descriptions are the PCA corpus), falling back to the ids."""
    if not terms:
        return "Local favourites: sights, food and drink loved by people who live here."
    try:
        from shared.domains.travel.catalogue.taxonomy import get_taxonomy

        tx = get_taxonomy()
        known = set(tx.ids)
        return " ".join(tx.get(t).description if t in known else t.replace("-", " ") for t in terms)
    except Exception:
        return ", ".join(t.replace("-", " ") for t in terms)


def vibe_text(tags: Tags) -> str:
    """What the vibe encoder sees for a persona: its taxonomy terms (most important first) described,
    plus the dish/activity keywords, which the taxonomy has no tags for."""
    text = vibe_text_for_terms(tags.vibe_terms())
    kws = tags.keywords()
    return f"{text} {', '.join(kws)}." if kws else text


def structured_block(tags: Tags) -> np.ndarray:
    block = np.zeros(VIBE_DIM, dtype=np.float32)
    all_tags = set(tags.all)
    n = max(1, len(all_tags))
    block[0] = len(all_tags & FOOD_LEANING) / n
    block[1] = len(all_tags & OUTDOOR_LEANING) / n
    block[2] = len(all_tags & CULTURE_LEANING) / n
    block[3 + list(PACES).index(tags.pace)] = 1.0
    block[6] = len(all_tags & MORNING_TAGS) / n
    block[7] = len(all_tags & EVENING_TAGS) / n
    return _unit(block)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)


def persona_embedding(tags: Tags, encode: VibeEncoder) -> np.ndarray:
    vibe = np.asarray(encode([vibe_text(tags)]), dtype=np.float32).reshape(-1)
    if vibe.shape != (VIBE_DIM,):
        raise ValueError(f"vibe encoder returned shape {vibe.shape}, expected ({VIBE_DIM},)")
    return np.concatenate([_unit(vibe), structured_block(tags)]).astype(np.float32)


def user_tower(embedding: np.ndarray) -> np.ndarray:
    emb = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if emb.shape != (PERSONA_DIM,):
        raise ValueError(f"persona embedding must be ({PERSONA_DIM},), got {emb.shape}")
    return _unit(emb[:VIBE_DIM])


PERSONA_TOOL = {
    "name": "submit_persona",
    "description": "Submit a one-sentence traveller persona built only from the given preferences.",
    "input_schema": {"type": "object", "properties": {"description": {"type": "string", "maxLength": 400}},
                     "required": ["description"]},
}


def _check_description(raw: dict) -> str:
    text = str(raw.get("description") or "").strip()
    if not text or len(text) > 400:
        raise ValueError("persona description empty or too long")
    return text


def llm_description(tags: Tags, call=None, on_usage: Callable[[dict], None] | None = None) -> str:
    """One short Haiku call (forced tool use); the caller falls back to the template on any exception.
    `on_usage` gets the call's tokens and cost (failed calls included) for the LLM cost guard."""
    prompt = ("Write one sentence (max 40 words) describing this traveller for a trip planner. Use only these "
              f"preferences, invent nothing: food={list(tags.food)}, interests={list(tags.interests)}, "
              f"vibe={list(tags.vibe)}, pace={tags.pace}.")
    if call is not None:
        return _check_description({"description": call(prompt=prompt)})
    from shared.adapters.anthropic_client import AnthropicCallFailed, AnthropicClient, RetryPolicy

    client = AnthropicClient(retry=RetryPolicy(max_attempts=2, malformed_retries=0), timeout_s=5.0)
    try:
        result = client.structured(system="You write concise traveller personas.", prompt=prompt,
                                   tool_name=PERSONA_TOOL["name"], tool_description=PERSONA_TOOL["description"],
                                   input_schema=PERSONA_TOOL["input_schema"], validate=_check_description,
                                   max_tokens=200)
    except AnthropicCallFailed as exc:
        if on_usage and (exc.usage.input_tokens or exc.usage.output_tokens):
            on_usage({**exc.usage.as_dict(), "model": client.model})
        raise
    if on_usage:
        on_usage({**result.usage.as_dict(), "model": result.model})
    return result.data


def build_persona(tags: Tags, encode: VibeEncoder, *, use_llm: bool = False, llm_call=None,
                  on_usage: Callable[[dict], None] | None = None) -> Persona:
    description, source = template_description(tags), "template"
    if use_llm:
        try:
            description, source = llm_description(tags, llm_call, on_usage), "llm"
        except Exception as exc:  # the template is always a correct answer
            log.warning("persona LLM description failed, using template: %s", exc)
    return Persona(tags, description, source, assign_archetype(tags), persona_embedding(tags, encode))


def compressed(persona: Persona) -> str:
    """What the LLM ranker sees: the description plus the raw tags, nothing else about the user."""
    return f"{persona.description} Tags: {', '.join(persona.tags.all) or 'none'}; pace {persona.tags.pace}."
