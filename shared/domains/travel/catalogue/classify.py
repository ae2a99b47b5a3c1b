"""What each merged record is, for planning: a venue of some type, an event with a season, or a service that no
traveller visits; whether it may be planned at all; how prominent it is; where it is.

Rules are keyword data over the sources' own fields (category, name, description, Wikivoyage section), with
no city-specific code:
- services (gyms, repair shops, consulates, transport, banks, clinics, visitor centres, ...) are never planned;
- events (festivals, parades, fairs, "annual" ...) are planned only within their season, and not at all when
  the season cannot be read;
- a TravelPlanner restaurant that no other source places in the city is uncorroborated (that file assigns chain
  restaurants to cities they are not in) and a name that cannot be repaired (mojibake) is not planned;
- prominence comes from the sources (a "see" listing on the city's main page and a district page, a
  TravelPlanner must-see, several sources agreeing, landmark words in the guide's text); the most prominent
  sights of a city are its landmarks;
- a record without coordinates takes its Wikivoyage district's centroid (precision "district") when that
  district has enough located venues close together, else the city's (precision "city").
"""
from __future__ import annotations

import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

import ftfy

VENUE_TYPES = ("museum", "gallery", "landmark", "religious", "palace", "park", "garden", "beach", "viewpoint",
               "nature", "zoo_aquarium", "market", "neighbourhood", "tour", "theatre", "live_music", "cinema",
               "sports", "activity", "spa", "shop", "bookshop", "restaurant", "cafe", "bakery", "dessert", "bar",
               "pub", "wine_bar", "club", "brewery", "event", "service", "lodging")


def _words(*words: str) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)


SERVICE = _words(r"gym", r"fitness", r"health club", r"repairs?", r"consulate", r"embassy", r"consulate general",
                 r"(?:bus|train|railway|subway|metro|ferry) (?:station|terminal)", r"airport", r"car rental",
                 r"rent-a-car", r"taxi", r"cab co\.?", r"parking", r"laundr(?:y|omat)", r"bank", r"atm",
                 r"post office", r"hospital", r"clinic", r"pharmacy", r"dentist", r"visitor'?s?'? (?:center|centre)",
                 r"tourist (?:information|office|info)", r"information (?:center|centre)", r"supermarket",
                 r"grocery", r"co-?working", r"internet caf[eé]", r"hostel", r"hotel", r"car wash", r"gas station",
                 r"real estate", r"insurance", r"pawn", r"storage", r"self-storage", r"bike shop", r"hair salon",
                 r"barber", r"nail salon", r"dry clean\w*")
# Adults-only venues are not suggested to every traveller (a trip has no "adults only" preference yet).
ADULT = _words(r"bathhouse", r"glory holes?", r"strip club", r"gentlemen'?s club", r"sex shop", r"erotic",
               r"adult entertainment", r"swingers?")
SERVICE_SECTIONS = _words(r"get in", r"get around", r"connect", r"cope", r"stay safe", r"stay healthy", r"contact")
EVENT = _words(r"festivals?", r"fest", r"parade", r"carnival", r"fair", r"annual(?:ly)?", r"every year",
               r"marathon", r"oktoberfest", r"mardi gras", r"bumbershoot", r"jazz fest", r"pride", r"regatta",
               r"celebration", r"fireworks")
PERMANENT = _words(r"theat(?:er|re)", r"hall", r"museum", r"market", r"park", r"gallery", r"club", r"bar",
                   r"restaurant", r"grounds", r"center", r"centre", r"arena", r"stadium")
MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december"]
HOLIDAY_MONTHS = {"mardi gras": (2, 3), "memorial day": (5,), "labor day": (9,), "christmas": (12,),
                  "halloween": (10,), "thanksgiving": (11,), "new year": (12, 1), "oktoberfest": (9, 10),
                  "independence day": (7,), "fourth of july": (7,), "bastille day": (7,)}
