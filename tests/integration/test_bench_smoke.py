"""The performance harness runs end to end on a small lab and reports sane figures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab import ROOT, require_samba

pytestmark = pytest.mark.integration

KEYS = {
    "subscribers",
    "ldapsearch_entries_per_s",
    "poolsync_entries_per_s",
    "ratio",
    "peak_rss_mb",
    "total_resync_s",
    "incremental_s",
    "incremental_ratio",
    "build_s",
    "restore_s",
    "machine",
}


@pytest.fixture
def cache() -> Iterator[Path]:
    """A cache directory short enough for samba's socket paths under the lab it holds
    (pytest's tmp_path can be too deep for them)."""
    path = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_bench_smoke(cache: Path) -> None:
    require_samba()
    args = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--subscribers",
        "500",
        "--repeat",
        "1",
        "--format",
        "json",
        "--cache-dir",
        str(cache),
    ]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the bench then stops the samba it started.
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"bench did not finish within 300 s:\n{err[-2000:]}")
    assert proc.returncode == 0, err[-2000:]
    doc = json.loads(out)
    assert not KEYS - doc.keys(), f"missing keys: {KEYS - doc.keys()}"
    assert doc["subscribers"] == 500
    assert doc["ldapsearch_entries"] == 500
    # Two passes (domain and GC) each read the 500 subscribers and 4 Locations.
    assert doc["poolsync_entries"] == 2 * (500 + 4)
    assert doc["ldapsearch_entries_per_s"] > 0
    assert doc["poolsync_entries_per_s"] > 0
    assert doc["ratio"] > 0
    assert doc["peak_rss_mb"] > 0
    assert doc["total_resync_s"] > 0
    assert doc["incremental_s"] > 0
    assert doc["incremental_ratio"] > 0
    assert doc["incremental_modes"] == ["incremental"]
    assert doc["incremental_updated"] == 100
    assert doc["build_s"] > 0  # a fresh cache directory: built, then restored
    assert doc["restore_s"] > 0
    assert doc["machine"]["cpu_count"] >= 1
    assert not any(cache.glob("lab-*")), "the bench left its lab directory"


def test_core_bench_smoke(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "core",
            "--servers",
            "20",
            "--subscribers",
            "2000",
            "--store",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["servers"], doc["subscribers"], doc["members"]) == (20, 2000, 20)
    assert doc["graph_nodes"] == 23  # 20 servers, the pool, the DC, its site
    assert doc["total_s"] > 0


def test_scale_bench_smoke(cache: Path) -> None:
    """`python -m bench scale` builds its lab, runs every command and reports them side
    by side (docs/performance.md has the figures at 10,000 Locations)."""
    require_samba()
    args = [
        sys.executable,
        "-m",
        "bench",
        "scale",
        "--locations",
        "40",
        "--format",
        "json",
        "--cache-dir",
        str(cache),
    ]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the bench then stops the samba it started
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"bench did not finish within 300 s:\n{err[-2000:]}")
    assert proc.returncode == 0, err[-2000:]
    doc = json.loads(out)
    assert doc["meta"]["type"] == "bench-scale"
    assert (doc["locations"], doc["dcs"]) == (40, 1)
    commands = doc["commands"]
    assert list(commands) == ["resync", "doctor_json", "doctor_table", "graph_json", "graph_dot"]
    for name, figures in commands.items():
        assert figures["seconds"] > 0 and figures["peak_rss_mb"] > 0, name
        assert figures["exit_code"] in (0, 3), name
    assert commands["doctor_json"]["command"] == "poolsync doctor --format json"
    # Both passes read the 40 Locations; the doctor sees all of them, missing none.
    assert doc["checks"]["resync_locations"] == 80
    assert (doc["checks"]["doctor_servers"], doc["checks"]["doctor_missing"]) == (40, 0)
    assert doc["goal"]["met"] is True
    assert doc["build_s"] > 0
    assert not any(cache.glob("lab-*")), "the bench left its lab directory"
