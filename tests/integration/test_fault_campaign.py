"""A fault campaign: resyncs through a fault-injecting proxy, with SIGKILLs, on Samba.

Every run reads the DC (636) and the GC (3269) through a proxy of the suite's own
(``tests/support/faultproxy.py``) that resets connections after a random number of bytes
(mid-handshake, mid-bind, mid-page), stalls (accepts and never answers), trickles the
DC's bytes back, or refuses; a fault hits the first connection of an endpoint
(transient: the retry succeeds) or every connection (persistent: the run fails). Some
runs are SIGKILLed at a random moment instead. Total and incremental runs are mixed,
and the directory changes between runs, so "before" and "after" differ.

After every faulted run: ``PRAGMA integrity_check`` is ok; the store holds either the
state before the run or the state a clean run from there produces, never a mix; the
run history says what happened (failed, or committed); the run ended within a bound
(a stalled DC never hangs it); and the next clean run, with no manual step, ends in the
clean state with no run left "running".

``POOLSYNC_FAULT_RUNS`` sets the number of faulted runs (30 here; ``make soak`` runs
200+), ``POOLSYNC_FAULT_SEED`` replays a campaign. The summary is printed (``-s``).
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from poolsync.lab import build
from poolsync.lab.edit import LabEditor, Replace
from tests.support.faultproxy import REFUSE, STALL, Fault, FaultProxy, reset, slow
from tests.support.helpers import named, run
from tests.support.lab import TOPOLOGIES, require_samba
from tests.support.resync_faults import (
    POOLSYNC,
    PROFILE,
    SUB,
    Rows,
    config_doc,
    in_process,
    integrity,
    restore,
    rows,
    runs,
    snapshot,
    write_config,
)

pytestmark = pytest.mark.integration

RUNS = int(os.environ.get("POOLSYNC_FAULT_RUNS", "30"))
PAGE = 100  # small pages: a reset can land between pages and inside one
TIMEOUTS = {"connect": 2, "operation": 2, "pass": 6}
RETRIES = {"attempts": 2, "initial_wait": 0.05, "max_wait": 0.1}
# A run is bounded by its passes: 2 passes x 2 attempts x (pass + operation timeout),
# plus start-up and commit. Past this the run "hung".
RUN_BOUND = 2 * RETRIES["attempts"] * (TIMEOUTS["pass"] + TIMEOUTS["operation"]) + 15


def _lab(factory: pytest.TempPathFactory, name: str, topology: str) -> Iterator[Path]:
    """A lab of this module's own from ``topology``: built, yielded, torn down."""
    from topology.spec import load_topology

    require_samba()
    lab_dir = factory.mktemp(name) / "lab"
    build.up(
        load_topology(TOPOLOGIES / topology),
        PROFILE,
        lab_dir,
        step=lambda _msg: None,
        progress=lambda _done, _total: None,
    )
    try:
        yield lab_dir
    finally:
        build.down(lab_dir)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _lab(tmp_path_factory, "campaign", "faults.yaml")


@dataclass
class Endpoints:
    address: str
    dc_port: int
    gc_port: int


def lab_endpoints(lab: Path) -> Endpoints:
    """The lab config's DC and GC endpoints (both LDAPS, on the DC's address)."""
    directory = config_doc(lab)["directory"]
    dc, gc = urlsplit(directory["dc"]["url"]), urlsplit(directory["gc"]["url"])
    assert dc.hostname == gc.hostname and dc.port and gc.port
    return Endpoints(dc.hostname, dc.port, gc.port)


def campaign_doc(lab: Path, *, dc_port: int, gc_port: int, address: str) -> dict[str, Any]:
    doc = config_doc(lab)
    directory = doc["directory"]
    directory["dc"]["url"] = f"ldaps://{address}:{dc_port}"
    directory["gc"]["url"] = f"ldaps://{address}:{gc_port}"
    directory["page_size"] = PAGE
    directory["timeouts"] = dict(TIMEOUTS)
    directory["retries"] = dict(RETRIES)
    return doc


@dataclass(frozen=True)
class Plan:
    mode: str  # total | incremental
    kind: str  # reset | stall | slow | refuse | kill
    target: str  # dc | gc | both
    persistent: bool
    fault: Fault | None
    kill_at: float | None

    def __str__(self) -> str:
        if self.kind == "kill":
            return f"{self.mode}: SIGKILL at {self.kill_at:.2f} s"
        scope = "every connection" if self.persistent else "first connection"
        return f"{self.mode}: {self.fault} on the {self.target} ({scope})"


