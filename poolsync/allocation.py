"""The license pool of a forest, computed from Locations and per-Location seat usage.

Pure: no I/O, no clock, plain frozen dataclasses in and out, so the rules can be tested
without a directory and the result is the same for the same input whatever its order.
Subscriber seats arrive already aggregated per home Location (``homed``) because the
store sums them in SQL; a million subscribers never become Python objects here.

The rules (which servers join the pool, why the others are excluded, how a failover
secondary is folded into its primary and how lending is attributed) are written out in
docs/allocation.md; the code follows that document.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Final, Literal

from poolsync.attachment import MAX_ATTACHMENT_BYTES, LicenseData, parse_attachment
from poolsync.errors import AttachmentError
from poolsync.homes import ORPHAN_THRESHOLD, HomeMatch, MatchedBy, match_homes
from poolsync.model import SEAT_CLASSES, Location, Roles, SeatClass, Seats

__all__ = [
    "MIN_POOLING_VERSION",
    "ClassSeats",
    "Exclusion",
    "ExclusionReason",
    "Pool",
    "PoolReport",
    "ServerSeats",
    "UsedSource",
    "build_pool_report",
    "effective_used",
    "parse_version",
]

UsedSource = Literal["directory", "published", "none"]
ORPHAN_SAMPLE: Final = 20

#: License pooling exists from Unity 4.0 on.
MIN_POOLING_VERSION: Final = (4, 0)

_VERSION: Final = re.compile(r"\s*(\d+)\.(\d+)")


class ExclusionReason(enum.Enum):
    """Why a Location is not a member of its forest's pool (checked in this order)."""

    FAILOVER_SECONDARY = "failover-secondary"
    VERSION_UNSUPPORTED = "version-unsupported"
    ATTACHMENT_MISSING = "attachment-missing"
    ATTACHMENT_TOO_LARGE = "attachment-too-large"
    ATTACHMENT_CORRUPT = "attachment-corrupt"
    POOLING_DISABLED = "pooling-disabled"


@dataclass(frozen=True)
class Exclusion:
    """A server left out of the pool; ``detail`` says why in words a person can act on.

    ``guid`` tells apart two Locations that carry the same server name.
    """

    name: str
    reason: ExclusionReason
    detail: str
    guid: str = ""


@dataclass(frozen=True)
class ClassSeats:
    """One seat class of a pool: totals over the members. ``available`` may be negative."""

    licensed: int
    used: int
    available: int
    compliant: bool


@dataclass(frozen=True)
class ServerSeats:
    """One pool member's seats.

    ``used`` counts the subscribers homed on the server (and on its failover
    secondary); ``published_used`` is what the server itself last published (None when
    it published no seat class), so ``stale`` lists the published classes where the two
    disagree. ``published_classes`` names the classes the server did publish, in
    SEAT_CLASSES order; the count of any other class in ``published_used`` is a
    placeholder 0, not a published value. ``borrowed`` is what the server uses beyond
    its own license; ``lent`` is the share of other members' borrowing that poolsync
    attributes to this server's surplus.

    ``published_classes`` comes last with a default so that older positional
    construction keeps working: left empty while ``published_used`` is set, it reads
    as "every class published", which is what ``published_used`` meant before.
    """

    name: str
    failover: str | None
    licensed: Seats
    used: Seats
    published_used: Seats | None
    borrowed: Seats
    lent: Seats
    stale: tuple[SeatClass, ...]
    secondary_licensed: bool | None
    guid: str = ""
    published_classes: tuple[SeatClass, ...] = ()
    #: Where each class's ``used`` comes from: "directory" (subscribers homed here),
    #: "published" (the server's own utilization, when subscribers carry no license
    #: class) or "none" (neither: counted as 0). Empty means all "directory".
    used_source: Mapping[SeatClass, UsedSource] = field(default_factory=dict)
    #: How subscribers' homes name this server: its object id and/or its objectGUID.
    matched_by: tuple[MatchedBy, ...] = ()

    def source(self, seat_class: SeatClass) -> UsedSource:
        return self.used_source.get(seat_class, "directory")

    def __post_init__(self) -> None:
        object.__setattr__(self, "used_source", MappingProxyType(dict(self.used_source)))
        if self.published_used is None:
            if self.published_classes:
                raise ValueError("published_classes given, but published_used is None")
            return
        given = set(self.published_classes) if self.published_classes else set(SEAT_CLASSES)
        classes = tuple(c for c in SEAT_CLASSES if c in given)
        object.__setattr__(self, "published_classes", classes)


