"""Seeding one city: read sources -> filter -> merge -> link posts -> overrated -> embed -> tag -> Postgres -> Qdrant.

The same code runs from the seed_city Cloud Run Job and from the admin function's Cloud Tasks handler.

Idempotence: node ids are deterministic (merge.node_id) and existing nodes are reconciled by name and place
(store.reconcile_ids); every node carries a content hash of what it was built from (fields, evidence, taxonomy,
tagger and embedding versions). A re-run therefore inserts nothing, skips unchanged nodes entirely (no tagging, no
embedding, no LLM cost) and rewrites only nodes whose content changed. A node whose Qdrant point is missing (say, a
wiped local store) is "repaired": re-embedded and upserted with its stored tags.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.domains.travel.catalogue import store, vectors
from shared.domains.travel.catalogue.cities import City, resolve_city
from shared.domains.travel.catalogue.mentions import link_posts
from shared.domains.travel.catalogue.merge import MergedVenue, filter_records, merge_records
from shared.domains.travel.catalogue.overrated import assess
from shared.domains.travel.catalogue.records import PostRecord, VenueRecord
from shared.domains.travel.catalogue.sources import DEFAULT_SOURCES, REGISTRY, make_source
from shared.domains.travel.catalogue.taxonomy import get_taxonomy
from shared.settings import get_settings

log = logging.getLogger("concierge.catalogue.pipeline")
Progress = Callable[[str, int, int], None | Awaitable[None]]
EMBED_CHUNK = 64
TAG_CHUNK = 100


@dataclass
class SeedSummary:
    city_id: str
    city_name: str
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    records_read: int = 0
    posts_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates_merged: int = 0
    venues: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ids_reconciled: int = 0
    vectors_upserted: int = 0
    vectors_repaired: int = 0
    tagged: dict[str, int] = field(default_factory=dict)
    overrated_flagged: int = 0
    posts_linked: int = 0
    city_venue_count: int = 0
    qdrant_points: int = 0
    llm: dict[str, Any] | None = None
    places: dict[str, int] | None = None
    planning: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["written"] = self.written
        out["venues_per_second"] = round(self.venues / self.seconds, 2) if self.seconds else None
        return out

    def format(self) -> str:
        lines = [f"seed_city {self.city_id} ({self.city_name}): done in {self.seconds:.1f}s"]
        for name, info in self.sources.items():
            if "skipped" in info:
                lines.append(f"  source {name:<14} skipped: {info['skipped']}")
            else:
                lines.append(f"  source {name:<14} {info.get('records', 0)} record(s)")
        lines.append(f"  read      {self.records_read} venue records, {self.posts_read} posts")
        lines.append(f"  merged    {self.duplicates_merged} duplicate records folded -> {self.venues} venues")
        lines.append(f"  written   {self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"
                     f" (Postgres); {self.vectors_upserted} vectors upserted, {self.vectors_repaired} repaired (Qdrant)")
        tagged = ", ".join(f"{n} by {k}" for k, n in sorted(self.tagged.items())) or "none (nothing new or changed)"
        lines.append(f"  tagged    {tagged}")
        lines.append(f"  overrated {self.overrated_flagged} flagged; posts linked to venues: {self.posts_linked}")
        if self.skipped:
            lines.append("  skipped   " + "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())))
        p = self.planning
        if p:
            h = p["hours"]
            lines.append(f"  hours     {h['listed']} listed, {h['parsed']} parsed ({h['parsed_pct']}%), "
                         f"{h['unparsed']} kept as text; {h.get('monthly_occasions', 0)} monthly occasions "
                         "(open on their day of the month only)")
            lines.append("  kinds     " + ", ".join(f"{n} {k}" for k, n in sorted(p["kinds"].items()))
                         + "; not plannable: " + (", ".join(f"{n} {r}" for r, n in sorted(p["not_plannable"].items()))
                                                 or "none"))
            lines.append("  coords    " + ", ".join(f"{n} {k}" for k, n in sorted(p["coords"].items())))
            lines.append("  landmarks " + (", ".join(p["landmarks"]) or "none"))
        if self.llm:
            lines.append(f"  llm       {self.llm.get('calls', 0)} call(s), {self.llm.get('input_tokens', 0)} in / "
                         f"{self.llm.get('output_tokens', 0)} out tokens, ${self.llm.get('cost_usd', 0):.4f}")
        lines.append(f"  city      {self.city_venue_count} venues in Postgres, {self.qdrant_points} points in Qdrant "
                     f"collection {vectors.collection_name(self.city_id)}")
        return "\n".join(lines)


class SeedError(RuntimeError):
    """A run that cannot proceed; the message says what to do next."""


def parse_sources(value: str | list[str] | None) -> list[str]:
    if value is None or value == "" or value == []:
        return list(DEFAULT_SOURCES)
    names = [s.strip().lower() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(sorted(REGISTRY))}")
    return list(dict.fromkeys(names))


async def read_sources(city: City, names: list[str], data_dir: Path, *, pool=None,
                       source_kwargs: dict[str, dict] | None = None
                       ) -> tuple[list[VenueRecord], list[PostRecord], dict[str, dict[str, Any]], dict | None]:
    venues: list[VenueRecord] = []
    posts: list[PostRecord] = []
    report: dict[str, dict[str, Any]] = {}
    places_stats = None
    for name in names:
        kwargs = dict((source_kwargs or {}).get(name, {}))
        if name == "places" and pool is not None:
            kwargs.setdefault("pool", pool)
        source = make_source(name, data_dir, **kwargs)
        reason = source.available()
        if reason is not None:
            report[name] = {"skipped": reason}
            continue
        try:
            if hasattr(source, "read_async"):
                records = await source.read_async(city)
                places_stats = getattr(source, "stats", None)
            else:
                records = await asyncio.to_thread(lambda: list(source.read(city)))
        except Exception as exc:  # a networked source failing must not sink the file sources
            if not source.networked:
                raise
            log.warning("source %s failed: %s", name, exc)
            report[name] = {"skipped": f"failed: {exc}"}
            continue
        n_venues = sum(isinstance(r, VenueRecord) for r in records)
        venues.extend(r for r in records if isinstance(r, VenueRecord))
        posts.extend(r for r in records if isinstance(r, PostRecord))
        report[name] = {"records": len(records)} | ({"posts": len(records) - n_venues} if source.kind == "posts" else {})
    return venues, posts, report, places_stats


def collect_venues(city: str | City, *, data_dir: Path | None = None, sources: list[str] | None = None
                   ) -> tuple[list[MergedVenue], dict[str, int]]:
    """Read, filter and merge a city's file sources without writing anything (reports, training, benchmarks)."""
    data_dir = Path(data_dir or get_settings().data_dir)
    city_obj = city if isinstance(city, City) else resolve_city(city, data_dir)
    records: list[VenueRecord] = []
    for name in sources or DEFAULT_SOURCES:
        source = make_source(name, data_dir)
        if not source.networked and source.kind == "venues" and source.available() is None:
            records.extend(r for r in source.read(city_obj) if isinstance(r, VenueRecord))
    kept, skipped = filter_records(records)
    return merge_records(city_obj.id, kept), dict(skipped)


