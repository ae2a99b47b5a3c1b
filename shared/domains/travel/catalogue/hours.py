"""Opening hours as data.

Venue hours arrive as free text ("M-Sa 11AM-10PM, Su 12PM-10PM", "Daily, Noon-15:00, 19:00-01:30",
"Apr-Oct Tu-Su 10AM-6PM, Nov-Mar Th-Su 10AM-3:50PM", "Daily 09:00-18:00, closed Tu and public holidays").
This module normalises such text into an OpenStreetMap `opening_hours` expression, evaluates it with the
`opening_hours` package (PyPI `opening-hours-py`, Rust core) and stores the result as a per-month weekly table.

Why a per-month table: the planner asks one question ("is it open on this date from 14:00 to 15:30?")
thousands of times per trip; a 12 x 7 table of minute ranges answers it without parsing, and still captures
seasonal rules ("except August", "Apr-Oct ..."). The table is built by asking the library for the open
intervals of one reference week per month of a fixed non-leap year, so month rules and ranges that run past
midnight come out the way the library (not this module) understands them.

Normalisation is deliberately conservative. The text is cut into tokens (day ranges, time ranges, month
ranges, "closed"/"except", separators, a few filler words); any word it does not know ("by appointment",
"sunset", "Memorial Day", "third Saturday", "varies", a lone closing time, "11-10" without am/pm) makes the
whole text unparseable, and `parse` returns None so the caller keeps the raw text and plans with `typical`
hours instead — a wrong schedule is worse than none.

A listing that is a monthly occasion rather than a place ("takes place on the first Thursday of every month")
gets its type's typical hours on those dates only (`monthly_occurrence`, `Schedule.monthly`): an art walk is not
there on a Saturday.

Public-holiday and single-date closures ("closed 1 Jan, 25 Dec", "except Federal holidays", "closed
Thanksgiving and Christmas") are recognised and dropped: they do not change the weekly schedule, and the
planner does not know a venue's holiday calendar anyway.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

SCHEMA_VERSION = "hours-v1"

REFERENCE_YEAR = 2023  # not a leap year; nothing here depends on a particular year's holidays
MAX_PAST_MIDNIGHT_MIN = 12 * 60  # an opening that ends later than noon the next day is cut at midnight
MIN_SPAN_MIN = 15  # shorter "openings" are typos or tee-off style times
MAX_SPAN_MIN = 20 * 60  # "11AM-10AM" is a typo, not a 23-hour opening; 24 hours is spelt 00:00-24:00
LATEST_CLOSE_MIN = 7 * 60  # past midnight, closing after 07:00 ("10AM-8AM") is a typo for PM
EARLIEST_OPEN_MIN = 5 * 60  # opening at "12am-6pm" is a typo for 12PM; a 04:00 start is too rare to trust

OSM_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
OSM_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ALL_DAYS = frozenset(range(7))
ALL_MONTHS = frozenset(range(1, 13))


# --- the schedule ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """A weekly schedule per month: months[month-1][weekday] -> ((start_min, end_min), ...).

    Ranges are minutes after local midnight of the day the opening starts; end_min exceeds 1440 when it runs
    past midnight (a bar open 16:00-02:00 is (960, 1560) on the day it opens, nothing on the next morning).
    """

    osm: str
    months: tuple
    source: str = "listed"
    monthly: tuple[tuple[int, int], ...] = ()  # (nth, weekday): open only on such dates (nth -1 = the last)

    def ranges_on(self, date: dt.date) -> tuple[tuple[int, int], ...]:
        """Openings that start on that date (its month and weekday, and the monthly rule when there is one)."""
        if self.monthly and not any(nth_weekday(date, n, wd) for n, wd in self.monthly):
            return ()
        return self.months[date.month - 1][date.weekday()]

    def is_open(self, date: dt.date, start_min: int, end_min: int) -> bool:
        """True when [start_min, end_min] fits inside one opening of that date: a visit cannot span a break."""
        return any(a <= start_min and end_min <= b for a, b in self.ranges_on(date))

    def open_days(self) -> set[int]:
        """Weekdays (Monday=0) with any opening in any month, for quick filters."""
        return {d for month in self.months for d, ranges in enumerate(month) if ranges}

    def to_json(self) -> dict:
        """Compact jsonb form; twelve identical months (the usual case) are stored once as "week"."""
        weeks = [[[list(r) for r in day] for day in month] for month in self.months]
        body: dict = {"v": SCHEMA_VERSION, "osm": self.osm, "source": self.source}
        if all(w == weeks[0] for w in weeks):
            body["week"] = weeks[0]
        else:
            body["months"] = weeks
        if self.monthly:
            body["monthly"] = [list(r) for r in self.monthly]
        return body

    @classmethod
    def from_json(cls, data: dict) -> "Schedule":
        """Inverse of to_json. Raises ValueError on another schema version so callers re-parse the raw text."""
        if data.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(f"unsupported hours schema {data.get('v')!r}")
        weeks = data["months"] if "months" in data else [data["week"]] * 12
        if len(weeks) != 12 or any(len(w) != 7 for w in weeks):
            raise ValueError("hours schedule must have 12 months of 7 days")
        months = tuple(tuple(tuple((int(a), int(b)) for a, b in day) for day in week) for week in weeks)
        monthly = tuple((int(n), int(wd)) for n, wd in data.get("monthly", ()))
        return cls(data.get("osm", ""), months, data.get("source", "listed"), monthly)


def nth_weekday(date: dt.date, nth: int, weekday: int) -> bool:
    """Is `date` the nth `weekday` of its month (nth 1..4; -1: the last)?"""
    if date.weekday() != weekday:
        return False
    if nth == -1:
        return (date + dt.timedelta(days=7)).month != date.month
    return (date.day - 1) // 7 + 1 == nth


_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": -1}
_MONTHLY = re.compile(
    r"\b(?:takes place|is held|held|meets|happens|occurs)\s+(?:on\s+)?(?:the\s+|every\s+)?"
    r"(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+"
    r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\s+of\s+(?:every|each|the)\s+month", re.I)


def monthly_occurrence(text: str | None) -> tuple[int, int] | None:
    """(nth, weekday) when the text says the listing itself happens on one weekday a month ("held on the second
    Thursday of every month"); a venue with a monthly extra ("the first Saturday of every month, holds an art
    opening") is not one: only a verb that makes the listing the occasion counts."""
    m = _MONTHLY.search(text or "")
    if m is None:
        return None
    return _ORDINALS[m.group(1).lower()], _DAY_OF[m.group(2).lower()]


def only_on(schedule: Schedule, rule: tuple[int, int]) -> Schedule:
    """The schedule restricted to the dates of a monthly rule; source "description" (the hours come from it)."""
    return Schedule(schedule.osm, schedule.months, "description", (rule,))


# --- tokens ------------------------------------------------------------------------------------------------------
_DAY_WORDS = {
    0: ("mondays", "monday", "mon", "mo", "m"),
    1: ("tuesdays", "tuesday", "tues", "tue", "tu"),
    2: ("wednesdays", "wednesday", "weds", "wed", "we", "w"),
    3: ("thursdays", "thursday", "thurs", "thur", "thu", "th"),
    4: ("fridays", "friday", "fri", "fr", "f"),
    5: ("saturdays", "saturday", "sat", "sa"),
    6: ("sundays", "sunday", "sun", "su"),
}
_DAY_OF = {w: d for d, words in _DAY_WORDS.items() for w in words}
_MONTH_OF = {name: i for i, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"),
     ("november", "nov"), ("december", "dec")], start=1) for name in names}