@dataclass(frozen=True)
class Pool:
    """The license pool of one forest; ``members`` and ``servers`` are in name order."""

    id: str
    members: tuple[str, ...]
    seats: Mapping[SeatClass, ClassSeats]
    servers: tuple[ServerSeats, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "seats", MappingProxyType(dict(self.seats)))

    @property
    def compliant(self) -> bool:
        return all(s.compliant for s in self.seats.values())

    def used_source(self, seat_class: SeatClass) -> UsedSource:
        """Where the pool's use of a class comes from: "directory" when every member's
        does, "none" when no member's use is known, else "published" (some or all
        members' own counts)."""
        sources = {s.source(seat_class) for s in self.servers}
        if sources <= {"directory"}:
            return "directory"
        return "none" if sources == {"none"} else "published"


@dataclass(frozen=True)
class PoolReport:
    """The pools, the servers left out, and seats that no pool counts.

    ``unpooled``: seats of subscribers homed on excluded servers (a failover secondary's
    subscribers count here only when its primary is not a member). ``orphaned``: seats
    of subscribers whose home object id matches no Location, including those without a
    home at all (the empty object id, which no Location matches).
    """

    pools: tuple[Pool, ...]
    excluded: tuple[Exclusion, ...]
    unpooled: Seats = field(default_factory=Seats)
    orphaned: Seats = field(default_factory=Seats)
    #: Every subscriber read (each uses a VM seat), orphans included.
    subscribers: int = 0
    #: Up to ORPHAN_SAMPLE home keys that match no Location ("" = no home).
    orphan_keys: tuple[str, ...] = ()
    roles: Roles = field(default_factory=Roles)
    #: The license data of every Location with an attachment, members or not, parsed
    #: once by :func:`build_pool_report` (None: corrupt, and excluded so). Keyed by the
    #: Location itself, so two Locations that share a GUID keep their own.
    licenses: Mapping[Location, LicenseData | None] = field(default_factory=dict)

    def license(self, location: Location | None) -> LicenseData | None:
        """``location``'s parsed license data; None without one or when it is corrupt
        (the exclusion says so)."""
        return None if location is None else self.licenses.get(location)

    @property
    def compliant(self) -> bool:
        return all(pool.compliant for pool in self.pools)

    @property
    def notes(self) -> tuple[str, ...]:
        """Checks skipped and numbers taken from elsewhere, in words."""
        return self.roles.notes()

    @property
    def orphan_share(self) -> float:
        return self.orphaned.vm / self.subscribers if self.subscribers else 0.0

    @property
    def orphans_significant(self) -> bool:
        """More than ORPHAN_THRESHOLD of the subscribers read have a home that matches
        no Location: the pool's numbers leave them out, so they cannot be trusted."""
        return self.orphan_share > ORPHAN_THRESHOLD


def parse_version(version: str | None) -> tuple[int, int] | None:
    """The leading ``major.minor`` of a Unity version such as ``4.0(5)``, or None."""
    if version is None:
        return None
    match = _VERSION.match(version)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def _sort_key(location: Location) -> tuple[str | tuple[int, str | bytes], ...]:
    """(name, guid) first, as documented; the other fields only make the order total."""
    return (
        location.name,
        location.guid,
        location.object_id,
        location.dn,
        location.version or "",
        location.failover_of or "",
        _attachment_key(location.attachment),
    )