def draw(rng: random.Random) -> Plan:
    mode = rng.choice(["total", "incremental", "incremental"])
    kind = rng.choices(["reset", "stall", "slow", "refuse", "kill"], [35, 12, 13, 15, 25])[0]
    if kind == "kill":
        return Plan(mode, kind, "both", False, None, rng.uniform(0.05, 1.3))
    fault = {
        # log-uniform: from the TLS handshake (a few hundred bytes) to deep in the pass
        "reset": lambda: reset(int(math.exp(rng.uniform(math.log(20), math.log(150_000))))),
        "stall": lambda: STALL,
        # 512 bytes per 10 ms: a pass of the lab (~100 KB) takes ~2 s, or past the limit
        "slow": lambda: slow(rng.choice([0.002, 0.01, 0.03]), 512),
        "refuse": lambda: REFUSE,
    }[kind]()
    return Plan(mode, kind, rng.choice(["dc", "gc", "both"]), rng.random() < 0.4, fault, None)


def small_changes(lab: Path, state: Rows, rng: random.Random) -> None:
    """Re-license and re-home a few subscribers, so a clean run differs from before."""
    locations = sorted({str(row[4]) for row in state[0] if row[0] == "domain"})
    subs = [row for row in state[1] if row[0] == "domain"]
    changes = []
    for row in rng.sample(subs, 4):
        if rng.random() < 0.5:
            changes.append(
                Replace(str(row[2]), named(SUB.license_class), () if row[5] else (SUB.um_value,))
            )
        else:
            other = next(loc for loc in locations if loc != row[3])
            changes.append(Replace(str(row[2]), SUB.home, (other,)))
    LabEditor(lab).apply(changes)


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    code: int | None  # None: killed
    seconds: float
    result: str  # before | clean
    recorded: str  # the run's status in the history once the next run is done


