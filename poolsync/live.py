"""The servers' own readings beside the directory's copy (pure).

``servers probe`` keeps what each Unity server says about its own license
(:class:`~poolsync.servers.model.ServerReading`). Here those readings meet the pool:
:func:`best_readings` picks each server's reading to show, :func:`compare` says where
it and the Location's attachment disagree, and :func:`live_locations` gives the
Locations with attachments made from the readings, so that ``pool --source servers``
builds the pool from what the servers say (membership from their
``LicPoolingIsEnabled``, licensed seats from their licenses) while VM use is still the
directory's count of the subscribers homed on each.

Entry points: :func:`best_readings`, :func:`compare`, :func:`live_locations`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from poolsync.attachment import LicenseData, format_attachment, license_data, parse_attachment
from poolsync.errors import AttachmentError
from poolsync.model import SEAT_CLASSES, Location, Seats
from poolsync.servers.model import SOURCES, ServerReading

__all__ = ["LiveView", "best_readings", "compare", "live_locations"]


def best_readings(readings: Iterable[ServerReading]) -> dict[str, ServerReading]:
    """Per server (by lower-cased name), the reading to show: the latest one that read
    the license, http before snmp at the same time; else the latest failed one."""
    order = {s: i for i, s in enumerate(SOURCES)}
    best: dict[str, ServerReading] = {}
    for reading in readings:
        key = reading.server.lower()
        held = best.get(key)
        rank = (reading.ok, reading.read_at, -order[reading.source])
        if held is None or rank > (held.ok, held.read_at, -order[held.source]):
            best[key] = reading
    return best


@dataclass(frozen=True)
class LiveView:
    """A server's reading and how it differs from its Location's attachment."""

    reading: ServerReading
    #: Field by field where the server and the directory's copy disagree:
    #: (field, directory's value, server's value), as words.
    differences: tuple[tuple[str, str, str], ...]

    @property
    def differs(self) -> bool:
        return bool(self.differences)


def _directory_data(location: Location) -> LicenseData | None:
    if location.attachment is None:
        return None
    try:
        return parse_attachment(location.attachment)
    except AttachmentError:
        return None


def _seats_text(seats: Seats | None) -> str:
    return "none" if seats is None else "/".join(str(seats.get(c)) for c in SEAT_CLASSES)


def compare(location: Location, reading: ServerReading) -> LiveView:
    """Where ``reading`` (read) and the Location's attachment disagree: licensed seats,
    pooling and the secondary flag; no attachment (or one that does not parse) differs
    from any license read."""
    if not reading.ok:
        return LiveView(reading, ())
    data = _directory_data(location)
    if data is None:
        what = "none" if location.attachment is None else "unreadable"
        return LiveView(reading, (("attachment", what, "license read"),))
    differences = []
    if data.licensed != reading.licensed:
        differences.append(
            ("licensed VM/UM/Inbox", _seats_text(data.licensed), _seats_text(reading.licensed))
        )
    if reading.pooling_enabled is not None and data.pooling_enabled != reading.pooling_enabled:
        differences.append(("pooling", _yes(data.pooling_enabled), _yes(reading.pooling_enabled)))
    if (
        reading.secondary_licensed is not None
        and data.secondary_licensed != reading.secondary_licensed
    ):
        differences.append(
            ("secondary licensed", _yes(data.secondary_licensed), _yes(reading.secondary_licensed))
        )
    return LiveView(reading, tuple(differences))


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def live_locations(
    locations: Sequence[Location], readings: Mapping[str, ServerReading]
) -> tuple[list[Location], list[str]]:
    """``locations`` with each attachment replaced by one made from its server's
    reading (``readings`` by lower-cased name, from :func:`best_readings`), and the
    names of the servers without a usable reading (they keep the directory's copy).

    A failover secondary keeps its Location as it is: it carries no license of its own.
    Voice ports are not read from the servers: the directory's copy's are kept.
    """
    out: list[Location] = []
    missing: list[str] = []
    for location in locations:
        reading = readings.get(location.name.lower())
        if location.failover_of is not None:
            out.append(location)
            continue
        if reading is None or not reading.ok or reading.licensed is None:
            missing.append(location.name)
            out.append(location)
            continue
        directory = _directory_data(location)
        data = license_data(
            licensed=reading.licensed,
            pooling=bool(reading.pooling_enabled),
            secondary=bool(reading.secondary_licensed),
            ports=directory.voice_ports if directory is not None else 0,
            published=reading.published_used,
        )
        out.append(
            dataclasses.replace(
                location, attachment=format_attachment(data), attachment_refused=None
            )
        )
    return out, missing
