"""The catalogue file contract: what an items file and an interactions file must hold, and how each row is read.

Items (CSV or Parquet), one row per item:
    item_id     string, required, unique in the file
    title       string, required
    text        string, optional (description, genres, tags, ... whatever describes the item in words)
    categories  optional: a list of strings in Parquet, `|`-separated in CSV ("Comedy|Drama")
    attributes  optional: a JSON object (text in CSV; JSON text or a struct in Parquet)

Interactions (CSV or Parquet), one row per event:
    user_id     string, required
    item_id     string, required; must be an item of the catalogue (this file's items or an earlier import's)
    timestamp   required: ISO-8601 ("2024-05-01T12:00:00Z"; without an offset it is UTC) or epoch seconds
    event_type  optional, default "interaction" (view, like, rate, cook, ...)
    weight      optional, default 1.0 (a finite number)
    event_id    optional; without it the id is derived from (catalogue, user, item, timestamp, event_type), so
                importing the same file twice stores every event once

Rows are numbered from 1, the first data row (a CSV's header line is not counted). Every problem is reported as
"<file> row N, field F: what is wrong", and nothing is imported while any remains.

Stored event ids are scoped to their catalogue: "<catalogue_id>:<event_id or derived id>", so two catalogues may use
the same client event ids without one swallowing the other's events as duplicates.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.domains.errors import InvalidRequest

CATALOGUE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ITEM_COLUMNS = ("item_id", "title", "text", "categories", "attributes")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "event_type", "weight", "event_id")
REQUIRED_ITEM_COLUMNS = ("item_id", "title")
REQUIRED_INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp")
CSV_CATEGORY_SEPARATOR = "|"
DEFAULT_EVENT_TYPE = "interaction"
MAX_ID = 256
MAX_TITLE = 1_000
MAX_TEXT = 20_000
MAX_REPORTED = 1_000   # problems kept per import (the message shows the first few)
_EPOCH_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_MIN_TS = datetime(1900, 1, 1, tzinfo=UTC)
_MAX_TS = datetime(2200, 1, 1, tzinfo=UTC)


# --- errors ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    file: str       # "items" | "interactions" | "catalogue"
    row: int        # 1-based data row; 0 for a problem of the file itself (a missing column)
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} row {self.row}" if self.row else self.file
        return f"{where}, field {self.field!r}: {self.message}"


class ContractError(InvalidRequest):
    """One or more rows break the contract; nothing was imported. `errors` lists each (row, field, message)."""

    def __init__(self, errors: Sequence[RowError], total: int | None = None, shown: int = 10):
        self.errors = list(errors)
        self.total = total if total is not None else len(self.errors)
        lines = [str(e) for e in self.errors[:shown]]
        more = self.total - len(lines)
        text = "; ".join(lines) + (f"; and {more} more" if more > 0 else "")
        first = self.errors[0] if self.errors else RowError("catalogue", 0, "file", "invalid")
        super().__init__(f"{self.total} problem(s), nothing was imported: {text}. Fix these rows and re-run the "
                         "import (re-running is safe).", first.field)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.total = 0

    def add(self, file: str, row: int, field: str, message: str) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(RowError(file, row, field, message))

    def add_validation(self, file: str, row: int, exc: ValidationError) -> None:
        for err in exc.errors(include_url=False, include_context=False, include_input=False):
            field = ".".join(str(p) for p in err["loc"]) or "row"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "required, but missing or empty"
            self.add(file, row, field, msg)

    def raise_if_any(self) -> None:
        if self.total:
            raise ContractError(self.errors, self.total)


def validate_catalogue_id(catalogue_id: str) -> str:
    if not isinstance(catalogue_id, str) or not CATALOGUE_ID.match(catalogue_id):
        raise ContractError([RowError("catalogue", 0, "catalogue_id",
                                      f"{catalogue_id!r} is not a catalogue id: 1-63 lower-case letters, digits, "
                                      "'-' or '_', starting with a letter or digit (e.g. movielens-1m)")])
    return catalogue_id


# --- field rules (shared by the pydantic models and the columnar path) --------------------------------------------
def _clean_text(value: Any, field: str, limit: int, required: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a string, got {type(value).__name__}")
        value = str(value)
    value = value.strip()
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if required and not value:
        raise ValueError("required, but missing or empty")
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters ({len(value)})")
    return value


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 text (UTC when it carries no offset), epoch seconds (number or numeric text), or a datetime."""
    if isinstance(value, datetime):
        ts = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, np.datetime64):
        ts = datetime.fromtimestamp(value.astype("datetime64[us]").astype(np.int64) / 1e6, UTC)
    elif isinstance(value, bool) or value is None:
        raise ValueError("required: ISO-8601 text or epoch seconds")
    elif isinstance(value, int | float | np.integer | np.floating):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError("epoch seconds must be a finite number")
        try:
            ts = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch seconds {value!r} are out of range") from None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("required: ISO-8601 text or epoch seconds")
        if _EPOCH_NUMBER.match(text):
            return parse_timestamp(float(text))
        try:
            ts = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is neither ISO-8601 (2024-05-01T12:00:00Z) nor epoch seconds") from None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
    else:
        raise ValueError(f"must be ISO-8601 text or epoch seconds, got {type(value).__name__}")
    if not _MIN_TS <= ts < _MAX_TS:
        raise ValueError(f"{ts.isoformat()} is outside 1900-2200")
    return ts.astimezone(UTC)


