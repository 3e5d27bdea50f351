"""The doctor's test forest: three DCs (DC1 to DC3), a Unity server homed on each, their
Locations' copies and stamps, and a doctor run over them (:func:`build`); the
classifier's tests (test_doctor_causes) and the live and scale tests build on it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from poolsync.attachment import format_attachment, license_data
from poolsync.doctor.model import (
    DcProbe,
    DoctorInput,
    DoctorReport,
    Finding,
    LocationCopy,
    Monitor,
    ServerHealth,
    StoreView,
)
from poolsync.forest import AttributeStamp, Connection, DomainController, ForestConfig
from poolsync.model import Location, Seats

FOREST = "lab.example.com"
NC = "DC=lab,DC=example,DC=com"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SYNC = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
LATE = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ATTACHMENT_ATTID = 590045
DCS = ("DC1", "DC2", "DC3")
HOME = {"UNITY-A": "DC1", "UNITY-B": "DC2", "UNITY-C": "DC3"}
INVOCATION = {"DC1": "inv-dc1", "DC2": "inv-dc2", "DC3": "inv-dc3"}


def dsa(name: str) -> str:
    return f"CN=NTDS Settings,CN={name},CN=Servers,CN=Default,CN=Sites,CN=Configuration,{NC}"


def dc(name: str, *, inbound_disabled: bool = False) -> DomainController:
    return DomainController(
        name=name,
        site="Default",
        dsa_dn=dsa(name),
        gc=True,
        invocation_id=INVOCATION[name],
        inbound_disabled=inbound_disabled,
    )


def conn(source: str, target: str, *, enabled: bool = True) -> Connection:
    return Connection(
        name=f"{source}-{target}",
        dn=f"CN={source}-{target},{dsa(target)}",
        source=source,
        target=target,
        enabled=enabled,
    )


def topology(*, disabled: Iterable[tuple[str, str]] = ()) -> ForestConfig:
    """DC1 is the hub: DC2 and DC3 replicate with it both ways, not with each other."""
    off = set(disabled)
    pairs = [("DC2", "DC1"), ("DC3", "DC1"), ("DC1", "DC2"), ("DC1", "DC3")]
    return ForestConfig(
        dcs=tuple(dc(n) for n in DCS),
        connections=tuple(
            sorted(
                (conn(s, t, enabled=(s, t) not in off) for s, t in pairs),
                key=lambda c: (c.target, c.source),
            )
        ),
    )


def attachment(*, pooling: bool = True, published: Seats | None = None) -> str:
    return format_attachment(
        license_data(
            licensed=Seats(500, 100, 50),
            pooling=pooling,
            secondary=True,
            ports=24,
            published=published,
        )
    )


def location(name: str, **fields: object) -> Location:
    values: dict[str, object] = {"version": "4.0(5)", "attachment": attachment()}
    values.update(fields)
    return Location(
        guid=f"guid-{name}",
        dn=f"CN={name},CN=Locations,{NC}",
        name=name,
        object_id=f"oid-{name}",
        **values,  # type: ignore[arg-type]
    )


def stamps(home: str, *, version: int = 1, changed: datetime = T0) -> tuple[AttributeStamp, ...]:
    return (
        AttributeStamp(0, 1, T0, INVOCATION[home], 100, 100),
        AttributeStamp(ATTACHMENT_ATTID, version, changed, INVOCATION[home], 200, 200),
    )


def probe(
    name: str, copies: Sequence[LocationCopy] = (), *, error: str | None = None, gc: bool = True
) -> DcProbe:
    port = 3269 if gc else 636
    return DcProbe(
        dc=name,
        url=f"ldaps://{name.lower()}.{FOREST}:{port}",
        gc=gc,
        read_at=NOW,
        copies=() if error else tuple(copies),
        error=error,
    )


MONITORS = tuple(Monitor(server=n, dc=d, gc=d) for n, d in HOME.items())


def build(
    locations: Sequence[Location] | None = None,
    *,
    absent: Mapping[str, set[str]] | None = None,
    newer: Mapping[str, set[str]] | None = None,
    errors: Mapping[str, str] | None = None,
    topo: ForestConfig | None = None,
    store: StoreView | bool | None = True,
    **extra: object,
) -> DoctorInput:
    """Every Location on every DC's GC, except ``absent[name]``; ``newer[name]`` holds the
    DCs that already have the latest change of the attachment (default: all of them)."""
    locations = list(
        locations
        if locations is not None
        else [location(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    )
    absent, newer, errors = absent or {}, newer or {}, errors or {}
    probes = []
    for name in DCS:
        copies = []
        for loc in locations:
            if name in absent.get(loc.name, set()):
                continue
            fresh = loc.name not in newer or name in newer[loc.name]
            copies.append(
                LocationCopy(
                    dc=name,
                    location=loc,
                    when_created=T0,
                    when_changed=T1 if fresh else T0,
                    usn_changed=4711,
                    stamps=stamps(
                        HOME.get(loc.name, "DC1"),
                        version=2 if fresh else 1,
                        changed=T1 if fresh else T0,
                    ),
                )
            )
        probes.append(probe(name, copies, error=errors.get(name)))
    view: StoreView | None = None
    if store is True:
        view = StoreView(gc="DC1", synced_at=SYNC, locations=tuple(locations))
    elif isinstance(store, StoreView):
        view = store
    values: dict[str, object] = {"monitors": MONITORS, "now": NOW}
    values.update(extra)
    return DoctorInput(
        forest=FOREST,
        topology=topo or topology(),
        probes=tuple(probes),
        store=view,
        **values,  # type: ignore[arg-type]
    )


def health(report: DoctorReport, name: str) -> ServerHealth:
    (match,) = [s for s in report.servers if s.name == name]
    return match


def causes(report: DoctorReport) -> set[tuple[str, str]]:
    return {(s.name, f.cause) for s in report.servers for f in s.findings}


def only_finding(report: DoctorReport, name: str, cause: str) -> Finding:
    (match,) = [f for f in health(report, name).findings if f.cause == cause]
    return match
