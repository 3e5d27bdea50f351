"""The forest's replication topology: decoding, merging views, paths, metadata."""

from __future__ import annotations

import datetime as dt
import struct
import uuid

import pytest

from poolsync.forest import (
    AttributeStamp,
    Connection,
    DomainController,
    ForestConfig,
    behind,
    decode_forest,
    merge_views,
    parse_repl_metadata,
    site_of,
)
from poolsync.model import Entry

BASE = "DC=lab,DC=example,DC=com"
SITES = f"CN=Sites,CN=Configuration,{BASE}"


def guid_bytes(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


def entry(dn: str, **attrs: str | bytes | list[str]) -> Entry:
    values: dict[str, list[bytes]] = {}
    for name, value in attrs.items():
        items = value if isinstance(value, list) else [value]
        values[name.lower()] = [v if isinstance(v, bytes) else v.encode() for v in items]
    return Entry(dn=dn, attributes=values)


def dsa(name: str, site: str) -> str:
    return f"CN=NTDS Settings,CN={name},CN=Servers,CN={site},{SITES}"


def config_entries(*, dc2_options: str = "1", enabled: str = "TRUE") -> list[Entry]:
    return [
        entry(f"CN=HQ,{SITES}", objectClass=["top", "site"], name="HQ"),
        entry(f"CN=BRANCH,{SITES}", objectClass=["top", "site"], name="BRANCH"),
        entry(
            f"CN=DEFAULTIPSITELINK,CN=IP,CN=Inter-Site Transports,{SITES}",
            objectClass=["top", "siteLink"],
            name="DEFAULTIPSITELINK",
            siteList=[f"CN=HQ,{SITES}", f"CN=BRANCH,{SITES}"],
        ),
        entry(
            f"CN=DC1,CN=Servers,CN=HQ,{SITES}",
            objectClass=["top", "server"],
            name="DC1",
            dNSHostName="dc1.lab.example.com",
        ),
        entry(
            dsa("DC1", "HQ"),
            objectClass=["top", "applicationSettings", "nTDSDSA"],
            name="NTDS Settings",
            options="1",
            invocationId=guid_bytes("11111111-0000-0000-0000-000000000001"),
            objectGUID=guid_bytes("aaaaaaaa-0000-0000-0000-000000000001"),
        ),
        entry(
            f"CN=DC2,CN=Servers,CN=BRANCH,{SITES}",
            objectClass=["top", "server"],
            name="DC2",
            dNSHostName="dc2.lab.example.com",
        ),
        entry(
            dsa("DC2", "BRANCH"),
            objectClass=["top", "applicationSettings", "nTDSDSA"],
            name="NTDS Settings",
            options=dc2_options,
            invocationId=guid_bytes("11111111-0000-0000-0000-000000000002"),
        ),
        entry(
            f"CN=from DC2,{dsa('DC1', 'HQ')}",
            objectClass=["top", "nTDSConnection"],
            name="from DC2",
            fromServer=dsa("DC2", "BRANCH"),
            enabledConnection=enabled,
            options="0",
        ),
        entry(
            f"CN=kcc,{dsa('DC2', 'BRANCH')}",
            objectClass=["top", "nTDSConnection"],
            name="kcc",
            fromServer=dsa("DC1", "HQ"),
            options="1",
        ),
        # A server object without NTDS Settings (a demoted DC) is not a DC.
        entry(f"CN=OLD,CN=Servers,CN=HQ,{SITES}", objectClass=["top", "server"], name="OLD"),
    ]


def test_decode_forest() -> None:
    forest = decode_forest(config_entries(dc2_options="3"))
    assert [s.name for s in forest.sites] == ["BRANCH", "HQ"]
    assert forest.site_links == (("DEFAULTIPSITELINK", ("BRANCH", "HQ")),)
    dc1, dc2 = forest.dcs
    assert (dc1.name, dc1.site, dc1.gc, dc1.inbound_disabled) == ("DC1", "HQ", True, False)
    assert dc1.dns_host == "dc1.lab.example.com"
    assert dc1.invocation_id == "11111111-0000-0000-0000-000000000001"
    assert dc1.dsa_guid == "aaaaaaaa-0000-0000-0000-000000000001"
    assert (dc2.name, dc2.site, dc2.gc, dc2.inbound_disabled) == ("DC2", "BRANCH", True, True)
    assert [(c.source, c.target, c.enabled, c.generated) for c in forest.connections] == [
        ("DC2", "DC1", True, False),
        ("DC1", "DC2", True, True),
    ]


def test_lookups_by_name_host_dsa_and_invocation() -> None:
    forest = decode_forest(config_entries())
    assert forest.dc("dc2") is forest.dcs[1]
    assert forest.dc("DC2.LAB.EXAMPLE.COM") is forest.dcs[1]
    assert forest.dc("dc1.other.example") is forest.dcs[0]  # first label, unambiguous
    assert forest.dc("DC9") is None
    assert forest.dc_by_dsa(dsa("DC1", "HQ").upper()) is forest.dcs[0]
    assert forest.dc_by_invocation("11111111-0000-0000-0000-000000000002") is forest.dcs[1]


def test_replication_paths_follow_usable_connections() -> None:
    forest = decode_forest(config_entries())
    assert forest.replication_path("DC2", "DC1") == ("DC2", "DC1")
    assert forest.replication_path("DC1", "DC1") == ("DC1",)
    assert forest.inbound_problems("DC1") == []
    off = decode_forest(config_entries(enabled="FALSE"))
    assert off.replication_path("DC2", "DC1") is None
    assert off.inbound_problems("DC1") == [
        f"the connection DC2 -> DC1 is disabled (enabledConnection FALSE on CN=from DC2,"
        f"{dsa('DC1', 'HQ')})"
    ]
    refusing = decode_forest(config_entries(dc2_options="3"))
    assert refusing.replication_path("DC1", "DC2") is None
    assert refusing.inbound_problems("DC2")[0].startswith("DC2 has inbound replication disabled")
    silent = decode_forest(config_entries(dc2_options="5"))  # outbound disabled
    assert silent.replication_path("DC2", "DC1") is None
    assert any("DC2 has outbound replication disabled" in p for p in silent.inbound_problems("DC1"))


def test_paths_cross_several_hops() -> None:
    dcs = tuple(DomainController(name=f"DC{i}", site="S", dsa_dn=f"dsa{i}") for i in (1, 2, 3))
    conns = (
        Connection("a", "a", source="DC1", target="DC2"),
        Connection("b", "b", source="DC2", target="DC3"),
    )
    forest = ForestConfig(dcs=dcs, connections=conns)
    assert forest.replication_path("DC1", "DC3") == ("DC1", "DC2", "DC3")
    assert forest.replication_path("DC3", "DC1") is None
    assert forest.inbound_problems("DC1") == [
        "DC1 has no replication connection objects (nTDSConnection under dsa1)"
    ]


def test_merge_prefers_each_dcs_own_record() -> None:
    # DC1's copy still thinks DC2 accepts inbound replication; DC2 knows it does not.
    on_dc1 = decode_forest(config_entries())
    on_dc2 = decode_forest(config_entries(dc2_options="3", enabled="FALSE"))
    merged = merge_views({"DC1": on_dc1, "DC2": on_dc2})
    assert merged.dc("DC2") is not None and merged.dc("DC2").inbound_disabled  # type: ignore[union-attr]
    # The connection into DC1 is DC1's own: enabled on DC1, whatever DC2's copy says.
    into_dc1 = [c for c in merged.connections if c.target == "DC1"]
    assert [c.enabled for c in into_dc1] == [True]
    assert merge_views({}) == ForestConfig()


def test_site_of() -> None:
    assert site_of(dsa("DC1", "HQ")) == "HQ"
    assert site_of("CN=x,DC=lab") is None


def blob(*stamps: tuple[int, int, int, str, int, int]) -> bytes:
    out = struct.pack("<IIII", 1, 0, len(stamps), 0)
    for attid, version, seconds, origin, o_usn, l_usn in stamps:
        out += struct.pack(
            "<IIQ16sqq", attid, version, seconds, uuid.UUID(origin).bytes_le, o_usn, l_usn
        )
    return out


def test_parse_repl_metadata() -> None:
    origin = "4b83eada-031b-d14d-b89e-f238c61dfd69"
    seconds = int(
        (
            dt.datetime(2026, 11, 30, 5, 48, 8, tzinfo=dt.UTC)
            - dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
        ).total_seconds()
    )
    stamps = parse_repl_metadata(
        blob((0, 1, seconds, origin, 3719, 3956), (589825, 2, seconds + 60, origin, 3720, 3957))
    )
    assert stamps == (
        AttributeStamp(
            0, 1, dt.datetime(2026, 11, 30, 5, 48, 8, tzinfo=dt.UTC), origin, 3719, 3956
        ),
        AttributeStamp(
            589825, 2, dt.datetime(2026, 11, 30, 5, 49, 8, tzinfo=dt.UTC), origin, 3720, 3957
        ),
    )


def test_equal_origins_and_times_are_one_object_each() -> None:
    """A DC's invocation id and a shared time are made once, not once per stamp (the
    doctor holds about ten stamps per Location per endpoint)."""
    origin = "4b83eada-031b-d14d-b89e-f238c61dfd69"
    first = parse_repl_metadata(blob((0, 1, 10**10, origin, 1, 1), (3, 1, 10**10, origin, 2, 2)))
    again = parse_repl_metadata(blob((0, 1, 10**10, origin, 5, 5)))
    assert first[0].origin is first[1].origin is again[0].origin
    assert first[0].changed is first[1].changed is again[0].changed
    far = parse_repl_metadata(blob((0, 1, 2**63 - 1, origin, 1, 1)))  # past datetime's range
    assert far[0].changed == dt.datetime(1601, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"\x01\x00",
        struct.pack("<IIII", 2, 0, 0, 0),
        struct.pack("<IIII", 1, 0, 5, 0) + b"\x00" * 48,
    ],
)
def test_parse_repl_metadata_never_raises(raw: bytes | None) -> None:
    assert parse_repl_metadata(raw) == ()


