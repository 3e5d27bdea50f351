"""``poolsync service``: sync on a schedule, and within seconds of a change.

The service runs an incremental pass every ``every`` seconds and a total resync every
``total_every`` seconds (each with random jitter so a fleet of services does not hit
the DCs in step), and runs a pass soon after a change notification from the DC
(:class:`~poolsync.directory.notify.ChangeWatcher`): notifications are only a trigger,
the pass reads from the watermark as always, so a missed or spurious notification
costs nothing but a pass. A pass that fails is logged and recorded in the run history;
the service carries on with the schedule. On SIGTERM or SIGINT the service stops: a
pass in flight stops at its next page and rolls back (nothing half-written), or, if
it is already committing, finishes its commit.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from poolsync.config import Config
from poolsync.directory.source import DirectorySource
from poolsync.errors import PoolsyncError, RunCancelled, StoreError
from poolsync.profile import Profile
from poolsync.store import Store
from poolsync.sync.engine import NoProgress, SyncResult, run_sync

log = logging.getLogger(__name__)
DEBOUNCE = 0.3  # seconds: changes arriving together make one pass
MAX_WATCHED = 20  # containers watched for change notifications (5 per connection)


@dataclass(frozen=True)
class Schedule:
    every: float  # seconds between incremental passes
    total_every: float  # seconds between total resyncs
    jitter: float = 0.1  # each wait is stretched or shrunk by up to this fraction

    def wait(self, base: float, rng: random.Random) -> float:
        return max(0.0, base * (1 + rng.uniform(-self.jitter, self.jitter)))


class _CancellableProgress(NoProgress):
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def advance(self, count: int) -> None:
        if self._stop.is_set():
            raise RunCancelled(
                "stopping: the pass in flight was abandoned before its commit; nothing was written"
            )


class Watcher(Protocol):
    """What the service needs of a change watcher (start, stop)."""

    def start(self) -> None: ...
    def stop(self) -> object: ...


#: (containers, on_change, the URL of the DC the domain pass last read) -> a watcher
WatcherFactory = Callable[[list[str], Callable[[], None], str | None], Watcher | None]


@dataclass
class ServiceStats:
    passes: int = 0
    totals: int = 0
    failures: int = 0
    triggered: int = 0


class Service:
    """The long-running sync loop. :meth:`run` returns when ``stop`` is set."""

    def __init__(
        self,
        config: Config,
        profile: Profile,
        *,
        source: DirectorySource,
        schedule: Schedule,
        now: Callable[[], datetime],
        watcher_factory: WatcherFactory | None = None,
        on_result: Callable[[SyncResult, datetime], None] | None = None,
        on_error: Callable[[PoolsyncError, str, datetime], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.profile = profile
        self.source = source
        self.schedule = schedule
        self.now = now
        self.watcher_factory = watcher_factory
        self.on_result = on_result
        self.on_error = on_error
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrets)
        self.stop_event = threading.Event()
        self.trigger = threading.Event()
        self.stats = ServiceStats()
        self._watcher: Watcher | None = None
        self._watched: list[str] = []

    def notify(self) -> None:
        """Called by the watcher (any thread) when something changed."""
        self.stats.triggered += 1
        self.trigger.set()

    def stop(self) -> None:
        self.stop_event.set()
        self.trigger.set()

    def _seconds_since_total(self) -> float | None:
        if not self.config.store.exists():
            return None
        try:
            with Store.open(self.config.store, create=False) as store:
                run = store.last_total()
            if run is None:
                return None
            return (self.now() - run.started_at).total_seconds()
        except StoreError:
            return None

    def _pass(self, *, total: bool, why: str) -> bool:
        """One run; True when it committed."""
        mode = "total" if total else "incremental"
        log.info("service: %s pass (%s)", mode, why)
        started = self.now()
        try:
            result = run_sync(
                self.config,
                self.profile,
                source=self.source,
                total=total,
                progress=_CancellableProgress(self.stop_event),
                now=self.now,
                stop=self.stop_event,
            )
        except RunCancelled:
            log.info("service: pass abandoned on shutdown; nothing was written")
            return False
        except PoolsyncError as exc:
            self.stats.failures += 1
            log.error("service: %s pass failed: %s", mode, exc)
            if self.on_error is not None:
                self.on_error(exc, mode, started)
            return False
        self.stats.passes += 1
        self.stats.totals += int(total)
        changes = result.plan.counts
        loc, sub = changes["locations"], changes["subscribers"]
        log.info(
            "service: synced in %.1f s: Locations +%d ~%d -%d; subscribers +%d ~%d -%d",
            result.seconds,
            loc.added,
            loc.changed,
            loc.removed,
            sub.added,
            sub.changed,
            sub.removed,
        )
        if self.on_result is not None:
            self.on_result(result, started)
        self._rewatch_if_needed()
        return True

    def _rewatch_if_needed(self) -> None:
        """(Re)start the watcher when the containers holding objects have changed."""
        if self.watcher_factory is None:
            return
        try:
            with Store.open(self.config.store, create=False) as store:
                containers = store.containers(limit=MAX_WATCHED)
                endpoint = next((p.endpoint for p in store.passes() if p.name == "domain"), None)
        except StoreError as exc:
            log.warning("service: cannot list the containers to watch: %s", exc)
            return
        # Watch the DC the domain pass reads (it may have failed over), where the
        # objects it holds are.
        target = [*containers, f"@{endpoint}"]
        if not containers or target == self._watched:
            return
        if self._watcher is not None:
            self._watcher.stop()
        self._watched = target
        self._watcher = self.watcher_factory(containers, self.notify, endpoint)
        if self._watcher is not None:
            self._watcher.start()
            log.info("service: watching %d container(s) for changes", len(containers))

    def run(self) -> ServiceStats:
        """Sync until :meth:`stop`; the first pass runs at once."""
        since_total = self._seconds_since_total()
        total_due = time.monotonic() + (
            0.0 if since_total is None else max(0.0, self.schedule.total_every - since_total)
        )
        next_due = time.monotonic()
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now >= total_due:
                    # A failed total is tried again at the next --every, not a day later:
                    # totals repair what incremental reads cannot see.
                    wait = (
                        self.schedule.total_every
                        if self._pass(total=True, why="total-every")
                        else self.schedule.every
                    )
                    total_due = time.monotonic() + self.schedule.wait(wait, self.rng)
                    next_due = time.monotonic() + self.schedule.wait(self.schedule.every, self.rng)
                    continue
                if now >= next_due:
                    self._pass(total=False, why="every")
                    next_due = time.monotonic() + self.schedule.wait(self.schedule.every, self.rng)
                    continue
                timeout = min(next_due, total_due) - now
                if self.trigger.wait(timeout=timeout):
                    self.trigger.clear()
                    if self.stop_event.is_set():
                        break
                    # Let a burst of changes settle into one pass.
                    self.stop_event.wait(DEBOUNCE)
                    self.trigger.clear()
                    if not self.stop_event.is_set():
                        self._pass(total=False, why="change notification")
        finally:
            if self._watcher is not None:
                self._watcher.stop()
        return self.stats
