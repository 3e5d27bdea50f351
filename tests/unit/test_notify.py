"""ChangeWatcher without a server: layout, backoff, stop, and the polling fallback."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from poolsync.config import DirectoryConfig, Endpoint, RetryPolicy, load_config
from poolsync.directory.notify import (
    DELETED_OBJECTS_WKGUID,
    MAX_WATCHES_PER_CONNECTION,
    ChangeWatcher,
    Watch,
)
from poolsync.directory.source import LiveSource, Origin, RootDse
from poolsync.errors import AuthError, DirectoryUnavailable, QueryError
from tests.support.fakes import write_config


@pytest.fixture
def config(tmp_path: Path) -> DirectoryConfig:
    return load_config(write_config(tmp_path)).directory


def with_retries(config: DirectoryConfig, initial: float, maximum: float) -> DirectoryConfig:
    return replace(config, retries=RetryPolicy(attempts=1, initial_wait=initial, max_wait=maximum))


class ScriptedSource:
    """A DirectorySource whose readers a test scripts (``opener``); by default every
    open fails, as against a DC that is down."""

    def __init__(
        self, config: DirectoryConfig, opener: Callable[[Endpoint], Any] | None = None
    ) -> None:
        self.config = config
        self.opener = opener
        self.origin = Origin("memory", "scripted")
        self.dcs, self.gcs = config.dcs, config.gcs
        self.retries = config.retries
        self.pass_timeout = 60.0

    def open(self, endpoint: Endpoint) -> Any:
        if self.opener is None:
            raise DirectoryUnavailable("down")
        return self.opener(endpoint)


def watcher(
    config: DirectoryConfig,
    containers: list[str],
    opener: Callable[[Endpoint], Any] | None = None,
    **kwargs: Any,
) -> ChangeWatcher:
    return ChangeWatcher(ScriptedSource(config, opener), config.dc, containers=containers, **kwargs)


def test_arguments_are_checked(config: DirectoryConfig) -> None:
    with pytest.raises(ValueError, match="at least one container"):
        watcher(config, [])
    with pytest.raises(ValueError, match="'base' or 'one'"):
        watcher(config, ["OU=a"], scope="subtree")
    with pytest.raises(ValueError, match="mode"):
        watcher(config, ["OU=a"], mode="push")
    with pytest.raises(ValueError, match="positive"):
        watcher(config, ["OU=a"], poll_interval=0)


def test_watches_are_spread_over_connections(config: DirectoryConfig) -> None:
    assert MAX_WATCHES_PER_CONNECTION == 4
    containers = [f"OU=c{n},DC=lab,DC=example,DC=com" for n in range(7)]
    w = watcher(config, containers, scope="base")
    groups = [worker.watches for worker in w._workers]
    assert [len(g) for g in groups] == [4, 4]
    assert [x.base for g in groups for x in g][:7] == containers
    assert all(x.scope == "base" for x in groups[0])
    # The Deleted Objects watch (Samba reports deletions only there) is optional.
    assert groups[1][-1] == Watch(
        f"<WKGUID={DELETED_OBJECTS_WKGUID},DC=lab,DC=example,DC=com>",
        "one",
        show_deleted=True,
        optional=True,
    )
    assert w.connections == 2
    assert [
        len(x.watches) for x in watcher(config, containers, watch_deletions=False)._workers
    ] == [4, 3]
    # A GC endpoint has no naming context to find Deleted Objects in.
    gc = ChangeWatcher(ScriptedSource(config), config.gc, containers=["OU=a"])
    assert [x.base for x in gc._workers[0].watches] == ["OU=a"]
    # Polling needs one connection whatever the number of containers.
    assert watcher(config, containers, mode="poll").connections == 1


def test_failures_back_off_forever_and_stop_is_prompt(config: DirectoryConfig) -> None:
    calls: list[float] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(time.monotonic())
        raise AuthError("no") if len(calls) == 2 else DirectoryUnavailable("down")

    w = watcher(with_retries(config, 0.1, 0.4), ["OU=a"], refuse)
    w.start()
    deadline = time.monotonic() + 5
    while len(calls) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) >= 5, "kept retrying past the config's attempt count, any error kind"
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert 0.09 <= gaps[0] < 0.3
    assert max(gaps) < 0.4 + 0.2  # capped at max_wait
    assert gaps[2] > gaps[0]  # and growing
    started = time.monotonic()
    assert w.stop()
    assert time.monotonic() - started < 1
    assert isinstance(w.last_error, DirectoryUnavailable | AuthError)
    assert w.triggers == 0 and not w.changed.is_set()
    assert not w.wait_registered(0)


def test_stop_interrupts_a_long_backoff(config: DirectoryConfig) -> None:
    calls = threading.Event()

    def refuse(*args: object, **kwargs: object) -> None:
        calls.set()
        raise DirectoryUnavailable("down")

    w = watcher(with_retries(config, 30, 60), ["OU=a"], refuse)
    w.start()
    assert calls.wait(2)
    time.sleep(0.1)  # now sleeping 30 s before the next attempt
    started = time.monotonic()
    assert w.stop(timeout=2)
    assert time.monotonic() - started < 0.5
    with pytest.raises(RuntimeError, match="only once"):
        w.start()


class PollConn:
    """A connection whose highestCommittedUSN follows a script."""

    def __init__(self, usns: list[int]) -> None:
        self.usns = usns
        self.closed = False

    def __enter__(self) -> PollConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def root_dse(self) -> RootDse:
        usn = self.usns.pop(0) if len(self.usns) > 1 else self.usns[0]
        if usn < 0:
            raise DirectoryUnavailable("dropped")
        return RootDse("dc", "CN=NTDS Settings", usn, "DC=lab", "DC=lab", "CN=Configuration")


def test_poll_mode_fires_on_usn_changes_and_after_reconnecting(config: DirectoryConfig) -> None:
    conns = [PollConn([100, 100, 101, 101, -1]), PollConn([105, 105])]
    opened: list[PollConn] = []

    def connect(*args: object, **kwargs: object) -> PollConn:
        opened.append(conns.pop(0))
        return opened[-1]

    seen: list[int] = []
    w = watcher(
        with_retries(config, 0.05, 0.1),
        ["OU=a", "OU=b", "OU=c", "OU=d", "OU=e"],
        connect,
        mode="poll",
        poll_interval=0.05,
        on_change=lambda: seen.append(1),
    )
    with w:
        assert w.wait_registered(2)
        deadline = time.monotonic() + 3
        while w.registrations < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    # registered, 100 -> 101, dropped, registered again (105): three triggers.
    assert (w.registrations, w.triggers, len(seen)) == (2, 3, 3)
    assert all(c.closed for c in opened) and len(opened) == 2
    assert w.changed.is_set()


def test_a_failing_callback_does_not_stop_the_watcher(config: DirectoryConfig) -> None:
    def boom() -> None:
        raise RuntimeError("callback bug")

    w = watcher(
        config, ["OU=a"], lambda _e: PollConn([7]), mode="poll", poll_interval=0.05, on_change=boom
    )
    with w:
        assert w.wait_registered(2)
        assert w.changed.wait(1)
        assert w._workers[0].thread.is_alive()


def ended(w: ChangeWatcher, watch: Watch, code: int, text: str = "nope") -> bool:
    return w._workers[0]._ended(
        watch, {"type": "searchResDone", "result": code, "description": "x", "message": text}
    )


def test_how_an_ended_notification_search_is_handled(config: DirectoryConfig) -> None:
    w = watcher(config, ["OU=a"])
    plain, optional = w._workers[0].watches
    # Not supported at all: poll instead (mode auto).
    assert ended(w, plain, 12) is True and w.polling
    # The optional Deleted Objects watch is dropped when refused...
    w = watcher(config, ["OU=a"])
    assert ended(w, optional, 53) is False and w.dropped == {optional}
    # ...but a busy DC is only a reason to register again later.
    with pytest.raises(DirectoryUnavailable, match="ended the change notification"):
        ended(w, optional, 51)
    with pytest.raises(QueryError, match="MaxNotificationPerConn"):
        ended(w, plain, 11, "MaxNotificationPerConn reached")
    # mode notify never falls back to polling.
    w = watcher(config, ["OU=a"], mode="notify")
    with pytest.raises(QueryError):
        ended(w, plain, 12)
    assert not w.polling


def test_every_reconnect_opens_the_source_anew(config: DirectoryConfig) -> None:
    """The watcher keeps no connection (and no credential) between sessions: each
    reconnect asks its source for a new reader."""
    conns = [PollConn([100, -1]), PollConn([105])]
    opened: list[str] = []

    def connect(endpoint: Endpoint) -> PollConn:
        opened.append(endpoint.url)
        return conns.pop(0)

    w = watcher(with_retries(config, 0.05, 0.1), ["OU=a"], connect, mode="poll", poll_interval=0.05)
    with w:
        deadline = time.monotonic() + 3
        while w.registrations < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert opened == [config.dc.url, config.dc.url]


def test_a_live_source_reads_a_callable_password_at_each_open_and_keeps_none(
    config: DirectoryConfig,
) -> None:
    """The service hands its live source the secret reader: every open reads the
    password anew (a rotated one is picked up) and the source holds no copy."""
    reads = iter(["first-secret", "second-secret"])
    source = LiveSource(config, password=lambda: next(reads))
    assert [source.password(), source.password()] == ["first-secret", "second-secret"]
    kept = [v for v in vars(source).values() if isinstance(v, str) and "secret" in v]
    assert kept == []


def test_a_reader_that_cannot_notify_is_refused_with_the_poll_mode_named(
    config: DirectoryConfig,
) -> None:
    from poolsync.directory.notify import _notifying

    class Export:
        changes = frozenset[str]()
        endpoint = config.dc

    with pytest.raises(QueryError, match=r"cannot send change notifications.*poll"):
        _notifying(Export())  # type: ignore[arg-type]
