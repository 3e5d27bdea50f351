"""The pool of a forest shaped like a real Unity forest (pure): homes matched by object
id or objectGUID, UM and Inbox use from published utilization when subscribers carry no
license class, optional version and failover roles, and orphans that cannot hide."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from poolsync.allocation import ExclusionReason, build_pool_report
from poolsync.attachment import parse_attachment
from poolsync.compliance import Limits, State, assess
from poolsync.homes import match_homes
from poolsync.model import Roles, SeatClass, Seats
from poolsync.render.pool import pool_report_table
from tests.support.locations import attachment, location

FOREST = "real.example.com"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
REAL = Roles(license_classes=False)
A_GUID = "0a0a0a0a-0000-4000-8000-00000000000a"
B_GUID = "0b0b0b0b-0000-4000-8000-00000000000b"


def test_homes_match_object_id_first_then_object_guid() -> None:
    a = location("UNITY-A", A_GUID, "oid-a")
    b = location("UNITY-B", B_GUID, "")  # no object id: homes name its objectGUID
    homes = match_homes([a, b], {"oid-a": Seats(10), B_GUID: Seats(7), "nowhere": Seats(2)})
    assert homes.seats(0) == Seats(10) and homes.matched_by(0) == ("object_id",)
    assert homes.seats(1) == Seats(7) and homes.matched_by(1) == ("objectGUID",)
    assert homes.orphaned == Seats(2) and homes.orphan_keys == ("nowhere",)
    assert homes.subscribers == 19


def test_an_object_id_claims_a_key_before_another_locations_object_guid() -> None:
    a = location("UNITY-A", A_GUID, B_GUID)  # A's object id is B's objectGUID
    b = location("UNITY-B", B_GUID, "oid-b")
    homes = match_homes([a, b], {B_GUID: Seats(5)})
    assert homes.seats(0) == Seats(5) and homes.seats(1) == Seats()


def test_um_and_inbox_use_come_from_published_utilization_without_license_classes() -> None:
    a = location("UNITY-A", A_GUID, "oid-a", published=Seats(12, 4, 3))
    report = build_pool_report(FOREST, [a], {"oid-a": Seats(10)}, roles=REAL)
    (server,) = report.pools[0].servers
    assert server.used == Seats(10, 4, 3)  # VM: the directory; UM, Inbox: published
    assert {c: server.source(c) for c in SeatClass} == {
        SeatClass.VM: "directory",
        SeatClass.UM: "published",
        SeatClass.INBOX: "published",
    }
    assert server.stale == (SeatClass.VM,)  # published 12, directory 10; UM/Inbox never
    assert report.pools[0].used_source(SeatClass.UM) == "published"
    assert report.pools[0].used_source(SeatClass.VM) == "directory"
    assert any("license_class" in note for note in report.notes)


def test_a_class_nobody_published_is_unknown_not_zero_from_the_directory() -> None:
    a = location("UNITY-A", A_GUID, "oid-a", published=None)
    report = build_pool_report(FOREST, [a], {"oid-a": Seats(10)}, roles=REAL)
    (server,) = report.pools[0].servers
    assert server.source(SeatClass.UM) == "none" and server.used.um == 0
    assert report.pools[0].used_source(SeatClass.UM) == "none"
    out = io.StringIO()
    pool_report_table(report, Console(file=out, width=120))
    assert "unknown: no member publishes its UM use" in out.getvalue()
    assert "?/100" in out.getvalue()


def test_with_license_classes_the_directory_counts_everything() -> None:
    a = location("UNITY-A", A_GUID, "oid-a", published=Seats(10, 4, 3))
    report = build_pool_report(FOREST, [a], {"oid-a": Seats(10, 1, 1)})
    (server,) = report.pools[0].servers
    assert server.used == Seats(10, 1, 1)
    assert server.stale == (SeatClass.UM, SeatClass.INBOX)
    assert report.notes == ()


def test_without_a_version_role_the_version_check_is_skipped_with_a_note() -> None:
    a = location("UNITY-A", A_GUID, "oid-a", version=None)
    skipped = build_pool_report(FOREST, [a], {}, roles=Roles(versions=False))
    assert skipped.pools[0].members == ("UNITY-A",)
    assert any("version check was skipped" in n for n in skipped.notes)
    checked = build_pool_report(FOREST, [a], {})
    assert checked.excluded[0].reason is ExclusionReason.VERSION_UNSUPPORTED


def test_a_failover_partner_named_by_object_guid_is_found() -> None:
    a = location("UNITY-A", A_GUID, "")
    a2 = location("UNITY-A2", B_GUID, "", failover_of=A_GUID)
    report = build_pool_report(FOREST, [a, a2], {A_GUID: Seats(5), B_GUID: Seats(2)})
    assert report.pools[0].servers[0].used.vm == 7
    assert report.excluded[0].reason is ExclusionReason.FAILOVER_SECONDARY


def test_more_than_one_percent_orphans_make_the_pool_unverified() -> None:
    a = location("UNITY-A", A_GUID, "oid-a", published=Seats(100, 0, 0))
    homed = {"oid-a": Seats(98), "0xdeadbeef": Seats(2)}
    report = build_pool_report(FOREST, [a], homed, roles=REAL)
    assert report.compliant  # the seats counted fit the license ...
    assert report.orphans_significant  # ... but 2 % of the subscribers were not counted
    states = assess(report, [a], homed, limits=Limits(), first_seen={}, now=NOW)
    assert states.pools[0].state is State.UNVERIFIED
    assert "2 of 100 subscribers" in states.pools[0].note
    assert not states.compliant
    one = build_pool_report(FOREST, [a], {"oid-a": Seats(99), "x": Seats(1)}, roles=REAL)
    assert not one.orphans_significant  # exactly 1 % is not more than 1 %
    assert (
        assess(
            one, [a], {"oid-a": Seats(99), "x": Seats(1)}, limits=Limits(), first_seen={}, now=NOW
        )
        .pools[0]
        .state
        is State.COMPLIANT
    )


def test_every_subscriber_orphaned_is_never_plain_compliant() -> None:
    # The first-use report: 0 of 150 homed, "Orphaned: 151", "Pool state: compliant".
    a = location("UNITY-A", A_GUID, "oid-a")
    homed = {"0x0100070030003900": Seats(151)}
    report = build_pool_report(FOREST, [a], homed, roles=REAL)
    states = assess(report, [a], homed, limits=Limits(), first_seen={}, now=NOW)
    assert report.orphaned.vm == 151 and report.orphan_share == 1.0
    assert states.pools[0].state is State.UNVERIFIED


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.replace("utf-8", "UTF-16").encode("utf-16"),  # BOM
        lambda text: text.replace("utf-8", "UTF-16LE").encode("utf-16-le"),  # declared
        lambda text: text.replace("utf-8", "UTF-16").encode("utf-16-be"),  # big-endian
        lambda text: text.replace("utf-8", "UTF-16").encode("utf-16") + b"\x00\x00",  # NUL
        lambda text: text.encode() + b"\x00",  # C string
    ],
)
def test_utf16_and_terminated_attachments_parse(encode: object) -> None:
    text = attachment(500, 100, 50, Seats(10, 2, 1))
    assert callable(encode)
    data = parse_attachment(encode(text))
    assert data.licensed == Seats(500, 100, 50)
    assert data.published_used == Seats(10, 2, 1)


def test_a_line_break_in_a_name_cannot_fake_a_table_row() -> None:
    fake = "UNITY-A\n UNITY-FAKE   999/999"
    a = location(fake, A_GUID, "oid-a", published=Seats(10, 0, 0))
    report = build_pool_report(FOREST, [a], {"oid-a": Seats(10)}, roles=REAL)
    out = io.StringIO()
    pool_report_table(report, Console(file=out, width=120))
    lines = out.getvalue().splitlines()
    assert any("UNITY-A\\x0a UNITY-FAKE" in line for line in lines)
    assert not any(line.lstrip().startswith("UNITY-FAKE") for line in lines)