_DAY = "(?:" + "|".join(sorted(_DAY_OF, key=len, reverse=True)) + r")\.?"
_MONTH = "(?:" + "|".join(sorted(_MONTH_OF, key=len, reverse=True)) + r")\.?"
_TIME = (r"(?:noon|midnight|(?:[01]?\d|2[0-4])(?:[:.]\d{2})?"
         r"(?:\s*(?:a\.m\.?|p\.m\.?|am|pm|a|p)(?![a-z]))?)(?![\d:])")
_HOLIDAY = (r"(?:(?:public|federal|bank|national|state|legal|major|religious|some|most|all|the)\s+)*holidays?"
            r"|christmas(?:\s+(?:day|eve))?|new\s+year'?s?(?:\s+(?:day|eve))?|thanksgiving(?:\s+day)?"
            r"|good\s+friday|easter(?:\s+(?:sunday|monday))?|boxing\s+day|independence\s+day")
_W = r"(?![a-z])"  # a word ends here: "m" of "mar" is not Monday, "sa" of "sat" is read as "sat"

# Order matters: the first alternative that matches at a position wins.
_TOKEN = re.compile("|".join([
    rf"(?P<always>24\s*/\s*7|24\s*(?:hours|hrs|h)(?:\s+a\s+day)?{_W}|around\s+the\s+clock|always\s+open{_W})",
    rf"(?P<ign_phrase>(?:open\s+)?365\s+days(?:\s+a\s+year)?{_W}|(?:open\s+)?year[\s-]round{_W})",
    rf"(?P<daily>daily|every\s*day|7\s*days(?:\s+a\s+week)?|seven\s+days(?:\s+a\s+week)?|all\s+week){_W}",
    rf"(?P<weekdays>weekdays){_W}",
    rf"(?P<weekends>weekends?){_W}",
    rf"(?P<holiday>{_HOLIDAY}){_W}",
    rf"(?P<date>\d{{1,2}}(?:st|nd|rd|th)?\s*(?:of\s+)?{_MONTH}{_W}"
    rf"|{_MONTH}\s*\d{{1,2}}(?:st|nd|rd|th)?(?:\s*-\s*\d{{1,2}}(?:st|nd|rd|th)?)?(?![\d:]))",
    rf"(?P<range>(?P<a>{_TIME})\s*-\s*(?P<b>{_TIME}))",
    rf"(?P<time>{_TIME})",
    rf"(?P<months>(?P<m1>{_MONTH})(?:\s*-\s*(?P<m2>{_MONTH}))?){_W}",
    rf"(?P<days>(?P<d1>{_DAY})(?:\s*-\s*(?P<d2>{_DAY}))?){_W}",
    rf"(?P<closed>closed|except(?:\s+(?:during|in|on|for))?|excluding){_W}",
    r"(?P<label>(?:lunch|dinner|brunch|breakfast|kitchen)(?![a-z]))",
    r"(?P<ign>(?:open|opens|opening|hours|hrs|from|on|during|every|the)(?![a-z]))",
    r"(?P<sep>and(?![a-z])|[,;:./&|()+]|-)",
]), re.I)