def to_micros(ts: datetime) -> int:
    """Microseconds since the epoch (exact: no float rounding), the one form event ids are derived from."""
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def derive_event_id(catalogue_id: str, user_id: str, item_id: str, occurred_us: int, event_type: str) -> str:
    """The id of an event that came without one: the same event always gets the same id."""
    key = "\x1f".join((catalogue_id, user_id, item_id, str(int(occurred_us)), event_type))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def stored_event_id(catalogue_id: str, event_id: str) -> str:
    return f"{catalogue_id}:{event_id}"


def _categories(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        parts = value.split(CSV_CATEGORY_SEPARATOR)
    elif isinstance(value, list | tuple | np.ndarray):
        parts = list(value)
    else:
        raise ValueError(f"must be a list of strings (Parquet) or '|'-separated text (CSV), got {type(value).__name__}")
    out: list[str] = []
    for p in parts:
        if p is None:
            continue
        if not isinstance(p, str):
            raise ValueError(f"every category must be a string, got {type(p).__name__}")
        p = p.strip()
        if "\x00" in p:
            raise ValueError("a category contains a NUL character")
        if len(p) > MAX_ID:
            raise ValueError(f"a category is longer than {MAX_ID} characters")
        if p and p not in out:
            out.append(p)
    return tuple(out)


def _attributes(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError("not valid JSON (expected a JSON object, e.g. {\"minutes\": 30})") from None
    elif isinstance(value, list) and all(isinstance(kv, tuple) and len(kv) == 2 for kv in value):
        value = dict(value)  # a Parquet map column
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object, got {type(value).__name__}")
    try:
        dumped = json.dumps(value, allow_nan=False, default=str)
    except ValueError:
        raise ValueError("holds NaN or Infinity, which JSON (and Postgres jsonb) cannot store") from None
    if "\\u0000" in dumped:
        raise ValueError("contains a NUL character")
    return json.loads(dumped)


# --- rows --------------------------------------------------------------------------------------------------------
class CatalogueItem(BaseModel):
    """One item of a catalogue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    title: str
    text: str = ""
    categories: tuple[str, ...] = ()
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("item_id", mode="before")
    @classmethod
    def _item_id(cls, v: Any) -> str:
        return _clean_text(v, "item_id", MAX_ID, True)

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, v: Any) -> str:
        return _clean_text(v, "title", MAX_TITLE, True)

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        return _clean_text(v, "text", MAX_TEXT, False)

    @field_validator("categories", mode="before")
    @classmethod
    def _cats(cls, v: Any) -> tuple[str, ...]:
        return _categories(v)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, v: Any) -> dict[str, Any]:
        return _attributes(v)

    @property
    def embedding_text(self) -> str:
        """What the item's text embedding is computed from: the title, then the text."""
        return f"{self.title}. {self.text}" if self.text else self.title


class Interaction(BaseModel):
    """One interaction event, as a contract row or a streamed event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    item_id: str
    timestamp: datetime
    event_type: str = DEFAULT_EVENT_TYPE
    weight: float = 1.0
    event_id: str | None = None

    @field_validator("user_id", "item_id", mode="before")
    @classmethod
    def _ids(cls, v: Any, info) -> str:
        return _clean_text(v, info.field_name, MAX_ID, True)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> datetime:
        return parse_timestamp(v)

    @field_validator("event_type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> str:
        return _clean_text(v, "event_type", 64, False) or DEFAULT_EVENT_TYPE

    @field_validator("weight", mode="before")
    @classmethod
    def _weight(cls, v: Any) -> float:
        if v is None or (isinstance(v, str) and not v.strip()):
            return 1.0
        if isinstance(v, bool):
            raise ValueError("must be a number")
        try:
            w = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{str(v)[:40]!r} is not a number") from None
        if not math.isfinite(w) or abs(w) > 1e6:
            raise ValueError("must be a finite number between -1e6 and 1e6")
        return w

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id(cls, v: Any) -> str | None:
        return _clean_text(v, "event_id", MAX_ID, False) or None

    def occurred_us(self) -> int:
        return to_micros(self.timestamp)

    def stored_event_id(self, catalogue_id: str) -> str:
        own = self.event_id or derive_event_id(catalogue_id, self.user_id, self.item_id, self.occurred_us(),
                                               self.event_type)
        return stored_event_id(catalogue_id, own)


# --- many interactions, as columns ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class InteractionTable:
    """Interactions as aligned columns (a million rows stay arrays, never a million models).

    event_ids holds each row's own id, None where the row had none (derived at import)."""

    user_ids: list[str]
    item_ids: list[str]
    occurred_us: np.ndarray          # int64 µs since the epoch, UTC
    event_types: list[str]
    weights: np.ndarray              # float32
    event_ids: list[str | None] | None = None

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        for name in ("item_ids", "occurred_us", "event_types", "weights"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"InteractionTable: {name} has {len(getattr(self, name))} values for {n} rows")
        if self.event_ids is not None and len(self.event_ids) != n:
            raise ValueError("InteractionTable: event_ids must have one value per row")

    def __len__(self) -> int:
        return len(self.user_ids)

    @classmethod
    def empty(cls) -> InteractionTable:
        return cls([], [], np.zeros(0, np.int64), [], np.zeros(0, np.float32))

    @classmethod
    def from_columns(cls, user_ids: Sequence[Any] | np.ndarray, item_ids: Sequence[Any] | np.ndarray,
                     occurred_us: Sequence[int] | np.ndarray, *, event_type: str | Sequence[str] = DEFAULT_EVENT_TYPE,
                     weights: Sequence[float] | np.ndarray | None = None,
                     event_ids: Sequence[str | None] | None = None) -> InteractionTable:
        """Trusted columns (a source's arrays), still checked: ids non-empty, times in range, weights finite."""
        users = [str(u) for u in np.asarray(user_ids).tolist()]
        items = [str(i) for i in np.asarray(item_ids).tolist()]
        ts = np.asarray(occurred_us, dtype=np.int64)
        n = len(users)
        types = [event_type] * n if isinstance(event_type, str) else [str(t) for t in event_type]
        w = np.ones(n, np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        errors = _Collector()
        lo, hi = to_micros(_MIN_TS), to_micros(_MAX_TS)
        for row in np.flatnonzero((ts < lo) | (ts >= hi))[:MAX_REPORTED]:
            errors.add("interactions", int(row) + 1, "timestamp", "outside 1900-2200")
        for row in np.flatnonzero(~np.isfinite(w))[:MAX_REPORTED]:
            errors.add("interactions", int(row) + 1, "weight", "must be a finite number")
        for name, col in (("user_id", users), ("item_id", items)):
            for row, v in enumerate(col):
                if not v.strip() or len(v) > MAX_ID or "\x00" in v:
                    errors.add("interactions", row + 1, name, "required, non-empty, at most 256 characters")
        errors.raise_if_any()
        return cls(users, items, ts, types, w, None if event_ids is None else list(event_ids))

    @classmethod
    def from_rows(cls, rows: Iterable[Interaction | Mapping[str, Any]], file: str = "interactions") -> InteractionTable:
        """Validate every row (all problems collected, each with its row number and field)."""
        errors = _Collector()
        users, items, ts, types, weights, ids = [], [], [], [], [], []
        for n, raw in enumerate(rows, 1):
            try:
                row = raw if isinstance(raw, Interaction) else Interaction.model_validate(_drop_blank(raw))
            except ValidationError as exc:
                errors.add_validation(file, n, exc)
                continue
            users.append(row.user_id)
            items.append(row.item_id)
            ts.append(row.occurred_us())
            types.append(row.event_type)
            weights.append(row.weight)
            ids.append(row.event_id)
        errors.raise_if_any()
        return cls(users, items, np.asarray(ts, dtype=np.int64), types, np.asarray(weights, dtype=np.float32),
                   ids if any(i is not None for i in ids) else None)

    def stored_event_ids(self, catalogue_id: str) -> list[str]:
        """The unique key of every row in catalogue_interactions (see the module docstring)."""
        prefix = f"{catalogue_id}:"
        out = []
        own = self.event_ids or [None] * len(self)
        sha = hashlib.sha256
        for user, item, us, etype, eid in zip(self.user_ids, self.item_ids, self.occurred_us.tolist(),
                                              self.event_types, own):
            if eid is None:
                eid = sha(f"{catalogue_id}\x1f{user}\x1f{item}\x1f{us}\x1f{etype}".encode()).hexdigest()[:32]
            out.append(prefix + eid)
        return out


def _drop_blank(raw: Mapping[str, Any]) -> dict[str, Any]:
    """CSV cells are text: an empty optional cell means "not given" (its default), not an empty value."""
    return {k: v for k, v in raw.items() if not (v is None or (isinstance(v, str) and not v.strip()))
            or k in REQUIRED_INTERACTION_COLUMNS or k in REQUIRED_ITEM_COLUMNS}


def validate_items(rows: Iterable[CatalogueItem | Mapping[str, Any]], file: str = "items") -> list[CatalogueItem]:
    """Every item row checked; a duplicate item_id is an error naming both rows."""
    errors = _Collector()
    out: list[CatalogueItem] = []
    first_row: dict[str, int] = {}
    for n, raw in enumerate(rows, 1):
        try:
            item = raw if isinstance(raw, CatalogueItem) else CatalogueItem.model_validate(_drop_blank(raw))
        except ValidationError as exc:
            errors.add_validation(file, n, exc)
            continue
        if item.item_id in first_row:
            errors.add(file, n, "item_id", f"duplicate item_id {item.item_id!r} (first at row {first_row[item.item_id]})")
            continue
        first_row[item.item_id] = n
        out.append(item)
    errors.raise_if_any()
    return out


def check_items_known(interactions: InteractionTable, known: set[str], file: str = "interactions") -> None:
    """An interaction whose item is in neither this import's items nor the catalogue is an error naming it."""
    errors = _Collector()
    for n, item in enumerate(interactions.item_ids, 1):
        if item not in known:
            errors.add(file, n, "item_id", f"unknown item {item!r}: it is not in the items file nor in the catalogue")
    errors.raise_if_any()


# --- files ---------------------------------------------------------------------------------------------------------
def _read_table(path: Path, file: str, allowed: Sequence[str], required: Sequence[str]):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise ContractError([RowError(file, 0, "file", f"{path} does not exist")])
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
            with open(path, "rb") as fh:
                head = fh.readline()
            names = [c.strip().strip('"').lstrip("\ufeff") for c in head.decode("utf-8", "replace").strip().split(",")]
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names if c},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
        else:
            raise ContractError([RowError(file, 0, "file", f"{path.name}: expected a .csv or .parquet file")])
    except ContractError:
        raise
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise ContractError([RowError(file, 0, "file", f"{path.name} cannot be read: {exc}")]) from None
    columns = [c.lstrip("\ufeff").strip() for c in table.column_names]
    table = table.rename_columns(columns)
    problems = [RowError(file, 0, c, f"unknown column (expected {', '.join(allowed)})") for c in columns
                if c not in allowed]
    problems += [RowError(file, 0, c, "required column is missing") for c in required if c not in columns]
    if problems:
        raise ContractError(problems)
    return table


def read_items(path: Path | str) -> list[CatalogueItem]:
    table = _read_table(Path(path), "items", ITEM_COLUMNS, REQUIRED_ITEM_COLUMNS)
    return validate_items(table.to_pylist())


def read_catalogue_files(items_path: Path | str, interactions_path: Path | str | None,
                         existing_items: Iterable[str] = ()) -> tuple[list[CatalogueItem], InteractionTable | None]:
    """Both files read and checked before anything is decided: the problems of the items file, of the
    interactions file and the interactions' unknown items are reported together (ContractError)."""
    problems: list[RowError] = []
    total = 0
    items: list[CatalogueItem] = []
    item_ids: set[str] = set(existing_items)
    try:
        raw = _read_table(Path(items_path), "items", ITEM_COLUMNS, REQUIRED_ITEM_COLUMNS).to_pylist()
        item_ids |= {str(r.get("item_id")).strip() for r in raw if r.get("item_id") not in (None, "")}
        items = validate_items(raw)
    except ContractError as exc:
        problems += exc.errors
        total += exc.total
    table = None
    if interactions_path is not None:
        try:
            raw_table = _read_table(Path(interactions_path), "interactions", INTERACTION_COLUMNS,
                                    REQUIRED_INTERACTION_COLUMNS)
        except ContractError as exc:
            problems += exc.errors
            total += exc.total
        else:
            unknown = _Collector()
            for n, item in enumerate(raw_table.column("item_id").to_pylist(), 1):
                item = "" if item is None else str(item).strip()
                if item and item not in item_ids:
                    unknown.add("interactions", n, "item_id",
                                f"unknown item {item!r}: it is not in the items file nor in the catalogue")
            try:
                table = _interactions_from(raw_table)
            except ContractError as exc:
                problems += exc.errors
                total += exc.total
            if unknown.total:
                problems += unknown.errors
                total += unknown.total
                problems.sort(key=lambda e: (e.file != "items", e.row, e.field))
    if problems:
        raise ContractError(problems[:MAX_REPORTED], total)
    return items, table


def read_interactions(path: Path | str) -> InteractionTable:
    return _interactions_from(_read_table(Path(path), "interactions", INTERACTION_COLUMNS,
                                          REQUIRED_INTERACTION_COLUMNS))


def _interactions_from(table) -> InteractionTable:
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    n = table.num_rows
    names = list(cols)
    return InteractionTable.from_rows(({k: cols[k][i] for k in names} for i in range(n)))
