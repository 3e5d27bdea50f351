"""Faults a scheduled resync must survive, end to end through the real CLI on Samba.

* SIGKILL at random moments of ``poolsync resync --total`` (starting, reading,
  planning, committing): the store stays intact and holds either the state before the
  run or the state a clean run produces, never a mix; the next run needs no manual
  step and records the killed run as abandoned (or, killed after its commit, as ok).
* Two overlapping runs: the second exits 6 at once with one line, the first completes.
* Another DC answers for the config (a config change, or failover past a dead DC):
  USN watermarks are per DC, so both passes resync totally (``dc-changed``).
* A bad password in the middle of a schedule: exit 5, one line, nothing changed, the
  run recorded as failed, and the schedule carries on incrementally once it is fixed.
* Odd directory content: the tombstone of an object the store never saw, and a
  subscriber homed on an unknown Location (counted as orphaned).

Three labs (faults, tiny, tiny-dc2) are built side by side once for the module.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from poolsync.lab import build
from poolsync.lab.edit import Add, Change, Delete, LabEditor, Replace
from poolsync.store import Store
from tests.support.helpers import named, run
from tests.support.lab import TOPOLOGIES, require_samba
from tests.support.resync_faults import (
    POOLSYNC,
    PROFILE,
    SUB,
    Ran,
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

LAB_TOPOLOGIES = {"faults": "faults.yaml", "tiny": "tiny.yaml", "dc2": "tiny-dc2.yaml"}
GC_PORT = 3269  # the labs' configs read the GC over LDAPS


# -- labs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The module's three labs, built in parallel (about 25 s instead of 40 on 2 cores)."""
    from topology.spec import load_topology

    require_samba()
    root = tmp_path_factory.mktemp("fault-labs")

    def bring_up(name: str) -> Path:
        build.up(
            load_topology(TOPOLOGIES / LAB_TOPOLOGIES[name]),
            PROFILE,
            root / name,
            step=lambda _msg: None,
            progress=lambda _done, _total: None,
        )
        return root / name

    built: dict[str, Path] = {}
    try:
        with ThreadPoolExecutor(len(LAB_TOPOLOGIES)) as pool:
            futures = {name: pool.submit(bring_up, name) for name in LAB_TOPOLOGIES}
            errors: list[BaseException] = []
            for name, future in futures.items():
                try:
                    built[name] = future.result()
                except Exception as exc:  # a failed up() has already removed its lab
                    errors.append(exc)
        if errors:
            raise errors[0]
        yield built
    finally:
        for lab_dir in built.values():
            build.down(lab_dir)


@pytest.fixture(scope="module")
def faults_lab(labs: dict[str, Path]) -> Path:
    return labs["faults"]


@pytest.fixture(scope="module")
def tiny_lab(labs: dict[str, Path]) -> Path:
    return labs["tiny"]


@pytest.fixture(scope="module")
def dc2_lab(labs: dict[str, Path]) -> Path:
    return labs["dc2"]


def poolsync(config: Path, *args: str, timeout: float = 120) -> Ran:
    """``poolsync --config CONFIG ARGS`` as a process of its own."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(POOLSYNC), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def spawn(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(POOLSYNC), "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lab_config(lab: Path, path: Path, *, store: Path) -> Path:
    return write_config(path, config_doc(lab), store=store)


def one_error_line(ran: Ran) -> str:
    assert ran.stdout == ""
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("poolsync: error: "), lines[0]
    return lines[0]


def watermarks(store: Path) -> list[Any]:
    with Store.open(store, create=False) as held:
        return list(held.passes())


def lock_holder(store: Path) -> str:
    try:
        return store.with_name(store.name + ".lock").read_text().strip()
    except FileNotFoundError:
        return ""


def guids(state: Rows) -> set[str]:
    return {str(row[1]) for table in state for row in table}


# -- watching a run from outside -----------------------------------------------------------
def _tcp_remote_ports(inodes: set[str]) -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def remote_ports(pid: int) -> set[int]:
    """The remote TCP ports the process ``pid`` has sockets to (empty once it is gone)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return set()
    for fd in fds:
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return _tcp_remote_ports(inodes) if inodes else set()


