"""The domain's plain values: seat classes, seat counts, Locations and subscribers.

Frozen dataclasses only; no I/O. The directory layer produces them, the store keeps
them, the pure core (allocation, reports) consumes them.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class SeatClass(enum.Enum):
    """A pooled license counter."""

    VM = "vm"  # LicSubscribersMax: every subscriber uses one
    UM = "um"  # LicUMSubscribersMax: unified-messaging subscribers
    INBOX = "inbox"  # LicVMISubscribersMax: Cisco Unity Inbox (VMI) subscribers


SEAT_CLASSES: tuple[SeatClass, ...] = (SeatClass.VM, SeatClass.UM, SeatClass.INBOX)


@dataclass(frozen=True, slots=True)
class Seats:
    """One count per pooled seat class."""

    vm: int = 0
    um: int = 0
    inbox: int = 0

    def get(self, seat_class: SeatClass) -> int:
        return int(getattr(self, seat_class.value))

    def __add__(self, other: Seats) -> Seats:
        return Seats(self.vm + other.vm, self.um + other.um, self.inbox + other.inbox)

    def as_dict(self) -> dict[str, int]:
        return {c.value: self.get(c) for c in SEAT_CLASSES}

    @classmethod
    def from_mapping(cls, values: dict[SeatClass, int]) -> Seats:
        return cls(**{c.value: values.get(c, 0) for c in SEAT_CLASSES})

    @classmethod
    def total(cls, items: Iterable[Seats]) -> Seats:
        result = cls()
        for item in items:
            result = result + item
        return result


@dataclass(frozen=True, slots=True)
class Roles:
    """Which optional profile roles a forest's data was read with.

    Real Unity subscribers carry no license class (docs/schema.md): then a server's UM
    and Inbox use can only come from what it published (``license_classes`` False).
    Without a version or failover attribute, the checks those feed are skipped, never
    guessed.
    """

    license_classes: bool = True
    versions: bool = True
    failover: bool = True

    def notes(self) -> tuple[str, ...]:
        """What the pool report cannot check with these roles, in words."""
        notes = []
        if not self.license_classes:
            notes.append(
                "UM and Inbox use come from each server's published utilization: "
                "the profile names no subscriber.license_class (real Unity "
                "subscribers carry none); VM use is the directory's count"
            )
        if not self.versions:
            notes.append(
                "the Unity version check was skipped: the profile names no location.version"
            )
        if not self.failover:
            notes.append(
                "failover pairs were not detected: the profile names no location.failover_of"
            )
        return tuple(notes)


@dataclass(frozen=True, slots=True)
class Location:
    """A Unity server as its Location object describes it.

    ``object_id`` is the Unity object id that subscribers reference in their
    home-location attribute, reduced to what it names (:mod:`poolsync.objectid`; ""
    when absent); ``failover_of`` is set on a failover secondary and holds its
    primary's id, reduced the same way. Subscribers' homes are matched against
    ``object_id`` first, then against ``guid`` (the objectGUID). ``attachment`` is the
    pooling attachment (AvXmlLicData XML) as the directory sent it (bytes; the XML
    declaration or a byte-order mark names the encoding) or as text, or None when the
    attribute is absent.
    """

    guid: str
    dn: str
    name: str
    object_id: str
    version: str | None = None
    failover_of: str | None = None
    attachment: str | bytes | None = None
    #: Set when the attachment was not read for its size: that size in bytes (0 when
    #: the DC refused to send it); ``attachment`` is None then.
    attachment_refused: int | None = None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A Unity subscriber: an AD user homed on one Location.

    ``home`` is the home Location's id as :func:`poolsync.objectid.reduce_id` reads
    it (None when unset); ``classes`` are
    the extra seat classes it uses besides VM (every subscriber uses a VM seat).
    """

    guid: str
    dn: str
    home: str | None
    dtmf_id: str | None = None
    classes: frozenset[SeatClass] = frozenset()


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory search result: its DN and raw attribute values (bytes, as sent).

    Every directory source yields these; decoding into Locations and subscribers is pure.
    """

    dn: str
    attributes: Mapping[str, list[bytes]]  # keys lower-cased: LDAP names are case-blind
    #: Attributes (lower-cased) whose value was not read for its size: that size in
    #: bytes (0 when the DC refused to send it).
    refused: Mapping[str, int] = field(default_factory=dict)

    def first(self, name: str) -> bytes | None:
        values = self.attributes.get(name.lower())
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        value = self.first(name)
        return None if value is None else value.decode("utf-8", errors="replace")

    def texts(self, name: str) -> list[str]:
        return [v.decode("utf-8", errors="replace") for v in self.attributes.get(name.lower(), [])]

    def guid(self) -> str:
        raw = self.first("objectGUID")
        if raw is None or len(raw) != 16:
            raise ValueError(f"{self.dn}: objectGUID missing or malformed")
        return str(uuid.UUID(bytes_le=raw))
