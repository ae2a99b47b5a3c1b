"""One interface for every source, file-based or networked."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from shared.domains.travel.catalogue.records import PostRecord, VenueRecord

if TYPE_CHECKING:
    from shared.domains.travel.catalogue.cities import City


class Source(ABC):
    """A source of venue listings or of local posts about venues.

    `available()` returns None when the source can be read, otherwise the reason it cannot (a missing file, no
    credentials, no network) so the job can report it as a skip instead of failing the whole run.
    `city_names()` lists the city names the source covers (empty for search-based sources, which cover any city).
    """

    name: ClassVar[str]
    kind: ClassVar[str]  # "venues" or "posts"
    networked: ClassVar[bool] = False

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    @abstractmethod
    def available(self) -> str | None: ...

    def city_names(self) -> set[str]:
        return set()

    @abstractmethod
    def read(self, city: "City") -> Iterator[VenueRecord | PostRecord]: ...
