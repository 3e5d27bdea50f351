"""The service loop: schedule, notification triggers, failures, clean stop.

The service reads a memory forest (:func:`tests.support.fakes.memory_for`); a change
between passes is a real change to it, and a slow read is
:class:`tests.support.fakes.FaultySource` around it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from poolsync.config import load_config
from poolsync.directory.source import DirectorySource
from poolsync.errors import PoolsyncError
from poolsync.profile import load_profile
from poolsync.store import Store
from poolsync.sync.engine import SyncResult
from poolsync.sync.service import Schedule, Service
from tests.support.engine import config_in, directory, forest
from tests.support.fakes import FaultySource, memory_for, subscriber_entry, write_config


def now() -> datetime:
    return datetime.now(UTC)


class FakeWatcher:
    def __init__(self, containers: list[str], on_change: Callable[[], None]) -> None:
        self.containers = containers
        self.on_change = on_change
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def make_service(
    tmp_path: Path,
    source: DirectorySource,
    *,
    every: float = 60,
    total_every: float = 3600,
    errors: list[PoolsyncError] | None = None,
    watchers: list[FakeWatcher] | None = None,
) -> Service:
    config = load_config(write_config(tmp_path))

    def factory(
        containers: list[str], on_change: Callable[[], None], endpoint: str | None
    ) -> FakeWatcher:
        assert endpoint == "ldaps://dc.invalid:636"  # the DC the domain pass read
        watcher = FakeWatcher(containers, on_change)
        if watchers is not None:
            watchers.append(watcher)
        return watcher

    def on_error(exc: PoolsyncError, mode: str, started: datetime) -> None:
        if errors is not None:
            errors.append(exc)

    results: list[SyncResult] = []
    return Service(
        config,
        load_profile("cisco-unity"),
        source=source,
        schedule=Schedule(every=every, total_every=total_every, jitter=0),
        now=now,
        watcher_factory=factory,
        on_error=on_error,
        on_result=lambda r, _s: results.append(r),
    )


def run_in_thread(service: Service) -> threading.Thread:
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_first_pass_is_total_then_a_notification_triggers_a_pass(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    watchers: list[FakeWatcher] = []
    service = make_service(tmp_path, memory, watchers=watchers)
    thread = run_in_thread(service)
    wait_for(lambda: service.stats.passes == 1 and bool(watchers))
    assert service.stats.totals == 1  # no total in the history yet: one runs at once
    [watcher] = watchers
    assert watcher.started
    assert watcher.containers == [
        "OU=Subscribers,DC=lab,DC=example,DC=com",
        "OU=Locations,DC=lab,DC=example,DC=com",
    ]
    memory.add(subscriber_entry(500, "loc-a"))
    started = time.monotonic()
    watcher.on_change()
    wait_for(lambda: service.stats.passes == 2)
    assert time.monotonic() - started < 2
    service.stop()
    thread.join(5)
    assert not thread.is_alive() and watcher.stopped
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert [r.kind for r in store.runs()] == ["incremental", "total"]
        assert sum(s.vm for s in store.homed_seats().values()) == 31
        assert [p.usn for p in store.passes()] == [memory.counter] * 2


def test_the_schedule_runs_passes_and_a_failure_does_not_stop_the_service(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    errors: list[PoolsyncError] = []
    service = make_service(tmp_path, memory, every=0.2, errors=errors)
    thread = run_in_thread(service)
    wait_for(lambda: service.stats.passes >= 2)
    memory.down = {"dc.invalid"}
    wait_for(lambda: service.stats.failures >= 1)
    memory.down = set()
    passes = service.stats.passes
    wait_for(lambda: service.stats.passes > passes)
    service.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert "refused" in str(errors[0])


def test_stop_abandons_a_pass_that_is_still_reading(tmp_path: Path) -> None:
    slow = FaultySource(memory_for(config_in(tmp_path), forest(3000)), delay=0.001)
    reading = slow.reading
    service = make_service(tmp_path, slow)
    thread = run_in_thread(service)
    reading.wait(5)
    service.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert service.stats.passes == 0
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert not store.has_data()  # nothing half-written
        assert store.runs()[0].status == "cancelled"


def test_a_failed_total_is_tried_again_at_the_next_interval(tmp_path: Path) -> None:
    memory = directory(tmp_path)
    memory.down = {"dc.invalid"}
    service = make_service(tmp_path, memory, every=0.2, total_every=3600)
    thread = run_in_thread(service)
    wait_for(lambda: service.stats.failures >= 1)
    memory.down = set()
    wait_for(lambda: service.stats.totals == 1)  # not an hour later
    service.stop()
    thread.join(5)
    assert not thread.is_alive()
