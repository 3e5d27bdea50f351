"""The pure parts of the several-DC lab: LDIF it writes and links it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from poolsync.lab import samba
from poolsync.lab.build import _rounds
from poolsync.lab.replication import (
    LiveLink,
    Peer,
    connection_ldif,
    dsa_dn,
    site_records,
)

BASE = "DC=lab,DC=example,DC=com"


def peer(name: str, site: str) -> Peer:
    return Peer(name=name, address="127.0.0.2", site=site, paths=samba.DcPaths(Path("/x")))


def test_connection_ldif_names_both_dcs() -> None:
    text = connection_ldif(peer("DC2", "BRANCH"), peer("DC1", "HQ"), BASE, enabled=False)
    assert text.splitlines()[:5] == [
        f"dn: CN=from DC2,CN=NTDS Settings,CN=DC1,CN=Servers,CN=HQ,CN=Sites,"
        f"CN=Configuration,{BASE}",
        "changetype: add",
        "objectClass: nTDSConnection",
        f"fromServer: {dsa_dn(peer('DC2', 'BRANCH'), BASE)}",
        "enabledConnection: FALSE",
    ]


def test_site_records_create_the_site_and_link_it() -> None:
    text = site_records(BASE, ["BRANCH"])
    assert (
        f"dn: CN=BRANCH,CN=Sites,CN=Configuration,{BASE}\nchangetype: add\n"
        "objectClass: site\n" in text
    )
    assert "objectClass: serversContainer" in text
    assert "objectClass: nTDSSiteSettings" in text
    assert f"add: siteList\nsiteList: CN=BRANCH,CN=Sites,CN=Configuration,{BASE}\n" in text


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        (LiveLink("DC1", "DC2", True, True, False, False), None),
        (
            LiveLink("DC1", "DC2", True, True, True, False),
            "DC2 has inbound replication disabled (DISABLE_INBOUND_REPL)",
        ),
        (
            LiveLink("DC1", "DC2", True, True, False, True),
            "DC1 has outbound replication disabled (DISABLE_OUTBOUND_REPL)",
        ),
        (
            LiveLink("DC1", "DC2", False, False, False, False),
            "DC2 has no connection object pulling from DC1",
        ),
        (
            LiveLink("DC1", "DC2", True, False, False, False),
            "the connection DC1 -> DC2 is disabled",
        ),
    ],
)
def test_blocked_links(link: LiveLink, reason: str | None) -> None:
    assert link.blocked() == reason


@pytest.mark.parametrize(
    ("usable", "rounds"),
    [
        ([], 0),
        ([("DC1", "DC2"), ("DC2", "DC1")], 1),
        ([("DC1", "DC2"), ("DC2", "DC3")], 2),  # DC1's change reaches DC3 through DC2
        ([(a, b) for a in ("DC1", "DC2", "DC3") for b in ("DC1", "DC2", "DC3") if a != b], 1),
    ],
)
def test_replication_rounds_cover_the_longest_path(
    usable: list[tuple[str, str]], rounds: int
) -> None:
    assert _rounds(usable) == rounds


def test_a_lab_directory_too_deep_for_samba_sockets_is_refused(tmp_path: Path) -> None:
    from poolsync.errors import LabError
    from poolsync.lab.build import check_socket_paths

    check_socket_paths(Path("/tmp/lab"), ["DC1", "DC2"])  # 54 bytes: fine
    deep = Path("/tmp") / ("x" * 65)
    check_socket_paths(deep, ["DC1"])  # 107 bytes exactly: still fine
    with pytest.raises(LabError, match=r"too deep .* 1 bytes over .*shorter --dir"):
        check_socket_paths(deep, ["DC12"])