def _attachment_key(attachment: str | bytes | None) -> tuple[int, str | bytes]:
    """A total order over None, bytes and str without copying the value: the tag keeps
    bytes from being compared with str. (``repr`` built a copy up to four times the
    size of every attachment, megabytes each for a hostile one, just to sort.)"""
    if attachment is None:
        return 0, b""
    return (1, attachment) if isinstance(attachment, bytes) else (2, attachment)


def _version_exclusion(location: Location) -> Exclusion | None:
    """Check 2: the version must be readable and at least 4.0."""
    version = parse_version(location.version)
    if location.version is None:
        return _excluded(location, ExclusionReason.VERSION_UNSUPPORTED, "no version published")
    if version is None:
        return _excluded(
            location,
            ExclusionReason.VERSION_UNSUPPORTED,
            f"version {location.version!r} not recognised (expected major.minor, e.g. 4.0(5))",
        )
    if version < MIN_POOLING_VERSION:
        return _excluded(
            location,
            ExclusionReason.VERSION_UNSUPPORTED,
            f"version {location.version} is below 4.0, the first with license pooling",
        )
    return None


def read_license(location: Location) -> LicenseData | AttachmentError | None:
    """A Location's license data, parsed (the only place the pool report parses an
    attachment); the error when it does not parse, None without an attachment."""
    if location.attachment is None:
        return None
    try:
        return parse_attachment(location.attachment)
    except AttachmentError as exc:
        return exc


def _classify(
    location: Location, roles: Roles, parsed: LicenseData | AttachmentError | None
) -> Exclusion | LicenseData:
    """Checks 2-5 of the classification (the failover check needs the other Locations);
    ``parsed`` is :func:`read_license` of ``location``.

    Without a version role (``roles.versions`` False) the version check is skipped.
    """
    if roles.versions and (excluded := _version_exclusion(location)) is not None:
        return excluded
    if location.attachment is None and location.attachment_refused is not None:
        size = location.attachment_refused
        return _excluded(
            location,
            ExclusionReason.ATTACHMENT_TOO_LARGE,
            (
                f"its pooling attachment is {size:,} bytes, over the "
                f"{MAX_ATTACHMENT_BYTES:,}-byte limit, and was not read"
                if size
                else "the DC refused to send its pooling attachment (too large for one reply), "
                "so it was not read"
            ),
        )
    if location.attachment is None:
        return _excluded(
            location,
            ExclusionReason.ATTACHMENT_MISSING,
            "no pooling attachment on the Location object",
        )
    if isinstance(parsed, AttachmentError):
        return _excluded(location, ExclusionReason.ATTACHMENT_CORRUPT, str(parsed))
    data = parsed
    if data is None:  # cannot be: the attachment is there (checked above)
        raise ValueError(f"{location.name}: parsed is None, but the attachment is present")
    if not data.pooling_enabled:
        state = "absent" if "LicPoolingIsEnabled" not in data.licenses else "0"
        return _excluded(
            location, ExclusionReason.POOLING_DISABLED, f"license has LicPoolingIsEnabled {state}"
        )
    return data


def _excluded(location: Location, reason: ExclusionReason, detail: str) -> Exclusion:
    return Exclusion(name=location.name, reason=reason, detail=detail, guid=location.guid)


def _lend(licensed: Sequence[int], used: Sequence[int]) -> list[int]:
    """Attribute one class's borrowing to the members' surplus.

    The inputs are per member, in (name, guid) order. The total lent is
    L = min(borrowed, surplus); each member's share is L * surplus_i / surplus, rounded
    by the largest-remainder method so the shares add up to L exactly and none exceeds
    its surplus. Fractions, not floats: the result must not depend on rounding noise.
    """
    borrowed = sum(max(0, u - lic) for lic, u in zip(licensed, used, strict=True))
    surplus = [max(0, lic - u) for lic, u in zip(licensed, used, strict=True)]
    total_surplus = sum(surplus)
    to_lend = min(borrowed, total_surplus)
    if to_lend == 0:
        return [0] * len(surplus)
    quotas = [Fraction(to_lend * s, total_surplus) for s in surplus]
    lent = [int(q) for q in quotas]  # floor: quotas are non-negative
    leftover = to_lend - sum(lent)
    # sorted() is stable and the members are in (name, guid) order, so equal remainders
    # go by name, then guid. Only members with a fractional quota can be picked, since
    # the fractional parts add up to exactly ``leftover``; so lent_i <= surplus_i.
    by_remainder = sorted(range(len(quotas)), key=lambda i: quotas[i] - lent[i], reverse=True)
    for i in by_remainder[:leftover]:
        lent[i] += 1
    return lent


