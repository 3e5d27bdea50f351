"""A Location's attachment is read bounded: in the Location search itself, with pages
small enough that values at the bound fit Samba's reply limit; a value over the bound
is read past as it streams in (never buffered) and only its size kept, read on its own;
a page the DC refuses as too large falls back to reading the attachments object by
object. The DC is a scripted one (tests/support/fakedc.py); tests/integration/
test_hostile_input.py does the same against Samba with eight 4 MiB attachments."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from poolsync.config import DirectoryConfig, load_config
from poolsync.directory.connection import MESSAGE_OVERHEAD, REPLY_BUDGET
from poolsync.directory.values import WINDOW
from tests.support.fakedc import FakeDc, Page, Refusal, guid_of
from tests.support.fakes import write_config
from tests.support.live import live_connection

BASE = "DC=lab,DC=example,DC=com"
LIMIT = 1 << 20
PAGE = REPLY_BUDGET // (LIMIT + MESSAGE_OVERHEAD)
Script = dict[str, bytes | int | Refusal | None]


def guid(dn: str) -> str:
    return str(uuid.UUID(bytes_le=guid_of(dn)))


def dns(count: int) -> list[str]:
    return [f"CN=loc{n},CN=Locations,{BASE}" for n in range(count)]


def paged(names: list[str]) -> Callable[[int], Page]:
    """``names`` in pages of PAGE, as a DC honouring the page size would send them."""

    def page(n: int) -> Page:
        chunk = names[n * PAGE : (n + 1) * PAGE]
        return chunk, (b"" if (n + 1) * PAGE >= len(names) else f"c{n}".encode())

    return page


@pytest.fixture
def config(tmp_path: Path) -> Callable[[FakeDc], DirectoryConfig]:
    def make(dc: FakeDc) -> DirectoryConfig:
        return load_config(write_config(tmp_path, dc_url=dc.url)).directory

    return make


def read(config: DirectoryConfig) -> dict[str, tuple[bytes | None, int | None]]:
    """name -> (the attachment, the size refused)."""
    with live_connection(config, config.dc, password="pw") as conn:
        return {
            e.text("name") or "": (e.first("pooling"), e.refused.get("pooling"))
            for e in conn.search_with_large_value(
                BASE,
                "(objectClass=*)",
                ["objectGUID", "name", "pooling"],
                large="pooling",
                max_bytes=LIMIT,
            )
        }


def test_values_come_with_the_search_in_pages_that_fit_the_reply_limit(
    config: Callable[[FakeDc], DirectoryConfig],
) -> None:
    assert PAGE == 22  # 22 values at the 1 MiB bound fit Samba's 25.6 MB reply limit
    names = dns(PAGE + 3)
    script: Script = {guid(dn): f"<xml>{n}</xml>".encode() for n, dn in enumerate(names)}
    script[guid(names[1])] = None  # no attachment
    with FakeDc(paged(names), values=script.__getitem__) as dc:
        got = read(config(dc))
        assert (dc.searches, dc.base_reads) == (2, 0)
    assert got[names[0]] == (b"<xml>0</xml>", None)
    assert got[names[1]] == (None, None)
    assert got[names[-1]] == (f"<xml>{len(names) - 1}</xml>".encode(), None)
    assert len(got) == len(names)


def test_a_value_over_the_bound_is_skipped_unbuffered_and_its_size_read_alone(
    config: Callable[[FakeDc], DirectoryConfig],
) -> None:
    """A hostile DC's 50 MB attachment cost 399 MB of RSS when read whole."""
    names = dns(3)
    huge = 50 << 20
    script: Script = {
        guid(names[0]): b"<small/>",
        guid(names[1]): huge,
        guid(names[2]): LIMIT - 100,
    }
    with FakeDc(paged(names), values=script.__getitem__) as dc:
        directory = config(dc)
        tracemalloc.start()
        try:
            got = read(directory)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert dc.base_reads == 2  # the skipped entry by its DN, then its value's size
    assert got[names[0]] == (b"<small/>", None)
    assert got[names[1]] == (None, huge)
    assert got[names[2]][0] == b"x" * (LIMIT - 100)  # just under the bound: read
    assert peak < 12 << 20, peak


def test_a_page_the_dc_refuses_as_too_large_falls_back_to_one_by_one(
    config: Callable[[FakeDc], DirectoryConfig],
) -> None:
    """Values over the bound crowding one page make Samba refuse it (sizeLimitExceeded):
    the attachments are then read object by object, a few requests in flight."""
    names = dns(3 * WINDOW + 1)
    script: Script = {guid(dn): f"<xml>{n}</xml>".encode() for n, dn in enumerate(names)}
    script[guid(names[2])] = Refusal(32)  # deleted since the search
    script[guid(names[3])] = Refusal(4)  # too large: the page, then the read, refused
    with FakeDc(paged(names), values=script.__getitem__) as dc:
        got = read(config(dc))
        assert dc.base_reads == len(names)
    assert got[names[0]] == (b"<xml>0</xml>", None)
    assert names[2] not in got
    assert got[names[3]] == (None, 0)
    assert got[names[-1]] == (f"<xml>{len(names) - 1}</xml>".encode(), None)
    assert len(got) == len(names) - 1
