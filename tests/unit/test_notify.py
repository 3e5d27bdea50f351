"""ChangeWatcher without a server: layout, backoff, stop, and the polling fallback."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from poolsync.config import DirectoryConfig, RetryPolicy, load_config
from poolsync.directory import notify
from poolsync.directory.notify import (
    DELETED_OBJECTS_WKGUID,
    MAX_WATCHES_PER_CONNECTION,
    ChangeWatcher,
    Watch,
)
from poolsync.directory.source import RootDse
from poolsync.errors import AuthError, DirectoryUnavailable, QueryError
from tests.unit.fakes import write_config


@pytest.fixture
def config(tmp_path: Path) -> DirectoryConfig:
    return load_config(write_config(tmp_path)).directory


def with_retries(config: DirectoryConfig, initial: float, maximum: float) -> DirectoryConfig:
    return replace(config, retries=RetryPolicy(attempts=1, initial_wait=initial,
                                               max_wait=maximum))


def watcher(config: DirectoryConfig, containers: list[str], **kwargs: Any) -> ChangeWatcher:
    return ChangeWatcher(config.dc, config, password="pw", containers=containers, **kwargs)


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
    assert groups[1][-1] == Watch(f"<WKGUID={DELETED_OBJECTS_WKGUID},DC=lab,DC=example,DC=com>",
                                  "one", show_deleted=True, optional=True)
    assert w.connections == 2
    assert [len(x.watches) for x in watcher(config, containers,
                                             watch_deletions=False)._workers] == [4, 3]
    # A GC endpoint has no naming context to find Deleted Objects in.
    gc = ChangeWatcher(config.gc, config, password="pw", containers=["OU=a"])
    assert [x.base for x in gc._workers[0].watches] == ["OU=a"]
    # Polling needs one connection whatever the number of containers.
    assert watcher(config, containers, mode="poll").connections == 1


def test_failures_back_off_forever_and_stop_is_prompt(
        config: DirectoryConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(time.monotonic())
        raise AuthError("no") if len(calls) == 2 else DirectoryUnavailable("down")

    monkeypatch.setattr(notify, "connect", refuse)
    w = watcher(with_retries(config, 0.1, 0.4), ["OU=a"])
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


def test_stop_interrupts_a_long_backoff(config: DirectoryConfig,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = threading.Event()

    def refuse(*args: object, **kwargs: object) -> None:
        calls.set()
        raise DirectoryUnavailable("down")

    monkeypatch.setattr(notify, "connect", refuse)
    w = watcher(with_retries(config, 30, 60), ["OU=a"])
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


def test_poll_mode_fires_on_usn_changes_and_after_reconnecting(
        config: DirectoryConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    conns = [PollConn([100, 100, 101, 101, -1]), PollConn([105, 105])]
    opened: list[PollConn] = []

    def connect(*args: object, **kwargs: object) -> PollConn:
        opened.append(conns.pop(0))
        return opened[-1]

    monkeypatch.setattr(notify, "connect", connect)
    seen: list[int] = []
    w = watcher(with_retries(config, 0.05, 0.1), ["OU=a", "OU=b", "OU=c", "OU=d", "OU=e"],
                mode="poll", poll_interval=0.05, on_change=lambda: seen.append(1))
    with w:
        assert w.wait_registered(2)
        deadline = time.monotonic() + 3
        while w.registrations < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    # registered, 100 -> 101, dropped, registered again (105): three triggers.
    assert (w.registrations, w.triggers, len(seen)) == (2, 3, 3)
    assert all(c.closed for c in opened) and len(opened) == 2
    assert w.changed.is_set()


def test_a_failing_callback_does_not_stop_the_watcher(
        config: DirectoryConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "connect", lambda *a, **k: PollConn([7]))

    def boom() -> None:
        raise RuntimeError("callback bug")

    w = watcher(config, ["OU=a"], mode="poll", poll_interval=0.05, on_change=boom)
    with w:
        assert w.wait_registered(2)
        assert w.changed.wait(1)
        assert w._workers[0].thread.is_alive()


def ended(w: ChangeWatcher, watch: Watch, code: int, text: str = "nope") -> bool:
    return w._workers[0]._ended(watch, {"type": "searchResDone", "result": code,
                                        "description": "x", "message": text})


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


def test_a_callable_password_is_read_at_each_connect_and_not_kept(
        config: DirectoryConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service hands the watcher its secret reader: every reconnect reads the
    password anew (a rotated one is picked up) and the watcher holds no copy."""
    conns = [PollConn([100, -1]), PollConn([105])]
    given: list[object] = []

    def connect(*args: object, **kwargs: object) -> PollConn:
        given.append(kwargs["password"])
        return conns.pop(0)

    reads = iter(["first-secret", "second-secret"])
    monkeypatch.setattr(notify, "connect", connect)
    w = ChangeWatcher(with_retries(config, 0.05, 0.1).dc, with_retries(config, 0.05, 0.1),
                      password=lambda: next(reads), containers=["OU=a"], mode="poll",
                      poll_interval=0.05)
    with w:
        deadline = time.monotonic() + 3
        while w.registrations < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        kept = [v for v in vars(w).values() if isinstance(v, str) and "secret" in v]
    assert given == ["first-secret", "second-secret"]
    assert kept == []
