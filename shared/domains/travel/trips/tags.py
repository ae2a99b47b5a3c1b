"""The onboarding tag vocabulary a trip request accepts, and how each tag maps onto the catalogue's vibe
terms (what venues are tagged with) and categories.

Accepted shapes (both validated against the same vocabulary; an unknown tag is a 400 naming its field):
    {"food": ["ramen", "coffee"], "pace": "slow", "interests": ["parks"], "vibe": ["local"]}
    ["ramen", "coffee", "pace:slow", "parks"]

Groups (the keys of the object form):
- food:      what to eat and drink (ramen, coffee, seafood, beer, cocktails, ...)
- interests: what to do (museums, art, parks, hiking, outdoors, markets, live_music, nightlife, ...)
- vibe:      the feel (local, hidden_gems, cozy, lively, romantic, quirky, upscale, budget, ...)
- pace:      slow | moderate | fast  (one value; slots per day: 3 / 4 / 5)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.domains.travel.trips.dayparts import DAY_PARTS

# tag -> (catalogue vibe-taxonomy ids it matches, keywords matched in a venue's name/description).
# The taxonomy (shared/domains/travel/catalogue/vibe_taxonomy.yaml) is closed and has no dish-level tags,
# so cuisines map to their nearest taxonomy ids plus text evidence ("ramen" in the name or description).
V = tuple
FOOD: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ramen": (V(["global-cuisine", "hole-in-the-wall", "casual"]), V(["ramen", "noodle", "izakaya"])),
    "sushi": (V(["global-cuisine", "seafood"]), V(["sushi", "sashimi", "omakase"])),
    "coffee": (V(["coffee", "cozy"]), V(["coffee", "espresso", "roaster", "roastery"])),
    "tea": (V(["coffee", "quiet"]), V(["tea", "teahouse"])),
    "bakery": (V(["sweets", "breakfast-brunch"]), V(["bakery", "pastry", "pastries", "bread", "croissant"])),
    "brunch": (V(["breakfast-brunch"]), V(["brunch", "breakfast"])),
    "seafood": (V(["seafood", "waterfront"]), V(["seafood", "oyster", "fish", "crab", "clam", "salmon"])),
    "pizza": (V(["casual"]), V(["pizza", "pizzeria"])),
    "italian": (V(["global-cuisine"]), V(["italian", "pasta", "trattoria"])),
    "mexican": (V(["global-cuisine", "street-food"]), V(["mexican", "taco", "taqueria", "burrito"])),
    "tacos": (V(["street-food", "hole-in-the-wall"]), V(["taco", "taqueria"])),
    "thai": (V(["global-cuisine"]), V(["thai"])),
    "vietnamese": (V(["global-cuisine"]), V(["vietnamese", "pho", "banh mi"])),
    "chinese": (V(["global-cuisine"]), V(["chinese", "dim sum", "dumpling", "szechuan", "sichuan"])),
    "dim_sum": (V(["global-cuisine", "groups"]), V(["dim sum", "dumpling"])),
    "korean": (V(["global-cuisine"]), V(["korean", "bibimbap"])),
    "japanese": (V(["global-cuisine"]), V(["japanese", "sushi", "ramen", "izakaya"])),
    "indian": (V(["global-cuisine"]), V(["indian", "curry", "tandoori"])),
    "bbq": (V(["casual", "groups"]), V(["bbq", "barbecue", "smokehouse"])),
    "burgers": (V(["casual", "good-value"]), V(["burger"])),
    "vegetarian": (V(["vegetarian-friendly"]), V(["vegetarian", "vegan"])),
    "vegan": (V(["vegetarian-friendly"]), V(["vegan"])),
    "street_food": (V(["street-food", "budget"]), V(["food truck", "street food", "cart"])),
    "fine_dining": (V(["fine-dining", "splurge", "upscale"]), V(["tasting menu", "chef"])),
    "dessert": (V(["sweets"]), V(["dessert", "ice cream", "chocolate", "gelato"])),
    "beer": (V(["craft-beer"]), V(["beer", "brewery", "brewpub", "taproom", "ale"])),
    "wine": (V(["wine"]), V(["wine", "winery"])),
    "cocktails": (V(["cocktails", "nightlife"]), V(["cocktail", "speakeasy", "mixolog"])),
}
INTERESTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "museums": (V(["museum", "learning", "rainy-day"]), V(["museum"])),
    "art": (V(["art"]), V(["art", "gallery"])),
    "history": (V(["historic", "museum"]), V(["history", "historic"])),
    "architecture": (V(["architecture", "iconic"]), V(["architecture", "building"])),
    "parks": (V(["outdoors"]), V(["park"])),
    "gardens": (V(["outdoors", "quiet"]), V(["garden", "arboretum", "conservatory"])),
    "hiking": (V(["nature", "active", "outdoors"]), V(["hike", "hiking", "trail"])),
    "outdoors": (V(["outdoors", "nature", "scenic", "waterfront", "active"]), V(["park", "trail", "outdoor"])),
    "nature": (V(["nature", "outdoors"]), V(["nature", "wildlife", "forest"])),
    "beaches": (V(["waterfront", "outdoors"]), V(["beach"])),
    "waterfront": (V(["waterfront", "scenic"]), V(["waterfront", "pier", "harbor", "lake"])),
    "views": (V(["scenic"]), V(["view", "viewpoint", "overlook", "observation"])),
    "markets": (V(["market", "local-favourite"]), V(["market"])),
    "shopping": (V(["shopping"]), V(["shop", "boutique", "store"])),
    "books": (V(["quiet", "learning"]), V(["book", "bookstore", "library"])),
    "live_music": (V(["live-music", "nightlife"]), V(["live music", "concert", "jazz"])),
    "nightlife": (V(["nightlife", "late-night", "lively"]), V(["club", "bar"])),
    "theatre": (V(["performing-arts"]), V(["theater", "theatre", "opera", "ballet"])),
    "sports": (V(["sports", "active"]), V(["stadium", "sports"])),
    "family": (V(["family"]), V(["kids", "children", "aquarium", "zoo"])),
    "science": (V(["learning", "museum"]), V(["science"])),
    "film": (V(["art", "rainy-day"]), V(["cinema", "film"])),
    "wellness": (V(["wellness", "quiet"]), V(["spa", "yoga"])),
}
VIBE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "local": (V(["local-favourite"]), ()),
    "hidden_gems": (V(["hidden-gem", "local-favourite"]), ()),
    "cozy": (V(["cozy"]), ()),
    "quiet": (V(["quiet"]), ()),
    # a description that says bustling or crowded, or a nightlife district, is evidence of a lively place; so is
    # a market (not a supermarket), a boardwalk, an amusement park or street performers: a lively city by day
    "lively": (V(["lively", "nightlife"]), V(["lively", "bustl", "buzzing", "vibrant", "crowd", "nightlife", "festive",
                                              " market", "marché", "bazaar", "boardwalk", "amusement", "street perform",
                                              "street entertain", "busker", "carnival", "street food"])),
    "romantic": (V(["romantic"]), ()),
    "trendy": (V(["trendy"]), ()),
    "classic": (V(["historic", "iconic"]), ()),
    "iconic": (V(["iconic"]), ()),
    "quirky": (V(["quirky"]), ()),
    "upscale": (V(["upscale", "splurge"]), ()),
    "budget": (V(["budget", "good-value", "free"]), ()),
    "relaxed": (V(["casual", "quiet"]), ()),
    "adventurous": (V(["active", "nature"]), ()),
}
PACES = {"slow": 3, "moderate": 4, "fast": 5}

# The day parts in which a tag is a reason to pick a venue. A taste for coffee says what to do in the
# morning, not where to have dinner; a taste for ramen says where to eat, not where to start the day.
# Tags not listed count in every day part (the venue's own day-part fit still applies).
MEALS = ("afternoon", "evening")
TAG_PARTS: dict[str, tuple[str, ...]] = {
    **{tag: MEALS for tag in FOOD},
    "coffee": ("morning", "afternoon"), "tea": ("morning", "afternoon"), "bakery": ("morning", "afternoon"),
    "brunch": ("morning",), "cocktails": ("evening",),
    "nightlife": ("evening",), "live_music": ("evening",), "theatre": ("evening",),
}
GROUPS = {"food": FOOD, "interests": INTERESTS, "vibe": VIBE}

# Which tags pull a persona toward each archetype (see archetypes.py).
FOOD_LEANING = set(FOOD)
OUTDOOR_LEANING = {"parks", "gardens", "hiking", "outdoors", "nature", "beaches", "waterfront", "views", "adventurous"}
CULTURE_LEANING = {"museums", "art", "history", "architecture", "theatre", "live_music", "nightlife", "books",
                   "film", "science", "classic", "iconic", "markets", "shopping"}


class TagError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Tags:
    food: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()
    vibe: tuple[str, ...] = ()
    pace: str = "moderate"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def all(self) -> tuple[str, ...]:
        return self.food + self.interests + self.vibe

    def tags_for(self, day_part: str | None = None):
        """(tag, its vocabulary entry) for every tag, or only those that count in `day_part` (TAG_PARTS)."""
        for group, vocab in (("food", FOOD), ("interests", INTERESTS), ("vibe", VIBE)):
            for tag in getattr(self, group):
                if day_part is None or day_part in TAG_PARTS.get(tag, DAY_PARTS):
                    yield tag, vocab[tag]

    def vibe_terms(self, day_part: str | None = None) -> tuple[str, ...]:
        """Every catalogue vibe-taxonomy id these tags match (in `day_part` when given), deduplicated in
        order of importance."""
        return tuple(dict.fromkeys(term for _, (terms, _kws) in self.tags_for(day_part) for term in terms))

    def keywords(self, day_part: str | None = None) -> tuple[str, ...]:
        """Words that, found in a venue's name or description, are direct evidence for these tags."""
        return tuple(dict.fromkeys(kw for _, (_terms, kws) in self.tags_for(day_part) for kw in kws))

    def as_json(self) -> dict:
        return {"food": list(self.food), "interests": list(self.interests), "vibe": list(self.vibe), "pace": self.pace}

    @property
    def slots_per_day(self) -> int:
        return PACES[self.pace]


