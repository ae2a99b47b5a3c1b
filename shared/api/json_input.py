"""The one way a request body (or a pushed message) becomes Python: strict JSON that every store can keep.

Why strict: Python's json module accepts documents our stores cannot hold or our code cannot survive, and each
of those used to turn into a 500 or, worse, a 202 followed by a signal the sink could not store:
- NaN, Infinity and numbers that overflow to infinity (1e400): Postgres jsonb rejects them;
- nesting ~1,000 deep: the parser raises RecursionError;
- NUL and other control characters in strings (and in object keys): Postgres text rejects NUL, and no field of
  ours has a use for the others (tab, newline and carriage return are allowed).
- an unpaired UTF-16 surrogate ("\ud800" with no partner): JSON can spell it and Python decodes it, but it is
  no character, and UTF-8 (Postgres text and jsonb, Redis, Pub/Sub) cannot encode it. pydantic's str refuses it;
  a hand-validated field did not (a promotion's reason: a 500 from Postgres' jsonb).
`loads` rejects each of these with an InvalidJson naming the field, so the caller answers 400 once.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")   # a pair decodes to one code point, so any left is unpaired
_NOT_UNICODE = "contains an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not a character; send valid Unicode"


class InvalidJson(ValueError):
    def __init__(self, message: str, field: str = "body", *, syntax: bool = False):
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field
        self.syntax = syntax   # not JSON at all (as opposed to JSON that we refuse)


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse and check a JSON document; raise InvalidJson (field and message) for anything our stores would refuse."""
    try:
        doc = json.loads(raw)  # NaN and Infinity parse, and check() then refuses them naming their field
    except RecursionError:
        raise InvalidJson(f"nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"not valid JSON: {exc}", syntax=True) from None
    check(doc, max_depth=max_depth)
    return doc


def check(doc: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk an already-parsed document iteratively (a deep one must not overflow the stack here either)."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > max_depth:
                raise InvalidJson(f"nested deeper than {max_depth} levels", path or "body")
            if isinstance(value, dict):
                for key, item in value.items():
                    sub = f"{path}.{key}" if path else str(key)
                    if _CONTROL.search(key):
                        raise InvalidJson("a key contains a NUL or control character", _printable(sub))
                    if _SURROGATE.search(key):
                        raise InvalidJson("a key " + _NOT_UNICODE, _printable(sub))
                    stack.append((item, sub, depth + 1))
            else:
                stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if _CONTROL.search(value):
                raise InvalidJson("contains a NUL or control character; remove it", path or "body")
            if _SURROGATE.search(value):
                raise InvalidJson(_NOT_UNICODE, path or "body")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidJson("is not a finite number (NaN, Infinity or out of range); send a finite number or null",
                              path or "body")


def _printable(field: str) -> str:
    return _SURROGATE.sub("?", _CONTROL.sub("?", field))


def has_control_characters(text: str) -> bool:
    """Path ids and query values are checked with the same rule as body strings."""
    return bool(_CONTROL.search(text))
