"""The doctor beside what each lab Unity server says about its own license.

One lab for the module (tests/topologies/servers.yaml, as test_lab_servers.py brings
it up): a total resync, then every server read over HTTP and SNMP and the readings
stored (`servers probe`), then `doctor --format json`: the stale copy is
attachment-differs, the never published one attachment-not-published, the server
whose endpoints are down server-unreachable, and the server in sync none of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poolsync.lab import build
from poolsync.profile import load_profile
from tests.support.helpers import run
from tests.support.lab import TOPOLOGIES, require_samba
from topology.spec import load_topology

pytestmark = pytest.mark.integration

TOPOLOGY = TOPOLOGIES / "servers.yaml"
LIVE = {"attachment-not-published", "attachment-differs", "server-unreachable"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_samba()
    lab_dir = tmp_path_factory.mktemp("labs") / "doctor-servers"
    build.up(
        load_topology(TOPOLOGY),
        load_profile("cisco-unity"),
        lab_dir,
        step=lambda _msg: None,
        progress=lambda _done, _total: None,
    )
    try:
        yield lab_dir
    finally:
        build.down(lab_dir)


def store_probe(config_path: Path) -> dict[tuple[str, str], tuple[bool, bool]]:
    """`servers probe`: read every configured server, keep the readings; what it read,
    per (server, source): (read, reachable)."""
    probed = run("-c", config_path, "servers", "probe", "--format", "json")
    assert probed.exit_code == 3, probed.stderr  # UNITY-DOWN could not be read
    return {
        (r["name"], r["source"]): (r["error"] is None, r["reachable"])
        for r in json.loads(probed.stdout)["servers"]
    }


@pytest.fixture(scope="module")
def report(lab: Path) -> dict[str, Any]:
    config = lab / build.CONFIG_FILE
    synced = run("-c", config, "resync", "--total")
    assert synced.exit_code == 0, synced.stderr
    read = store_probe(config)
    # Every endpoint was read: both protocols of the three that answer, and neither of
    # UNITY-DOWN's (a failover secondary has no endpoints).
    assert read == {
        **{
            (n, s): (True, True)
            for n in ("UNITY-OK", "UNITY-STALE", "UNITY-NEW")
            for s in ("http", "snmp")
        },
        ("UNITY-DOWN", "http"): (False, False),
        ("UNITY-DOWN", "snmp"): (False, False),
    }
    result = run("-c", config, "doctor", "--format", "json")
    assert result.exit_code == 3, result.stderr  # UNITY-NEW is an error
    doc: dict[str, Any] = json.loads(result.stdout)
    assert doc["meta"]["type"] == "doctor-report"
    return doc


def findings(doc: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    (server,) = [s for s in doc["servers"] if s["name"] == name]
    return {f["cause"]: f for f in server["findings"]}


def test_each_server_has_exactly_its_live_cause(report: dict[str, Any]) -> None:
    live = {
        s["name"]: sorted(f["cause"] for f in s["findings"] if f["cause"] in LIVE)
        for s in report["servers"]
    }
    assert live == {
        "UNITY-OK": [],
        "UNITY-OK2": [],
        "UNITY-STALE": ["attachment-differs"],
        "UNITY-NEW": ["attachment-not-published"],
        "UNITY-DOWN": ["server-unreachable"],
    }
    assert not any("servers probe" in note for note in report["notes"])


def test_the_stale_copy_differs_field_by_field(report: dict[str, Any]) -> None:
    stale = findings(report, "UNITY-STALE")["attachment-differs"]
    assert stale["severity"] == "warning"
    # The topology: licensed vm 40 in the copy, 60 on the server; published vm 3 vs 4
    # (listed beside the licensed difference; UM use is never compared).
    assert "directory vs server: licensed vm 40 vs 60; published vm 3 vs 4." in stale["evidence"]
    # The latest of its two readings (both say the same), with its time; the copy's
    # whenChanged.
    assert re.match(
        r"UNITY-STALE's own license \(over (http|snmp), read 20\d\d-", stale["evidence"]
    )
    assert re.search(r"\(read on DC1, whenChanged 20\d\d-", stale["evidence"])


def test_the_never_published_server_is_attachment_not_published(report: dict[str, Any]) -> None:
    new = findings(report, "UNITY-NEW")
    # It takes attachment-missing's place: the same fact, with the server's own word.
    assert list(new) == ["attachment-not-published"]
    found = new["attachment-not-published"]
    assert found["severity"] == "error"
    assert "UNITY-NEW says its license enables pooling" in found["evidence"]
    assert "carries no pooling attachment" in found["evidence"]
    assert "DOHPropTest's Total Resync on UNITY-NEW" in found["fix"]
    assert "`poolsync resync --total`" in found["fix"]


def test_the_down_server_is_a_note_not_an_error(report: dict[str, Any]) -> None:
    down = findings(report, "UNITY-DOWN")
    assert list(down) == ["server-unreachable"]
    found = down["server-unreachable"]
    assert found["severity"] == "info"
    assert "its http endpoint did not answer" in found["evidence"]
    assert "its snmp endpoint did not answer" in found["evidence"]
    (server,) = [s for s in report["servers"] if s["name"] == "UNITY-DOWN"]
    assert server["healthy"]


def test_the_table_shows_them_too(lab: Path, report: dict[str, Any]) -> None:
    table = run("-c", lab / build.CONFIG_FILE, "doctor")
    assert table.exit_code == 3, table.stderr
    assert "UNITY-NEW  attachment-not-published" in table.stdout
    assert "UNITY-STALE  attachment-differs" in table.stdout
    assert "UNITY-DOWN  server-unreachable" in table.stdout
