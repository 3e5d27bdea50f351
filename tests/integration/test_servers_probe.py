"""`servers probe`, and `pool` beside it, on the servers lab (tests/topologies/
servers.yaml): every server read over HTTP and SNMP, each reading kept in the store,
the unreachable one said so; `pool` shows the servers' own numbers beside the
directory's copy and flags where they differ; `pool --source servers` builds the pool
from what the servers say."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poolsync.lab import build
from poolsync.profile import load_profile
from tests.support.helpers import run
from tests.support.lab import TOPOLOGIES, require_samba, require_tools
from topology.spec import load_topology

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_samba()
    require_tools({"lighttpd": "lighttpd", "snmpd": "snmpd"})
    lab_dir = tmp_path_factory.mktemp("labs") / "probe"
    build.up(
        load_topology(TOPOLOGIES / "servers.yaml"),
        load_profile("cisco-unity"),
        lab_dir,
        step=lambda _msg: None,
        progress=lambda _done, _total: None,
    )
    try:
        assert run("--config", lab_dir / build.CONFIG_FILE, "resync", "--total").exit_code == 0
        yield lab_dir
    finally:
        build.down(lab_dir)


@pytest.fixture(scope="module")
def probed(lab: Path) -> dict[str, Any]:
    result = run("--config", lab / build.CONFIG_FILE, "servers", "probe", "--format", "json")
    assert result.exit_code == 3, result.stderr  # UNITY-DOWN could not be read
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def by_server(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["name"], r["source"]): r for r in doc["servers"]}


def test_every_server_is_read_over_both_protocols(probed: dict[str, Any]) -> None:
    assert probed["meta"]["type"] == "server-probe"
    readings = by_server(probed)
    assert sorted(readings) == [
        (n, s)
        for n in ("UNITY-DOWN", "UNITY-NEW", "UNITY-OK", "UNITY-STALE")
        for s in ("http", "snmp")
    ]
    for source in ("http", "snmp"):
        ok, stale = readings["UNITY-OK", source], readings["UNITY-STALE", source]
        assert ok["reachable"] and ok["error"] is None
        assert ok["licensed"] == {"vm": 50, "um": 10, "inbox": 5}
        assert ok["published_used"] == {"vm": 5, "um": 0, "inbox": 1}
        assert (ok["pooling_enabled"], ok["secondary_licensed"]) == (True, True)
        assert stale["licensed"] == {"vm": 60, "um": 5, "inbox": 0}  # live, not the copy's 40
        assert readings["UNITY-NEW", source]["licensed"]["vm"] == 30
        down = readings["UNITY-DOWN", source]
        assert (down["reachable"], down["licensed"]) == (False, None)
        assert "\n" not in down["error"]


def test_each_reading_is_kept_and_probing_again_adds_a_history(
    lab: Path, probed: dict[str, Any]
) -> None:
    config = lab / build.CONFIG_FILE
    again = run("--config", config, "servers", "probe", "--server", "unity-ok", "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert [(r["name"], r["source"]) for r in json.loads(again.stdout)["servers"]] == [
        ("UNITY-OK", "http"),
        ("UNITY-OK", "snmp"),
    ]
    with sqlite3.connect(lab / "poolsync.db") as db:
        counts = dict(
            db.execute("SELECT server, count(*) FROM server_readings GROUP BY server").fetchall()
        )
    assert counts == {"UNITY-DOWN": 2, "UNITY-NEW": 2, "UNITY-OK": 4, "UNITY-STALE": 2}


def test_a_server_not_configured_or_no_servers_section_is_a_usage_error(lab: Path) -> None:
    config = lab / build.CONFIG_FILE
    unknown = run("--config", config, "servers", "probe", "--server", "UNITY-X")
    assert unknown.exit_code == 2
    assert "UNITY-X not in the config's servers: section" in unknown.stderr
    bare = lab / "no-servers.yaml"
    bare.write_text(
        "\n".join(line for line in config.read_text().split("\nservers:")[0].splitlines()) + "\n"
    )
    bare.chmod(0o600)
    none = run("--config", bare, "servers", "probe")
    assert none.exit_code == 2, none.stderr
    assert "no servers: section" in none.stderr


def server_entries(pool: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = {s["name"]: s for p in pool["pools"] for s in p["servers"]}
    entries.update({e["name"]: e for e in pool["excluded"]})
    return entries


def test_pool_shows_the_servers_own_numbers_and_flags_differences(
    lab: Path, probed: dict[str, Any]
) -> None:
    result = run("--config", lab / build.CONFIG_FILE, "pool", "--format", "json")
    pool = json.loads(result.stdout)
    assert pool["source"] == "directory"
    servers = server_entries(pool)
    assert servers["UNITY-OK"]["live_differs"] is False
    assert servers["UNITY-OK"]["live_licensed"] == {"vm": 50, "um": 10, "inbox": 5}
    assert servers["UNITY-STALE"]["live_differs"] is True
    assert servers["UNITY-STALE"]["licensed"]["vm"] == 40  # the directory's copy
    assert servers["UNITY-STALE"]["live_differences"] == [
        {"field": "licensed VM/UM/Inbox", "directory": "40/5/0", "server": "60/5/0"}
    ]
    assert servers["UNITY-NEW"]["reason"] == "attachment-missing"
    assert servers["UNITY-NEW"]["live_differs"] is True
    assert servers["UNITY-DOWN"]["live_differs"] is None
    assert servers["UNITY-DOWN"]["live_error"]
    assert servers["UNITY-OK2"]["live_read_at"] is None  # a secondary: never probed
    table = run("--config", lab / build.CONFIG_FILE, "pool")
    assert "Live: UNITY-STALE differs from its directory copy" in table.stdout
    assert "Live: UNITY-DOWN could not be read" in table.stdout


def test_pool_from_the_servers_takes_their_licenses_and_the_directorys_vm_use(
    lab: Path, probed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    result = run(
        "--config", lab / build.CONFIG_FILE, "pool", "--source", "servers", "--format", "json"
    )
    pool = json.loads(result.stdout)
    assert pool["source"] == "servers"
    [only] = pool["pools"]
    # UNITY-OK 50 + UNITY-STALE 60 (live) + UNITY-NEW 30 (never published) + UNITY-DOWN
    # 20 (no reading: its directory copy, with a warning).
    assert sorted(only["members"]) == ["UNITY-DOWN", "UNITY-NEW", "UNITY-OK", "UNITY-STALE"]
    assert only["seats"]["vm"]["licensed"] == 160
    assert only["seats"]["um"]["licensed"] == 15
    assert only["seats"]["inbox"]["licensed"] == 5
    servers = server_entries(pool)
    # VM use is the directory's count of homed subscribers (UNITY-OK's secondary's too).
    assert {n: servers[n]["used"]["vm"] for n in ("UNITY-OK", "UNITY-STALE", "UNITY-NEW")} == {
        "UNITY-OK": 5,
        "UNITY-STALE": 4,
        "UNITY-NEW": 3,
    }
    assert "no reading from UNITY-DOWN: their licenses come from the directory" in caplog.text