TYPE_RULES: list[tuple[str, re.Pattern]] = [
    ("zoo_aquarium", _words(r"zoo", r"aquarium")),
    ("museum", _words(r"museum", r"mus[ée]e", r"museo", r"science cent(?:er|re)", r"planetarium")),
    ("gallery", _words(r"gallery", r"galerie", r"art cent(?:er|re)")),
    ("palace", _words(r"palace", r"\w*gung", r"castle", r"ch[aâ]teau", r"fortress")),
    ("religious", _words(r"cathedral", r"church", r"basilica", r"temple", r"shrine", r"mosque", r"synagogue",
                         r"chapel", r"abbey", r"\w*sa temple", r"notre[- ]dame", r"sacr[ée]-c(?:œ|oe)ur")),
    ("viewpoint", _words(r"viewpoint", r"lookout", r"observation deck", r"observatory", r"overlook",
                         r"vista point", r"summit")),
    ("garden", _words(r"garden", r"gardens", r"jardin", r"arboretum", r"conservatory")),
    ("beach", _words(r"beach", r"plage")),
    ("nature", _words(r"trail", r"hike", r"hiking", r"forest", r"mountain", r"nature reserve", r"waterfall",
                      r"canyon", r"island")),
    ("park", _words(r"park", r"parc", r"square park", r"commons", r"bois")),
    ("market", _words(r"market", r"march[ée]", r"sijang", r"bazaar")),
    ("tour", _words(r"tours?", r"cruises?", r"walking tour", r"boat ride")),
    ("theatre", _words(r"theat(?:er|re)", r"th[ée][aâ]tre", r"opera", r"ballet", r"playhouse", r"symphony",
                       r"cabaret", r"revues?")),
    ("live_music", _words(r"jazz club", r"live music", r"concert hall", r"music venue", r"blues club")),
    ("cinema", _words(r"cinema", r"movie theat(?:er|re)", r"cin[ée]ma")),
    ("sports", _words(r"stadium", r"arena", r"ballpark", r"field", r"golf")),
    ("spa", _words(r"spa", r"sauna", r"jjimjilbang", r"hammam", r"bathhouse", r"hot springs?")),
    ("landmark", _words(r"tower", r"bridge", r"monument", r"memorial", r"statue", r"square", r"plaza", r"place",
                        r"arc", r"gate", r"needle", r"building", r"historic", r"cemetery", r"lighthouse", r"pier",
                        r"wharf")),
    ("neighbourhood", _words(r"district", r"quarter", r"neighbou?rhood", r"street", r"village", r"chinatown",
                             r"alley", r"avenue")),
]
FOOD_TYPES: list[tuple[str, re.Pattern]] = [
    ("bakery", _words(r"bakery", r"boulangerie", r"p[aâ]tisserie", r"patisserie", r"bagels?", r"donuts?", r"doughnuts?")),
    ("dessert", _words(r"ice cream", r"gelato", r"gelateria", r"dessert", r"chocolat\w*", r"creamery", r"crêpes?")),
    ("cafe", _words(r"caf[eé]", r"coffee", r"espresso", r"tea ?house", r"tea room", r"salon de th[ée]",
                    r"roast(?:er|ery|ers)")),
]
DRINK_TYPES: list[tuple[str, re.Pattern]] = [
    ("cafe", _words(r"caf[eé]", r"coffee", r"espresso", r"tea ?house", r"tea room", r"roast(?:er|ery|ers)",
                    r"juice")),
    ("club", _words(r"night ?club", r"club", r"disco(?:theque)?", r"dance")),
    ("wine_bar", _words(r"wine bar", r"wine", r"bar [àa] vins?", r"cave")),
    ("brewery", _words(r"brewery", r"brewing", r"brewpub", r"taproom", r"tap room", r"brasserie artisanale")),
    ("live_music", _words(r"jazz", r"live music", r"blues", r"music venue")),
    ("pub", _words(r"pub", r"tavern", r"taverne", r"alehouse", r"saloon")),
]
LANDMARK_WORDS = _words(r"famous", r"iconic", r"landmark", r"most visited", r"symbol of", r"world[- ]renowned",
                        r"world[- ]famous", r"unesco", r"must[- ]see", r"best[- ]known", r"emblematic", r"icon")
