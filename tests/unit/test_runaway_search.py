"""A DC that never ends a search cannot keep a pass going: a paged search stops after
too many empty pages or past its entry bound, a DirSync read also at a cookie sent
twice, with RunawaySearch (final, exit 5) naming the bound. The DC here is a
scripted one on loopback (tests/support/fakedc.py): no Samba misbehaves this way."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from poolsync.config import DirectoryConfig, load_config
from poolsync.directory import Bound, DirSyncRead, dirsync
from poolsync.directory.dirsync import DirSyncResponse
from poolsync.directory.paged import MAX_EMPTY_PAGES
from poolsync.errors import RunawaySearch
from tests.support.fakedc import FakeDc, Page
from tests.support.fakes import write_config
from tests.support.live import live_connection

BASE = "DC=lab,DC=example,DC=com"


def page_of(n: int, size: int = 10) -> list[str]:
    return [f"CN=u{n * size + i},{BASE}" for i in range(size)]


Configure = Callable[[FakeDc], DirectoryConfig]


@pytest.fixture(autouse=True)
def quiet_connection_log(caplog: pytest.LogCaptureFixture) -> None:
    """The fake DC speaks plain ldap://, which the connection warns about: quiet that
    logger for these tests only. (Setting its level directly outlived the module and
    hid the retry warnings tests/cli/test_connect_failures.py looks for, when it ran
    after this module.)"""
    caplog.set_level(logging.ERROR, logger="poolsync.directory.connection")


@pytest.fixture
def directory(tmp_path: Path) -> Configure:
    """The config of a directory whose DC the test scripts (``directory.dc`` is the
    fake's URL; the page size is 10 and ``max_entries`` 500)."""

    def make(dc: FakeDc) -> DirectoryConfig:
        extra = "  page_size: 10\n  max_entries: 500\n  timeouts: {pass: 20}\n"
        return load_config(write_config(tmp_path, dc_url=dc.url, directory_extra=extra)).directory

    return make


def search(config: DirectoryConfig, bound: Bound | None = None) -> list[str]:
    with live_connection(config, config.dc, password="pw") as conn:
        return [e.dn for e in conn.search(BASE, "(objectClass=user)", ["name"], bound=bound)]


def test_a_well_behaved_search_reads_every_page(directory: Configure) -> None:
    def pages(n: int) -> Page:
        return page_of(n), (b"" if n == 4 else f"c{n}".encode())

    with FakeDc(pages) as dc:
        assert len(search(directory(dc))) == 50
        assert dc.searches == 5


def test_a_repeated_cookie_is_not_a_runaway_by_itself(directory: Configure) -> None:
    """Samba sends one cookie for every page of a search: that must read through."""

    def pages(n: int) -> Page:
        return page_of(n), (b"" if n == 4 else b"same-cookie")

    with FakeDc(pages) as dc:
        assert len(search(directory(dc))) == 50


@pytest.mark.parametrize(
    "cookie", [lambda n: b"same", lambda n: f"c{n}".encode()], ids=["one-cookie", "new-cookies"]
)
def test_entries_forever_stop_at_max_entries(
    directory: Configure, cookie: Callable[[int], bytes]
) -> None:
    with FakeDc(lambda n: (page_of(n), cookie(n))) as dc:
        with pytest.raises(
            RunawaySearch,
            match=r"more than 500 entries \(directory\."
            r"max_entries is 500\); nothing was changed",
        ):
            search(directory(dc))
        assert dc.searches <= 52


def test_the_tighter_bound_wins_and_says_why(directory: Configure) -> None:
    with FakeDc(lambda n: (page_of(n), f"c{n}".encode())) as dc:
        with pytest.raises(RunawaySearch, match=r"more than 120 entries \(the store holds"):
            search(directory(dc), Bound(120, "the store holds 60"))
        # A looser bound than max_entries does not loosen it.
        with pytest.raises(RunawaySearch, match=r"directory\.max_entries is 500"):
            search(directory(dc), Bound(10_000, "loose"))


def test_endless_empty_pages_stop_the_search(directory: Configure) -> None:
    with FakeDc(lambda n: ([], f"c{n}".encode())) as dc:
        with pytest.raises(RunawaySearch, match=f"{MAX_EMPTY_PAGES} pages in a row"):
            search(directory(dc))
        assert dc.searches <= MAX_EMPTY_PAGES + 1


def test_a_dirsync_read_that_promises_more_forever_stops(
    directory: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round's response control says "more results" with the cookie it sent last
    time (the fake DC's control is a paged one, so the read's decoding is scripted)."""
    monkeypatch.setattr(
        dirsync,
        "response_from_controls",
        lambda _controls: DirSyncResponse(more_results=True, cookie=b"same", unused=0),
    )
    with FakeDc(lambda n: (page_of(n), b"")) as dc:
        config = directory(dc)
        with live_connection(config, config.dc, password="pw") as conn:
            read = DirSyncRead(conn, BASE, "(objectClass=user)", ["name"])
            with pytest.raises(RunawaySearch, match="DirSync cookie it had already sent"):
                list(read)
            assert dc.searches == 2