def build_pool_report(
    forest: str,
    locations: Sequence[Location],
    homed: Mapping[str, Seats],
    *,
    roles: Roles | None = None,
) -> PoolReport:
    """Compute the pool of *forest* from its Locations and the seats homed on each.

    ``homed`` maps a home key (:mod:`poolsync.objectid`) to the summed seats of the
    subscribers homed there; subscribers without a home come under the key ``""``.
    Homes match a Location's object id first, then its objectGUID
    (:func:`poolsync.homes.match_homes`). Every seat in it is counted exactly once: in
    a member's ``used``, in ``unpooled`` or in ``orphaned``. ``roles`` says which
    optional profile roles the data was read with (default: all of them).
    """
    roles = roles or Roles()
    ordered = sorted(locations, key=_sort_key)
    # With duplicate object ids the first Location in (name, guid) order owns the homed
    # seats, so that nothing is counted twice. Locations are keyed by position in
    # ``ordered`` (not guid) so that even duplicated guids cannot collide.
    homes = match_homes(ordered, homed)
    # A secondary's primary is looked up among the non-secondaries first, in case a
    # directory gives both halves of a failover pair the same object id.
    primary_by_object_id: dict[str, int] = {}
    for index, location in enumerate(ordered):
        if location.object_id and location.failover_of is None:
            primary_by_object_id.setdefault(location.object_id, index)

    def secondary(location: Location) -> bool:
        return roles.failover and location.failover_of is not None

    # Every attachment is parsed once, here: the report carries the results
    # (``licenses``) to compliance and the graph.
    parsed = {loc: read_license(loc) for loc in locations}
    classified = {
        i: _classify(loc, roles, parsed[loc]) for i, loc in enumerate(ordered) if not secondary(loc)
    }
    data = {i: r for i, r in classified.items() if isinstance(r, LicenseData)}
    excluded: list[Exclusion] = []
    folded: dict[int, Seats] = {}
    secondary_of: dict[int, str] = {}
    unpooled = Seats()

    for index, location in enumerate(ordered):
        if not secondary(location):
            result = classified[index]
            if isinstance(result, Exclusion):
                excluded.append(result)
                unpooled = unpooled + homes.seats(index)
            continue
        primary = primary_by_object_id.get(location.failover_of or "")
        if primary is None:
            primary = homes.resolve(location.failover_of)
        excluded.append(
            _excluded(
                location,
                ExclusionReason.FAILOVER_SECONDARY,
                _failover_detail(
                    location,
                    None if primary is None else ordered[primary],
                    None if primary is None else classified.get(primary),
                ),
            )
        )
        if primary is not None and primary in data:
            folded[primary] = folded.get(primary, Seats()) + homes.seats(index)
            secondary_of.setdefault(primary, location.name)
        else:
            unpooled = unpooled + homes.seats(index)

    members = sorted(data)
    used: dict[int, Seats] = {}
    sources: dict[int, dict[SeatClass, UsedSource]] = {}
    for i in members:
        used[i], sources[i] = effective_used(
            homes.seats(i) + folded.get(i, Seats()), data[i], roles
        )
    lent: dict[SeatClass, dict[int, int]] = {}
    for c in SEAT_CLASSES:
        shares = _lend(
            [data[i].licensed.get(c) for i in members], [used[i].get(c) for i in members]
        )
        lent[c] = dict(zip(members, shares, strict=True))
    servers = tuple(
        _server_seats(
            ordered[i],
            data[i],
            used[i],
            Seats.from_mapping({c: lent[c][i] for c in SEAT_CLASSES}),
            secondary_of.get(i),
            sources[i],
            homes,
            i,
        )
        for i in members
    )
    excluded.sort(key=lambda e: (e.name, e.guid))
    return PoolReport(
        pools=(_pool(forest, servers),),
        excluded=tuple(excluded),
        unpooled=unpooled,
        orphaned=homes.orphaned,
        subscribers=homes.subscribers,
        orphan_keys=homes.orphan_keys[:ORPHAN_SAMPLE],
        roles=roles,
        licenses={
            loc: r if isinstance(r, LicenseData) else None
            for loc, r in parsed.items()
            if r is not None
        },
    )


