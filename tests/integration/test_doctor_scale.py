"""`doctor` and `graph` grow linearly with the Locations, against a real Samba forest.

A two-DC lab (manual replication) of N Locations, every other one created on DC2 and
never replicated, so DC1's Global Catalog, which every server monitors, lacks half of
them: the doctor's worst case (`python -m bench scale --dcs 2` at CI size). Then N more
Locations are added over LDAP the same way, and what `doctor` and `graph` write at most
about doubles: version 1 of the report named, per viewer, every server its GC held and
every one it lacked, and grew about fourfold here. docs/performance.md has the figures
at 10,000 Locations.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.scale import server_name, topology_text
from poolsync.lab import build
from poolsync.lab.edit import Add, LabEditor
from poolsync.lab.ldif import location_record
from poolsync.profile import load_profile
from tests.support.helpers import run
from tests.support.lab import require_samba
from topology.spec import load_topology

pytestmark = pytest.mark.integration

N = 100
#: Doubling the Locations may at most multiply an output's size by this (linear: 2).
LINEAR = 2.4


@pytest.fixture(scope="module")
def lab() -> Iterator[Path]:
    require_samba()
    # Short, under /tmp: samba's socket paths under pytest's tmp_path can be too long.
    root = Path(tempfile.mkdtemp(prefix="pds-", dir="/tmp"))
    topology = root / "scale.yaml"
    topology.write_text(topology_text(N, 2))
    lab_dir = root / "lab"
    build.up(
        load_topology(topology),
        load_profile("cisco-unity"),
        lab_dir,
        step=lambda _msg: None,
        progress=lambda _done, _total: None,
    )
    try:
        yield lab_dir
    finally:
        build.down(lab_dir)
        shutil.rmtree(root, ignore_errors=True)


def outputs(config: Path) -> tuple[dict[str, int], dict[str, Any]]:
    """A total resync, then the sizes of what doctor and graph write, and the doctor's
    report."""
    synced = run("-c", config, "resync", "--total")
    assert synced.exit_code in (0, 3), synced.stderr
    doctor = run("-c", config, "doctor", "--format", "json")
    assert doctor.exit_code == 3, doctor.stderr  # half the servers are missing
    table = run("-c", config, "doctor")
    assert table.exit_code == 3, table.stderr
    graph = run("-c", config, "graph", "--format", "json")
    assert graph.exit_code == 0, graph.stderr
    dot = run("-c", config, "graph")
    assert dot.exit_code == 0, dot.stderr
    sizes = {
        "doctor json": len(doctor.stdout),
        "doctor table": len(table.stdout),
        "graph json": len(graph.stdout),
        "graph dot": len(dot.stdout),
    }
    return sizes, json.loads(doctor.stdout)


def add_locations(lab_dir: Path, first: int, count: int) -> None:
    """``count`` more pooled Locations, over LDAP: even ones on DC1, odd ones on DC2."""
    state = build.read_state(lab_dir)
    assert state is not None
    topology = load_topology(Path(state.topology))
    profile = load_profile("cisco-unity")
    for dc, parity in (("DC1", 0), ("DC2", 1)):
        records = [
            location_record(
                topology,
                profile,
                dataclasses.replace(topology.servers[0], name=server_name(i), dc=dc),
            )
            for i in range(first, first + count)
            if i % 2 == parity
        ]
        LabEditor(lab_dir, dc=dc).apply([Add(r.dn, r.attributes) for r in records])


def test_doctor_and_graph_output_grows_linearly_with_the_locations(lab: Path) -> None:
    config = lab / build.CONFIG_FILE
    small, doc = outputs(config)
    add_locations(lab, N, N)
    large, doc = outputs(config)
    grew = {k: round(large[k] / small[k], 2) for k in small}
    assert all(ratio <= LINEAR for ratio in grew.values()), (grew, small, large)
    # The forest is what it should be: 2N servers, DC1's GC lacking the N on DC2.
    assert len(doc["servers"]) == 2 * N
    (row,) = doc["visibility"]
    assert (row["gc"], len(row["viewers"]), row["holds"], len(row["missing"])) == (
        "DC1",
        2 * N,
        N,
        N,
    )
    pending = [
        f for s in doc["servers"] for f in s["findings"] if f["cause"] == "replication-pending"
    ]
    assert len(pending) == N
    assert all(
        f["affects"] == {"count": 2 * N, "names": [], "gcs": ["DC1"], "members": False}
        for f in pending
    )