def annotate_for_planning(merged: list[MergedVenue]) -> dict[str, Any]:
    """Classify every venue (kind, type, season, plannable), mark landmarks, parse opening hours and fill missing
    coordinates; the result lands in quality_signals["planning"] (so it is part of the content hash: a change
    here rewrites the node on the next run) and the summary's counts."""
    from shared.domains.travel.catalogue.classify import classify, fill_coordinates, mark_landmarks
    from shared.domains.travel.catalogue.hours import SCHEMA_VERSION, monthly_occurrence, only_on, parse, typical

    vis = {v.id: classify(v) for v in merged}
    marks = mark_landmarks(merged, vis)
    coords = fill_coordinates(merged)
    hours = Counter()
    for v in merged:
        info, (prom, landmark) = vis[v.id], marks[v.id]
        schedule = parse(v.hours) if v.hours else None
        status = "missing" if not v.hours else ("parsed" if schedule else "unparsed")
        hours[status] += 1
        monthly = monthly_occurrence(v.description) if schedule is None else None
        if monthly:  # a monthly occasion (an art walk): its type's usual hours, on its own dates only
            schedule = only_on(typical(info.venue_type, v.category), monthly)
            hours["monthly"] += 1
        v.quality_signals["planning"] = {
            "kind": info.kind, "venue_type": info.venue_type, "season_months": list(info.season_months or []) or None,
            "plannable": info.plannable, "reason": info.reason, "prominence": prom, "landmark": landmark,
            "coord_precision": getattr(v, "coord_precision", None), "coord_source": getattr(v, "coord_source", None),
            "hours_status": status, "opening": schedule.to_json() if schedule else None, "hours_schema": SCHEMA_VERSION,
        }
    listed = hours["parsed"] + hours["unparsed"]
    return {
        "hours": {"listed": listed, "parsed": hours["parsed"], "unparsed": hours["unparsed"],
                  "monthly_occasions": hours["monthly"],
                  "parsed_pct": round(100 * hours["parsed"] / listed, 1) if listed else None},
        "kinds": dict(Counter(i.kind for i in vis.values())),
        "venue_types": dict(Counter(i.venue_type for i in vis.values())),
        "not_plannable": dict(Counter(i.reason for i in vis.values() if not i.plannable)),
        "coords": dict(coords),
        "landmarks": [v.name for v in merged if marks[v.id][1]],
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _payload(v: MergedVenue, tags: list[str], provenance: dict, embedding_version: str) -> dict[str, Any]:
    payload = {
        "node_id": v.id, "city_id": v.city_id, "name": v.name, "category": v.category, "tags": tags,
        "price_level": v.price_level, "lat": v.lat, "lon": v.lon,
        "overrated_flag": bool(v.quality_signals.get("overrated", {}).get("flag", False)),
        "overrated_score": float(v.quality_signals.get("overrated", {}).get("score", 0.0)),
        "source_tier": v.source_tier, "cross_ref_confidence": v.cross_ref_confidence,
        "tagger": provenance.get("tagger", ""), "embedding_version": embedding_version,
    }
    if v.lat is not None and v.lon is not None:
        payload["location"] = {"lat": v.lat, "lon": v.lon}
    return payload


def _planning_columns(v: MergedVenue) -> tuple:
    """opening, hours_status, visit_kind, venue_type, season_months, plannable, plannable_reason, coord_precision,
    prominence, landmark (store.NODE_COLUMNS order)."""
    p = v.quality_signals["planning"]
    return (p["opening"], p["hours_status"], p["kind"], p["venue_type"], p["season_months"], p["plannable"],
            p["reason"], p["coord_precision"], float(p["prominence"]), bool(p["landmark"]))


async def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is None:
        return
    result = progress(stage, done, total)
    if inspect.isawaitable(result):
        await result


def make_tagger(kind: str):
    """auto | offline | anthropic | student — see teacher.make_teacher and student.StudentTagger."""
    if kind == "student":
        from shared.domains.travel.catalogue.student import StudentTagger

        return StudentTagger.load()
    from shared.domains.travel.catalogue.teacher import make_teacher

    return make_teacher(kind)


async def _record_llm_cost(pool, call_log) -> str:
    """Feed the LLM cost guard (shared.engine.cost_guard) one record per batch call."""
    from shared.engine.cost_guard import record_llm_usage

    for model, usage in call_log:
        await record_llm_usage(pool, path="catalogue.seed_city.teacher", model=model,
                               input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                               cost_usd=usage.cost_usd)
    return f"{len(call_log)} call(s) recorded with the cost guard"


async def seed_city(
    city: str,
    *,
    sources: str | list[str] | None = None,
    limit: int | None = None,
    tagger: str = "auto",
    data_dir: Path | None = None,
    pool=None,
    qdrant=None,
    progress: Progress | None = None,
    teacher=None,
    source_kwargs: dict[str, dict] | None = None,
) -> SeedSummary:
    from shared.engine.embeddings import EMBEDDING_VERSION, encode, to_vibe

    started = time.perf_counter()
    settings = get_settings()
    data_dir = Path(data_dir or settings.data_dir)
    if limit is not None and limit <= 0:
        raise ValueError("limit must be a positive number of venues")
    names = parse_sources(sources)
    # A city no file source covers can still be seeded from a search-based source (Places): the fallback path.
    city_obj = resolve_city(city, data_dir, allow_new=any(REGISTRY[n].networked and REGISTRY[n].kind == "venues"
                                                             for n in names))
    summary = SeedSummary(city_obj.id, city_obj.name)

    own_pool = pool is None
    if own_pool:
        from shared.adapters.postgres import create_pool

        pool = await create_pool()
    if qdrant is None:
        from shared.adapters.qdrant import get_qdrant

        qdrant = get_qdrant()
    try:
        # 1. read
        await _report(progress, "read", 0, len(names))
        records, posts, report, places_stats = await read_sources(city_obj, names, data_dir, pool=pool,
                                                                  source_kwargs=source_kwargs)
        summary.sources, summary.places = report, places_stats
        summary.records_read, summary.posts_read = len(records), len(posts)
        if not records:
            raise SeedError(
                f"no venue records for {city_obj.name} from {', '.join(names)}; sources said: "
                + "; ".join(f"{k}: {v.get('skipped', 'no rows for this city')}" for k, v in report.items())
            )
        await _report(progress, "read", len(names), len(names))

        # 2. filter, merge, limit
        kept, skipped = filter_records(records)
        merged = merge_records(city_obj.id, kept)
        summary.duplicates_merged = len(kept) - len(merged)
        if limit is not None and len(merged) > limit:
            skipped[f"over --limit {limit}"] += len(merged) - limit
            merged = merged[:limit]
        summary.skipped = dict(skipped)
        summary.venues = len(merged)
        await _report(progress, "merge", len(merged), len(merged))
        summary.planning = annotate_for_planning(merged)

        # 3. local posts and the overrated detector
        links = link_posts(posts, merged)
        summary.posts_linked = sum(1 for v in links.post_venue.values() if v)
        for v in merged:
            result = assess(v, links.by_venue.get(v.id))
            v.quality_signals["overrated"] = result.as_signal()
            if v.id in links.by_venue:
                v.quality_signals["posts"] = [
                    {"source": m.post.source, "id": m.post.external_id, "local_score": m.local_score,
                     "tourist": m.tourist_flag, "snippet": m.snippet[:200]}
                    for m in links.by_venue[v.id][:10]
                ]
        summary.overrated_flagged = sum(1 for v in merged if v.quality_signals["overrated"]["flag"])

        # 4. what is new, changed, unchanged, or missing from Qdrant
        existing = await store.load_existing(pool, city_obj.id)
        summary.ids_reconciled = store.reconcile_ids(merged, existing)
        tag_model = teacher or make_tagger(tagger)
        taxonomy = get_taxonomy()
        expected_version = getattr(tag_model, "version", "unknown")

        def chash(v: MergedVenue, tagger_version: str) -> str:
            return v.content_hash(taxonomy.version, tagger_version, EMBEDDING_VERSION)

        in_qdrant = vectors.existing_ids(qdrant, city_obj.id, [v.id for v in merged])
        todo: list[MergedVenue] = []
        repair: list[MergedVenue] = []
        for v in merged:
            old = existing.get(v.id)
            if old is None:
                todo.append(v)
                continue
            stored_version = str(old.provenance.get("tagger_version") or "")
            if old.content_hash == chash(v, expected_version):
                same = True
            elif old.content_hash == chash(v, stored_version):
                # Same content, tagged by another tagger: re-tag only to upgrade to the LLM teacher, or when a
                # tagger was named explicitly; never downgrade LLM tags because this run has no key.
                same = not (expected_version.startswith("anthropic") or tagger != "auto")
            else:
                same = False
            if not same:
                todo.append(v)
            elif v.id not in in_qdrant:
                repair.append(v)
            else:
                summary.unchanged += 1

        # 5. embed (new, changed and repaired nodes)
        work = todo + repair
        text_emb = np.zeros((len(work), 384), dtype=np.float32)
        for start in range(0, len(work), EMBED_CHUNK):
            chunk = work[start : start + EMBED_CHUNK]
            text_emb[start : start + len(chunk)] = await asyncio.to_thread(encode, [v.embedding_text() for v in chunk])
            await _report(progress, "embed", start + len(chunk), len(work))
        vibe_emb = to_vibe(text_emb) if len(work) else np.zeros((0, 64), dtype=np.float32)

        # 6. tag (new and changed nodes only; repaired nodes keep their stored tags)
        tag_results = []
        for start in range(0, len(todo), TAG_CHUNK):
            chunk = todo[start : start + TAG_CHUNK]
            tag_results.extend(await asyncio.to_thread(tag_model.tag, chunk, text_emb[start : start + len(chunk)]))
            await _report(progress, "tag", start + len(chunk), len(todo))
        tagged = Counter(r.provenance.get("tagger", "unknown") for r in tag_results)
        summary.tagged = dict(tagged)

        # 7. Postgres, in one transaction
        rows, tags_by_id, prov_by_id = [], {}, {}
        for i, (v, result) in enumerate(zip(todo, tag_results)):
            version = result.provenance.get("tagger_version", expected_version)
            provenance = {
                **result.provenance,
                "content_hash": chash(v, version),
                "taxonomy_version": taxonomy.version,
                "embedding_version": EMBEDDING_VERSION,
                "sources": v.sources,
                "seeded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            tags_by_id[v.id], prov_by_id[v.id] = result.tags, provenance
            over = v.quality_signals["overrated"]
            rows.append((
                v.id, v.city_id, v.name, v.category, v.description or None, v.address or None, vibe_emb[i],
                result.tags, v.quality_signals, float(v.cross_ref_confidence), bool(over["flag"]),
                float(over["score"]), int(v.source_tier), v.lat, v.lon, v.hours or None, v.price_level, provenance,
                *_planning_columns(v),
            ))
        for v in repair:
            tags_by_id[v.id], prov_by_id[v.id] = existing[v.id].tags, existing[v.id].provenance
        post_rows = [
            (p.source, p.external_id, p.full_text, p.url or None, links.post_venue.get((p.source, p.external_id)),
             links.post_scores[(p.source, p.external_id)][0], links.post_scores[(p.source, p.external_id)][1])
            for p in posts
        ]
        await _report(progress, "write", 0, len(rows))
        async with pool.acquire() as conn:
            async with conn.transaction():
                await store.upsert_city(
                    conn, city_obj.id, city_obj.name,
                    _median([v.lat for v in merged if v.lat is not None]),
                    _median([v.lon for v in merged if v.lon is not None]),
                )
                if rows:
                    await store.upsert_nodes(conn, rows)
                if post_rows:
                    await store.save_posts(conn, city_obj.id, post_rows)
                summary.city_venue_count = await store.finish_city(conn, city_obj.id)
        summary.inserted = sum(1 for v in todo if v.id not in existing)
        summary.updated = len(todo) - summary.inserted
        await _report(progress, "write", len(rows), len(rows))

        # 8. Qdrant (after Postgres: a failure here is repaired by the next run)
        if work:
            payloads = [_payload(v, tags_by_id[v.id], prov_by_id[v.id], EMBEDDING_VERSION) for v in work]
            vectors.upsert_venues(qdrant, city_obj.id, [v.id for v in work], vibe_emb, text_emb, payloads)
        else:
            vectors.ensure_collection(qdrant, city_obj.id)
        summary.vectors_upserted, summary.vectors_repaired = len(todo), len(repair)
        summary.qdrant_points = vectors.count(qdrant, city_obj.id)
        await _report(progress, "vectors", len(work), len(work))

        usage = getattr(tag_model, "usage", None)
        if usage is not None and usage.calls:
            guard = await _record_llm_cost(pool, getattr(tag_model, "call_log", []))
            summary.llm = usage.as_dict() | {"cost_guard": guard,
                                             "failed_batches": getattr(tag_model, "failed_batches", 0)}
    finally:
        if own_pool:
            await pool.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
