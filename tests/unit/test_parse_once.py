"""The pool report parses each attachment once; compliance and the graph read its results.

With the parser broken after the report is built, both give the same answer as with it
working: neither parses an attachment the report has read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from poolsync import allocation
from poolsync.allocation import build_pool_report
from poolsync.attachment import format_attachment, license_data
from poolsync.compliance import Limits, assess
from poolsync.forest import ForestConfig
from poolsync.graph.pooling import build_graph
from poolsync.model import Location, Seats

FOREST = "lab.example.com"
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def loc(
    n: int, *, vm: int, pooling: bool = True, ports: int = 24, text: str | None = None
) -> Location:
    body = (
        text
        if text is not None
        else format_attachment(
            license_data(
                licensed=Seats(vm, 0, 0),
                pooling=pooling,
                secondary=False,
                ports=ports,
                published=None,
            )
        )
    )
    return Location(
        guid=f"guid-{n}",
        dn=f"CN=U{n},DC=lab",
        name=f"U{n}",
        object_id=f"oid-{n}",
        version="4.0(5)",
        attachment=body,
    )


LOCATIONS = [
    loc(1, vm=10),
    loc(2, vm=5, ports=96),
    loc(3, vm=7, pooling=False),
    loc(4, vm=0, text="<not xml"),
    Location("guid-5", "CN=U5,DC=lab", "U5", "oid-5", "4.0(5)"),
]
HOMED = {"oid-1": Seats(12), "oid-3": Seats(9)}


def test_the_report_carries_each_parsed_license() -> None:
    report = build_pool_report(FOREST, LOCATIONS, HOMED)
    assert {loc.name: (d.licensed.vm if d else None) for loc, d in report.licenses.items()} == {
        "U1": 10,
        "U2": 5,
        "U3": 7,
        "U4": None,
    }
    assert report.license(LOCATIONS[2]) is not None and report.license(None) is None


def test_compliance_and_graph_do_not_parse_again(monkeypatch: pytest.MonkeyPatch) -> None:
    report = build_pool_report(FOREST, LOCATIONS, HOMED)
    limits = Limits(max_voice_ports=72)

    def answers() -> tuple[object, object]:
        states = assess(report, LOCATIONS, HOMED, limits=limits, first_seen={}, now=NOW)
        graph = build_graph(FOREST, ForestConfig(), report, LOCATIONS)
        return states, sorted(graph.nodes(data=True))

    before = answers()

    def broken(_data: object) -> object:
        raise AssertionError("an attachment parsed again")

    monkeypatch.setattr(allocation, "parse_attachment", broken)
    assert answers() == before
    states, _nodes = before
    # U2 over the voice-port limit (a member), U3 over its own license (not pooled):
    # both assessed from the report's parsed data.
    keys = {str(v.key) for a in states.servers for v in a.violations}  # type: ignore[attr-defined]
    assert keys == {"server:guid-2:voice-ports", "server:guid-3:vm"}