# "to"/"through"/"until" between two days or two times mean a range; "till 02:00" keeps no opening time.
_RANGE_WORDS = re.compile(r"\s+(?:to|through|thru|till|until|til)\s+", re.I)
_DASHES = re.compile("[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")


@dataclass(frozen=True)
class _Tok:
    kind: str        # days | times | months | closed | holiday | date | sep
    value: object = None


def _clean(text: str) -> str:
    """Unify the spellings that differ only in typography: dashes, the modifier-letter colon, 19h30, 12 noon."""
    try:  # mojibake ("â€“") turns dashes into letters; ftfy is optional and cheap when the text is clean
        import ftfy
        text = ftfy.fix_text(text)
    except ImportError:  # pragma: no cover - ftfy is a dependency of the catalogue extras
        pass
    t = _DASHES.sub("-", text).replace("\u02d0", ":").replace("\uff1a", ":").replace("\u00a0", " ")
    t = _RANGE_WORDS.sub("-", t)
    t = re.sub(r"(?<=\d)h(?=\d{2}\b)", ":", t, flags=re.I)            # 19h30 -> 19:30
    t = re.sub(r"(?<=\d)h\b", ":00", t, flags=re.I)                  # 19h -> 19:00
    t = re.sub(r"\b12\s*(noon|midnight)\b", r"\1", t, flags=re.I)    # "12 noon"
    return t.lower()


def _day_set(d1: str, d2: str | None) -> frozenset[int]:
    """Mon..Sun indices of a day or a day range; ranges wrap ("Su-Th", "F-M")."""
    a = _DAY_OF[d1.rstrip(".")]
    if d2 is None:
        return frozenset({a})
    b = _DAY_OF[d2.rstrip(".")]
    return frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))


def _month_set(m1: str, m2: str | None) -> frozenset[int]:
    """1..12 indices of a month or a month range; ranges wrap ("Nov-Mar")."""
    a = _MONTH_OF[m1.rstrip(".")]
    if m2 is None:
        return frozenset({a})
    b = _MONTH_OF[m2.rstrip(".")]
    return frozenset((a - 1 + i) % 12 + 1 for i in range((b - a) % 12 + 1))


