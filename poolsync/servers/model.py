"""A reading: what one Unity server said about its own license, over one protocol.

:class:`ServerReading` is the contract's frozen dataclass (plain data, no I/O): the
probe returns them, the store keeps them, the pool and the doctor compare them with the
directory's copy. :func:`reading_from_license` and :func:`failed_reading` build one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from poolsync.attachment import LicenseData
from poolsync.model import SeatClass, Seats

__all__ = ["SOURCES", "ServerReading", "Source", "failed_reading", "reading_from_license"]

Source = Literal["http", "snmp"]
#: Both sources, in the order a server's readings are listed.
SOURCES: Final[tuple[Source, ...]] = ("http", "snmp")


@dataclass(frozen=True)
class ServerReading:
    """One server's own view of its license, read over ``source`` at ``read_at``.

    ``licensed``: vm = LicSubscribersMax, um = LicUMSubscribersMax, inbox =
    LicVMISubscribersMax. ``published_used``: vm = AvLicUtilizationSubscribers
    (ciscoUnityLicUtilSubs), inbox = AvLicUtilizationVMISubscribers
    (ciscoUnityLicUtilVMISubs), um always 0: a Unity server has no UM counter, so UM
    use is never compared from a reading. None when the server published neither
    counter. When ``error`` is set nothing was read and the four values are None.
    """

    server: str
    source: Source
    read_at: datetime
    reachable: bool
    licensed: Seats | None
    published_used: Seats | None
    pooling_enabled: bool | None
    secondary_licensed: bool | None
    error: str | None

    def __post_init__(self) -> None:
        if self.read_at.tzinfo is None:
            raise ValueError("read_at must be an aware datetime (UTC)")
        if self.error is not None:
            if "\n" in self.error or "\r" in self.error:
                raise ValueError("a reading's error is one line")
            if any(
                v is not None
                for v in (
                    self.licensed,
                    self.published_used,
                    self.pooling_enabled,
                    self.secondary_licensed,
                )
            ):
                raise ValueError("a failed reading carries no values")
        elif self.licensed is None or not self.reachable:
            raise ValueError("a reading without an error is reachable and has licensed seats")

    @property
    def ok(self) -> bool:
        """True when the license was read."""
        return self.error is None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # astimezone would take it as local time
        raise ValueError("read_at must be an aware datetime (UTC)")
    return moment.astimezone(UTC)


def reading_from_license(
    server: str, source: Source, data: LicenseData, *, read_at: datetime
) -> ServerReading:
    """The reading of a server that answered with ``data``.

    Only the VM and Inbox counters count as published: poolsync's own UM counter name
    (``AvLicUtilizationUMSubscribers``, which a lab page may carry) is no Unity field,
    and SNMP has no UM object, so the two sources of one server read alike.
    """
    classes = [c for c in data.published_classes if c is not SeatClass.UM]
    published = None
    if classes:
        used = data.published_used or Seats()
        published = Seats(vm=used.vm, um=0, inbox=used.inbox)
    return ServerReading(
        server=server,
        source=source,
        read_at=_utc(read_at),
        reachable=True,
        licensed=data.licensed,
        published_used=published,
        pooling_enabled=data.pooling_enabled,
        secondary_licensed=data.secondary_licensed,
        error=None,
    )


def failed_reading(
    server: str, source: Source, error: str, *, reachable: bool, read_at: datetime
) -> ServerReading:
    """The reading of a server whose license could not be read, and why (one line)."""
    return ServerReading(
        server=server,
        source=source,
        read_at=_utc(read_at),
        reachable=reachable,
        licensed=None,
        published_used=None,
        pooling_enabled=None,
        secondary_licensed=None,
        error=error,
    )
