"""The doctor and the graph grow linearly with the number of Locations (pure, no server).

Anyone who can create Location objects chooses N. Version 1 of the report named, per
viewer, every server its GC held, every excluded server's finding named every member,
and the graph drew an edge per viewer and server it missed: 1,000 Locations made a
51 MB report, 10,000 exhausted the host. Each case here diagnoses N and 2N Locations
and checks that what comes out (the report as JSON and as text, the graph and its JSON)
and the work done on the way (how often the monitors are read) at most about doubles;
quadratic growth quadruples them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from poolsync.allocation import build_pool_report
from poolsync.doctor.causes import diagnose, locations_seen
from poolsync.doctor.model import DoctorInput, LocationCopy, Monitor, ServerReadings, StoreView
from poolsync.graph.export import to_dot, to_json
from poolsync.graph.pooling import build_graph
from poolsync.model import Location, Seats
from poolsync.render.doctor import doctor_report_json, doctor_report_table
from poolsync.servers.model import ServerReading
from tests.support.doctor_forest import FOREST, NOW, attachment, location, probe, stamps
from tests.support.doctor_forest import topology as hub_topology
from tests.support.doctor_servers import endpoints, failed, reading

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
N = 150
#: Doubling N may at most multiply a size by this: linear growth gives 2 (a little less,
#: for the constant parts), quadratic growth 4.
LINEAR = 2.4


class Counting(tuple[Monitor, ...]):
    """The config's monitors, counting how many times a monitor is read."""

    reads = 0

    def __iter__(self) -> Iterator[Monitor]:
        for monitor in super().__iter__():
            Counting.reads += 1
            yield monitor


@dataclass(frozen=True)
class Case:
    """``lacking``: DC1's Global Catalog (every viewer's) lacks every other Location,
    created on DC2 and not replicated yet. ``disabled``: every other Location has a
    license without pooling (excluded, so a finding each). ``monitors``: the config
    names every server's DC and GC, as `poolsync lab up` writes it. ``live``: every
    server is configured under ``servers:`` with a reading over each protocol; a
    quarter say other licensed seats than their copy, a quarter are unreachable."""

    name: str
    lacking: bool = False
    disabled: bool = False
    monitors: bool = False
    live: bool = False


CASES = [
    Case("healthy"),
    Case("half-lacking", lacking=True),
    Case("half-excluded", disabled=True),
    Case("every-monitor", monitors=True),
    Case("live-readings", live=True),
    Case("all-at-once", lacking=True, disabled=True, monitors=True, live=True),
]


def live_view(locations: list[Location]) -> ServerReadings:
    servers = tuple(endpoints(loc.name) for loc in locations)
    readings: list[ServerReading] = []
    for i, loc in enumerate(locations):
        for source in ("http", "snmp"):
            if i % 4 == 3:
                readings.append(failed(loc.name, source, f"{source}://x: no answer"))
            else:
                readings.append(
                    reading(loc.name, source, licensed=Seats(600 if i % 4 == 1 else 500, 100, 50))
                )
    return ServerReadings(servers=servers, readings=tuple(readings))


def forest(n: int, case: Case) -> DoctorInput:
    locations: list[Location] = []
    for i in range(n):
        fields: dict[str, object] = {}
        if case.disabled and i % 2:
            fields["attachment"] = attachment(pooling=False)
        locations.append(location(f"UNITY-{i:05d}", **fields))
    probes = []
    for dc in ("DC1", "DC2", "DC3"):
        copies = [
            LocationCopy(
                dc=dc,
                location=loc,
                when_created=T0,
                when_changed=T0,
                usn_changed=1,
                stamps=stamps("DC2" if i % 2 else "DC1"),
            )
            for i, loc in enumerate(locations)
            if not (case.lacking and dc == "DC1" and i % 2)
        ]
        probes.append(probe(dc, copies))
    monitors = (
        Counting(
            Monitor(loc.name, dc="DC2" if i % 2 else "DC1", gc="DC1")
            for i, loc in enumerate(locations)
        )
        if case.monitors
        else Counting()
    )
    return DoctorInput(
        forest=FOREST,
        topology=hub_topology(),
        probes=tuple(probes),
        monitors=monitors,
        default_gc="DC1",
        now=NOW,
        live=live_view(locations) if case.live else None,
        store=StoreView(gc="DC1", synced_at=NOW, locations=tuple(locations)),
    )


