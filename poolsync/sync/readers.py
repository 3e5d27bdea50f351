"""How one pass reads: in full, by uSNChanged, or by DirSync cookie (one interface).

Each reader reads through a :class:`~poolsync.directory.source.DirectoryReader` and
stages what it decodes in the pass's :class:`Staging` (the store's sync writer); it
returns the DirSync cookies the pass keeps, or None. Which reader a pass uses is the
pass's decision (:mod:`poolsync.sync.passes`); none of them writes outside the
staging, so a failed pass leaves the store as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from poolsync.attachment import MAX_ATTACHMENT_BYTES
from poolsync.directory.dirsync import is_tombstone
from poolsync.directory.filters import guid_equality, or_filter
from poolsync.directory.source import Bound, DirectoryReader
from poolsync.model import Entry, Subscriber
from poolsync.profile import Profile
from poolsync.store import SyncWriter
from poolsync.sync import decode

__all__ = [
    "DELETED_OBJECTS_WKGUID",
    "GUID_BATCH",
    "Counter",
    "DirSyncChanges",
    "NoProgress",
    "PassRead",
    "Progress",
    "Staging",
    "TotalRead",
    "UsnChanges",
    "deleted_objects_dn",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
GUID_BATCH = 100  # objects re-read per search after a DirSync read
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"


def deleted_objects_dn(naming_context: str) -> str:
    """The Deleted Objects container of a naming context, by its well-known GUID."""
    return f"<WKGUID={DELETED_OBJECTS_WKGUID},{naming_context}>"


class Progress(Protocol):
    """Where a run reports what it is doing (a progress bar, or nothing)."""

    def begin(self, pass_name: str, description: str) -> None: ...
    def advance(self, count: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    def begin(self, pass_name: str, description: str) -> None:
        log.info("%s", description)  # it names the pass: "domain pass (changes) on ..."

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class Counter:
    read: int = 0
    skipped: int = 0


@dataclass
class Staging:
    """Where one pass's reads go, and what bounds them."""

    name: str  # the pass: "domain" or "gc"
    profile: Profile
    writer: SyncWriter
    progress: Progress
    bound: Callable[[str], Bound | None]  # "locations" | "subscribers" -> bound
    counters: dict[str, Counter]  # locations, subscribers, removals


class PassRead(Protocol):
    """One way of reading a pass; returns the DirSync cookies to keep (or None)."""

    def read(self, reader: DirectoryReader, staging: Staging) -> dict[str, bytes] | None: ...


@dataclass(frozen=True, slots=True)
class _Removal:
    guid: str


def _decoded(
    entries: Iterable[Entry], decode_one: Callable[[Entry], T], progress: Progress, counter: Counter
) -> Iterator[tuple[T, int | None]]:
    pending = 0
    for entry in entries:
        try:
            item = decode_one(entry)
        except ValueError as exc:
            counter.skipped += 1
            log.warning("skipped %s: %s", entry.dn, exc)
            continue
        counter.read += 1
        yield item, decode.usn(entry)
        pending += 1
        if pending == 200:
            progress.advance(pending)
            pending = 0
    progress.advance(pending)


def _locations(
    reader: DirectoryReader, staging: Staging, base: str, ldap_filter: str
) -> Iterator[Entry]:
    """Location entries, each attachment refused over MAX_ATTACHMENT_BYTES."""
    return reader.search_with_large_value(
        base,
        ldap_filter,
        decode.location_attributes(staging.profile),
        large=staging.profile.location.pooling_data,
        max_bytes=MAX_ATTACHMENT_BYTES,
        bound=staging.bound("locations"),
    )


def fresh_cookies(reader: DirectoryReader, staging: Staging, ncs: list[str]) -> dict[str, bytes]:
    """A cookie per naming context, from a DirSync read without one (entries ignored).

    Read before the paged total read, so whatever changes in between is read twice
    rather than never.
    """
    cookies = {}
    for nc in ncs:
        read = reader.dirsync(
            nc, decode.unity_objects_filter(staging.profile), ["objectGUID", "name"]
        )
        for count, _ in enumerate(read, 1):
            if count % 200 == 0:
                staging.progress.advance(0)  # lets a stop request end the pass
        cookies[nc] = read.cookie
    return cookies


@dataclass(frozen=True, slots=True)
class TotalRead:
    """Every Location and subscriber under ``base``; with ``cookie_ncs`` (DirSync) a
    fresh cookie per naming context is read first."""

    base: str
    cookie_ncs: tuple[str, ...] | None = None

    def read(self, reader: DirectoryReader, staging: Staging) -> dict[str, bytes] | None:
        profile, writer, name = staging.profile, staging.writer, staging.name
        cookies = (
            fresh_cookies(reader, staging, list(self.cookie_ncs))
            if self.cookie_ncs is not None
            else None
        )
        writer.stage_locations(
            name,
            _decoded(
                _locations(reader, staging, self.base, decode.location_filter(profile)),
                lambda e: decode.decode_location(e, profile),
                staging.progress,
                staging.counters["locations"],
            ),
        )
        writer.stage_subscribers(
            name,
            _decoded(
                reader.search(
                    self.base,
                    decode.subscriber_filter(profile),
                    decode.subscriber_attributes(profile),
                    bound=staging.bound("subscribers"),
                ),
                lambda e: decode.decode_subscriber(e, profile),
                staging.progress,
                staging.counters["subscribers"],
            ),
        )
        return cookies


