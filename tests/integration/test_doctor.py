"""``poolsync doctor`` and ``poolsync graph`` against real Samba labs.

Every cause code is produced here by a real directory scenario:
- two DCs with manual replication (tests/topologies/doctor-2dc.yaml): a Location
  created on DC2 and not replicated (replication-pending), the same after
  ``lab replicate`` (healthy), a store whose GC watermark skipped an object
  (stale-mirror), inbound replication switched off at run time (no-replication-path);
- three DCs whose topology faults break replication (doctor-faults.yaml): a missing
  connection (replication-pending over two hops), a disabled connection and a DC
  refusing inbound (no-replication-path);
- the exclusions lab (one DC): pooling-disabled, version-unsupported,
  attachment-missing, attachment-corrupt, failover-secondary, published-stale, and,
  with the tiny lab as a second forest, other-forest and location-missing.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.config import load_config
from poolsync.directory import LiveSource
from poolsync.lab import build
from poolsync.lab.edit import Add, LabEditor
from poolsync.lab.ldif import location_record
from poolsync.model import Seats
from poolsync.profile import load_profile
from tests.support.helpers import lab_config_copy, run, run_json
from tests.support.lab import TOPOLOGIES, bring_up
from topology.spec import Topology, load_topology

_names = itertools.count(1)


@pytest.fixture(scope="module")
def two_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(TOPOLOGIES / "doctor-2dc.yaml", tmp_path_factory.mktemp("labs") / "two-dc")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(
        TOPOLOGIES / "doctor-faults.yaml", tmp_path_factory.mktemp("labs") / "broken"
    )


def config_for(lab: Path, tmp_path: Path, *, doctor: dict[str, Any] | None = None) -> Path:
    config = lab_config_copy(lab, tmp_path / "poolsync.yaml", store=tmp_path / "store.db")
    if doctor:
        doc = yaml.safe_load(config.read_text())
        section = doc.setdefault("doctor", {})
        for key, value in doctor.items():
            if key == "servers":
                section.setdefault("servers", {}).update(value)
            else:
                section[key] = value
        config.write_text(yaml.safe_dump(doc))
    return config


def doctor(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run("-c", config, "doctor", "--format", "json", *args)
    assert result.exit_code in (0, 3), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert doc["meta"]["type"] == "doctor-report"
    assert (result.exit_code == 0) == doc["healthy"]
    assert doc["healthy"] == (
        all(s["healthy"] for s in doc["servers"])
        and all(d["healthy"] for d in doc["dcs"])
        and not doc["findings"]
    )
    return result.exit_code, doc


def dc_findings(doc: dict[str, Any]) -> dict[str, list[str]]:
    """DC -> its finding causes, for the DCs with findings."""
    return {d["name"]: [f["cause"] for f in d["findings"]] for d in doc["dcs"] if d["findings"]}


def viewers(doc: dict[str, Any], server: str, affects: dict[str, Any]) -> list[str]:
    """A finding's viewers by name, resolved the way docs/doctor.md tells a consumer to:
    its names, the viewers of the visibility rows of its GCs, every member but the
    server itself for ``members``; as many as its count."""
    found = set(affects["names"])
    gcs = {gc.lower() for gc in affects["gcs"]}
    for row in doc["visibility"]:
        if affects["members"] or row["gc"].lower() in gcs:
            found.update(v for v in row["viewers"] if not affects["members"] or v != server)
    assert len(found) == affects["count"], (server, affects, doc["visibility"])
    return sorted(found)


def findings(doc: dict[str, Any]) -> dict[str, list[tuple[str, str, list[str]]]]:
    """server -> [(cause, severity, viewers)] for the servers with findings."""
    return {
        s["name"]: [
            (f["cause"], f["severity"], viewers(doc, s["name"], f["affects"]))
            for f in s["findings"]
        ]
        for s in doc["servers"]
        if s["findings"]
    }


def finding(doc: dict[str, Any], server: str, cause: str) -> dict[str, Any]:
    for s in doc["servers"]:
        if s["name"] == server:
            for f in s["findings"]:
                if f["cause"] == cause:
                    return dict(f)
    raise AssertionError(f"no {cause} finding for {server}: {findings(doc)}")


def visibility(doc: dict[str, Any], viewer: str) -> dict[str, Any]:
    """The visibility row of the GC ``viewer`` looks through."""
    return next(dict(v) for v in doc["visibility"] if viewer in v["viewers"])


def new_location(lab: Path, dc: str) -> str:
    """Create a pooled Location (with nothing homed on it) on ``dc``; its name."""
    state = build.read_state(lab)
    assert state is not None
    topology: Topology = load_topology(Path(state.topology))
    name = f"UNITY-N{next(_names)}"
    spec = dataclasses.replace(
        topology.servers[0], name=name, subscribers=Seats(), published=None, dc=dc, gc=dc
    )
    record = location_record(topology, load_profile("cisco-unity"), spec)
    LabEditor(lab, dc=dc).apply([Add(record.dn, record.attributes)])
    return name


def replicate(lab: Path) -> None:
    result = run("lab", "replicate", "--dir", lab)
    assert result.exit_code == 0, result.stderr


def resync(config: Path, *args: str) -> None:
    result = run("-c", config, "resync", *args)
    assert result.exit_code in (0, 3), result.stderr


# -- two DCs, manual replication ---------------------------------------------------------


def test_lab_status_lists_both_dcs(two_dc: Path) -> None:
    status = run_json("lab", "status", "--dir", two_dc, "--format", "json")
    assert [(d["name"], d["site"], d["running"]) for d in status["dcs"]] == [
        ("DC1", "HQ", True),
        ("DC2", "BRANCH", True),
    ]
    assert status["replication"] == "manual"
    table = run("lab", "status", "--dir", two_dc)
    assert table.exit_code == 0 and "BRANCH" in table.stdout
    assert "poolsync lab replicate" in table.stdout


def test_pending_until_replicated_then_healthy(two_dc: Path, tmp_path: Path) -> None:
    replicate(two_dc)
    config = config_for(two_dc, tmp_path)
    resync(config, "--total")
    code, doc = doctor(config)
    assert code == 0, findings(doc)
    assert {s["name"] for s in doc["servers"]} == {"UNITY-A", "UNITY-B"}

    name = new_location(two_dc, "DC2")
    config = config_for(two_dc, tmp_path, doctor={"servers": {name: {"dc": "DC2", "gc": "DC2"}}})
    code, doc = doctor(config)
    assert code == 3
    assert findings(doc) == {name: [("replication-pending", "warning", ["UNITY-A"])]}
    pending = finding(doc, name, "replication-pending")
    assert "DC2 -> DC1" in pending["evidence"]
    assert "samba-tool drs replicate DC1 DC2" in pending["fix"]
    assert visibility(doc, "UNITY-A")["missing"] == [name]
    assert visibility(doc, "UNITY-A")["holds"] == 2
    assert visibility(doc, "UNITY-B")["missing"] == []  # DC2 holds all three
    assert visibility(doc, "UNITY-B")["holds"] == 3
    assert visibility(doc, "UNITY-A")["gc"] == "DC1"
    assert finding(doc, name, "replication-pending")["affects"] == {
        "count": 1,
        "names": [],
        "gcs": ["DC1"],
        "members": False,
    }

    replicate(two_dc)
    code, doc = doctor(config)
    # On DC1 now, after the store's watermark: not synced yet, which is no finding.
    assert code == 0, findings(doc)
    resync(config)
    code, doc = doctor(config)
    assert code == 0, findings(doc)
    assert all(not v["missing"] for v in doc["visibility"])


def _highest_usn(config_path: Path) -> int:
    config = load_config(config_path)
    source = LiveSource(config.directory, password=config.directory.bind.resolve_password())
    with source.open(config.directory.gc) as conn:
        return conn.root_dse().highest_committed_usn


def test_stale_mirror_when_the_watermark_skipped_an_object(two_dc: Path, tmp_path: Path) -> None:
    replicate(two_dc)
    config = config_for(two_dc, tmp_path)
    resync(config, "--total")
    name = new_location(two_dc, "DC1")
    replicate(two_dc)
    # The store's GC watermark moved past the new object without reading it, as after
    # a GC switch without a total resync.
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("UPDATE passes SET usn = ? WHERE pass = 'gc'", (_highest_usn(config),))
    resync(config)  # incremental: reads after the watermark, so never sees it
    code, doc = doctor(config)
    assert code == 3
    assert findings(doc) == {name: [("stale-mirror", "error", ["poolsync"])]}
    stale = finding(doc, name, "stale-mirror")
    assert "poolsync resync --total" in stale["fix"]
    assert "DC1" in stale["evidence"]

    resync(config, "--total")
    code, doc = doctor(config)
    assert code == 0, findings(doc)


def test_no_replication_path_when_inbound_is_switched_off(two_dc: Path, tmp_path: Path) -> None:
    replicate(two_dc)
    build.set_replication(two_dc, "DC2", inbound=False)
    try:
        name = new_location(two_dc, "DC1")
        config = config_for(
            two_dc, tmp_path, doctor={"servers": {name: {"dc": "DC1", "gc": "DC1"}}}
        )
        result = run("lab", "replicate", "--dir", two_dc)
        assert result.exit_code == 0, result.stderr
        assert "DC1 -> DC2: skipped: DC2 has inbound replication disabled" in result.stdout
        code, doc = doctor(config)
        assert code == 3
        # UNITY-B monitors DC2, which refuses inbound replication: warned even before
        # something goes missing from its view.
        assert findings(doc) == {
            name: [("no-replication-path", "error", ["UNITY-B"])],
            "UNITY-B": [("monitor-dc-unhealthy", "warning", [])],
        }
        assert dc_findings(doc) == {"DC2": ["inbound-replication-disabled"]}
        broken_path = finding(doc, name, "no-replication-path")
        assert "DC2 has inbound replication disabled" in broken_path["evidence"]
        assert "DISABLE_INBOUND_REPL" in broken_path["fix"]
    finally:
        build.set_replication(two_dc, "DC2", inbound=True)
    replicate(two_dc)
    code, doc = doctor(config)
    assert code == 0, findings(doc)


def test_one_server_and_the_table(two_dc: Path, tmp_path: Path) -> None:
    name = new_location(two_dc, "DC2")
    config = config_for(two_dc, tmp_path, doctor={"servers": {name: {"dc": "DC2", "gc": "DC2"}}})
    code, doc = doctor(config, name)
    assert code == 3
    assert [s["name"] for s in doc["servers"]] == [name]
    result = run("-c", config, "doctor", name)
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    headline = next(i for i, line in enumerate(lines) if "replication-pending" in line)
    assert name in lines[headline]
    assert any("samba-tool drs replicate" in line for line in lines[headline:])
    unknown = run("-c", config, "doctor", "UNITY-NOBODY")
    assert unknown.exit_code == 2
    assert "UNITY-NOBODY" in unknown.stderr
    replicate(two_dc)


def test_graph_draws_sites_dcs_and_servers(
    two_dc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replicate(two_dc)
    config = config_for(two_dc, tmp_path)
    resync(config, "--total")
    svg = tmp_path / "pool.svg"
    result = run("-c", config, "graph", "--format", "svg", "--out", svg)
    assert result.exit_code == 0, result.stderr
    text = html.unescape(svg.read_text())  # Graphviz writes "-" as &#45;
    assert "<svg" in text[:1000]
    for label in ("HQ", "BRANCH", "DC1", "DC2", "UNITY-A", "UNITY-B"):
        assert label in text
    result = run("-c", config, "graph", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["meta"]["type"] == "pool-graph"
    kinds = {(n["kind"], n.get("name", n.get("label"))) for n in doc["nodes"]}
    assert ("site", "HQ") in {(k, v) for k, v in kinds if k == "site"} or any(
        n["kind"] == "site" and "HQ" in n["label"] for n in doc["nodes"]
    )
    replicates = [e for e in doc["edges"] if e["kind"] == "replicates"]
    assert len(replicates) == 2 and all(e["enabled"] for e in replicates)
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))
    result = run("-c", config, "graph", "--format", "svg")
    assert result.exit_code == 2
    assert "apt-get install graphviz" in result.stderr


# -- faults from the topology ----------------------------------------------------------


def test_topology_faults_break_replication(broken: Path, tmp_path: Path) -> None:
    config = config_for(broken, tmp_path)
    code, doc = doctor(config)
    assert code == 3
    # UNITY-B was created on DC2: DC1 pulls from DC2, DC3 accepts nothing.
    # UNITY-C was created on DC3: DC1 has no connection from DC3, but DC2 pulls from
    # DC3 and DC1 from DC2, so it is on its way in two hops.
    assert findings(doc) == {
        "UNITY-B": [
            ("no-replication-path", "error", ["UNITY-C"]),
            ("replication-pending", "warning", ["UNITY-A"]),
            ("monitor-dc-unhealthy", "warning", []),
        ],
        "UNITY-C": [
            ("replication-pending", "warning", ["UNITY-A", "UNITY-B"]),
            ("monitor-dc-unhealthy", "warning", []),
        ],
    }
    # The DCs themselves, whatever the servers see: DC2's connection from DC1 is
    # disabled, DC3 refuses inbound replication (DC1 still pulls from DC2).
    assert dc_findings(doc) == {
        "DC2": ["connection-disabled"],
        "DC3": ["inbound-replication-disabled"],
    }
    # The graph is drawn from what every DC holds, not from the store (which reads DC1
    # only, so it holds UNITY-A alone).
    synced = run("-c", config, "resync", "--total")
    assert synced.exit_code == 0, synced.stderr
    assert "store holds no Location for: UNITY-B, UNITY-C" in " ".join(synced.stderr.split())
    pool = run("-c", config, "pool")
    assert "store holds no Location for: UNITY-B, UNITY-C" in " ".join(pool.stderr.split())
    graph = run_json("-c", config, "graph", "--format", "json")
    nodes = {n["id"] for n in graph["nodes"]}
    assert {"server:UNITY-A", "server:UNITY-B", "server:UNITY-C"} <= nodes
    cannot_see = {(e["source"], e["target"]) for e in graph["edges"] if e["kind"] == "cannot-see"}
    # From each GC's DC to what it lacks: UNITY-C looks through DC3, UNITY-A through DC1.
    assert ("dc:DC3", "server:UNITY-B") in cannot_see
    assert ("dc:DC1", "server:UNITY-C") in cannot_see
    assert not any(source.startswith("server:") for source, _ in cannot_see)
    assert (
        "DC3 has inbound replication disabled"
        in finding(doc, "UNITY-B", "no-replication-path")["evidence"]
    )
    assert "DC3 -> DC2 -> DC1" in finding(doc, "UNITY-C", "replication-pending")["evidence"]

    result = run("lab", "replicate", "--dir", broken)
    assert result.exit_code == 0, result.stderr
    assert "DC3 -> DC1: skipped: DC1 has no connection object pulling from DC3" in result.stdout
    assert "DC1 -> DC2: skipped: the connection DC1 -> DC2 is disabled" in result.stdout
    code, doc = doctor(config)
    # Two rounds carried UNITY-C to DC1 through DC2; nothing reaches DC3.
    assert findings(doc) == {
        "UNITY-B": [
            ("no-replication-path", "error", ["UNITY-C"]),
            ("monitor-dc-unhealthy", "warning", []),
        ],
        "UNITY-C": [("monitor-dc-unhealthy", "warning", [])],
    }

    name = new_location(broken, "DC1")
    config = config_for(broken, tmp_path, doctor={"servers": {name: {"dc": "DC1", "gc": "DC1"}}})
    code, doc = doctor(config)
    assert findings(doc)[name] == [("no-replication-path", "error", ["UNITY-B", "UNITY-C"])]
    evidence = finding(doc, name, "no-replication-path")["evidence"]
    assert "the connection DC1 -> DC2 is disabled" in evidence
    assert "DC3 has inbound replication disabled" in evidence

    refused = run("lab", "replicate", "--dir", broken, "--from", "DC1", "--to", "DC2")
    assert refused.exit_code == 1
    assert "the connection DC1 -> DC2 is disabled" in refused.stderr
    refused = run("lab", "replicate", "--dir", broken, "--from", "DC3", "--to", "DC1")
    assert "DC1 has no connection object pulling from DC3" in refused.stderr

    # Each DC finding's fix names the lab command that mends it: run them as given.
    fixes = [
        re.search(r"`(poolsync lab [^`]+)`", f["fix"]) for d in doc["dcs"] for f in d["findings"]
    ]
    commands = sorted(m.group(1) for m in fixes if m)
    assert commands == [
        "poolsync lab connection --from DC1 --to DC2 --enable",
        "poolsync lab replication DC3 --inbound on",
    ]
    for command in commands:
        result = run(*command.split()[1:], "--dir", broken)
        assert result.exit_code == 0, result.stderr
    assert run("lab", "replicate", "--dir", broken).exit_code == 0
    code, doc = doctor(config)
    assert code == 0, (findings(doc), dc_findings(doc))
    assert dc_findings(doc) == {}


# -- one DC: what the Location itself says, and other forests ---------------------------


def test_exclusions_other_forest_and_missing(
    exclusions_lab: Path, tiny_lab: Path, tmp_path: Path
) -> None:
    other = lab_config_copy(tiny_lab, tmp_path / "tiny.yaml", store=tmp_path / "tiny.db")
    config = config_for(
        exclusions_lab,
        tmp_path,
        doctor={"expected": ["UNITY-T", "UNITY-GHOST"], "other_forests": [str(other)]},
    )
    code, doc = doctor(config)
    assert code == 3
    # No store yet: published-stale and stale-mirror cannot be checked, and it says so.
    assert any("not checked" in note for note in doc["notes"])
    resync(config, "--total")
    code, doc = doctor(config)
    members = ["UNITY-A", "UNITY-B", "UNITY-D"]
    assert findings(doc) == {
        "UNITY-A": [("published-stale", "warning", ["UNITY-B", "UNITY-D"])],
        "UNITY-A2": [("failover-secondary", "info", members)],
        "UNITY-GHOST": [("location-missing", "error", members)],
        "UNITY-M": [("attachment-missing", "error", members)],
        "UNITY-OLD": [("version-unsupported", "error", members)],
        "UNITY-P": [("pooling-disabled", "warning", members)],
        "UNITY-T": [("other-forest", "error", members)],
        "UNITY-X": [("attachment-corrupt", "error", members)],
    }
    healthy = {s["name"] for s in doc["servers"] if s["healthy"]}
    assert healthy == {"UNITY-A2", "UNITY-B", "UNITY-D"}
    stale = finding(doc, "UNITY-A", "published-stale")["evidence"]
    assert "55" in stale and "62" in stale
    assert "tiny.example.org" in finding(doc, "UNITY-T", "other-forest")["evidence"]
    assert finding(doc, "UNITY-A2", "failover-secondary")["fix"]
    # Worst first: errors before warnings before info.
    order = [s["name"] for s in doc["servers"]]
    assert order.index("UNITY-X") < order.index("UNITY-P") < order.index("UNITY-A2")