def _tokens(text: str) -> list[_Tok] | None:
    """Cut cleaned text into tokens; None as soon as something is not understood (the conservative core)."""
    out: list[_Tok] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        kind = next(k for k in ("always", "ign_phrase", "daily", "weekdays", "weekends", "holiday", "date",
                                "range", "time", "months", "days", "closed", "label", "ign", "sep") if m.group(k))
        if kind == "always":
            out.append(_Tok("times", ((0, 1440),)))
        elif kind == "daily":
            out.append(_Tok("days", ALL_DAYS))
        elif kind == "weekdays":
            out.append(_Tok("days", frozenset(range(5))))
        elif kind == "weekends":
            out.append(_Tok("days", frozenset({5, 6})))
        elif kind == "range":
            span = _time_range(m.group("a"), m.group("b"))
            if span is None:
                return None
            out.append(_Tok("times", (span,)))
        elif kind == "time":
            return None  # a lone time ("open at 11AM", "till 02:00"): we do not know the opening
        elif kind == "months":
            out.append(_Tok("months", _month_set(m.group("m1"), m.group("m2"))))
        elif kind == "days":
            out.append(_Tok("days", _day_set(m.group("d1"), m.group("d2"))))
        elif kind == "closed":
            out.append(_Tok(kind, m.group(0).split()[0]))
        elif kind in ("holiday", "date"):
            out.append(_Tok(kind))
        elif kind == "sep":
            out.append(_Tok("sep", m.group(0).strip()))
        elif kind == "label":
            out.append(_Tok("sep", "label"))  # a meal label separates rules: "... Sa-Su 10-16, dinner 6-11PM"
        pos = m.end()
    return out


# --- times -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    meridiem: str | None      # "a" | "p" | None
    word: str | None          # "noon" | "midnight" | None
    evident_24h: bool         # "09:00", "19:00", "0:30": cannot be a 12-hour time


def _clock(token: str) -> _Clock | None:
    t = token.strip().lower()
    if t in ("noon", "midnight"):
        return _Clock(12 if t == "noon" else 0, 0, None, t, False)
    m = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?\s*(a\.m\.?|p\.m\.?|am|pm|a|p)?", t)
    if not m:
        return None
    hour, minute, mer = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "")[:1] or None
    if minute > 59 or hour > 24 or (mer and not 1 <= hour <= 12) or (hour == 24 and minute):
        return None
    evident = mer is None and (hour > 12 or hour == 0 or m.group(1).startswith("0"))
    return _Clock(hour, minute, mer, None, evident)


def _minutes(c: _Clock, mer: str | None, is_end: bool) -> int:
    """Minutes after midnight; midnight / 12AM / 24:00 as an end is 1440, noon / 12PM is 720."""
    if c.word == "noon":
        return 720
    if c.word == "midnight":
        return 1440 if is_end else 0
    h = c.hour
    if mer == "p":
        h = h % 12 + 12
    elif mer == "a":
        h = h % 12
    value = h * 60 + c.minute
    return 1440 if is_end and value == 0 else value


def _time_range(a: str, b: str) -> tuple[int, int] | None:
    """(start, end) minutes of "a-b"; end > 1440 past midnight. None when am/pm cannot be told for sure."""
    ca, cb = _clock(a), _clock(b)
    if ca is None or cb is None:
        return None
    bare_a = not (ca.meridiem or ca.word or ca.evident_24h)
    bare_b = not (cb.meridiem or cb.word or cb.evident_24h)
    mer_a, mer_b = ca.meridiem, cb.meridiem
    if bare_a and cb.meridiem:
        # "11-2pm", "5-10pm": the end's am/pm applies to the start unless that puts the start after the end
        if cb.hour == 12 and cb.meridiem == "a":
            return None  # "6-12am": evening or morning? do not guess
        mer_a = cb.meridiem
        if _minutes(ca, mer_a, False) >= _minutes(cb, mer_b, True):
            mer_a = "a" if mer_a == "p" else "p"
    elif ca.meridiem or cb.meridiem:
        if bare_a or bare_b:
            return None  # "11AM-10": no reliable clock for the end
    elif not (ca.evident_24h or cb.evident_24h):
        words = ca.word and cb.word  # "noon-midnight"
        morning = ":" in a + b and not (ca.word or cb.word) and 7 <= ca.hour < cb.hour <= 12
        if not (words or morning):
            return None  # "11-10", "11:30-2:30", "noon-6": am or pm? do not guess; "8:00-12:00" is a morning
    start, end = _minutes(ca, mer_a, False), _minutes(cb, mer_b, True)
    if start == 1440:
        start = 0
    if end <= start:
        end += 1440
    span = end - start
    if span != 1440 and not MIN_SPAN_MIN <= span <= MAX_SPAN_MIN:
        return None
    if span != 1440 and (end - 1440 > LATEST_CLOSE_MIN or start < EARLIEST_OPEN_MIN):
        return None
    return start, end