@dataclass
class RunWatch:
    """Times (from spawn) at which a run reached its milestones, seen from outside.

    ``locked``: it holds the store (its pid is in the lock file); ``gc_open``/``gc_done``:
    its GC pass connected/disconnected: reading is over, planning and commit follow.
    """

    proc: subprocess.Popen[str]
    store: Path
    started: float = field(default_factory=time.monotonic)
    events: dict[str, float] = field(default_factory=dict)
    track_store: bool = False  # also "committed" and "closed", read from the store
    _marks: list[Any] = field(default_factory=list, init=False)
    _last_run: int = field(default=0, init=False)

    def poll(self) -> bool:
        """Record the milestones reached so far; False once the process has exited."""
        now = time.monotonic() - self.started
        if self.proc.poll() is not None:
            self.events.setdefault("exit", now)
            return False
        if "locked" not in self.events and lock_holder(self.store) == str(self.proc.pid):
            self.events["locked"] = now
        # The store before the sockets: a run closes its GC connection and then commits,
        # and both can happen within one poll. Looked at the other way round, one poll
        # saw the socket still open and then the commit, and the timeline had the
        # commit before the GC pass's end (CI, once).
        if self.track_store and "locked" in self.events:
            self._poll_store(now)
        if "gc_done" not in self.events:
            connected = GC_PORT in remote_ports(self.proc.pid)
            if connected:
                self.events.setdefault("gc_open", now)
            elif "gc_open" in self.events:
                self.events["gc_done"] = now
        return True

    def _poll_store(self, now: float) -> None:
        with closing(sqlite3.connect(f"{self.store.resolve().as_uri()}?mode=ro", uri=True)) as db:
            if (
                "committed" not in self.events
                and self._marks
                != db.execute("SELECT pass, usn, synced_at FROM passes ORDER BY pass").fetchall()
            ):
                self.events["committed"] = now
            status = db.execute(
                "SELECT status FROM runs WHERE id > ? ORDER BY id DESC LIMIT 1", (self._last_run,)
            ).fetchone()
            if "closed" not in self.events and status and status[0] in ("ok", "findings"):
                self.events["closed"] = now

    def __post_init__(self) -> None:
        if self.track_store:
            with closing(sqlite3.connect(self.store)) as db:
                self._marks = db.execute(
                    "SELECT pass, usn, synced_at FROM passes ORDER BY pass"
                ).fetchall()
                self._last_run = db.execute("SELECT max(id) FROM runs").fetchone()[0] or 0

    def until(self, done: Callable[[], bool], *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.poll() and not done():
            assert time.monotonic() < deadline, f"run did not get there: {self.events}"
            time.sleep(0.001)

    def until_event(self, name: str) -> None:
        self.until(lambda: name in self.events)

    def until_time(self, seconds: float) -> None:
        """Until ``seconds`` after spawn (or the process's exit)."""
        self.until(lambda: time.monotonic() - self.started >= seconds)

    def wait(self, timeout: float = 60) -> float:
        self.until(lambda: False, timeout=timeout)
        return self.events["exit"]


# -- 1. SIGKILL at random moments ----------------------------------------------------------
def subscriber_changes(lab: Path, state: Rows, rng: random.Random) -> list[Change]:
    """Re-license, re-home and delete some subscribers, and add some."""
    locations = sorted({str(row[4]) for row in state[0] if row[0] == "domain"})
    subs = sorted((row for row in state[1] if row[0] == "domain"), key=lambda r: str(r[2]))
    picked = rng.sample(subs, 45)
    changes: list[Change] = []
    for row in picked[:15]:
        changes.append(
            Replace(str(row[2]), named(SUB.license_class), () if row[5] else (SUB.um_value,))
        )
    for row in picked[15:30]:
        other = next(loc for loc in locations if loc != row[3])
        changes.append(Replace(str(row[2]), SUB.home, (other,)))
    changes += [Delete(str(row[2])) for row in picked[30:]]
    base = str(picked[0][2]).split(",", 1)[1]
    for n in range(15):
        changes.append(new_subscriber(f"CN=fault-added-{n},{base}", home=locations[n % 2]))
    LabEditor(lab).apply(changes)
    return changes


def new_subscriber(dn: str, *, home: str, classes: tuple[str, ...] = ()) -> Add:
    sam = "f" + uuid.uuid4().hex[:15]
    return Add(
        dn,
        (
            ("objectClass", SUB.object_class),
            ("objectClass", named(SUB.aux_class)),
            ("sAMAccountName", sam),
            (SUB.object_type, str(SUB.object_type_values[0])),
            (SUB.home, home),
            (SUB.dtmf_id, str(random.randint(10**6, 10**7))),
            *((named(SUB.license_class), c) for c in classes),
        ),
    )


@dataclass(frozen=True)
class Kill:
    how: str  # starting | reading | late (after the GC pass read)
    at: float  # seconds after spawn the SIGKILL was sent
    outcome: str


def test_sigkill_leaves_the_state_before_or_after_never_a_mix(
    faults_lab: Path, tmp_path: Path
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    store = tmp_path / "killed.db"
    config = lab_config(faults_lab, tmp_path / "killed.yaml", store=store)
    first = in_process(config, "resync", "--total")
    assert first.code == 0, first.stderr
    before = rows(store)
    baseline = tmp_path / "baseline.db"
    snapshot(store, baseline)
    baseline_runs = max(r.id for r in runs(store))

    # Make "after" differ from "before", then measure a clean run's timeline.
    subscriber_changes(faults_lab, before, rng)
    restore(baseline, store)
    calibration = RunWatch(spawn(config, "resync", "--total"), store, track_store=True)
    calibration.wait()
    _, calibration_err = calibration.proc.communicate()  # and its pipes are closed
    assert calibration.proc.returncode == 0, calibration_err
    milestones = ("locked", "gc_open", "gc_done", "committed", "closed", "exit")
    timeline = {name: calibration.events[name] for name in milestones if name in calibration.events}
    assert tuple(timeline) == milestones, calibration.events
    assert all(timeline[a] <= timeline[b] for a, b in pairwise(milestones)), ", ".join(
        f"{k} {v:.3f}" for k, v in timeline.items()
    )
    clean = rows(store)
    assert clean != before
    assert len(guids(clean) ^ guids(before)) == 30  # 15 deleted, 15 added

    # Kill moments: one while the process starts, three spread over the run once it
    # holds the store (reading both passes), three after the GC pass read, spread over
    # planning, committing and closing the run record.
    reading = timeline["gc_done"] - timeline["locked"]
    closing_time = timeline["closed"] - timeline["gc_done"]
    moments = [("starting", rng.uniform(0.1, timeline["locked"]))]
    moments += [("reading", (i + rng.random()) / 3 * 0.9 * reading) for i in range(3)]
    moments += [("late", (i + rng.random()) / 3 * 1.2 * closing_time) for i in range(3)]
    kills: list[Kill] = []
    for how, delay in moments:
        restore(baseline, store)
        watch = RunWatch(spawn(config, "resync", "--total"), store)
        anchor = {"starting": None, "reading": "locked", "late": "gc_done"}[how]
        if anchor is not None:
            watch.until_event(anchor)
        watch.until_time(watch.events.get(anchor or "", 0.0) + delay)
        at = time.monotonic() - watch.started
        if watch.proc.poll() is None:
            watch.proc.send_signal(signal.SIGKILL)
        watch.proc.communicate(timeout=30)

        assert integrity(store) == "ok"
        state = rows(store)
        assert state in (before, clean), f"a mix after a kill at {at:.3f} s ({how})"
        recorded = [r for r in runs(store) if r.id > baseline_runs]
        assert len(recorded) <= 1
        if not recorded:
            outcome = "before the run was recorded"
            assert state == before
        elif recorded[0].status == "running":
            outcome = "mid-run, nothing committed"
            assert state == before
        elif recorded[0].status == "committed":
            # Killed between the commit and closing the run record: the record was
            # marked in the commit's own transaction.
            outcome = "after the commit, before the run was closed"
            assert state == clean
        else:
            assert recorded[0].status == "ok" and state == clean, recorded[0]
            outcome = "run finished before the kill"
        kills.append(Kill(how, at, outcome))

        # The next scheduled run needs no manual step: the lock died with the process.
        again = poolsync(config, "resync")
        assert again.code == 0, (outcome, again.stderr)
        assert rows(store) == clean, outcome
        history = {r.id: r for r in runs(store)}
        latest = max(history)
        assert history[latest].status == "ok"
        if recorded and recorded[0].status == "running":
            assert history[recorded[0].id].status == "abandoned"
            assert "never finished" in again.stderr
        if recorded and recorded[0].status == "committed":
            assert history[recorded[0].id].status == "ok"  # it did commit
        statuses = [r.status for r in history.values()]
        assert statuses.count("running") == statuses.count("committed") == 0

    summary = Counter(k.outcome for k in kills)
    print(
        f"\nSIGKILL (seed {seed}); clean run timeline "
        + ", ".join(f"{k} {v:.3f} s" for k, v in timeline.items())
    )
    for kill in kills:
        print(f"  kill at {kill.at:.3f} s ({kill.how}): {kill.outcome}")
    print("  outcomes:", dict(summary))
    # Kills must have landed inside the run, or the test proved little.
    assert summary["mid-run, nothing committed"] >= 2, kills


# -- 2. overlapping runs -----------------------------------------------------------------
def test_a_second_run_exits_6_at_once_while_the_first_holds_the_store(
    tiny_lab: Path, tmp_path: Path
) -> None:
    store = tmp_path / "overlap.db"
    config = lab_config(tiny_lab, tmp_path / "overlap.yaml", store=store)
    assert in_process(config, "resync").code == 0
    before, history = rows(store), runs(store)

    # Deterministic: this process holds the store the way a run does.
    with Store.open(store) as holder:
        holder.lock()
        second = poolsync(config, "resync", "--total", timeout=20)
        started = time.monotonic()
        in_proc = run("--config", config, "resync")
        in_process_seconds = time.monotonic() - started
    assert second.code == 6
    line = one_error_line(second)
    assert line.startswith("poolsync: error: another poolsync run holds ")
    assert str(store) in line and f"pid {os.getpid()}" in line
    assert second.seconds < 5
    assert in_proc.exit_code == 6 and in_process_seconds < 1
    assert rows(store) == before and runs(store) == history  # not even a run record

    # A real race: run A is paused (SIGSTOP) while it holds the store; B starts.
    a = RunWatch(spawn(config, "resync", "--total"), store)
    a.until_event("locked")
    assert a.proc.poll() is None, "run A finished before it could be paused"
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        b = poolsync(config, "resync", timeout=20)
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    a_out, a_err = a.proc.communicate(timeout=60)
    assert b.code == 6
    line = one_error_line(b)
    assert "another poolsync run holds" in line and f"pid {a.proc.pid}" in line
    assert a.proc.returncode == 0, a_err
    assert "Total resync finished" in a_out
    new = [r for r in runs(store) if r.id > history[0].id]
    assert [(r.kind, r.status) for r in new] == [("total", "ok")]  # A's only
    assert rows(store) == before
    print(
        f"\nlock: second run exited 6 after {second.seconds:.3f} s as a process "
        f"({in_process_seconds * 1000:.1f} ms in-process); paused-holder race: "
        f"{b.seconds:.3f} s"
    )


# -- 3. another DC answers -----------------------------------------------------------------
def dead_address() -> str:
    """A loopback address nothing listens on (connecting is refused at once)."""
    for n in range(200, 250):
        address = f"127.254.{n}.1"
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((address, 636)) != 0 and sock.connect_ex((address, GC_PORT)) != 0:
                return address
    raise AssertionError("no unused loopback address")


def test_a_different_dc_forces_a_total_resync(
    tiny_lab: Path, dc2_lab: Path, tmp_path: Path
) -> None:
    store = tmp_path / "moved.db"
    tiny = lab_config(tiny_lab, tmp_path / "tiny.yaml", store=store)
    assert in_process(tiny, "resync").code == 0
    assert (
        in_process(tiny, "resync", "--format", "json").json()["passes"][0]["mode"] == "incremental"
    )
    tiny_state = rows(store)
    tiny_dc = {w.name: w.dc_host for w in watermarks(store)}

    # The same config, pointed at DC2 (its URLs, CA and password: the labs differ).
    doc, dc2_doc = config_doc(tiny_lab), config_doc(dc2_lab)
    for key in ("dc", "gc"):
        doc["directory"][key]["url"] = dc2_doc["directory"][key]["url"]
    doc["directory"]["tls"]["ca_file"] = dc2_doc["directory"]["tls"]["ca_file"]
    doc["directory"]["bind"]["password"] = dc2_doc["directory"]["bind"]["password"]
    moved = write_config(tmp_path / "moved.yaml", doc, store=store)
    result = poolsync(moved, "resync", "--format", "json")
    assert result.code == 0, result.stderr
    passes = result.json()["passes"]
    assert [(p["name"], p["mode"], p["reason"]) for p in passes] == [
        ("domain", "total", "dc-changed"),
        ("gc", "total", "dc-changed"),
    ]
    for p in passes:
        assert p["dc_host"].lower().startswith("dc2.")
        assert tiny_dc[p["name"]] in p["why"] and p["dc_host"] in p["why"]

    fresh = tmp_path / "fresh-dc2.db"
    assert (
        in_process(
            write_config(tmp_path / "fresh.yaml", doc, store=fresh), "resync", "--total"
        ).code
        == 0
    )
    assert rows(store) == rows(fresh)
    assert rows(store) != tiny_state and not guids(rows(store)) & guids(tiny_state)

    # Failover lists with a dead endpoint first. The pass tries the DC its watermark
    # came from first (moving costs a total), so with DC2's watermark it reads DC2,
    # incrementally, without touching the dead endpoints.
    dead = dead_address()
    dc2_urls = {key: str(dc2_doc["directory"][key]["url"]) for key in ("dc", "gc")}
    doc["directory"]["dc"]["url"] = [f"ldaps://{dead}:636", dc2_urls["dc"]]
    dc2_address = dc2_urls["gc"].split("//")[1].split(":")[0]
    doc["directory"]["gc"]["url"] = [f"ldaps://{dc2_address}:1", dc2_urls["gc"]]
    failover = write_config(tmp_path / "failover.yaml", doc, store=store)
    result = poolsync(failover, "resync", "--format", "json")
    assert result.code == 0, result.stderr
    passes = result.json()["passes"]
    assert [(p["name"], p["endpoint"], p["mode"]) for p in passes] == [
        ("domain", dc2_urls["dc"], "incremental"),
        ("gc", dc2_urls["gc"], "incremental"),
    ]
    assert "trying" not in result.stderr
    assert rows(store) == rows(fresh)

    # Without a watermark the list is walked in order: the dead endpoints are skipped
    # with a warning and DC2 reads everything.
    new_store = tmp_path / "failover-new.db"
    failover = write_config(tmp_path / "failover-new.yaml", doc, store=new_store)
    result = poolsync(failover, "resync", "--format", "json")
    assert result.code == 0, result.stderr
    passes = result.json()["passes"]
    assert [(p["name"], p["endpoint"], p["mode"]) for p in passes] == [
        ("domain", dc2_urls["dc"], "total"),
        ("gc", dc2_urls["gc"], "total"),
    ]
    for url in (f"ldaps://{dead}:636", f"ldaps://{dc2_address}:1"):
        assert url.split("//")[1] in result.stderr
    assert f"trying {dc2_urls['dc']}" in result.stderr
    assert f"trying {dc2_urls['gc']}" in result.stderr
    assert rows(new_store) == rows(fresh)
    print(f"\nfailover past {dead}:636 and {dc2_address}:1 took {result.seconds:.3f} s")


# -- 4. a bad password mid-schedule --------------------------------------------------------
def test_a_bad_password_mid_schedule_changes_nothing(tiny_lab: Path, tmp_path: Path) -> None:
    store = tmp_path / "schedule.db"
    password_file = tmp_path / "bind.password"
    shutil.copyfile(tiny_lab / "secrets" / "admin.password", password_file)
    password_file.chmod(0o600)
    doc = config_doc(tiny_lab)
    doc["directory"]["bind"]["password"] = {"file": str(password_file)}
    config = write_config(tmp_path / "schedule.yaml", doc, store=store)
    assert in_process(config, "resync").code == 0
    assert in_process(config, "resync").code == 0

    # Something to write, then the password goes wrong (rotated, mistyped).
    home = str(rows(store)[0][0][4])
    dn = f"CN=sched-{uuid.uuid4().hex[:8]},OU=Subscribers,OU=Unity,DC=tiny,DC=example,DC=org"
    LabEditor(tiny_lab).apply([new_subscriber(dn, home=home)])
    before, marks, history = rows(store), watermarks(store), runs(store)
    password = password_file.read_text()
    password_file.write_text("Wrong-Password-1")
    failed = poolsync(config, "resync")
    assert failed.code == 5
    line = one_error_line(failed)
    assert "invalid credentials" in line
    assert "Wrong-Password-1" not in failed.stderr
    assert rows(store) == before and watermarks(store) == marks
    latest = runs(store)[0]
    assert latest.id == history[0].id + 1
    assert (latest.kind, latest.status) == ("incremental", "failed")
    assert (latest.detail.error or "") in line

    # Fixed: the schedule carries on incrementally from the untouched watermarks.
    password_file.write_text(password)
    result = in_process(config, "resync", "--format", "json")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert [p["mode"] for p in summary["passes"]] == ["incremental", "incremental"]
    assert summary["changes"]["subscribers"]["insert"] == 1
    assert dn in {row[2] for row in rows(store)[1]}


# -- 5. odd directory content ----------------------------------------------------------------
def test_a_tombstone_never_seen_and_an_unknown_home_sync_cleanly(
    tiny_lab: Path, tmp_path: Path
) -> None:
    store = tmp_path / "odd.db"
    config = lab_config(tiny_lab, tmp_path / "odd.yaml", store=store)
    assert in_process(config, "resync").code == 0
    before = rows(store)
    home = str(before[0][0][4])
    ou = "OU=Subscribers,OU=Unity,DC=tiny,DC=example,DC=org"

    # Added and deleted between two passes: the store only ever sees its tombstone.
    ghost = f"CN=ghost-{uuid.uuid4().hex[:8]},{ou}"
    editor = LabEditor(tiny_lab)
    editor.apply([new_subscriber(ghost, home=home), Delete(ghost)])
    result = poolsync(config, "resync", "--format", "json")
    assert result.code in (0, 3), result.stderr
    assert "error" not in result.stderr.lower()
    summary = result.json()
    domain = summary["passes"][0]
    assert (domain["name"], domain["mode"]) == ("domain", "incremental")
    assert domain["removals"] >= 1  # the tombstone was read...
    assert summary["changes"]["subscribers"] == {"insert": 0, "update": 0, "delete": 0}
    assert rows(store) == before  # ...and changed nothing
    assert runs(store)[0].status in ("ok", "findings")

    # A subscriber homed on a Location id no Location has.
    orphans_before = in_process(config, "pool", "--format", "json").json()["orphaned"]
    stray = f"CN=stray-{uuid.uuid4().hex[:8]},{ou}"
    unknown = f"no-such-location-{uuid.uuid4()}"
    editor.apply([new_subscriber(stray, home=unknown, classes=(SUB.um_value,))])
    result = poolsync(config, "resync", "--format", "json")
    assert result.code in (0, 3), result.stderr
    assert "error" not in result.stderr.lower()
    assert result.json()["changes"]["subscribers"]["insert"] == 1
    assert [(r[2], r[3]) for r in rows(store)[1] if r[2] == stray] == [
        (stray, unknown),
        (stray, unknown),
    ]  # held by both passes
    report = in_process(config, "pool", "--format", "json")
    assert report.code in (0, 3), report.stderr
    orphaned = report.json()["orphaned"]
    assert orphaned["vm"] == orphans_before["vm"] + 1
    assert orphaned["um"] == orphans_before["um"] + 1