def _group_of(tag: str) -> str | None:
    for name, vocab in GROUPS.items():
        if tag in vocab:
            return name
    return None


def _norm(tag) -> str:
    return str(tag).strip().lower().replace(" ", "_").replace("-", "_")


def parse_tags(raw, field_prefix: str = "tags") -> Tags:
    """Validate either accepted shape into Tags; TagError names the offending field (e.g. tags.food[1])."""
    groups: dict[str, list[str]] = {"food": [], "interests": [], "vibe": []}
    pace = "moderate"
    if raw is None:
        return Tags()
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "pace":
                p = _norm(value) if isinstance(value, str) else None
                if p not in PACES:
                    raise TagError(f"{field_prefix}.pace", f"pace must be one of {sorted(PACES)}, got {value!r}")
                pace = p
                continue
            if key not in GROUPS:
                raise TagError(f"{field_prefix}.{key}", f"unknown tag group {key!r}; use food, interests, vibe or pace")
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                t = _norm(v) if isinstance(v, str) else None
                if t not in GROUPS[key]:
                    raise TagError(f"{field_prefix}.{key}[{i}]", f"unknown {key} tag {v!r}; see the documented vocabulary")
                if t not in groups[key]:
                    groups[key].append(t)
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            if not isinstance(v, str):
                raise TagError(f"{field_prefix}[{i}]", f"tag must be a string, got {type(v).__name__}")
            t = _norm(v)
            if t.startswith("pace:") or t in PACES:
                p = t.split(":", 1)[-1]
                if p not in PACES:
                    raise TagError(f"{field_prefix}[{i}]", f"pace must be one of {sorted(PACES)}, got {v!r}")
                pace = p
                continue
            g = _group_of(t)
            if g is None:
                raise TagError(f"{field_prefix}[{i}]", f"unknown tag {v!r}; see the documented vocabulary")
            if t not in groups[g]:
                groups[g].append(t)
    else:
        raise TagError(field_prefix, "tags must be an object of groups or a list of tags")
    if sum(len(v) for v in groups.values()) > 30:
        raise TagError(field_prefix, "at most 30 tags")
    return Tags(tuple(groups["food"]), tuple(groups["interests"]), tuple(groups["vibe"]), pace)


def vocabulary() -> dict:
    return {"food": sorted(FOOD), "interests": sorted(INTERESTS), "vibe": sorted(VIBE), "pace": sorted(PACES)}