LANDMARK_TYPES = {"museum", "gallery", "landmark", "religious", "palace", "park", "garden", "viewpoint", "market",
                  "neighbourhood", "zoo_aquarium", "beach"}
DISTRICT_MIN_LOCATED = 3
DISTRICT_MAX_SPREAD_KM = 6.0


@dataclass(frozen=True)
class Visitability:
    kind: str
    venue_type: str
    season_months: tuple[int, ...] | None
    plannable: bool
    reason: str | None


def repair_text(value: str | None) -> str:
    return " ".join(ftfy.fix_text(value or "").split())


def usable_name(name: str) -> str | None:
    """The repaired name, or None when it cannot be trusted: replacement or control characters, or a mostly
    Latin name with other-script characters mixed into its words ("Caf愆 Burger BC")."""
    fixed = repair_text(name)
    if not fixed or "\ufffd" in fixed or any(unicodedata.category(ch) == "Cc" for ch in fixed):
        return None
    letters = [ch for ch in fixed if ch.isalpha()]
    latin = sum("LATIN" in unicodedata.name(ch, "") for ch in letters)
    if letters and latin / len(letters) >= 0.5:
        for word in fixed.split():
            kinds = {("LATIN" in unicodedata.name(ch, "")) for ch in word if ch.isalpha()}
            if len(kinds) > 1:
                return None
    return fixed


def event_season(name: str, description: str, hours: str) -> tuple[int, ...] | None:
    text = f"{name} {description} {hours}".lower()
    months = {i + 1 for i, m in enumerate(MONTH_NAMES) if re.search(rf"\b{m}\b", text)}
    for words, ms in HOLIDAY_MONTHS.items():
        if words in text:
            months.update(ms)
    return tuple(sorted(months)) or None


def venue_type(category: str | None, name: str, description: str, cuisines=(), raw_category: str = "") -> str:
    cat = (category or "").lower()
    if cat == "lodging":
        return "lodging"
    name_l = name.lower()
    if cat == "food":
        for vt, pat in FOOD_TYPES:
            if pat.search(name_l) or (vt != "cafe" and any(pat.search(c.lower()) for c in cuisines)):
                return vt
        return "restaurant"
    if cat == "drink":
        for vt, pat in DRINK_TYPES:
            if pat.search(name_l):
                return vt
        text = f"{name_l} {description.lower()[:200]}"
        return "cafe" if DRINK_TYPES[0][1].search(text) and not re.search(r"\b(?:bar|beer|cocktail)", text) else "bar"
    if cat == "shopping":
        if re.search(r"\bbooks?(?:tore|shop| store)?\b|librair", name_l):
            return "bookshop"
        return "market" if dict(TYPE_RULES)["market"].search(name_l) else "shop"
    for vt, pat in TYPE_RULES:  # the name decides first, the description second
        if pat.search(name_l):
            return vt
    for vt, pat in TYPE_RULES:
        if pat.search(description.lower()[:160]):
            return vt if vt not in ("tour", "sports") else "activity"
    return "landmark" if cat == "sight" else "activity"


def classify(v) -> Visitability:
    name, desc = v.name or "", v.description or ""
    vt = venue_type(v.category, name, desc, getattr(v, "cuisines", ()) or ())
    sections = " ".join(str(r.evidence.get("section", "")) for r in v.records)
    if vt == "lodging":
        return Visitability("venue", "lodging", None, False, "lodging is not an itinerary stop")
    if usable_name(name) is None:
        return Visitability("venue", vt, None, False, "name could not be repaired")
    if v.sources == ["travelplanner"] and v.category == "food":
        return Visitability("venue", vt, None, False,
                            "uncorroborated: only the TravelPlanner restaurant file places it in this city")
    if ADULT.search(name) or ADULT.search(desc):
        return Visitability("venue", vt, None, False, "adults-only venue: not suggested unasked")
    if v.category not in ("food", "drink") and vt not in ("museum", "gallery") and (
            SERVICE.search(name) or SERVICE_SECTIONS.search(sections)):
        return Visitability("service", "service", None, False, "a service, not a place to visit")
    if v.category in ("sight", "activity") and EVENT.search(name) and not PERMANENT.search(name.replace("Fest", "")):
        season = event_season(name, desc, v.hours or "")
        if season is None:
            return Visitability("event", "event", None, False, "event season unknown")
        return Visitability("event", "event", season, True, None)
    return Visitability("venue", vt, None, True, None)


