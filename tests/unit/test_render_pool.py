"""The pool report's JSON contract, CSV schema and human table."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from rich.console import Console

from poolsync.allocation import PoolReport, build_pool_report
from poolsync.attachment import LicenseData, format_attachment, license_data
from poolsync.model import Location, Seats
from poolsync.render import pool_report_csv, pool_report_json, pool_report_table

FOREST = "lab.example.com"
GENERATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def location(
    name: str,
    licensed: Seats,
    *,
    published: Seats | None = None,
    pooling: bool = True,
    failover_of: str | None = None,
    version: str = "4.2(1)",
) -> Location:
    return Location(
        guid=f"guid-{name}",
        dn=f"CN={name}",
        name=name,
        object_id=f"oid-{name}",
        version=version,
        failover_of=failover_of,
        attachment=format_attachment(
            license_data(
                licensed=licensed, pooling=pooling, secondary=True, ports=24, published=published
            )
        ),
    )


def sample_report(*, over: bool = False) -> PoolReport:
    """UNITY-A borrows 100 VM seats from UNITY-B; B has a secondary and is stale on UM."""
    locations = [
        location("UNITY-A", Seats(500, 200, 50), published=Seats(600, 150, 30)),
        location("UNITY-B", Seats(500, 200, 50), published=Seats(400, 100, 30)),
        location("UNITY-B2", Seats(), failover_of="oid-UNITY-B"),
        location("UNITY-C", Seats(500, 0, 0), pooling=False),
    ]
    homed = {
        "oid-UNITY-A": Seats(620 if over else 600, 150, 30),
        "oid-UNITY-B": Seats(380, 100, 30),
        "oid-UNITY-B2": Seats(20, 5, 0),
        "oid-UNITY-C": Seats(7, 0, 0),
        "oid-unknown": Seats(3, 0, 0),
    }
    return build_pool_report(FOREST, locations, homed)


def empty_report() -> PoolReport:
    return build_pool_report(FOREST, [], {})


def real_server_report() -> PoolReport:
    """UNITY-R publishes VM and Inbox use as a real Unity server does: no UM counter."""
    data = LicenseData(
        licenses={
            "LicSubscribersMax": 500,
            "LicUMSubscribersMax": 200,
            "LicVMISubscribersMax": 50,
            "LicPoolingIsEnabled": 1,
        },
        utilization={"AvLicUtilizationSubscribers": 480, "AvLicUtilizationVMISubscribers": 30},
    )
    real = Location(
        guid="guid-UNITY-R",
        dn="CN=UNITY-R",
        name="UNITY-R",
        object_id="oid-UNITY-R",
        version="4.2(1)",
        attachment=format_attachment(data),
    )
    return build_pool_report(FOREST, [real], {"oid-UNITY-R": Seats(480, 150, 30)})


# --- JSON -------------------------------------------------------------------------

SEAT_KEYS = {"vm", "um", "inbox"}


LIVE_KEYS = {
    "live_licensed",
    "live_used",
    "live_read_at",
    "live_source",
    "live_error",
    "live_differs",
    "live_differences",
}


def test_json_contract_keys() -> None:
    doc = pool_report_json(sample_report(), generated=GENERATED)
    assert set(doc) == {
        "meta",
        "source",
        "pools",
        "excluded",
        "unpooled",
        "orphaned",
        "subscribers",
        "orphans",
        "notes",
    }
    assert doc["source"] == "directory"
    assert set(doc["orphans"]) == {"count", "share", "significant", "homes"}
    assert doc["meta"] == {
        "type": "pool-report",
        "version": 1,
        "generated": "2024-05-01T12:30:00+00:00",
    }
    (pool,) = doc["pools"]
    assert set(pool) == {"id", "members", "seats", "servers", "compliant", "state"}
    assert pool["state"] is None  # not assessed without states
    assert set(pool["seats"]) == SEAT_KEYS
    for seats in pool["seats"].values():
        assert set(seats) == {"licensed", "used", "used_source", "available", "compliant"}
    contract = {"name", "failover", "licensed", "used", "published_used", "borrowed", "lent"}
    for srv in pool["servers"]:
        assert set(srv) == contract | LIVE_KEYS | {
            "guid",
            "stale",
            "secondary_licensed",
            "state",
            "used_source",
            "matched_by",
        }
        assert srv["live_differs"] is None and srv["live_differences"] == []
        assert set(srv["used_source"]) == SEAT_KEYS
        for key in ("licensed", "used", "borrowed", "lent", "published_used"):
            assert set(srv[key]) == SEAT_KEYS
    for exclusion in doc["excluded"]:
        assert set(exclusion) == {"name", "reason", "detail", "guid", "state"} | LIVE_KEYS
    assert set(doc["unpooled"]) == set(doc["orphaned"]) == SEAT_KEYS


def test_json_values() -> None:
    doc = pool_report_json(sample_report(), generated=GENERATED)
    (pool,) = doc["pools"]
    assert pool["id"] == FOREST
    assert pool["members"] == ["UNITY-A", "UNITY-B"]
    assert pool["compliant"] is True
    assert pool["seats"]["vm"] == {
        "licensed": 1000,
        "used": 1000,
        "used_source": "directory",
        "available": 0,
        "compliant": True,
    }
    a, b = pool["servers"]
    assert a["failover"] is None and a["secondary_licensed"] is None
    assert a["borrowed"] == {"vm": 100, "um": 0, "inbox": 0}
    assert b["failover"] == "UNITY-B2" and b["secondary_licensed"] is True
    assert b["lent"] == {"vm": 100, "um": 0, "inbox": 0}
    assert b["used"] == {"vm": 400, "um": 105, "inbox": 30}
    assert b["stale"] == ["um"]
    assert [(e["name"], e["reason"]) for e in doc["excluded"]] == [
        ("UNITY-B2", "failover-secondary"),
        ("UNITY-C", "pooling-disabled"),
    ]
    assert doc["unpooled"] == {"vm": 7, "um": 0, "inbox": 0}
    assert doc["orphaned"] == {"vm": 3, "um": 0, "inbox": 0}
    # and it is plain JSON
    assert json.loads(json.dumps(doc)) == doc


def test_json_unpublished_utilization_is_null() -> None:
    report = build_pool_report(FOREST, [location("UNITY-A", Seats(5, 0, 0))], {})
    (srv,) = pool_report_json(report, generated=GENERATED)["pools"][0]["servers"]
    assert srv["published_used"] is None
    assert srv["stale"] == []


def test_json_unpublished_class_is_null() -> None:
    (srv,) = pool_report_json(real_server_report(), generated=GENERATED)["pools"][0]["servers"]
    assert srv["published_used"] == {"vm": 480, "um": None, "inbox": 30}
    assert srv["stale"] == []


def test_json_empty_pool_still_listed() -> None:
    doc = pool_report_json(empty_report(), generated=GENERATED)
    assert doc["pools"][0]["members"] == []
    assert doc["pools"][0]["servers"] == []
    assert doc["excluded"] == []


# --- CSV --------------------------------------------------------------------------

HEADER = (
    "pool,server,guid,status,class,licensed,used,published_used,borrowed,lent,stale,reason,detail,"
    "state,state_since,used_source"
)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_header() -> None:
    assert pool_report_csv(empty_report()).splitlines()[0] == HEADER
    assert pool_report_csv(sample_report()).splitlines()[0] == HEADER


def test_csv_rows() -> None:
    rows = csv_rows(pool_report_csv(sample_report()))
    statuses = [r["status"] for r in rows]
    assert statuses == (
        ["member"] * 6 + ["pool-total"] * 3 + ["excluded"] * 2 + ["unpooled"] * 3 + ["orphaned"] * 3
    )
    b_um = next(r for r in rows if r["server"] == "UNITY-B" and r["class"] == "um")
    assert b_um == {
        "pool": FOREST,
        "server": "UNITY-B",
        "guid": "guid-UNITY-B",
        "status": "member",
        "class": "um",
        "licensed": "200",
        "used": "105",
        "published_used": "100",
        "borrowed": "0",
        "lent": "0",
        "stale": "true",
        "reason": "",
        "detail": "",
        "state": "",
        "state_since": "",
        "used_source": "directory",
    }
    a_vm = next(r for r in rows if r["server"] == "UNITY-A" and r["class"] == "vm")
    assert (a_vm["borrowed"], a_vm["lent"], a_vm["stale"]) == ("100", "0", "false")
    total_vm = next(r for r in rows if r["status"] == "pool-total" and r["class"] == "vm")
    assert (total_vm["licensed"], total_vm["used"], total_vm["lent"]) == ("1000", "1000", "100")
    excluded = [r for r in rows if r["status"] == "excluded"]
    assert [(r["server"], r["reason"], r["class"], r["pool"]) for r in excluded] == [
        ("UNITY-B2", "failover-secondary", "", ""),
        ("UNITY-C", "pooling-disabled", "", ""),
    ]
    assert "UNITY-B" in excluded[0]["detail"]
    orphaned_vm = next(r for r in rows if r["status"] == "orphaned" and r["class"] == "vm")
    assert orphaned_vm["used"] == "3"


def test_csv_unpublished_is_empty_cell_and_no_seat_rows_when_zero() -> None:
    report = build_pool_report(FOREST, [location("UNITY-A", Seats(5, 0, 0))], {})
    rows = csv_rows(pool_report_csv(report))
    assert {r["status"] for r in rows} == {"member", "pool-total"}
    assert all(r["published_used"] == "" for r in rows)


def test_csv_unpublished_class_is_empty_cell() -> None:
    rows = csv_rows(pool_report_csv(real_server_report()))
    members = {r["class"]: r for r in rows if r["status"] == "member"}
    assert {c: r["published_used"] for c, r in members.items()} == {
        "vm": "480",
        "um": "",
        "inbox": "30",
    }
    assert {r["stale"] for r in members.values()} == {"false"}


def test_csv_quotes_details_with_commas() -> None:
    report = build_pool_report(FOREST, [location("OLD", Seats(), version="3.1(2)")], {})
    text = pool_report_csv(report)
    assert '"version 3.1(2) is below 4.0, the first with license pooling"' in text
    (row,) = [r for r in csv_rows(text) if r["status"] == "excluded"]
    assert row["detail"] == "version 3.1(2) is below 4.0, the first with license pooling"


# --- table ------------------------------------------------------------------------


def render(report: PoolReport) -> str:
    console = Console(record=True, width=100, color_system=None)
    pool_report_table(report, console)
    return console.export_text()


def test_table_contents() -> None:
    text = render(sample_report())
    assert "Pool lab.example.com — 2 servers" in text
    for name in ("UNITY-A", "UNITY-B", "UNITY-B2", "UNITY-C"):
        assert name in text
    assert "600/500" in text  # used/licensed
    assert "STALE UM" in text
    assert "Pool total" in text
    assert "compliant: 1,000 of 1,000 VM seats used, 0 available" in text
    assert "compliant: 255 of 400 UM seats used, 145 available" in text
    assert "NOT COMPLIANT" not in text
    assert "Excluded from the pool" in text
    assert "pooling-disabled" in text and "failover-secondary" in text
    assert "Unpooled: 7 VM, 0 UM, 0 Inbox seats" in text
    assert "Orphaned: 3 subscribers' home matches no Location (0.3% of the 1,010 read)" in text


def test_table_shows_dash_for_unpublished_class() -> None:
    text = render(real_server_report())
    assert "480/-/30" in text
    assert "STALE" not in text
    assert "(- not published)" in " ".join(text.split())  # the caption explains the dash


def test_table_unpublished_server() -> None:
    text = render(build_pool_report(FOREST, [location("UNITY-A", Seats(5, 0, 0))], {}))
    (row,) = [line for line in text.splitlines() if line.strip().startswith("UNITY-A")]
    assert row.rstrip().endswith("not published")


def test_table_not_compliant() -> None:
    text = render(sample_report(over=True))
    assert "NOT COMPLIANT: 1,020 of 1,000 VM seats used, over by 20" in text
    assert "compliant: 255 of 400 UM seats used" in text


def test_table_fits_100_columns() -> None:
    for line in render(sample_report()).splitlines():
        assert len(line.rstrip()) <= 100


@pytest.mark.parametrize(("count", "title"), [(0, "0 servers"), (1, "1 server")])
def test_table_title_counts(count: int, title: str) -> None:
    locations = [location("UNITY-A", Seats(5, 0, 0))][:count]
    text = render(build_pool_report(FOREST, locations, {}))
    assert f"Pool lab.example.com — {title}" in [line.strip() for line in text.splitlines()]


def test_table_quiet_when_nothing_excluded() -> None:
    text = render(empty_report())
    assert "No servers excluded from the pool." in text
    assert "Unpooled" not in text and "Orphaned" not in text
    assert "Excluded from the pool" not in text


def test_table_does_not_interpret_markup_in_names() -> None:
    report = build_pool_report(FOREST, [location("[bold]X[/bold]", Seats(5, 0, 0))], {})
    assert "[bold]X[/bold]" in render(report)