@dataclass(frozen=True, slots=True)
class UsnChanges:
    """Objects changed above the watermark ``usn``, and tombstones of those deleted
    since.

    Tombstones live in each naming context's Deleted Objects container, outside any
    OU a pass may be based on: they are searched there, per naming context (``ncs``).
    """

    base: str
    usn: int
    ncs: tuple[str, ...]

    def read(self, reader: DirectoryReader, staging: Staging) -> None:
        profile, writer, name, counters = (
            staging.profile,
            staging.writer,
            staging.name,
            staging.counters,
        )
        writer.stage_locations(
            name,
            _decoded(
                _locations(
                    reader,
                    staging,
                    self.base,
                    decode.changed_filter(profile.location.object_class, self.usn),
                ),
                lambda e: decode.decode_location(e, profile),
                staging.progress,
                counters["locations"],
            ),
        )

        # Every changed user: one that stopped being a subscriber must leave the store.
        def user(entry: Entry) -> Subscriber | _Removal:
            if decode.is_subscriber(entry, profile):
                return decode.decode_subscriber(entry, profile)
            return _Removal(entry.guid())

        removals: list[tuple[str, int | None]] = []
        removal_counter = counters["removals"]

        def subscribers_only(
            items: Iterable[tuple[Subscriber | _Removal, int | None]],
        ) -> Iterator[tuple[Subscriber, int | None]]:
            for item, item_usn in items:
                if isinstance(item, _Removal):
                    removals.append((item.guid, item_usn))
                    removal_counter.read += 1
                    if len(removals) >= 1000:
                        writer.stage_removals(name, removals)
                        removals.clear()
                else:
                    yield item, item_usn

        sub_counter = Counter()
        writer.stage_subscribers(
            name,
            subscribers_only(
                _decoded(
                    reader.search(
                        self.base,
                        decode.changed_filter(profile.subscriber.object_class, self.usn),
                        decode.changed_user_attributes(profile),
                    ),
                    user,
                    staging.progress,
                    sub_counter,
                )
            ),
        )
        counters["subscribers"].skipped += sub_counter.skipped
        counters["subscribers"].read += sub_counter.read - removal_counter.read
        writer.stage_removals(name, removals)
        tomb_counter = Counter()
        for nc in self.ncs:
            writer.stage_removals(
                name,
                (
                    (guid, item_usn)
                    for guid, item_usn in _decoded(
                        reader.search(
                            deleted_objects_dn(nc),
                            decode.tombstone_filter(profile, self.usn),
                            ["objectGUID", "uSNChanged"],
                            show_deleted=True,
                        ),
                        lambda e: e.guid(),
                        staging.progress,
                        tomb_counter,
                    )
                ),
            )
        counters["removals"].read += tomb_counter.read
        counters["removals"].skipped += tomb_counter.skipped


@dataclass(frozen=True, slots=True)
class DirSyncChanges:
    """What changed since the ``cookies``; changed objects are re-read in full by GUID.

    DirSync returns only the changed attributes of a changed object (and never
    uSNChanged), so an entry only says "this GUID changed"; tombstones say "gone".
    """

    base: str
    cookies: dict[str, bytes]

    def read(self, reader: DirectoryReader, staging: Staging) -> dict[str, bytes]:
        profile, writer, name, counters = (
            staging.profile,
            staging.writer,
            staging.name,
            staging.counters,
        )
        changed: set[str] = set()
        gone: set[str] = set()
        new_cookies = {}
        # DirSync reports an object only when one of the *requested* attributes changed:
        # ask for every attribute poolsync reads, and "name", which a rename or move sets.
        watched = sorted(
            {
                "objectClass",
                "name",
                *decode.location_attributes(profile),
                *decode.changed_user_attributes(profile),
            }
        )
        for nc, cookie in self.cookies.items():
            read = reader.dirsync(nc, decode.unity_objects_filter(profile), watched, cookie=cookie)
            for entry in read:
                try:
                    guid = entry.guid()
                except ValueError:
                    counters["removals"].skipped += 1
                    continue
                (gone if is_tombstone(entry) else changed).add(guid)
            new_cookies[nc] = read.cookie
        changed -= gone
        attributes = sorted(
            {
                *decode.location_attributes(profile),
                *decode.changed_user_attributes(profile),
                "objectClass",
            }
        )
        location_class = profile.location.object_class.lower()
        pending = sorted(changed)
        for start in range(0, len(pending), GUID_BATCH):
            batch = pending[start : start + GUID_BATCH]
            locations, subscribers, removals = [], [], []
            seen = set()
            for entry in reader.search(
                self.base, or_filter(*map(guid_equality, batch)), attributes
            ):
                try:
                    guid = entry.guid()
                    classes = {c.lower() for c in entry.texts("objectClass")}
                    if location_class in classes:
                        locations.append((decode.decode_location(entry, profile), None))
                    elif decode.is_subscriber(entry, profile):
                        subscribers.append((decode.decode_subscriber(entry, profile), None))
                    else:
                        removals.append((guid, None))
                except ValueError as exc:
                    counters["subscribers"].skipped += 1
                    log.warning("skipped %s: %s", entry.dn, exc)
                    continue
                seen.add(guid)
            # Not found again: deleted since, or moved out of the pass's scope.
            removals += [(guid, None) for guid in batch if guid not in seen]
            counters["locations"].read += writer.stage_locations(name, locations)
            counters["subscribers"].read += writer.stage_subscribers(name, subscribers)
            counters["removals"].read += writer.stage_removals(name, removals)
            staging.progress.advance(len(batch))
        counters["removals"].read += writer.stage_removals(name, ((g, None) for g in sorted(gone)))
        return new_cookies