def prominence(v) -> float:
    score = 0.0
    records = v.records
    if any(r.source == "wikivoyage" and r.evidence.get("main_page") for r in records):
        score += 0.35
    if any(r.source == "wikivoyage" and not r.evidence.get("main_page") for r in records):
        score += 0.1
    if any(r.source == "travelplanner" and r.evidence.get("kind") == "attraction" for r in records):
        score += 0.25
    if any(r.source == "michelin" for r in records):
        score += 0.1
    score += 0.1 * min(2, len(set(v.sources)) - 1) + 0.05 * min(3, len(records) - 1)
    if LANDMARK_WORDS.search(v.description or ""):
        score += 0.2
    return round(min(1.0, score), 3)


STRONG_TYPES = {"palace", "landmark", "religious", "museum", "viewpoint"}


def mark_landmarks(venues, visitability: dict, max_per_city: int = 12, min_prominence: float = 0.3) -> dict:
    """venue id -> (prominence, landmark): the city's most prominent plannable sights (city-relative: the top
    `max_per_city` above a floor; palaces, monuments, cathedrals and museums lead ties)."""
    scores = {v.id: min(1.0, prominence(v) + (0.1 if visitability[v.id].venue_type in STRONG_TYPES else 0.0))
              for v in venues}
    eligible = [v for v in venues if visitability[v.id].plannable and visitability[v.id].kind == "venue"
                and visitability[v.id].venue_type in LANDMARK_TYPES
                and v.category in ("sight", "activity", "shopping") and scores[v.id] >= min_prominence]
    eligible.sort(key=lambda v: (-scores[v.id], v.name))
    marks = {v.id for v in eligible[:max_per_city]}
    return {v.id: (scores[v.id], v.id in marks) for v in venues}


def _km(a, b) -> float:
    from shared.domains.travel.catalogue.normalise import haversine_m

    return haversine_m(a[0], a[1], b[0], b[1]) / 1000


def fill_coordinates(venues) -> Counter:
    """Give every unlocated venue its district's (or city's) centroid; record the precision on the venue
    (`coord_precision`, `coord_source`). Returns counts by precision."""
    def district(v):
        for r in v.records:
            page = r.evidence.get("page") if r.source == "wikivoyage" else None
            if page and r.evidence.get("district"):
                return page
        return None

    located = [v for v in venues if v.lat is not None and v.lon is not None]
    by_district: dict[str, list] = defaultdict(list)
    for v in located:
        if district(v):
            by_district[district(v)].append((v.lat, v.lon))
    centroids = {}
    for d, pts in by_district.items():
        if len(pts) >= DISTRICT_MIN_LOCATED:
            c = (statistics.median(p[0] for p in pts), statistics.median(p[1] for p in pts))
            if statistics.median(_km(c, p) for p in pts) <= DISTRICT_MAX_SPREAD_KM / 2:
                centroids[d] = (c, len(pts))
    city = ((statistics.median(v.lat for v in located), statistics.median(v.lon for v in located))
            if len(located) >= DISTRICT_MIN_LOCATED else None)
    counts: Counter = Counter()
    for v in venues:
        if v.lat is not None and v.lon is not None:
            v.coord_precision, v.coord_source = "exact", None
        elif district(v) in centroids:
            (v.lat, v.lon), n = centroids[district(v)]
            v.coord_precision, v.coord_source = "district", {"from": district(v), "n": n}
        elif city is not None:
            v.lat, v.lon = city
            v.coord_precision, v.coord_source = "city", {"from": "city centroid", "n": len(located)}
        else:
            v.coord_precision, v.coord_source = None, None
        counts[v.coord_precision or "none"] += 1
    return counts