# --- rules -------------------------------------------------------------------------------------------------------
@dataclass
class _Rule:
    months: frozenset[int] | None   # None = every month
    days: frozenset[int]
    times: tuple[tuple[int, int], ...]
    segment: int = 0                # meal-labelled part the rule came from ("Lunch: ...", "Dinner: ...")


_LIST_SEPS = {",", "&", "and", "/", "+"}


def _closed_list(toks: list[_Tok], j: int) -> tuple[list[_Tok], int]:
    """The days, months, holidays and dates listed after "closed"/"except" at toks[j:], and where they end.

    The list stops before a day or month followed by a time: that one starts an opening rule.
    """
    taken: list[_Tok] = []
    while j < len(toks):
        k = toks[j]
        if k.kind == "sep" and k.value in _LIST_SEPS:
            j += 1
            continue
        if k.kind in ("days", "months"):
            nxt = next((t for t in toks[j + 1:] if t.kind != "sep"), None)
            if nxt is not None and nxt.kind == "times":
                break
        elif k.kind not in ("holiday", "date"):
            break
        taken.append(k)
        j += 1
    return taken, j


def _closures(toks: list[_Tok]) -> tuple[list[_Tok], set[int], set[int]] | None:
    """Take out "closed ..."/"except ..." phrases; return the remaining tokens and the closed days and months.

    In order: "daily except Mondays 10-17" subtracts the excepted days in place; "Mo, Tu closed" / "Tu: closed"
    closes the days just before it; "closed Mondays and 25 Dec" / "except during August" closes what follows
    (holidays and single dates are dropped: they do not change the weekly schedule); "Tu-Su 10-17, M, closed"
    closes the days before it. Anything else is a "closed" we cannot place, and the text is rejected.
    """
    rest: list[_Tok] = []
    off_days: set[int] = set()
    off_months: set[int] = set()
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "holiday" and len(rest) > 1 and rest[-1].kind == "sep" and rest[-1].value in _LIST_SEPS \
                and rest[-2].kind == "days":
            i += 1  # "Sa-Su and holidays 10AM-5PM": the holidays follow a weekly rule we keep
            continue
        if tok.kind in ("holiday", "date"):
            return None  # "open holidays", "June 5": only closures on such dates are understood
        if tok.kind != "closed":
            rest.append(tok)
            i += 1
            continue
        between = []
        for t in reversed(rest):
            if t.kind != "sep":
                break
            between.append(t.value)
        prev_idx = len(rest) - 1 - len(between)
        prev = rest[prev_idx] if prev_idx >= 0 and rest[prev_idx].kind == "days" else None
        nxt_idx = next((p for p in range(i + 1, len(toks)) if toks[p].kind != "sep"), None)
        nxt = toks[nxt_idx] if nxt_idx is not None else None
        if (tok.value != "closed" and prev is not None and not between and nxt is not None
                and nxt_idx == i + 1 and nxt.kind == "days"):
            rest[prev_idx] = _Tok("days", prev.value - nxt.value)
            i = nxt_idx + 1
            continue
        if tok.value == "closed" and prev is not None and set(between) <= {":"}:
            off_days.update(prev.value)
            del rest[prev_idx:]
            i += 1
            continue
        taken, j = _closed_list(toks, i + 1)
        if taken:
            off_days.update(*[t.value for t in taken if t.kind == "days"])
            off_months.update(*[t.value for t in taken if t.kind == "months"])
            i = j
            continue
        if tok.value == "closed" and prev is not None and (nxt is None or nxt.kind not in ("days", "months", "times")):
            off_days.update(prev.value)
            del rest[prev_idx:]
            i += 1
            continue
        return None
    return rest, off_days, off_months


