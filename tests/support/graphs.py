"""A sample forest for the pooling graph and its exports: sites, DCs, Locations and
their attachments, and the graph built from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import networkx as nx

from poolsync.allocation import build_pool_report
from poolsync.attachment import format_attachment, license_data
from poolsync.doctor.model import DoctorReport, Monitor, Visibility
from poolsync.forest import Connection, DomainController, ForestConfig, Site
from poolsync.graph.pooling import build_graph
from poolsync.model import Location, Seats

FOREST = "lab.example.com"
NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
CONFIG_DN = "CN=Configuration,DC=lab,DC=example,DC=com"


def attachment(vm: int, *, pooling: bool = True, published: Seats | None = None) -> str:
    return format_attachment(
        license_data(
            licensed=Seats(vm, 0, 0),
            pooling=pooling,
            secondary=False,
            ports=24,
            published=published,
        )
    )


def guid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def loc(
    n: int,
    name: str,
    *,
    version: str | None = "4.0(5)",
    attachment_text: str | None = None,
    failover_of: str | None = None,
    guid_text: str | None = None,
) -> Location:
    return Location(
        guid=guid_text or guid(n),
        dn=f"CN={name},CN=Locations,DC=lab",
        name=name,
        object_id=f"oid-{n}",
        version=version,
        failover_of=failover_of,
        attachment=attachment_text,
    )


def dc(
    name: str,
    site: str,
    *,
    gc: bool = False,
    inbound_disabled: bool = False,
    outbound_disabled: bool = False,
) -> DomainController:
    dsa = f"CN=NTDS Settings,CN={name},CN=Servers,CN={site},CN=Sites,{CONFIG_DN}"
    host = None if name == "DC2" else f"{name.lower()}.lab.example.com"
    return DomainController(
        name=name,
        site=site,
        dsa_dn=dsa,
        dns_host=host,
        gc=gc,
        inbound_disabled=inbound_disabled,
        outbound_disabled=outbound_disabled,
    )


def conn(source: str, target: str, *, enabled: bool = True) -> Connection:
    return Connection(
        name=f"{source}-to-{target}",
        dn=f"CN={source}-to-{target},CN={target}",
        source=source,
        target=target,
        enabled=enabled,
    )


def sample_topology() -> ForestConfig:
    """Four DCs in three sites. DC4 refuses inbound replication, so nothing reaches it;
    DC3 -> DC2 is switched off but DC3 -> DC1 -> DC2 still carries changes."""
    sites = ("Branch-East", "Branch-West", "HQ")
    return ForestConfig(
        sites=tuple(Site(name=s, dn=f"CN={s},CN=Sites,{CONFIG_DN}") for s in sites),
        dcs=(
            dc("DC1", "HQ", gc=True),
            dc("DC2", "HQ"),
            dc("DC3", "Branch-East", gc=True),
            dc("DC4", "Branch-West", gc=True, inbound_disabled=True),
        ),
        connections=(
            conn("DC2", "DC1"),
            conn("DC3", "DC1"),
            conn("DC4", "DC1"),
            conn("DC1", "DC2"),
            conn("DC3", "DC2", enabled=False),
            conn("DC1", "DC3"),
            conn("DC1", "DC4"),
        ),
    )


def sample_locations() -> list[Location]:
    """Ten Unity servers: six members (one borrowing, one stale), a failover secondary
    and three excluded for different reasons."""
    return [
        loc(1, "UNITY-HQ1", attachment_text=attachment(500)),
        loc(2, "UNITY-HQ2", attachment_text=attachment(300)),
        loc(3, "UNITY-HQ2B", failover_of="oid-2", attachment_text=attachment(300)),
        loc(4, "UNITY-E1", attachment_text=attachment(200, published=Seats(150, 0, 0))),
        loc(5, "UNITY-E2", attachment_text=attachment(200, published=Seats(120, 0, 0))),
        loc(6, "UNITY-E3", attachment_text=attachment(100, pooling=False)),
        loc(7, "UNITY-W1", attachment_text=attachment(250)),
        loc(8, "UNITY-W2", version="3.1(2)", attachment_text=attachment(100)),
        loc(9, "UNITY-OLD"),
        loc(10, "UNITY-X", attachment_text="<AvXmlLicData><broken"),
    ]


HOMED = {
    "oid-1": Seats(400),
    "oid-2": Seats(330),
    "oid-3": Seats(20),
    "oid-4": Seats(180),
    "oid-5": Seats(120),
    "oid-6": Seats(40),
    "oid-7": Seats(90),
}
SAMPLE_MONITORS = (
    Monitor("unity-hq1", dc="dc1.lab.example.com", gc="DC1"),  # case and DNS name
    Monitor("UNITY-HQ2", dc="DC2", gc="DC1"),
    Monitor("UNITY-HQ2B", dc="DC2", gc="DC1"),
    Monitor("UNITY-E1", dc="DC3", gc="DC3"),
    Monitor("UNITY-E2", dc="DC3", gc="DC3"),
    Monitor("UNITY-E3", dc="DC3"),  # no GC monitor: the default GC applies
    Monitor("UNITY-W1", dc="DC4", gc="DC4"),
    Monitor("UNITY-W2", dc="DC4", gc="DC9"),  # DC9 is not in the forest
    Monitor("UNITY-X", dc="DC2", gc="DC1"),
)


@dataclass(frozen=True)
class Sample:
    topology: ForestConfig
    locations: list[Location]
    doctor: DoctorReport

    def graph(
        self, *, default_gc: str | None = "DC1", doctor: DoctorReport | None = None
    ) -> nx.MultiDiGraph:
        report = build_pool_report(FOREST, self.locations, HOMED)
        return build_graph(
            FOREST,
            self.topology,
            report,
            self.locations,
            SAMPLE_MONITORS,
            default_gc=default_gc,
            doctor=doctor,
        )


def sample() -> Sample:
    doctor = DoctorReport(
        forest=FOREST,
        generated=NOW,
        servers=(),
        visibility=(
            Visibility(gc="DC1", viewers=("UNITY-HQ1",), holds=2, missing=()),
            Visibility(
                gc="DC4",
                viewers=("UNITY-W1",),
                holds=1,
                missing=("UNITY-HQ1", "unity-e1", "NOT-A-SERVER"),
            ),
            Visibility(gc="DC9", viewers=("UNITY-W2",), holds=0, missing=(), reachable=False),
        ),
    )
    return Sample(sample_topology(), sample_locations(), doctor)


def sample_graph() -> nx.MultiDiGraph:
    """The 10-server, 4-DC forest with its doctor report (used by test_export too)."""
    s = sample()
    return s.graph(doctor=s.doctor)
