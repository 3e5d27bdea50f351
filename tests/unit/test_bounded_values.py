"""A Location's attachment is read on its own, one object at a time, and bounded: a
value over the limit is skipped as it streams in (never buffered whole), one the DC
refuses to send is refused likewise, and the object is kept with its size. The DC is
a scripted one (tests/fakedc.py); tests/integration/test_hostile_input.py does the
same against Samba with eight 4 MiB attachments."""

from __future__ import annotations

import hashlib
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from poolsync.config import DirectoryConfig, load_config
from poolsync.directory import connect
from poolsync.directory.values import WINDOW
from tests.fakedc import FakeDc, Page, Refusal
from tests.unit.fakes import write_config

BASE = "DC=lab,DC=example,DC=com"
LIMIT = 1 << 20


def guid_of(dn: str) -> str:
    """The objectGUID the fake DC gives the entry with this DN."""
    return str(uuid.UUID(bytes_le=hashlib.md5(dn.encode(), usedforsecurity=False).digest()))


def dns(count: int) -> list[str]:
    return [f"CN=loc{n},CN=Locations,{BASE}" for n in range(count)]


def one_page(count: int) -> Callable[[int], Page]:
    return lambda n: (dns(count), b"")


@pytest.fixture
def config(tmp_path: Path) -> Callable[[FakeDc], DirectoryConfig]:
    def make(dc: FakeDc) -> DirectoryConfig:
        return load_config(write_config(tmp_path, dc_url=dc.url)).directory
    return make


def read(config: DirectoryConfig) -> dict[str, tuple[bytes | None, int | None]]:
    """name -> (the attachment, the size refused)."""
    with connect(config.dc, config, password="pw") as conn:
        return {e.text("name") or "": (e.first("pooling"), e.refused.get("pooling"))
                for e in conn.search_with_large_value(BASE, "(objectClass=*)",
                                                      ["objectGUID", "name", "pooling"],
                                                      large="pooling", max_bytes=LIMIT)}


def test_values_are_read_per_object_and_merged_in(
        config: Callable[[FakeDc], DirectoryConfig]) -> None:
    names = dns(3 * WINDOW + 1)
    script: dict[str, bytes | int | Refusal | None] = {
        guid_of(dn): f"<xml>{n}</xml>".encode() for n, dn in enumerate(names)}
    script[guid_of(names[1])] = None  # no attachment
    script[guid_of(names[2])] = Refusal(32)  # deleted since the search
    script[guid_of(names[3])] = Refusal(4)  # sizeLimitExceeded: too large to send
    with FakeDc(one_page(len(names)), values=script.__getitem__) as dc:
        got = read(config(dc))
        assert dc.base_reads == len(names)
    assert got[names[0]] == (b"<xml>0</xml>", None)
    assert got[names[1]] == (None, None)
    assert names[2] not in got
    assert got[names[3]] == (None, 0)
    assert got[names[-1]] == (f"<xml>{len(names) - 1}</xml>".encode(), None)
    assert len(got) == len(names) - 1


def test_a_value_over_the_limit_is_skipped_unbuffered(
        config: Callable[[FakeDc], DirectoryConfig]) -> None:
    """A hostile DC's 50 MB attachment cost 399 MB of RSS when read whole."""
    names = dns(3)
    huge = 50 << 20
    script: dict[str, bytes | int | Refusal | None] = {
        guid_of(names[0]): b"<small/>", guid_of(names[1]): huge,
        guid_of(names[2]): LIMIT - 100}
    with FakeDc(one_page(3), values=script.__getitem__) as dc:
        directory = config(dc)
        tracemalloc.start()
        try:
            got = read(directory)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got[names[0]] == (b"<small/>", None)
    value, refused = got[names[1]]
    assert value is None and refused == huge
    assert got[names[2]][0] == b"x" * (LIMIT - 100)  # just under the limit: read
    assert peak < 12 << 20, peak