def _merge(toks: list[_Tok], kind: str, seps: set[str] | None) -> list[_Tok]:
    """Join neighbouring tokens of one kind: "W-Th,Sa-Su" -> one day set, "Noon-15:00, 19:00-01:30" -> one list.

    Only the given separators may stand between them (None: any but a meal label), so "Lunch: ... daily,
    Dinner: Su-W" stays two day sets and the text is rejected as ambiguous.
    """
    out: list[_Tok] = []
    pending: list[_Tok] = []
    for tok in toks:
        if tok.kind == "sep":
            pending.append(tok)
            continue
        if (out and out[-1].kind == kind == tok.kind
                and all(p.value != "label" and (seps is None or p.value in seps) for p in pending)):
            prev = out.pop()
            value = prev.value | tok.value if kind == "days" else tuple(prev.value) + tuple(tok.value)
            out.append(_Tok(kind, value))
        else:
            out.extend(pending)
            out.append(tok)
        pending = []
    out.extend(pending)
    return out


def _rules(toks: list[_Tok]) -> list[_Rule] | None:
    """Pair day sets with time lists, days first ("M-F 9AM-5PM, Sa ...") or times first ("4PM-2AM daily").

    A month range before a rule applies to the rules that follow it up to the next month range ("Apr-Oct
    Tu-Su 10AM-6PM, Nov-Mar ..."); one after a times-first rule applies to that rule only, and then every rule
    must carry one ("8AM-6PM daily Apr-Oct, 8AM-4:30PM daily Nov-Mar"). Mixing rules with and without months
    ("Daily 9-5, Jun-Aug 9-8": override or addition?) is ambiguous and rejected.
    """
    segment_of: dict[int, int] = {}
    segment = 0
    for t in toks:
        if t.kind == "sep" and t.value == "label":
            segment += 1
        elif t.kind == "times":
            segment_of[id(t)] = segment
    items = [t for t in toks if t.kind != "sep"]
    kinds = "".join({"days": "D", "times": "T", "months": "M"}[t.kind] for t in items)
    if re.fullmatch(r"(?:TDM)+|(?:TM)+", kinds):
        size = 3 if "D" in kinds else 2
        groups = [items[i:i + size] for i in range(0, len(items), size)]
        pairs = [(g[-1].value, g[1].value if size == 3 else ALL_DAYS, g[0]) for g in groups]
    else:
        months: frozenset[int] | None = None
        seq: list[tuple[frozenset[int] | None, _Tok]] = []
        for k, tok in enumerate(items):
            if tok.kind == "months":
                if k + 1 >= len(items) or items[k + 1].kind == "months":
                    return None  # "10AM-5PM daily March-September; 9AM-4PM daily": which rules?
                months = tok.value
            else:
                seq.append((months, tok))
        shape = "".join("D" if t.kind == "days" else "T" for _m, t in seq)
        if re.fullmatch(r"T+", shape):
            pairs = [(m, ALL_DAYS, t) for m, t in seq]
        elif re.fullmatch(r"(?:DT)+", shape):
            pairs = [(seq[i][0], seq[i][1].value, seq[i + 1][1]) for i in range(0, len(seq), 2)]
        elif re.fullmatch(r"(?:TD)+", shape):
            if any(seq[i][0] != seq[i + 1][0] for i in range(0, len(seq), 2)):
                return None
            pairs = [(seq[i + 1][0], seq[i + 1][1].value, seq[i][1]) for i in range(0, len(seq), 2)]
        else:
            return None
    if len({m is None for m, _d, _t in pairs}) > 1:
        return None
    return [_Rule(m, frozenset(d), tuple(t.value), segment_of[id(t)]) for m, d, t in pairs]


def _overlap(a: _Rule, b: _Rule) -> bool:
    months = (a.months or ALL_MONTHS) & (b.months or ALL_MONTHS)
    return bool(months and a.days & b.days
                and any(s1 < e2 and s2 < e1 for s1, e1 in a.times for s2, e2 in b.times))


def _overrides(rules: list[_Rule]) -> list[_Rule] | None:
    """Let a later rule for some of an earlier rule's days replace it on those days.

    "Daily 10AM-8PM (Sundays 11AM-7PM)", "Tu-Sa 10-17, Th 10-20" mean the exception wins; rules whose times do
    not overlap ("Lunch: daily 11:30-16. Dinner: Su-Th 17-23") add up instead. Overlaps that are not a clear
    exception, or that come from different meal-labelled parts ("Lunch: M-F 11:30AM-2:30PM; dinner: M-Th
    6AM-10PM"), are contradictions or typos: rejected.
    """
    out = [_Rule(r.months, r.days, r.times, r.segment) for r in rules]
    for j, later in enumerate(out):
        for earlier in out[:j]:
            if not _overlap(earlier, later):
                continue
            if earlier.segment != later.segment or earlier.months != later.months or not later.days < earlier.days:
                return None
            earlier.days = earlier.days - later.days
    return out


