"""`poolsync service` against the real DC: a change shows in the store within seconds.

The service runs as a real process with an hour between scheduled passes, so only
the DC's change notification can explain a pass within seconds. The test measures the
time from the LDAP add on the DC to the subscriber counted in the store (what
`poolsync pool` reports), then stops the service with SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poolsync.lab.edit import Add, Delete, LabEditor
from poolsync.lab.ldif import subscriber_attributes
from poolsync.profile import load_profile
from poolsync.store import Store
from tests.support.helpers import lab_config_copy, run_json

pytestmark = pytest.mark.integration
LATENCY_BOUND = 5.0  # seconds: the goal


def subscribers(store: Path) -> int:
    if not store.exists():
        return -1
    try:
        with Store.open(store, create=False) as s:
            return sum(seats.vm for seats in s.homed_seats().values())
    except Exception:  # the store may be mid-creation
        return -1


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def test_a_new_subscriber_reaches_the_store_within_seconds(tiny_lab: Path, tmp_path: Path) -> None:
    config = lab_config_copy(tiny_lab, tmp_path / "service.yaml", store=tmp_path / "service.db")
    store = tmp_path / "service.db"
    metrics = tmp_path / "poolsync.prom"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from poolsync.cli.main import main; main()",
            "--config",
            str(config),
            "service",
            "--every",
            "1h",
            "--total-every",
            "24h",
            "--metrics-file",
            str(metrics),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"},
            "PYTHONUNBUFFERED": "1",
        },
    )
    editor = LabEditor(tiny_lab)
    profile = load_profile("cisco-unity")
    dn = "CN=svc-latency,OU=Subscribers,OU=Unity,DC=tiny,DC=example,DC=org"
    try:
        wait_for(lambda: subscribers(store) > 0, 20)  # the first (total) pass
        before = subscribers(store)
        time.sleep(1.0)  # the watcher registers after the first pass
        added = time.monotonic()
        editor.apply(
            [
                Add(
                    dn,
                    subscriber_attributes(
                        profile, sam="svclatency", home="svc-latency-home", dtmf_id=None
                    ),
                )
            ]
        )
        wait_for(lambda: subscribers(store) == before + 1, 15)
        latency = time.monotonic() - added
        print(f"service latency: {latency:.2f} s from the LDAP add to the store")
        assert latency < LATENCY_BOUND
        assert metrics.exists() and "poolsync_last_success_timestamp_seconds" in metrics.read_text()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)  # reads and closes both pipes
        code = proc.returncode
        assert code == 0, stderr
        assert "SIGTERM received, stopping" in stderr
        # Lines a person reads in a log file: stamped (no journald here), in words.
        synced = [line for line in stderr.splitlines() if "service: synced in" in line]
        assert synced and all(
            re.match(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} poolsync: "
                r"INFO: service: synced in [0-9.]+ s: Locations \+\d+ ~\d+ "
                r"-\d+; subscribers \+\d+ ~\d+ -\d+$",
                line,
            )
            for line in synced
        ), synced
        assert "Changes(" not in stderr and "pass: domain pass" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # closes the pipes (a no-op once they are)
        editor.apply([Delete(dn)])
    history = run_json("--config", config, "history", "--format", "json")
    kinds = [r["kind"] for r in reversed(history["runs"])]
    assert kinds[:2] == ["total", "incremental"]
    assert all(r["status"] in ("ok", "findings") for r in history["runs"])