def sizes(n: int, case: Case) -> dict[str, int]:
    inp = forest(n, case)
    Counting.reads = 0
    report = diagnose(inp)
    reads = Counting.reads
    locations = locations_seen(inp)
    pool = build_pool_report(FOREST, locations, {})
    graph = build_graph(
        FOREST,
        inp.topology,
        pool,
        locations,
        inp.monitors,
        default_gc=inp.default_gc,
        doctor=report,
    )
    doc: dict[str, Any] = doctor_report_json(report)
    return {
        "doctor json": len(json.dumps(doc, indent=2)),
        "doctor text": len(doctor_report_table(report)),
        "graph edges": graph.number_of_edges(),
        "graph json": len(json.dumps(to_json(graph, generated=NOW), indent=2)),
        "graph dot": len(to_dot(graph, title="t")),
        "monitor reads": reads,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_doctor_and_graph_grow_linearly(case: Case) -> None:
    small, large = sizes(N, case), sizes(2 * N, case)
    grew = {k: round(large[k] / small[k], 2) for k in small if small[k]}
    assert all(ratio <= LINEAR for ratio in grew.values()), grew
    if case.monitors:
        assert small["monitor reads"] > 0  # the counter saw the monitors at all


def test_the_scale_forest_is_what_it_says() -> None:
    """The cases measure what they claim: the viewers behind DC1 miss half the servers,
    and half the servers are excluded."""
    report = diagnose(forest(20, Case("x", lacking=True, disabled=True)))
    (row,) = report.visibility
    assert (row.gc, len(row.viewers), row.holds, len(row.missing)) == ("DC1", 10, 10, 10)
    causes = sorted({f.cause for s in report.servers for f in s.findings})
    assert causes == ["pooling-disabled", "replication-pending"]
    pending = [f for s in report.servers for f in s.findings if f.cause == "replication-pending"]
    assert len(pending) == 10
    assert all(f.affects.count == 10 and f.affects.gcs == ("DC1",) for f in pending)


def test_the_live_scale_forest_is_what_it_says() -> None:
    report = diagnose(forest(20, Case("x", live=True)))
    found = sorted((f.cause, s.name) for s in report.servers for f in s.findings)
    assert [c for c, _ in found] == ["attachment-differs"] * 5 + ["server-unreachable"] * 5


def test_equal_copies_from_several_endpoints_are_one_location() -> None:
    """Each endpoint's copy of a Location is decoded apart; equal ones are kept once
    (four endpoints held four copies of every attachment)."""
    import uuid

    from poolsync.doctor.probe import _copy
    from poolsync.model import Entry
    from poolsync.profile import load_profile

    profile = load_profile("cisco-unity")
    loc = profile.location
    entry = Entry(
        f"CN=UNITY-A,CN=Locations,{FOREST}",
        {
            "objectguid": [uuid.UUID(int=1).bytes_le],
            "cn": [b"UNITY-A"],
            loc.name.lower(): [b"UNITY-A"],
            loc.pooling_data.lower(): [b"<xml/>" * 100],
        },
    )
    shared: dict[Location, Location] = {}
    first, second = (
        _copy(Entry(entry.dn, dict(entry.attributes)), dc, profile, shared) for dc in ("DC1", "DC2")
    )
    assert first.location is second.location
    assert (first.dc, second.dc) == ("DC1", "DC2")
    changed = Entry(entry.dn, {**entry.attributes, loc.pooling_data.lower(): [b"<new/>"]})
    third = _copy(changed, "DC3", profile, shared)
    assert third.location is not first.location and third.location.attachment == b"<new/>"