def effective_used(
    directory: Seats, data: LicenseData, roles: Roles
) -> tuple[Seats, dict[SeatClass, UsedSource]]:
    """A server's use per class and where each number comes from.

    VM use is always the directory's count. UM and Inbox use are the directory's when
    subscribers carry a license class; otherwise the server's published utilization
    (``none``, counted as 0, when it published no count for the class).
    """
    if roles.license_classes:
        return directory, {c: "directory" for c in SEAT_CLASSES}
    published = data.published_used
    counts = {SeatClass.VM: directory.vm}
    sources: dict[SeatClass, UsedSource] = {SeatClass.VM: "directory"}
    for c in (SeatClass.UM, SeatClass.INBOX):
        if published is not None and c in data.published_classes:
            counts[c], sources[c] = published.get(c), "published"
        else:
            counts[c], sources[c] = 0, "none"
    return Seats.from_mapping(counts), sources


def _failover_detail(
    location: Location, primary: Location | None, primary_result: Exclusion | LicenseData | None
) -> str:
    if primary is None:
        if not location.failover_of:
            return "failover secondary of an empty object id, which matches no Location"
        return f"failover secondary of object id {location.failover_of}, which matches no Location"
    if primary is location:
        return "failover secondary of itself (failover_of is its own object id)"
    if isinstance(primary_result, LicenseData):
        return f"failover secondary of {primary.name}; counted with it"
    if primary.failover_of is not None or primary_result is None:
        return f"failover secondary of {primary.name}, itself a failover secondary"
    return (
        f"failover secondary of {primary.name}, which is not a pool member "
        f"({primary_result.reason.value})"
    )


def _server_seats(
    location: Location,
    data: LicenseData,
    used: Seats,
    lent: Seats,
    failover: str | None,
    sources: Mapping[SeatClass, UsedSource],
    homes: HomeMatch,
    index: int,
) -> ServerSeats:
    licensed = data.licensed
    published = data.published_used
    published_classes = data.published_classes
    stale: tuple[SeatClass, ...] = ()
    if published is not None:
        # Only published classes are compared: a real Unity server has no UM counter,
        # and a class it does not publish says nothing about the directory's truth.
        # A class whose use *is* the published count cannot disagree with itself.
        stale = tuple(
            c
            for c in published_classes
            if sources.get(c) == "directory" and published.get(c) != used.get(c)
        )
    return ServerSeats(
        name=location.name,
        failover=failover,
        licensed=licensed,
        used=used,
        published_used=published,
        borrowed=Seats.from_mapping(
            {c: max(0, used.get(c) - licensed.get(c)) for c in SEAT_CLASSES}
        ),
        lent=lent,
        stale=stale,
        secondary_licensed=None if failover is None else data.secondary_licensed,
        guid=location.guid,
        published_classes=published_classes,
        used_source=sources,
        matched_by=homes.matched_by(index),
    )


def _pool(forest: str, servers: tuple[ServerSeats, ...]) -> Pool:
    licensed = Seats.total(s.licensed for s in servers)
    used = Seats.total(s.used for s in servers)
    seats = {
        c: ClassSeats(
            licensed=licensed.get(c),
            used=used.get(c),
            available=licensed.get(c) - used.get(c),
            compliant=used.get(c) <= licensed.get(c),
        )
        for c in SEAT_CLASSES
    }
    return Pool(id=forest, members=tuple(s.name for s in servers), seats=seats, servers=servers)