def faulted_run(
    config: Path, plan: Plan, proxies: dict[str, FaultProxy]
) -> tuple[int | None, float, str]:
    for name, proxy in proxies.items():
        hit = plan.fault is not None and plan.target in (name, "both")
        proxy.plan([plan.fault] * (8 if plan.persistent else 1) if hit else [])
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            str(POOLSYNC),
            "--config",
            str(config),
            "resync",
            *(["--total"] if plan.mode == "total" else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = False
    try:
        if plan.kill_at is not None:
            try:
                proc.wait(timeout=plan.kill_at)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                killed = True
        _out, err = proc.communicate(timeout=RUN_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{plan}: the run did not end within {RUN_BOUND} s (a hang)")
    finally:
        for proxy in proxies.values():
            proxy.clear()
    seconds = time.monotonic() - started
    if not killed:
        assert "Traceback" not in err and "internal error" not in err, f"{plan}: {err}"
        assert proc.returncode in (0, 3, 5), f"{plan}: exit {proc.returncode}: {err}"
    return (None if killed else proc.returncode), seconds, err


def test_fault_campaign(lab: Path, tmp_path: Path) -> None:
    seed = int(os.environ.get("POOLSYNC_FAULT_SEED") or int.from_bytes(os.urandom(4), "big"))
    rng = random.Random(seed)
    ends = lab_endpoints(lab)
    store = tmp_path / "campaign.db"
    direct = write_config(
        tmp_path / "direct.yaml",
        campaign_doc(lab, dc_port=ends.dc_port, gc_port=ends.gc_port, address=ends.address),
        store=store,
    )
    reference = tmp_path / "reference.db"
    clean_config = write_config(
        tmp_path / "clean.yaml",
        campaign_doc(lab, dc_port=ends.dc_port, gc_port=ends.gc_port, address=ends.address),
        store=reference,
    )
    first = in_process(direct, "resync", "--total")
    assert first.code in (0, 3), first.stderr
    baseline = tmp_path / "baseline.db"
    outcomes: list[Outcome] = []
    with (
        FaultProxy(ends.address, (ends.address, ends.dc_port)) as dc_proxy,
        FaultProxy(ends.address, (ends.address, ends.gc_port)) as gc_proxy,
    ):
        proxied = write_config(
            tmp_path / "proxied.yaml",
            campaign_doc(lab, dc_port=dc_proxy.port, gc_port=gc_proxy.port, address=ends.address),
            store=store,
        )
        proxies = {"dc": dc_proxy, "gc": gc_proxy}
        for number in range(1, RUNS + 1):
            plan = draw(rng)
            before = rows(store)
            snapshot(store, baseline)
            last_run = max(r.id for r in runs(store))
            small_changes(lab, before, rng)
            # What a clean run of the same kind makes of this store and directory.
            restore(baseline, reference)
            clean_run = in_process(
                clean_config, "resync", *(["--total"] if plan.mode == "total" else [])
            )
            assert clean_run.code in (0, 3), clean_run.stderr
            clean = rows(reference)
            assert clean != before

            code, seconds, err = faulted_run(proxied, plan, proxies)
            context = f"run {number} ({plan}; seed {seed}): exit {code}, {err.strip()[-300:]}"
            assert integrity(store) == "ok", context
            state = rows(store)
            assert state in (before, clean), f"a mix: {context}"
            result = "before" if state == before else "clean"
            mine = [r for r in runs(store) if r.id > last_run]
            if code is not None:
                assert len(mine) == 1, context
                expected = "failed" if result == "before" else ("ok", "findings")
                assert mine[0].status in expected, f"{mine[0].status}: {context}"
                assert (code == 5) == (result == "before"), context

            # The next scheduled run needs no manual step and ends in the clean state.
            again = subprocess.run(
                [str(POOLSYNC), "--config", str(direct), "resync"],
                capture_output=True,
                text=True,
                timeout=RUN_BOUND,
            )
            assert again.returncode in (0, 3), f"next run: {again.stderr} ({context})"
            assert rows(store) == clean, f"not recovered: {context}"
            history = {r.id: r for r in runs(store)}
            assert not [r for r in history.values() if r.status in ("running", "committed")]
            recorded = history[mine[0].id].status if mine else "not recorded"
            outcomes.append(Outcome(plan, code, seconds, result, recorded))

    by_kind = Counter(o.plan.kind for o in outcomes)
    results = Counter(f"{o.plan.kind}: {o.result} ({o.recorded})" for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"\nfault campaign: {len(outcomes)} faulted runs (seed {seed}); inconsistent stores: 0")
    print("  faults by kind:", dict(sorted(by_kind.items())))
    print("  modes:", dict(Counter(o.plan.mode for o in outcomes)))
    for line, count in sorted(results.items()):
        print(f"  {count:4d}  {line}")
    print(f"  longest run: {slowest.seconds:.1f} s ({slowest.plan}); bound {RUN_BOUND} s")
    summary = tmp_path.parent / "fault-campaign.json"
    summary.write_text(
        json.dumps(
            {
                "runs": len(outcomes),
                "seed": seed,
                "inconsistent": 0,
                "by_kind": by_kind,
                "results": results,
                "longest_s": round(slowest.seconds, 1),
            },
            indent=2,
        )
    )
    # The campaign must have exercised both outcomes, or it proved little.
    if RUNS >= 20:
        assert {o.result for o in outcomes} == {"before", "clean"}
        assert len(by_kind) >= 4


def test_a_stalled_dc_fails_the_run_within_its_timeouts(lab: Path, tmp_path: Path) -> None:
    ends = lab_endpoints(lab)
    with FaultProxy(ends.address, (ends.address, ends.dc_port)) as dc_proxy:
        config = write_config(
            tmp_path / "stalled.yaml",
            campaign_doc(lab, dc_port=dc_proxy.port, gc_port=ends.gc_port, address=ends.address),
            store=tmp_path / "stalled.db",
        )
        dc_proxy.plan([STALL] * 4)
        started = time.monotonic()
        ran = subprocess.run(
            [str(POOLSYNC), "--config", str(config), "resync", "--total"],
            capture_output=True,
            text=True,
            timeout=RUN_BOUND,
        )
        seconds = time.monotonic() - started
    assert ran.returncode == 5, ran.stderr
    assert "timed out" in ran.stderr or "timeout" in ran.stderr.lower(), ran.stderr
    # Two attempts, each bounded by the operation timeout (the TLS handshake's read).
    assert seconds < RETRIES["attempts"] * (TIMEOUTS["operation"] + 1) + 5, seconds


def test_a_trickling_dc_is_cut_off_by_the_pass_timeout(lab: Path, tmp_path: Path) -> None:
    ends = lab_endpoints(lab)
    with FaultProxy(ends.address, (ends.address, ends.dc_port)) as dc_proxy:
        doc = campaign_doc(lab, dc_port=dc_proxy.port, gc_port=ends.gc_port, address=ends.address)
        doc["directory"]["timeouts"]["pass"] = 1.5
        config = write_config(tmp_path / "slow.yaml", doc, store=tmp_path / "slow.db")
        dc_proxy.plan([slow(0.05, 256)] * 4)  # every read answers, but ~5 KB/s
        started = time.monotonic()
        ran = subprocess.run(
            [str(POOLSYNC), "--config", str(config), "resync", "--total"],
            capture_output=True,
            text=True,
            timeout=RUN_BOUND,
        )
        seconds = time.monotonic() - started
    assert ran.returncode == 5, ran.stderr
    assert "directory.timeouts.pass (1.5 s)" in ran.stderr, ran.stderr
    assert seconds < RETRIES["attempts"] * (1.5 + TIMEOUTS["operation"] + 1) + 5, seconds


@pytest.fixture(scope="module")
def two_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two DCs of one domain, replicated so that both hold every object."""
    for lab_dir in _lab(tmp_path_factory, "failover", "doctor-2dc.yaml"):
        replicated = run("lab", "replicate", "--dir", lab_dir)
        assert replicated.exit_code == 0, replicated.stderr
        yield lab_dir


def test_a_dead_dc_fails_over_to_the_next_with_a_total_resync(two_dc: Path, tmp_path: Path) -> None:
    doc = config_doc(two_dc)
    directory = doc["directory"]
    dc_urls, gc_urls = list(directory["dc"]["url"]), list(directory["gc"]["url"])
    assert len(dc_urls) == len(gc_urls) == 2
    dc1, gc1 = urlsplit(dc_urls[0]), urlsplit(gc_urls[0])
    assert dc1.hostname and dc1.port and gc1.port
    with (
        FaultProxy(dc1.hostname, (dc1.hostname, dc1.port)) as dc_proxy,
        FaultProxy(dc1.hostname, (dc1.hostname, gc1.port)) as gc_proxy,
    ):
        directory["dc"]["url"] = [f"ldaps://{dc1.hostname}:{dc_proxy.port}", dc_urls[1]]
        directory["gc"]["url"] = [f"ldaps://{dc1.hostname}:{gc_proxy.port}", gc_urls[1]]
        directory["timeouts"] = dict(TIMEOUTS)
        directory["retries"] = dict(RETRIES)
        store = tmp_path / "failover.db"
        config = write_config(tmp_path / "failover.yaml", doc, store=store)
        first = in_process(config, "resync", "--total", "--format", "json")
        assert first.code == 0, first.stderr
        assert {p["dc_host"].split(".")[0].lower() for p in first.json()["passes"]} == {"dc1"}
        again = in_process(config, "resync", "--format", "json")
        assert [p["mode"] for p in again.json()["passes"]] == ["incremental", "incremental"]

        # DC1 dies: every connection to it is refused from now on.
        dc_proxy.plan([REFUSE] * 50)
        gc_proxy.plan([REFUSE] * 50)
        moved = subprocess.run(
            [str(POOLSYNC), "--config", str(config), "resync", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=RUN_BOUND,
        )
        assert moved.returncode == 0, moved.stderr
        passes = json.loads(moved.stdout)["passes"]
        assert [(p["endpoint"], p["mode"], p["reason"]) for p in passes] == [
            (dc_urls[1], "total", "dc-changed"),
            (gc_urls[1], "total", "dc-changed"),
        ]
        assert f"trying {dc_urls[1]}" in moved.stderr
        assert f"trying {gc_urls[1]}" in moved.stderr

    # What DC2 alone gives, read from scratch.
    directory["dc"]["url"], directory["gc"]["url"] = dc_urls[1], gc_urls[1]
    fresh = tmp_path / "dc2.db"
    assert (
        in_process(write_config(tmp_path / "dc2.yaml", doc, store=fresh), "resync", "--total").code
        == 0
    )
    assert rows(store) == rows(fresh)