# --- OSM text ----------------------------------------------------------------------------------------------------
def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in sorted(values):
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _osm_days(days: frozenset[int]) -> str:
    if days == ALL_DAYS:
        return "Mo-Su"
    return ",".join(OSM_DAYS[a] if a == b else f"{OSM_DAYS[a]}-{OSM_DAYS[b]}" for a, b in _runs(list(days)))


def _osm_months(months: frozenset[int]) -> str:
    return ",".join(OSM_MONTHS[a - 1] if a == b else f"{OSM_MONTHS[a - 1]}-{OSM_MONTHS[b - 1]}"
                    for a, b in _runs(list(months)))


def _hhmm(minutes: int, is_end: bool) -> str:
    if is_end and minutes == 1440:
        return "24:00"
    minutes %= 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _osm_rule(rule: _Rule) -> str:
    times = ",".join(f"{_hhmm(a, False)}-{_hhmm(b, True)}" for a, b in sorted(set(rule.times)))
    parts = [_osm_months(rule.months) if rule.months and rule.months != ALL_MONTHS else "",
             _osm_days(rule.days), times]
    return " ".join(p for p in parts if p)


def normalise(text: str | None) -> str | None:
    """Free text -> OSM opening_hours expression, or None when the text is not fully understood.

    Rules are joined with "," (OSM additional rules) so they add up: meal-labelled parts ("Lunch: daily
    11:30AM-4PM. Dinner: Su-Th 5PM-11PM") become the union of their openings. Closed days and months are
    subtracted here rather than written as "Tu off": the library lets "Tu off" cut Monday's past-midnight
    opening at midnight, which would shorten the night before a closed day.
    """
    if not text or not text.strip():
        return None
    toks = _tokens(_clean(text))
    if not toks:
        return None
    closed = _closures(_merge(toks, "days", _LIST_SEPS))
    if closed is None:
        return None
    toks, off_days, off_months = closed
    rules = _rules(_merge(toks, "times", None))
    rules = _overrides(rules) if rules is not None else None
    if rules is None:
        return None
    out = []
    for rule in rules:
        days = rule.days - off_days
        months = (rule.months or ALL_MONTHS) - off_months
        if days and months:
            out.append(_osm_rule(_Rule(months if months != ALL_MONTHS else None, days, rule.times)))
    if not out:
        return None
    osm = ", ".join(out)
    return "24/7" if osm == "Mo-Su 00:00-24:00" else osm


# --- evaluation --------------------------------------------------------------------------------------------------
def _reference_monday(month: int) -> dt.date:
    """The second Monday of the month: its week, the Sunday before and the Monday after stay in the month."""
    eighth = dt.date(REFERENCE_YEAR, month, 8)
    return eighth + dt.timedelta(days=(7 - eighth.weekday()) % 7)


