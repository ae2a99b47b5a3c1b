"""Request and response schemas for infra/pulumi/openapi.yaml, generated from the pydantic models.

One source of truth: the request models the functions validate with (TripRequest, SwapRequest, PivotRequest,
SignalIn, ...) and the view models their responses are described by (shared/**/view_models.py, views.py,
error_model.py, ...) are turned into Swagger 2.0 `definitions`, and each operation's `parameters` (path, query,
header and the JSON body with a schema $ref) and `responses` (its 2xx with schema refs and headers, and every 4xx
and mapped 503 its handler can answer, with the one error body) are written into the document.

The document stays hand-written where it is policy: routing (x-google-backend), security, quotas
(x-google-management, x-google-quota), summaries and comments. The generator writes only between markers:

    # BEGIN GENERATED <operationId> ... # END GENERATED <operationId>     inside each operation
    # BEGIN GENERATED definitions ... # END GENERATED definitions        at the end of the file

so `--write` is idempotent and a hand edit outside the markers is kept. The markers are YAML comments: the file
stays one plain YAML document that API Gateway, the local gateway and Pulumi read as before.

Run: python -m infra.pulumi.openapi_schemas --write     (rewrite the generated parts)
     python -m infra.pulumi.openapi_schemas --check     (exit 1 when the file is out of date)
tests/unit/foundation/test_openapi_schemas.py fails when the committed file differs from what this writes.

JSON Schema (pydantic, draft 2020-12) → Swagger 2.0 (a JSON Schema draft 4 subset), and what is lost:
- `$defs` / `#/$defs/X` → `definitions` / `#/definitions/X` (pydantic writes them there directly).
- `X | None` (anyOf with {"type": "null"}) → X with `x-nullable: true` (Swagger 2.0 has no null type; the
  extension is what schemathesis and most generators read). A `$ref` cannot carry siblings in Swagger 2.0, so a
  nullable or described reference becomes {allOf: [{$ref}], x-nullable: true}.
- `const` → a one-value `enum`; numeric `exclusiveMinimum`/`exclusiveMaximum` → `minimum`/`maximum` with the
  draft-4 boolean flag.
- Other unions have no Swagger 2.0 form (no anyOf/oneOf):
  * integer | number → number (nothing lost: an integer is a number);
  * alternatives that are all objects → one object with the union of their properties, `required` only what
    every alternative requires, closed when every alternative is; the alternatives are named in x-union-of.
    LOST: that the properties of different alternatives do not mix (e.g. POST /v1/signals: a single signal
    or {"signals": [...]}, documented as one object with `signal_type` no longer required);
  * anything else (str | int, dict | list) → no `type` at all (any JSON value), the alternatives' types
    listed in x-types. LOST: the type check (the server still refuses the wrong types with a 400).
- `prefixItems` (tuples) → `items: {}`; `not`, `if`/`then`/`else`, `patternProperties`, `propertyNames`,
  `dependentRequired`, `unevaluatedProperties`, `contentMediaType`, `$schema`, `$id`, `$comment` are dropped
  (none of our models uses them today; the converter drops rather than fails, and lists what it dropped).
- `examples` → `example` (the first one); pydantic's generated `title`s are dropped (the definition name says it);
  `default: null` is dropped (a null default says nothing x-nullable does not).
- Rules a validator enforces in Python (TripRequest's city pattern and date window, PivotRequest.problem(), the
  admin function's hand validation) have no JSON Schema: the documented schema is looser than the server there.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from infra.pulumi.declaration import OPENAPI_FILE

REF_PREFIX = "#/definitions/"
BEGIN = "# BEGIN GENERATED"
END = "# END GENERATED"
REGENERATE = "python -m infra.pulumi.openapi_schemas --write"
DROPPED_KEYWORDS = ("not", "if", "then", "else", "patternProperties", "propertyNames", "dependentRequired",
                    "dependentSchemas", "unevaluatedProperties", "unevaluatedItems", "contentMediaType",
                    "contentEncoding", "$schema", "$id", "$comment", "discriminator", "deprecated")
KEYS_OUT = ("title",)


# --- JSON Schema -> Swagger 2.0 ------------------------------------------------------------------------------------
class Converter:
    """Converts pydantic's JSON Schema (refs already under #/definitions/) to the Swagger 2.0 subset."""

    def __init__(self, defs: dict[str, Any]):
        self.defs = defs
        self.dropped: set[str] = set()

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            node = self.defs[node["$ref"][len(REF_PREFIX):]]
        return node

    def convert(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.convert(x) for x in node]
        if not isinstance(node, dict):
            return node
        s = {k: v for k, v in node.items() if k not in KEYS_OUT}
        for key in DROPPED_KEYWORDS:
            if key in s:
                self.dropped.add(key)
                del s[key]
        if "const" in s:
            s["enum"] = [s.pop("const")]
        if "examples" in s:
            examples = s.pop("examples")
            if isinstance(examples, list) and examples:
                s["example"] = examples[0]
        for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(s.get(bound), (int, float)) and not isinstance(s.get(bound), bool):
                s[flag] = s.pop(bound)
                s[bound] = True
        if "prefixItems" in s:
            self.dropped.add("prefixItems")
            del s["prefixItems"]
            s.setdefault("items", {})
        if isinstance(s.get("type"), list):
            types = [t for t in s.pop("type") if t != "null"]
            if len(types) < len(node["type"]):
                s["x-nullable"] = True
            s.update(self._types(types))
        for union in ("anyOf", "oneOf"):
            if union in s:
                s = self._union(s, s.pop(union))
        if s.get("type") == "null":
            del s["type"]
            s["x-nullable"] = True
        if "properties" in s:
            s["properties"] = {k: self.convert(v) for k, v in s["properties"].items()}
        for key in ("items", "additionalProperties"):
            if isinstance(s.get(key), dict):
                s[key] = self.convert(s[key])
        if "allOf" in s:
            s["allOf"] = [self.convert(x) for x in s["allOf"]]
        if s.get("default", 0) is None:
            del s["default"]
        if "$ref" in s and len(s) > 1:
            ref = s.pop("$ref")
            s = {"allOf": [{"$ref": ref}], **s}
        return s

    @staticmethod
    def _types(types: list[str]) -> dict:
        if len(types) == 1:
            return {"type": types[0]}
        if set(types) <= {"integer", "number"}:
            return {"type": "number"}
        return {"x-types": sorted(set(types))} if types else {}

    def _union(self, base: dict, alternatives: list) -> dict:
        nullable = any(isinstance(a, dict) and a.get("type") == "null" for a in alternatives)
        rest = [a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")]
        if nullable:
            base["x-nullable"] = True
        if len(rest) == 1:
            only = self.convert(rest[0])
            if "$ref" in only:
                return self.convert({**base, **only})
            merged = {**only, **base}
            return merged
        converted = [self.convert(a) for a in rest]
        targets = [self.resolve(a) if "$ref" in a else a for a in converted]
        types = [t.get("type") for t in targets]
        if all(t == "object" for t in types):
            return {**self._merge_objects(converted, targets), **base}
        if all(t in ("integer", "number") for t in types):
            out = {"type": "number"}
            for t in targets:
                for k in ("minimum", "maximum"):
                    if k in t:
                        out[k] = min(out.get(k, t[k]), t[k]) if k == "minimum" else max(out.get(k, t[k]), t[k])
            return {**out, **base}
        if all(t == "string" and "enum" in x for t, x in zip(types, targets)):
            return {"type": "string", "enum": [v for x in targets for v in x["enum"]], **base}
        return {"x-types": sorted({t or "any" for t in types}), **base}

    def _merge_objects(self, converted: list[dict], targets: list[dict]) -> dict:
        props: dict[str, Any] = {}
        for t in targets:
            for name, sub in (t.get("properties") or {}).items():
                sub = self.convert(sub)
                if name in props and props[name] != sub:
                    props[name] = {"description": "differs between the alternatives"}
                else:
                    props.setdefault(name, sub)
        required = set.intersection(*(set(t.get("required") or []) for t in targets))
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = sorted(required)
        if all(t.get("additionalProperties") is False for t in targets):
            out["additionalProperties"] = False
        out["x-union-of"] = [c["$ref"][len(REF_PREFIX):] if "$ref" in c else "object" for c in converted]
        return out


def definitions_for(models: list[tuple[type[BaseModel], str]]) -> tuple[dict[str, str], dict[str, Any], set[str]]:
    """({(model, mode) name: definition name}, definitions, dropped keywords) for the given models."""
    keys, top = models_json_schema(models, ref_template=REF_PREFIX + "{model}")
    raw = top.get("$defs", {})
    conv = Converter(raw)
    definitions = {name: conv.convert(schema) for name, schema in sorted(raw.items())}
    names = {f"{m.__name__}:{mode}": v["$ref"][len(REF_PREFIX):] for (m, mode), v in keys.items()}
    return names, definitions, conv.dropped


# --- the contract of each operation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resp:
    description: str
    model: type[BaseModel] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Param:
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Contract:
    responses: dict[int, Resp]
    errors: dict[int, str]
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_description: str = "a JSON document (Content-Type: application/json)"
    path: dict[str, Param] = field(default_factory=dict)
    query: dict[str, Param] = field(default_factory=dict)
    headers: dict[str, Param] = field(default_factory=dict)


E400 = ("invalid request: not JSON, a value the schema or the rules refuse, a NUL, control character or unpaired "
        "surrogate in a string or path id; the body names the field")
E401 = "no bearer token (the gateway), or an identity the function cannot read"
E401_ADMIN = "the X-Admin-Token header is missing"
E403_ADMIN = "the admin credential is not valid, or no ADMIN_TOKEN is configured (the admin API is disabled)"
E413 = "the body is larger than the function accepts (2 MB; 4 MB for signals; 32 MB at the gateway)"
E415 = "the body is not sent as Content-Type: application/json"
E429 = ("too many requests: the calling project's quota at API Gateway, or this user's own rate limit; "
        "Retry-After says when to retry")
E503_SECRET = "a store or secret this route needs (Postgres, Redis, Secret Manager) is unavailable; retry"
MODEL_VERSION = {"X-Model-Version": "the model that served the trip, or none"}
RETRY_AFTER = {"Retry-After": "seconds to wait before retrying (when the server knows)"}
ADMIN_TOKEN = {"X-Admin-Token": Param("the admin credential (the ADMIN_TOKEN secret)", required=True)}
PATH_ID = {"type": "string", "minLength": 1}
CONSOLE_CREDENTIAL = {"X-Admin-Token": Param("the admin credential (the ADMIN_TOKEN secret); a browser sends the "
                                             "console's session cookie instead")}
E401_CONSOLE = ("neither the X-Admin-Token header nor a valid console session cookie; a browser (Accept: text/html) "
                "gets the sign-in page with this status")


def _contracts() -> dict[str, Contract]:
    from shared.api.error_model import ErrorBody  # noqa: F401  (the error body; referenced by name below)
    from shared.domains.travel.catalogue.run_views import SeedCityRequest, SeedRunQueued, SeedRunView
    from shared.domains.travel.trips.schemas import MAX_DAYS, PivotRequest, SwapRequest, TripRequest
    from shared.domains.travel.trips.schemas import InviteAcceptance
    from shared.domains.travel.trips.view_models import (CompanionAccepted, CompanionList, InviteView, PersonaView,
                                                         PivotView, SwapView, TripView)
    from shared.engine.events.views import SignalBatchResult, SignalsAccepted, SignalsRequest
    from shared.engine.registry.views import LearnQueued, LearnRequest, ModelList, ModelView, ReasonRequest, RollbackView
    from shared.health_view import HealthView, LiveView
    from shared.engine.ops.view_models import (AlertList, CatalogueOverview, ConsoleSession, DeadLetterList,
                                               EvaluationReport, OperatorTrip, ReplayRequest, ReplayResult, ReportList,
                                               SignalsOverview)

    from shared.domains.groups.schemas import CalendarUpload, CycleStart, GroupCreate, JoinRequest, MemberProfile
    from shared.domains.groups.schemas import Retrospective, Vote
    from shared.domains.groups.view_models import (CalendarSaved, CycleView, GroupCreated, GroupInvite, GroupView,
                                                   RetrospectiveView, VoteView, WindowsView)

    from shared.domains.catalogues.schemas import (BatchRecommendRequest, ColdStartRequest, InteractionsIn,
                                                  RecommendRequest, SimilarItemsRequest, SimilarUsersRequest)
    from shared.domains.catalogues.view_models import (BatchRecommendations, ColdStart, InteractionsAccepted,
                                                      Recommendations, SimilarItems, SimilarUsers)

    from shared.domains.catalogues.suggest.schemas import EventsAccepted, EventsIn, SuggestRequest, SuggestView

    from shared.domains.catalogues.search_views import (CORPUS_PATTERN, MAX_K, MAX_QUERY_CHARS, CacheStats,
                                                        SearchResults)

    search_query = {
        "q": Param("the query text (not blank)", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                   True),
        "k": Param("how many results (1-100, default 10)", {"type": "integer", "minimum": 1, "maximum": MAX_K}),
        "mode": Param("dense (HNSW, default) or hybrid (BM25 + dense, reciprocal-rank fusion)",
                      {"type": "string", "enum": ["dense", "hybrid"]})}
    search_errors = {400: E400 + " (an empty q, k outside 1-100, an unknown mode or corpus name)", 401: E401,
                     429: E429, 503: "Redis or Postgres is unavailable; retry"}
    trip_id = {"trip_id": Param("the trip's id (as POST /v1/trips answered it)", PATH_ID, True)}
    catalogue = {"catalogue": Param("the catalogue's id (movielens-1m, foodcom, ...)", PATH_ID, True)}
    no_catalogue = "no such catalogue (import it first)"
    recs_errors = {401: E401, 404: no_catalogue, 413: E413, 415: E415, 429: E429}
    group_id = {"group_id": Param("the group's id (as POST /v1/groups answered it)", PATH_ID, True)}
    cycle_id = {**group_id, "cycle_id": Param("the cycle's id (as POST .../cycles answered it)", PATH_ID, True)}
    no_group = "no such group among the caller's groups (someone else's group is a 404 too)"
    no_cycle = no_group + ", or no such cycle in it"
    body_errors = {413: E413, 415: E415}
    admin_errors = {401: E401_ADMIN, 403: E403_ADMIN, 429: E429, 503: E503_SECRET}
    return {
        "searchDocuments": Contract(
            query={**search_query, "corpus": Param("scifact (default), or venues:<city id>",
                                                   {"type": "string", "pattern": CORPUS_PATTERN})},
            responses={200: Resp("ranked documents; served_by, model_version, index_version and revision say who "
                                 "answered, cache.hit whether Redis did", SearchResults)},
            errors={**search_errors, 404: "no such corpus (a city that is not seeded)"}),
        "searchVenues": Contract(
            path={"city": Param("the city's id (as seeded)", PATH_ID, True)}, query=search_query,
            responses={200: Resp("ranked venues of the city, as GET /v1/search answers", SearchResults)},
            errors={**search_errors, 404: "no such city (seed it first)"}),
        "searchCacheStats": Contract(
            responses={200: Resp("the cache counters per corpus, whether hits + misses = lookups, the last "
                                 "warm-ups", CacheStats)},
            errors={401: E401, 429: E429, 503: "Redis is unavailable; retry"}),
        "recommendItems": Contract(
            path=catalogue, body=RecommendRequest,
            responses={200: Resp("ranked items; served_by, model_version and fallback_reason say who ranked them",
                                 Recommendations)},
            errors={400: E400 + " (or a category the catalogue does not have)", **recs_errors}),
        "recommendItemsBatch": Contract(
            path=catalogue, body=BatchRecommendRequest,
            responses={200: Resp("one list per user, in the order asked, each as the single call answers it",
                                 BatchRecommendations)},
            errors={400: E400 + " (or a category the catalogue does not have)", **recs_errors}),
        "similarItems": Contract(
            path=catalogue, body=SimilarItemsRequest,
            responses={200: Resp("the items closest to this one", SimilarItems)},
            errors={400: E400, **recs_errors, 404: no_catalogue + ", or no such item in it"}),
        "similarUsers": Contract(
            path=catalogue, body=SimilarUsersRequest,
            responses={200: Resp("the users whose tastes are closest to this user's", SimilarUsers)},
            errors={400: E400, **recs_errors,
                    404: no_catalogue + ", no model yet, or a user the model was not trained on"}),
        "coldStart": Contract(
            path=catalogue, body=ColdStartRequest,
            responses={200: Resp("items for a user with no history", ColdStart)},
            errors={400: E400 + " (or an unknown liked item id)", **recs_errors}),
        "recordCatalogueInteractions": Contract(
            path=catalogue, body=InteractionsIn,
            responses={202: Resp("accepted: published to Pub/Sub; the sink stores each event once",
                                 InteractionsAccepted)},
            errors={400: E400 + " (or an item the catalogue does not have)", **recs_errors,
                    503: "Pub/Sub is unavailable: retry with the same event ids"}),
        "catalogueMetrics": Contract(
            path=catalogue, responses={200: Resp("the function's counters in the Prometheus text format")},
            errors={400: E400, 401: E401, 429: E429}),
        "suggest": Contract(
            body=SuggestRequest,
            responses={200: Resp("ranked items with an impression id each; served_by, model_version and "
                                 "fallback_reason say who ranked them, experiment and arm the A/B assignment",
                                 SuggestView)},
            errors={400: E400 + " (or an unknown surface, or a limit above the surface's)", 401: E401,
                    **body_errors, 429: E429}),
        "recordSuggestEvents": Contract(
            body=EventsIn, body_description="one event, or {\"events\": [...]} with 1..500 of them",
            responses={202: Resp("accepted: published to Pub/Sub; the sink stores each event once", EventsAccepted)},
            errors={400: E400 + " (or an impression id this service did not issue)", 401: E401, **body_errors,
                    429: E429, 503: "Pub/Sub is unavailable: retry the same events (they are stored once)"}),
        "suggestMetrics": Contract(
            responses={200: Resp("the function's counters in the Prometheus text format")},
            errors={401: E401, 429: E429}),
        "health": Contract(
            responses={200: Resp("every dependency is up", HealthView),
                       503: Resp("at least one dependency is down; `failing` names them", HealthView)},
            errors={}),
        "healthLive": Contract(responses={200: Resp("the function answers", LiveView)}, errors={}),
        "recordSignals": Contract(
            body=SignalsRequest, body_description="one signal, or {\"signals\": [...]} with 1..500 of them",
            responses={202: Resp("accepted: published to Pub/Sub, stored by the sink shortly after", SignalsAccepted),
                       207: Resp("a batch of which some items were rejected; each result says which and why",
                                 SignalBatchResult)},
            errors={400: E400 + " (a batch: none of its items was accepted)", 401: E401,
                    403: "a signal for another user, or about another user's trip",
                    404: "an unknown user, venue or trip id", **body_errors,
                    429: E429, 503: "Pub/Sub or Postgres is unavailable: nothing is promised; retry with the same "
                                    "event ids"}),
        "deleteMe": Contract(
            responses={204: Resp("deleted (also when there was nothing left to delete)")},
            errors={401: E401, 429: E429, 503: "account deletion is not configured here (the anonymisation key "
                                               "is missing); nothing was deleted"}),
        "getPersona": Contract(
            responses={200: Resp("the persona", PersonaView)},
            errors={401: E401, 404: "no persona yet: plan a trip with tags first", 429: E429}),
        "createCompanionInvite": Contract(
            responses={201: Resp("a single-use code, valid 7 days, to hand to the person you travel with", InviteView)},
            errors={401: E401, 409: "you already have 20 open invitations", 429: E429}),
        "listCompanions": Contract(
            responses={200: Resp("the users who consented to group trips with the caller", CompanionList)},
            errors={401: E401, 429: E429}),
        "acceptCompanionInvite": Contract(
            body=InviteAcceptance,
            responses={201: Resp("accepted: the inviter's id; the two may now plan group trips together",
                                 CompanionAccepted)},
            errors={400: E400 + " (or the caller's own invitation)", 401: E401,
                    404: "no open invitation with this code (it may have expired)",
                    409: "this invitation was already accepted", **body_errors, 429: E429}),
        "removeCompanion": Contract(
            path={"companion_id": Param("the companion's user id", PATH_ID, True)},
            responses={204: Resp("no longer companions, both ways (also when they were not)")},
            errors={400: E400, 401: E401, 429: E429}),
        "createGroup": Contract(
            body=GroupCreate, responses={201: Resp("the group, the caller its owner, and an invitation code", GroupCreated)},
            errors={400: E400 + " (or a city without a catalogue, an address the catalogue cannot place)", 401: E401,
                    **body_errors, 429: E429}),
        "joinGroup": Contract(
            body=JoinRequest, responses={201: Resp("the group, the caller a member", GroupView)},
            errors={400: E400, 401: E401, 404: "no open invitation with this code (it may have expired)",
                    409: "the caller is already a member, or the group is full", **body_errors, 429: E429}),
        "getGroup": Contract(path=group_id, responses={200: Resp("the group", GroupView)},
                             errors={400: E400, 401: E401, 404: no_group, 429: E429}),
        "createGroupInvite": Contract(
            path=group_id, responses={201: Resp("a code valid 14 days, for anyone it is shared with", GroupInvite)},
            errors={400: E400, 401: E401, 404: no_group, 429: E429}),
        "updateGroupMember": Contract(
            path=group_id, body=MemberProfile, responses={200: Resp("the group with the caller's changes", GroupView)},
            errors={400: E400 + " (or an address the catalogue cannot place)", 401: E401, 404: no_group,
                    **body_errors, 429: E429}),
        "removeGroupMember": Contract(
            path={**group_id, "user_id": Param("the member's user id, or `me` to leave", PATH_ID, True)},
            responses={204: Resp("no longer a member (also when they were not)")},
            errors={400: E400, 401: E401, 403: "only the group's owner removes other members", 404: no_group,
                    409: "the owner cannot leave a group that has members", 429: E429}),
        "putGroupCalendar": Contract(
            path=group_id, body=CalendarUpload, responses={200: Resp("the calendar is stored", CalendarSaved)},
            errors={400: E400 + " (or an .ics that does not parse: nothing is stored)", 401: E401, 404: no_group,
                    **body_errors, 429: E429}),
        "listGroupWindows": Contract(
            path=group_id,
            query={"weeks": Param("how many weeks ahead to search (1-8, default 4)",
                                  {"type": "integer", "minimum": 1, "maximum": 8}),
                   "duration_minutes": Param("the outing's length (30-720; default the group's)",
                                             {"type": "integer", "minimum": 30, "maximum": 720})},
            responses={200: Resp("windows where at least a quorum is free, best first", WindowsView)},
            errors={400: E400, 401: E401, 404: no_group, 429: E429}),
        "startGroupCycle": Contract(
            path=group_id, body=CycleStart, body_required=False,
            body_description="optional: the outing's start (one of the windows) and how long the vote runs",
            responses={201: Resp("the cycle: five options from safe to adventurous, the vote open", CycleView)},
            errors={400: E400 + " (or too few members free at window_start, or fewer than five feasible options: "
                                "the body names the constraint)", 401: E401, 404: no_group,
                    409: "the month already has a cycle, or no window has a quorum free", **body_errors, 429: E429}),
        "getGroupCycle": Contract(path=cycle_id, responses={200: Resp("the cycle", CycleView)},
                                  errors={400: E400, 401: E401, 404: no_cycle, 429: E429}),
        "voteGroupCycle": Contract(
            path=cycle_id, body=Vote, responses={200: Resp("the caller's ballot and the tally", VoteView)},
            errors={400: E400, 401: E401, 404: no_cycle,
                    409: "the vote is not open, or its deadline has passed", **body_errors, 429: E429}),
        "closeGroupCycle": Contract(
            path=cycle_id, responses={200: Resp("the closed plan: winner, reason and carpools", CycleView)},
            errors={400: E400, 401: E401, 404: no_cycle,
                    409: "the vote is open until its deadline and not everyone voted, or it is already closed",
                    429: E429}),
        "getGroupInvitation": Contract(
            path=cycle_id, responses={200: Resp("text/calendar: one VEVENT with the plan and the caller's travel line")},
            errors={400: E400, 401: E401, 404: no_cycle, 409: "the plan is not closed yet", 429: E429}),
        "postGroupRetrospective": Contract(
            path=cycle_id, body=Retrospective,
            responses={201: Resp("stored; published as signals", RetrospectiveView)},
            errors={400: E400 + " (or a venue that was not part of the outing, someone not in the group)",
                    401: E401, 404: no_cycle, 409: "the outing has not happened yet", **body_errors, 429: E429,
                    503: "the signals could not be published; the review is stored, retry to publish"}),
        "createTrip": Contract(
            body=TripRequest,
            responses={201: Resp("the planned trip", TripView, MODEL_VERSION)},
            errors={400: E400, 401: E401, **body_errors, 429: E429, 503: E503_SECRET}),
        "getTrip": Contract(
            path=trip_id, responses={200: Resp("the trip", TripView, MODEL_VERSION)},
            errors={400: E400, 401: E401, 404: "no such trip for this user (another user's trip is a 404 too)",
                    429: E429}),
        "swapSlot": Contract(
            path={**trip_id, "slot_id": Param("the slot's id in that trip", PATH_ID, True)},
            body=SwapRequest, body_required=False,
            body_description="a venue to put in the slot; an empty body or null takes the next-best fallback",
            responses={200: Resp("the changed slot", SwapView, MODEL_VERSION)},
            errors={400: E400, 401: E401, 404: "no such trip for this user, or no such slot in it",
                    409: "the trip is closed, the venue is already in it, or no alternative is left",
                    **body_errors, 429: E429}),
        "pivotTrip": Contract(
            path=trip_id, body=PivotRequest,
            responses={200: Resp("the pivot: the changed slots and those skipped", PivotView, MODEL_VERSION)},
            errors={400: E400 + " (or a field the pivot type needs is missing)", 401: E401,
                    404: "no such trip for this user, or no such slot in it",
                    409: "the trip is closed, or no precomputed alternative is left", **body_errors, 429: E429}),
        "streamPivots": Contract(
            path=trip_id,
            query={"duration_s": Param("how long to stream, in seconds (default 20)",
                                       {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 120})},
            responses={200: Resp("server-sent events: `ready` with the itinerary, then `pivot` and `swap` as they "
                                 "happen, a heartbeat comment every 5 s, and `end`", None,
                                 {**MODEL_VERSION, "Cache-Control": "no-cache"})},
            errors={400: E400 + " (duration_s must be in (0, 120])", 401: E401,
                    404: "no such trip for this user", 409: "the trip is not planned or active", 429: E429,
                    503: "this instance's stream slots are all taken, or Redis is unreachable; Retry-After says "
                         "when to retry"}),
        "seedCity": Contract(
            headers=ADMIN_TOKEN, body=SeedCityRequest,
            responses={202: Resp("seeding recorded and enqueued; poll status_url", SeedRunQueued)},
            errors={400: E400 + " (an unknown city lists suggestions in details)", **admin_errors, **body_errors,
                    503: "the seeding task could not be enqueued, or the admin secret is unavailable; retry"}),
        "seedCityStatus": Contract(
            headers=ADMIN_TOKEN,
            path={"run_id": Param("the run id POST /v1/admin/seed-city answered", {**PATH_ID, "maxLength": 64},
                                  True)},
            responses={200: Resp("the run's progress and, once done, its summary", SeedRunView)},
            errors={400: E400, **admin_errors, 404: "no such seeding run"}),
        "listModels": Contract(
            headers=ADMIN_TOKEN, responses={200: Resp("every registered model", ModelList)}, errors=admin_errors),
        "runLearningLoop": Contract(
            headers=ADMIN_TOKEN, body=LearnRequest, body_required=False,
            body_description="optional: the last day of data and how many days (an empty body takes the defaults)",
            responses={202: Resp("one run of the learning loop is queued on the training queue", LearnQueued)},
            errors={400: E400, **admin_errors, **body_errors,
                    503: "the learning task could not be enqueued, or the admin secret is unavailable; retry"}),
        "promoteModel": Contract(
            headers=ADMIN_TOKEN, body=ReasonRequest,
            path={"name": Param("the model's name", PATH_ID, True),
                  "version": Param("the version to promote", PATH_ID, True)},
            responses={200: Resp("the promoted model", ModelView)},
            errors={400: E400, **admin_errors, 404: "no such model version",
                    409: "the model is not in shadow (only a shadow model can be promoted)", **body_errors}),
        "rollbackModel": Contract(
            headers=ADMIN_TOKEN, body=ReasonRequest,
            path={"name": Param("the model's name", PATH_ID, True)},
            responses={200: Resp("the restored and the retired model", RollbackView)},
            errors={400: E400, **admin_errors, 404: "no such model, or no previous production model",
                    409: "the registry refused the transition", **body_errors}),
        # the operator console (served by admin): pages, assets, the session, and the JSON routes it reads
        "consoleHome": Contract(
            headers=CONSOLE_CREDENTIAL,
            responses={200: Resp("the console's Models page (HTML)")},
            errors={401: E401_CONSOLE, 403: E403_ADMIN, 429: E429, 503: E503_SECRET}),
        "consolePage": Contract(
            headers=CONSOLE_CREDENTIAL,
            path={"page": Param("models | reports | catalogue | signals | trips | alerts",
                                {"type": "string", "enum": ["models", "reports", "catalogue", "signals", "trips",
                                                            "alerts"]}, True)},
            responses={200: Resp("the console page (HTML)")},
            errors={400: E400, 401: E401_CONSOLE, 403: E403_ADMIN, 404: "no such console page", 429: E429,
                    503: E503_SECRET}),
        "consoleAsset": Contract(
            headers=CONSOLE_CREDENTIAL,
            path={"name": Param("an asset file name (app.js, app.css, chart.umd.js, leaflet.js, leaflet.css)",
                                {**PATH_ID, "maxLength": 81}, True)},
            responses={200: Resp("the asset (JavaScript or CSS)")},
            errors={400: E400, 401: E401_ADMIN, 403: E403_ADMIN, 404: "no such asset", 429: E429,
                    503: E503_SECRET}),
        "consoleSignIn": Contract(
            headers=ADMIN_TOKEN, responses={200: Resp("signed in: the session cookie is set", ConsoleSession,
                                                      {"Set-Cookie": "the HttpOnly, SameSite=Strict session cookie"})},
            errors={401: E401_ADMIN, 403: E403_ADMIN, 429: E429, 503: E503_SECRET}),
        "consoleSignOut": Contract(
            headers=CONSOLE_CREDENTIAL, responses={200: Resp("signed out: the session cookie is cleared",
                                                             ConsoleSession)}, errors=admin_errors),
        "signalsOverview": Contract(
            headers=CONSOLE_CREDENTIAL,
            query={"minutes": Param("the signal-flow window in minutes (default 60)",
                                    {"type": "integer", "minimum": 1, "maximum": 1440}),
                   "days": Param("days of LLM cost (default 14)", {"type": "integer", "minimum": 1, "maximum": 90})},
            responses={200: Resp("signals per minute and type, sink lag, LLM cost per day with the 2x alert line",
                                 SignalsOverview)},
            errors={400: E400, **admin_errors}),
        "listDeadLetters": Contract(
            headers=CONSOLE_CREDENTIAL,
            query={"limit": Param("at most this many (default 100)", {"type": "integer", "minimum": 1,
                                                                       "maximum": 1000})},
            responses={200: Resp("the dead letters on signals-dead-letter-hold (they stay there)", DeadLetterList)},
            errors={400: E400, **admin_errors}),
        "replayDeadLetters": Contract(
            headers=CONSOLE_CREDENTIAL, body=ReplayRequest,
            responses={200: Resp("each named dead letter republished to its source topic and removed from the hold",
                                 ReplayResult)},
            errors={400: E400, **admin_errors, **body_errors}),
        "catalogueOverview": Contract(
            headers=CONSOLE_CREDENTIAL,
            responses={200: Resp("seeded cities (venues, tags, hours parsing, overrated) and the last seeding runs",
                                 CatalogueOverview)}, errors=admin_errors),
        "listReports": Contract(
            headers=CONSOLE_CREDENTIAL,
            query={"limit": Param("at most this many, newest first (default 50)",
                                  {"type": "integer", "minimum": 1, "maximum": 500})},
            responses={200: Resp("the evaluation reports in the reports bucket", ReportList)},
            errors={400: E400, **admin_errors}),
        "readReport": Contract(
            headers=CONSOLE_CREDENTIAL,
            path={"run_id": Param("the report's run id", {**PATH_ID, "maxLength": 200}, True)},
            responses={200: Resp("the report as jobs/evaluate wrote it", EvaluationReport)},
            errors={400: E400, **admin_errors, 404: "no such report"}),
        "operatorTrip": Contract(
            headers=CONSOLE_CREDENTIAL,
            path={"trip_id": Param("the trip's id", {**PATH_ID, "maxLength": 64}, True)},
            responses={200: Resp("any user's trip, through the trip view model, with each slot's model version",
                                 OperatorTrip)},
            errors={400: E400, **admin_errors, 404: "no such trip"}),
        "alertsNow": Contract(
            headers=CONSOLE_CREDENTIAL,
            responses={200: Resp("every registered alert rule, evaluated now, with its inputs", AlertList)},
            errors=admin_errors),
    }


# --- writing the document ------------------------------------------------------------------------------------------
_OP_LINE = re.compile(r"^(\s+)(get|post|put|patch|delete):\s*$")


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # API Gateway refuses YAML aliases; write every node out
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Multi-line text (a model's docstring) as a literal block, so the file reads like the docstring."""
    if "\n" in value:
        value = "\n".join(line.rstrip() for line in value.strip("\n").split("\n"))
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def _dump(data: Any, indent: int) -> list[str]:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                     allow_unicode=False)
    return [(" " * indent + line) if line else line for line in text.rstrip("\n").split("\n")]


def strip_generated(text: str) -> str:
    out, skipping = [], False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            skipping = True
            continue
        if stripped.startswith(END):
            skipping = False
            continue
        if not skipping:
            out.append(line)
    return "\n".join(out)


def _operation_fragment(op_id: str, method: str, path: str, op: dict, contract: Contract,
                        names: dict[str, str]) -> dict:
    def ref(model: type[BaseModel], mode: str) -> dict:
        return {"$ref": REF_PREFIX + names[f"{model.__name__}:{mode}"]}

    in_template = re.findall(r"\{(\w+)\}", path)
    if sorted(in_template) != sorted(contract.path):
        raise ValueError(f"{op_id}: path {path} has ids {in_template}, the contract describes {sorted(contract.path)}")
    params: list[dict] = []
    for name in in_template:
        p = contract.path[name]
        params.append({"name": name, "in": "path", "required": True, "description": p.description, **p.schema})
    for where, group in (("query", contract.query), ("header", contract.headers)):
        for name, p in group.items():
            params.append({"name": name, "in": where, "required": p.required, "description": p.description,
                           **p.schema})
    if contract.body is not None:
        params.append({"name": "body", "in": "body", "required": contract.body_required,
                       "description": contract.body_description, "schema": ref(contract.body, "validation")})
    quota = bool(op.get("x-google-quota"))
    errors = dict(contract.errors)
    if quota and 429 not in errors:
        raise ValueError(f"{op_id} has a quota, so API Gateway can answer 429: document it")
    responses: dict[str, Any] = {}
    for status, resp in sorted(contract.responses.items()):
        entry: dict[str, Any] = {"description": resp.description}
        if resp.model is not None:
            entry["schema"] = ref(resp.model, "serialization")
        if resp.headers:
            entry["headers"] = {h: {"type": "string", "description": d} for h, d in resp.headers.items()}
        responses[str(status)] = entry
    from shared.api.error_model import ErrorBody

    for status, description in sorted(errors.items()):
        entry = {"description": description, "schema": ref(ErrorBody, "serialization")}
        if status in (429, 503):
            entry["headers"] = {h: {"type": "integer", "description": d} for h, d in RETRY_AFTER.items()}
        if status in responses:
            raise ValueError(f"{op_id}: status {status} is both a response and an error")
        responses[str(status)] = entry
    fragment: dict[str, Any] = {}
    if params:
        fragment["parameters"] = params
    fragment["responses"] = responses
    return fragment


def generate(text: str | None = None) -> str:
    """The document with every generated part (re)written from the models; `text` defaults to the file."""
    source = strip_generated(OPENAPI_FILE.read_text() if text is None else text)
    document = yaml.safe_load(source)
    contracts = _contracts()
    ops: dict[str, tuple[str, str, dict]] = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            for key in ("parameters", "responses"):
                if key in op:
                    raise ValueError(f"{op['operationId']}: `{key}` is generated; remove it from the hand-written part")
            ops[op["operationId"]] = (method, path, op)
    if set(ops) != set(contracts):
        raise ValueError(f"operations without a contract: {sorted(set(ops) - set(contracts))}; "
                         f"contracts without an operation: {sorted(set(contracts) - set(ops))}")

    models: list[tuple[type[BaseModel], str]] = []
    from shared.api.error_model import ErrorBody

    for c in contracts.values():
        if c.body is not None:
            models.append((c.body, "validation"))
        models += [(r.model, "serialization") for r in c.responses.values() if r.model is not None]
    models.append((ErrorBody, "serialization"))
    names, definitions, _dropped = definitions_for(list(dict.fromkeys(models)))

    lines = source.rstrip("\n").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        match = _OP_LINE.match(line)
        i += 1
        if not match:
            continue
        indent = len(match.group(1)) + 2
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) >= indent):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            lines.insert(i, body.pop())
        out += body
        op_id = next(yaml.safe_load(b.strip())["operationId"] for b in body if b.strip().startswith("operationId:"))
        method, path, op = ops[op_id]
        fragment = _operation_fragment(op_id, method, path, op, contracts[op_id], names)
        out.append(" " * indent + f"{BEGIN} {op_id} ({REGENERATE})")
        out += _dump(fragment, indent)
        out.append(" " * indent + f"{END} {op_id}")
    out.append(f"{BEGIN} definitions ({REGENERATE}): the pydantic models, converted to Swagger 2.0")
    out += _dump({"definitions": definitions}, 0)
    out.append(f"{END} definitions")
    result = "\n".join(out) + "\n"
    if "${" in "\n".join(_dump({"definitions": definitions}, 0)):
        raise ValueError("a generated schema contains '${', which the backend placeholders would take")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="generate openapi.yaml's schemas from the pydantic models")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="rewrite the generated parts of openapi.yaml")
    group.add_argument("--check", action="store_true", help="exit 1 when openapi.yaml is out of date")
    args = parser.parse_args(argv)
    current = OPENAPI_FILE.read_text()
    wanted = generate(current)
    if args.check:
        if wanted != current:
            print(f"{OPENAPI_FILE} is out of date with the models: run {REGENERATE}", file=sys.stderr)
            return 1
        print(f"{OPENAPI_FILE} is up to date")
        return 0
    if wanted != current:
        OPENAPI_FILE.write_text(wanted)
        print(f"wrote {OPENAPI_FILE}")
    else:
        print(f"{OPENAPI_FILE} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
