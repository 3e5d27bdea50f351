"""Which Location each subscriber's home names (pure).

A home value names its Location either by the Location's Unity object id (the profile's
``location.object_id``) or by its ``objectGUID``: which of the two a forest uses is not
public, so both are tried, in that order, and the match records which one it was. Ids
arrive already reduced (:mod:`poolsync.objectid`), so ``{D8..}`` in UTF-16 and
``d8..`` in text are one key.

Seats arrive summed per home key (the store sums them in SQL); every key is owned by at
most one Location, so nothing is counted twice, and keys no Location owns are orphans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from poolsync.model import Location, Seats

__all__ = ["ORPHAN_THRESHOLD", "HomeMatch", "MatchedBy", "match_homes"]

MatchedBy = Literal["object_id", "objectGUID"]
#: The share of subscribers whose home matches no Location above which a pool's numbers
#: are not trusted (its state is ``unverified``).
ORPHAN_THRESHOLD: Final = 0.01


@dataclass(frozen=True)
class HomeMatch:
    """Home keys matched to Locations (by position in the sequence given).

    ``owner`` maps a home key to the Location that owns it; ``per_location`` holds the
    seats homed on each Location and ``how`` how its subscribers name it.
    """

    owner: Mapping[str, int]
    per_location: Mapping[int, Seats]
    how: Mapping[int, tuple[MatchedBy, ...]]
    orphaned: Seats
    orphan_keys: tuple[str, ...]  # keys no Location owns ("" = no home), sorted
    subscribers: int  # every subscriber read (each uses a VM seat)

    def seats(self, index: int) -> Seats:
        """The seats of the subscribers homed on the Location at ``index``."""
        return self.per_location.get(index, Seats())

    def matched_by(self, index: int) -> tuple[MatchedBy, ...]:
        """How the subscribers homed on the Location at ``index`` name it."""
        return self.how.get(index, ())

    def resolve(self, reference: str | None) -> int | None:
        """The Location a reference (a failover partner's id) names, if any."""
        if not reference:
            return None
        return self.owner.get(reference)

    @property
    def orphan_share(self) -> float:
        return self.orphaned.vm / self.subscribers if self.subscribers else 0.0


def match_homes(locations: Sequence[Location], homed: Mapping[str, Seats]) -> HomeMatch:
    """Match home keys to ``locations``: object ids first, then objectGUIDs.

    With duplicate ids the first Location in the given order owns the key. A
    Location's objectGUID owns a key only when no Location has it as its object id.
    Linear in Locations plus keys.
    """
    owner: dict[str, int] = {}
    kind: dict[str, MatchedBy] = {}
    for index, location in enumerate(locations):
        if location.object_id and location.object_id not in owner:
            owner[location.object_id] = index
            kind[location.object_id] = "object_id"
    for index, location in enumerate(locations):
        key = location.guid.lower()
        if key and key not in owner:
            owner[key] = index
            kind[key] = "objectGUID"
    per_location: dict[int, Seats] = {}
    ways: dict[int, set[MatchedBy]] = {}
    orphaned = Seats()
    orphan_keys: list[str] = []
    for key, seats in homed.items():
        found = owner.get(key)
        if found is None:
            orphaned = orphaned + seats
            orphan_keys.append(key)
            continue
        per_location[found] = per_location.get(found, Seats()) + seats
        if seats.vm:
            ways.setdefault(found, set()).add(kind[key])
    how = {
        index: tuple(m for m in ("object_id", "objectGUID") if m in found)
        for index, found in ways.items()
    }
    return HomeMatch(
        owner=owner,
        per_location=per_location,
        how=how,
        orphaned=orphaned,
        orphan_keys=tuple(sorted(orphan_keys)),
        subscribers=sum(seats.vm for seats in homed.values()),
    )