def _split(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.date, int, int]]:
    """One open interval -> (day it starts, start_min, end_min) pieces.

    The library merges touching intervals (24/7 is one interval), so an interval that runs past noon of the
    next day is cut at each midnight; a shorter spill-over stays with the day it started (16:00-02:00).
    """
    pieces = []
    while start < end:
        midnight = dt.datetime.combine(start.date(), dt.time())
        next_midnight = midnight + dt.timedelta(days=1)
        cut = end if end <= next_midnight + dt.timedelta(minutes=MAX_PAST_MIDNIGHT_MIN) else next_midnight
        s = int((start - midnight).total_seconds() // 60)
        e = int((cut - midnight).total_seconds() // 60)
        pieces.append((start.date(), s, e))
        start = cut
    return pieces


@lru_cache(maxsize=4096)
def from_osm(osm: str, source: str = "listed") -> Schedule | None:
    """Evaluate an OSM expression over one reference week per month; None when the library rejects it."""
    import opening_hours

    try:
        oh = opening_hours.OpeningHours(osm, auto_country=False, auto_timezone=False)
    except (SyntaxError, ValueError):
        return None
    months = []
    for month in range(1, 13):
        monday = _reference_monday(month)
        # from the Sunday before, so Sunday-night spill-over into Monday is seen as Sunday's and dropped
        begin = dt.datetime.combine(monday - dt.timedelta(days=1), dt.time())
        week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for a, b, state, _comment in oh.intervals(begin, begin + dt.timedelta(days=9)):
            if state != opening_hours.State.OPEN:
                continue
            for day, s, e in _split(a, b):
                offset = (day - monday).days
                if 0 <= offset < 7:
                    week[offset].append((s, e))
        months.append(tuple(tuple(sorted(d)) for d in week))
    return Schedule(osm, tuple(months), source)


def parse(text: str | None) -> Schedule | None:
    """Free text -> Schedule, or None when it is not parseable or the result is not trustworthy."""
    osm = normalise(text)
    if osm is None:
        return None
    schedule = from_osm(osm)
    if schedule is None or not schedule.open_days():
        return None
    if any(not (MIN_SPAN_MIN <= e - s <= 1440) for month in schedule.months for day in month for s, e in day):
        return None
    return schedule


# --- typical hours -----------------------------------------------------------------------------------------------
# Conservative: hours when most venues of the type are open, so a plan built on them rarely hits a closed door.
# Museums, galleries and palaces are assumed closed on Monday (the common European rest day; a venue open on
# Monday loses a slot, which is cheaper than sending someone to a locked museum). Clubs and bars use the
# listed times every day; their evenings are what the planner needs.
TYPICAL_OSM = {
    "museum": "Tu-Su 10:00-17:00",
    "gallery": "Tu-Su 10:00-17:00",
    "palace": "Tu-Su 09:30-17:00",
    "landmark": "Mo-Su 07:00-21:00",
    "religious": "Mo-Su 08:00-18:00",
    "park": "Mo-Su 07:00-21:00",
    "garden": "Mo-Su 09:00-18:00",
    "beach": "Mo-Su 07:00-20:00",
    "viewpoint": "Mo-Su 07:00-21:00",
    "nature": "Mo-Su 07:00-20:00",
    "zoo_aquarium": "Mo-Su 09:30-17:00",
    "market": "Mo-Sa 08:00-17:00",
    "neighbourhood": "Mo-Su 07:00-21:00",
    "tour": "Mo-Su 09:00-18:00",
    "theatre": "Mo-Su 18:00-23:30",
    "live_music": "Mo-Su 18:00-23:30",
    "cinema": "Mo-Su 12:00-23:30",
    "sports": "Mo-Su 10:00-22:00",
    "activity": "Mo-Su 09:00-18:00",
    "spa": "Mo-Su 10:00-20:00",
    "shop": "Mo-Sa 10:00-19:00, Su 11:00-18:00",
    "bookshop": "Mo-Sa 10:00-19:00, Su 11:00-18:00",
    "restaurant": "Mo-Su 11:30-14:30,18:00-22:30",
    "cafe": "Mo-Su 07:30-17:00",
    "bakery": "Mo-Su 07:00-18:00",
    "dessert": "Mo-Su 11:00-22:00",
    "bar": "Mo-Su 16:00-01:00",
    "pub": "Mo-Su 16:00-01:00",
    "wine_bar": "Mo-Su 17:00-24:00",
    "club": "Mo-Su 22:00-04:00",
    "brewery": "Mo-Su 15:00-23:00",
    "event": "Mo-Su 10:00-22:00",
    "service": "Mo-Fr 09:00-17:00",
    "lodging": "24/7",
}
TYPICAL_BY_CATEGORY = {"sight": "landmark", "activity": "activity", "food": "restaurant", "drink": "bar",
                       "shopping": "shop", "lodging": "lodging"}
GENERIC_OSM = "Mo-Su 09:00-18:00"


@lru_cache(maxsize=128)
def typical(venue_type: str | None, category: str | None = None) -> Schedule:
    """Assumed hours when none are listed or parsed: by venue type, else by category, else generic daytime.

    source="typical" so the planner and the UI can say the hours are assumed. osm is "" (contract: a typical
    schedule is not a venue's expression); the expression used is TYPICAL_OSM[...].
    """
    key = venue_type if venue_type in TYPICAL_OSM else TYPICAL_BY_CATEGORY.get(category or "")
    schedule = from_osm(TYPICAL_OSM.get(key or "", GENERIC_OSM), "typical")
    if schedule is None:  # pragma: no cover - the table is tested
        raise ValueError(f"bad typical hours for {venue_type!r}")
    return Schedule("", schedule.months, "typical")
