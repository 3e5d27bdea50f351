"""Total resync against a real Samba AD DC, then the pool report, number by number.

tests/topologies/exclusions.yaml has every exclusion reason, a failover pair and a
server publishing stale utilization; the expected numbers below follow from the rules
in docs/allocation.md (worked out by hand in the comments).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support.helpers import run, run_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synced(exclusions_lab: Path) -> Path:
    config = exclusions_lab / "poolsync.yaml"
    summary = run_json("--config", config, "resync", "--total", "--format", "json")
    assert summary["meta"]["type"] == "resync-summary"
    return config


def seats(vm: int, um: int, inbox: int) -> dict[str, int]:
    return {"vm": vm, "um": um, "inbox": inbox}


def test_resync_reads_every_object_in_both_passes(exclusions_lab: Path) -> None:
    config = exclusions_lab / "poolsync.yaml"
    summary = run_json("--config", config, "resync", "--total", "--format", "json")
    by_pass = {p["name"]: p for p in summary["passes"]}
    assert set(by_pass) == {"domain", "gc"}
    # 8 Locations; 62+25+12+7+5+6+3 = 120 subscribers, seen by each pass.
    for p in by_pass.values():
        assert (p["locations"], p["subscribers"]) == (8, 120)
        assert p["usn"] > 0
        assert p["dc_host"].lower() == "dc1.pool.example.net"
    assert by_pass["domain"]["endpoint"].endswith(":636")
    assert by_pass["gc"]["endpoint"].endswith(":3269")
    assert summary["servers"] == 8
    assert summary["subscribers"] == 120


def test_pool_report_json_is_exact(synced: Path) -> None:
    report = run_json("--config", synced, "pool", "--format", "json")
    assert report["meta"]["type"] == "pool-report"
    assert report["meta"]["version"] == 1
    [pool] = report["pools"]
    assert pool["id"] == "pool.example.net"
    assert pool["members"] == ["UNITY-A", "UNITY-B", "UNITY-D"]
    # licensed: 50+40+30, 20+10+5, 10+10+0; used: 62+25+12, 12+14+2, 4+3+0
    # Real-shaped subscribers carry no license class: VM use is the directory's count,
    # UM and Inbox use each server's published utilization (which the lab publishes true).
    assert pool["seats"] == {
        "vm": {
            "licensed": 120,
            "used": 99,
            "used_source": "directory",
            "available": 21,
            "compliant": True,
        },
        "um": {
            "licensed": 35,
            "used": 28,
            "used_source": "published",
            "available": 7,
            "compliant": True,
        },
        "inbox": {
            "licensed": 20,
            "used": 7,
            "used_source": "published",
            "available": 13,
            "compliant": True,
        },
    }
    assert {s["name"]: s["used_source"] for s in pool["servers"]}["UNITY-B"] == {
        "vm": "directory",
        "um": "published",
        "inbox": "published",
    }
    assert {s["name"]: s["matched_by"] for s in pool["servers"]}["UNITY-B"] == ["object_id"]
    servers = {s["name"]: s for s in pool["servers"]}
    a, b, d = servers["UNITY-A"], servers["UNITY-B"], servers["UNITY-D"]
    assert a["failover"] == "UNITY-A2"
    assert b["failover"] is None and d["failover"] is None
    assert a["licensed"] == seats(50, 20, 10) and a["used"] == seats(62, 12, 4)
    # UNITY-A publishes stale counts: 55 VM instead of the 62 homed on it.
    assert a["published_used"] == seats(55, 12, 4)
    assert b["published_used"] == b["used"] == seats(25, 14, 3)
    assert d["used"] == seats(12, 2, 0)
    # Borrowed: A is 12 VM over, B is 4 UM over.
    assert a["borrowed"] == seats(12, 0, 0)
    assert b["borrowed"] == seats(0, 4, 0)
    assert d["borrowed"] == seats(0, 0, 0)
    # VM: 12 borrowed, surplus B 15, D 18 -> 12*15/33 = 5.45, 12*18/33 = 6.55 -> 5, 7.
    # UM: 4 borrowed, surplus A 8, D 3 -> 4*8/11 = 2.91, 4*3/11 = 1.09 -> 3, 1.
    assert a["lent"] == seats(0, 3, 0)
    assert b["lent"] == seats(5, 0, 0)
    assert d["lent"] == seats(7, 1, 0)
    excluded = {(e["name"], e["reason"]) for e in report["excluded"]}
    assert excluded == {
        ("UNITY-A2", "failover-secondary"),
        ("UNITY-M", "attachment-missing"),
        ("UNITY-OLD", "version-unsupported"),
        ("UNITY-P", "pooling-disabled"),
        ("UNITY-X", "attachment-corrupt"),
    }
    assert [e["name"] for e in report["excluded"]] == sorted(n for n, _ in excluded)
    assert all(e["detail"] for e in report["excluded"])
    # Subscribers of excluded servers: P 7, M 5, X 6, OLD 3. Without license classes
    # the directory says nothing of their UM and Inbox use: only VM is counted.
    assert report["unpooled"] == seats(21, 0, 0)


def test_pool_report_table_and_csv(synced: Path) -> None:
    table = run("--config", synced, "pool")
    assert table.exit_code == 0, table.stderr
    for word in ("UNITY-A", "UNITY-B", "UNITY-D", "attachment-corrupt", "STALE"):
        assert word in table.stdout
    assert table.stderr == ""
    result = run("--config", synced, "pool", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    vm_a = next(
        r
        for r in rows
        if r["server"] == "UNITY-A" and r["class"] == "vm" and r["status"] == "member"
    )
    assert (vm_a["licensed"], vm_a["used"], vm_a["borrowed"]) == ("50", "62", "12")