def test_behind_compares_versions_only() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    old = (AttributeStamp(0, 1, t0, "a", 1, 1), AttributeStamp(3, 1, t0, "a", 1, 1))
    new = (
        AttributeStamp(0, 1, t0, "a", 1, 1),
        AttributeStamp(3, 2, t0, "a", 2, 2),
        AttributeStamp(9, 1, t0, "a", 3, 3),
    )
    assert behind(old, new) == [3, 9]
    assert behind(new, old) == []
    # Same version, another originating stamp: resolved, not pending.
    restamped = (
        AttributeStamp(0, 1, t0, "a", 1, 1),
        AttributeStamp(3, 1, t0 + dt.timedelta(seconds=7), "b", 1, 1),
    )
    assert behind(old, restamped) == []


def test_decode_forest_survives_odd_entries() -> None:
    odd = [
        entry(
            f"CN=L,CN=IP,CN=Inter-Site Transports,{SITES}", objectClass=["siteLink"], siteList=[""]
        ),
        entry("CN=NTDS Settings", objectClass=["nTDSDSA"]),  # under no server object
        entry(f"CN=c,{dsa('DC9', 'HQ')}", objectClass=["nTDSConnection"]),  # unknown DC
    ]
    forest = decode_forest([*config_entries(), *odd])
    assert [dc.name for dc in forest.dcs] == ["DC1", "DC2"]
    assert ("L", ()) in forest.site_links
