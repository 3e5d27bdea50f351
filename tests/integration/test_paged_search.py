"""The pipelined paged search against the real Samba DC: the same entries as ldap3's
own paged search, many pages, early close, and errors."""

from __future__ import annotations

import dataclasses
import json
import ssl
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import cast

import ldap3
import pytest

from poolsync.config import Config, load_config
from poolsync.directory.connection import DirectoryConnection
from poolsync.errors import QueryError
from poolsync.model import Entry
from tests.support.live import live_connection

pytestmark = pytest.mark.integration

ATTRIBUTES = ["objectGUID", "objectClass", "cn", "uSNChanged", "whenCreated"]


@pytest.fixture(scope="module")
def config(tiny_lab: Path) -> Config:
    return load_config(tiny_lab / "poolsync.yaml")


def small_pages(config: Config, page_size: int) -> DirectoryConnection:
    directory = dataclasses.replace(config.directory, page_size=page_size)
    return live_connection(directory, directory.dc, password=directory.bind.resolve_password())


def admin_connection(tiny_lab: Path, config: Config) -> ldap3.Connection:
    """ldap3's own connection to the lab's DC, as its administrator (missing attributes
    left out, as poolsync's connections do)."""
    state = json.loads((tiny_lab / "lab.json").read_text())
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(tiny_lab / "tls" / "ca.pem"))
    server = ldap3.Server(
        state["dcs"][0]["address"],
        port=state["dcs"][0]["ldaps_port"],
        use_ssl=True,
        tls=tls,
        get_info=ldap3.NONE,
    )
    return ldap3.Connection(
        server,
        user=state["bind_user"],
        password=config.directory.bind.resolve_password(),
        auto_bind=True,
        raise_exceptions=True,
        return_empty_attributes=False,
    )


@pytest.fixture(scope="module")
def reference(tiny_lab: Path, config: Config) -> Iterator[dict[str, dict[str, list[bytes]]]]:
    """Every object under the base as ldap3's own paged search returns it."""
    conn = admin_connection(tiny_lab, config)
    found = {}
    for item in conn.extend.standard.paged_search(
        config.directory.dc.base_dn,
        "(objectClass=*)",
        attributes=ATTRIBUTES,
        paged_size=50,
        generator=True,
    ):
        if item["type"] == "searchResEntry":
            found[item["dn"]] = {k.lower(): list(v) for k, v in item["raw_attributes"].items()}
    conn.unbind()
    yield found


def test_pipelined_pages_return_what_ldap3_returns(
    config: Config, reference: dict[str, dict[str, list[bytes]]]
) -> None:
    assert len(reference) > 100  # a fresh domain's objects: many pages of 7
    with small_pages(config, 7) as conn:
        got = {
            e.dn: dict(e.attributes)
            for e in conn.search(config.directory.dc.base_dn, "(objectClass=*)", ATTRIBUTES)
        }
    assert got == reference


def test_closing_early_leaves_the_connection_usable(
    config: Config, reference: dict[str, dict[str, list[bytes]]]
) -> None:
    base = config.directory.dc.base_dn
    with small_pages(config, 7) as conn:
        stream = cast(
            Generator[Entry, None, None], conn.search(base, "(objectClass=*)", ATTRIBUTES)
        )
        first = [next(stream) for _ in range(10)]  # page 2 is outstanding now
        stream.close()
        assert all(e.dn in reference for e in first)
        again = [e.dn for e in conn.search(base, "(objectClass=*)", ["cn"])]
        assert sorted(again) == sorted(reference)
        assert conn.root_dse().highest_committed_usn > 0


def test_a_missing_base_is_a_query_error(config: Config) -> None:
    with small_pages(config, 7) as conn, pytest.raises(QueryError, match="noSuchObject"):
        list(conn.search(f"OU=Nowhere,{config.directory.dc.base_dn}", "(objectClass=*)", ["cn"]))


def test_a_value_of_megabytes_is_read_in_linear_time(tiny_lab: Path, config: Config) -> None:
    """ldap3's own receive loop is quadratic in a message's size (8 MB took 4 s)."""
    import time

    admin = admin_connection(tiny_lab, config)
    dn = f"CN=ps-big,OU=Unity,{config.directory.dc.base_dn}"
    photo = bytes(range(256)) * (8 * 4096)  # 8 MiB
    admin.add(dn, ["user"], {"sAMAccountName": "ps-big", "jpegPhoto": photo})
    try:
        with small_pages(config, 7) as conn:
            started = time.monotonic()
            (entry,) = conn.search(dn, "(objectClass=user)", ["jpegPhoto"])
            seconds = time.monotonic() - started
        assert entry.first("jpegPhoto") == photo
        assert seconds < 2, seconds
    finally:
        admin.delete(dn)
        admin.unbind()
