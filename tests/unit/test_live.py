"""The servers' own readings beside the directory's copy (poolsync.live)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from poolsync.allocation import build_pool_report
from poolsync.attachment import format_attachment, license_data, parse_attachment
from poolsync.live import best_readings, compare, live_locations
from poolsync.model import Location, Seats
from poolsync.servers.model import ServerReading, failed_reading

T0, T1 = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
LIVE, COPY = Seats(60, 5, 0), Seats(40, 5, 0)


def reading(
    server: str,
    source: Literal["http", "snmp"] = "http",
    at: datetime = T0,
    *,
    licensed: Seats = LIVE,
    pooling: bool = True,
) -> ServerReading:
    return ServerReading(
        server,
        source,
        at,
        True,
        licensed,
        Seats(4, 0, 0),
        pooling,
        False,
        None,
    )


def location(name: str, licensed: Seats | None = COPY, **kw: object) -> Location:
    attachment = (
        None
        if licensed is None
        else format_attachment(
            license_data(
                licensed=licensed, pooling=True, secondary=False, ports=8, published=Seats(3, 0, 0)
            )
        )
    )
    return Location(
        guid=f"g-{name}",
        dn=f"CN={name}",
        name=name,
        object_id=f"oid-{name}",
        version="4.0(5)",
        attachment=attachment,
        **kw,  # type: ignore[arg-type]
    )


def test_the_reading_shown_is_the_latest_that_read_then_http_first() -> None:
    down = failed_reading("A", "http", "refused", reachable=False, read_at=T1)
    snmp, http = reading("A", "snmp"), reading("A", "http")
    assert best_readings([down, snmp, http])["a"] is http
    assert best_readings([reading("A", "snmp", T1), http])["a"].source == "snmp"
    assert best_readings([down])["a"] is down


def test_compare_names_each_field_that_differs() -> None:
    view = compare(location("A"), reading("A"))
    assert view.differences == (("licensed VM/UM/Inbox", "40/5/0", "60/5/0"),)
    assert not compare(location("A", Seats(60, 5, 0)), reading("A")).differs
    assert compare(location("A", None), reading("A")).differences == (
        ("attachment", "none", "license read"),
    )
    assert not compare(
        location("A"), failed_reading("A", "snmp", "x", reachable=False, read_at=T0)
    ).differs


def test_live_locations_take_the_servers_licenses_and_keep_the_rest() -> None:
    a, b = location("A"), location("B", None)
    secondary = location("A2", None, failover_of="oid-A")
    out, missing = live_locations([a, b, secondary], {"a": reading("A")})
    assert missing == ["B"]
    assert out[1] is b and out[2] is secondary
    data = parse_attachment(out[0].attachment or "")
    assert (data.licensed, data.voice_ports, data.pooling_enabled) == (Seats(60, 5, 0), 8, True)
    report = build_pool_report("f", out, {"oid-A": Seats(4, 0, 0)})
    assert report.pools[0].seats  # A is a member with the server's 60 seats
    assert [s.licensed.vm for s in report.pools[0].servers] == [60]
