"""The doctor's live causes: what each Unity server says about its own license, beside
its Location's copy (attachment-not-published, attachment-differs, server-unreachable).

Builders from tests/support/doctor_forest.py: three Locations on three DCs, every copy
changed at T1; the readings (tests/support/doctor_servers.py) are taken later (LATE)
unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from poolsync.doctor.causes import diagnose
from poolsync.doctor.model import NO_VIEWERS, DoctorInput, DoctorReport, ServerReadings, Viewers
from poolsync.model import Location, Seats
from poolsync.render.doctor import doctor_report_json, doctor_report_table
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.model import ServerReading
from tests.support.doctor_forest import LATE, NC, T0, T1, build, causes, health, location
from tests.support.doctor_forest import only_finding as finding
from tests.support.doctor_servers import data_text, endpoints, failed, reading

LIVE_CAUSES = {"attachment-not-published", "attachment-differs", "server-unreachable"}


CONFIGURED = tuple(endpoints(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C"))


def live(
    readings: Sequence[ServerReading],
    *,
    locations: Sequence[Location] | None = None,
    servers: tuple[ServerEndpoints, ...] = CONFIGURED,
    store: bool = True,
) -> DoctorInput:
    """The three Locations, each copy carrying :func:`data_text` unless ``locations``."""
    if locations is None:
        locations = [location(n, attachment=data_text()) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    return build(
        locations, store=store, live=ServerReadings(servers=servers, readings=tuple(readings))
    )


def in_sync() -> list[ServerReading]:
    return [reading(n, s) for n in ("UNITY-A", "UNITY-B", "UNITY-C") for s in ("http", "snmp")]


def live_causes(report: DoctorReport) -> set[tuple[str, str]]:
    return {(n, c) for n, c in causes(report) if c in LIVE_CAUSES}


# --- in sync, or nothing to compare ---------------------------------------------------------


def test_servers_that_say_what_their_copies_say_have_no_finding() -> None:
    report = diagnose(live(in_sync()))
    assert report.healthy and causes(report) == set()
    assert report.notes == ()


def test_without_a_servers_section_nothing_is_compared_or_noted() -> None:
    report = diagnose(build())
    assert report.notes == () and causes(report) == set()


def test_servers_configured_but_never_probed_is_a_note() -> None:
    report = diagnose(live([]))
    assert causes(report) == set()
    assert report.notes == (
        "no reading of the servers configured under servers: (3) is in poolsync's store: "
        "run `poolsync servers probe` to compare what each server says with its directory "
        "copy",
    )


def test_a_server_without_a_reading_gets_no_finding() -> None:
    readings = [reading("UNITY-A", licensed=Seats(600, 100, 50))]
    report = diagnose(live(readings))
    assert live_causes(report) == {("UNITY-A", "attachment-differs")}
    assert report.notes == ()


def test_readings_of_endpoints_not_configured_are_ignored() -> None:
    # UNITY-A has http only now, UNITY-B snmp only: their other readings say nothing,
    # nor do those of a server no longer configured.
    servers = (endpoints("UNITY-A", snmp=False), endpoints("UNITY-B", http=False), CONFIGURED[2])
    readings = [
        reading("UNITY-A", "http"),
        reading("UNITY-A", "snmp", licensed=Seats(1, 1, 1)),
        reading("UNITY-B", "snmp"),
        failed("UNITY-B", "http", "https://unity-b/: cannot connect (refused)"),
        reading("UNITY-X", licensed=Seats(1, 1, 1)),
    ]
    report = diagnose(live(readings, servers=servers))
    assert causes(report) == set() and report.notes == ()


def test_a_reading_older_than_the_copy_is_not_compared() -> None:
    readings = [reading("UNITY-A", at=T0, licensed=Seats(600, 100, 50))]
    report = diagnose(live(readings))
    assert live_causes(report) == set()
    assert report.notes == (
        "UNITY-A's latest reading (http, 2024-05-01T08:00:00+00:00) is older than its "
        "Location's copy (whenChanged 2024-05-01T09:00:00+00:00), so they were not "
        "compared: run `poolsync servers probe`",
    )


def test_many_old_readings_are_one_bounded_note() -> None:
    names = [f"UNITY-{i:02d}" for i in range(12)]
    copies = [location(n, attachment=data_text()) for n in names]
    report = diagnose(
        live(
            [reading(n, at=T0) for n in names],
            locations=copies,
            servers=tuple(endpoints(n) for n in names),
        )
    )
    (note,) = [n for n in report.notes if "older" in n]  # (the rest: no GC monitors)
    assert note.count("is older than its Location's copy") == 10
    assert note.endswith(" and 2 more, so none of these was compared: run `poolsync servers probe`")


def test_a_server_read_but_without_a_location_is_a_note() -> None:
    servers = (*CONFIGURED, endpoints("UNITY-GONE"))
    report = diagnose(live([*in_sync(), reading("UNITY-GONE")], servers=servers))
    assert causes(report) == set()
    assert report.notes == (
        "servers: names UNITY-GONE, read by `poolsync servers probe`, "
        "but no Location carries that name: their readings were not "
        "compared",
    )


def test_the_latest_good_reading_is_compared() -> None:
    # http said otherwise an hour ago; snmp, now, says what the copy says.
    older = reading("UNITY-A", "http", at=T1, licensed=Seats(600, 100, 50))
    newer = reading("UNITY-A", "snmp", at=LATE)
    assert live_causes(diagnose(live([older, newer]))) == set()
    down = failed("UNITY-A", "snmp", "snmp://unity-a:161: no answer")
    report = diagnose(live([replace(older, read_at=LATE), down]))
    assert live_causes(report) == {("UNITY-A", "attachment-differs")}


# --- attachment-differs ----------------------------------------------------------------------


def test_licensed_seats_that_differ_are_attachment_differs() -> None:
    copies = [
        location(n, attachment=data_text(published=Seats(40, 3, 2)))
        for n in ("UNITY-A", "UNITY-B", "UNITY-C")
    ]
    readings = [reading("UNITY-A", "snmp", licensed=Seats(600, 100, 60), published=Seats(41, 0, 2))]
    # No store: its (empty) subscriber counts would make every copy published-stale.
    report = diagnose(live(readings, locations=copies, store=False))
    assert live_causes(report) == {("UNITY-A", "attachment-differs")}
    found = finding(report, "UNITY-A", "attachment-differs")
    assert found.severity == "warning"
    assert found.affects == Viewers(members=True, count=2)
    # Field by field, directory vs server; the published utilization too (vm differs,
    # inbox does not; UM use is never compared: a server publishes none).
    assert found.evidence == (
        "UNITY-A's own license (over snmp, read 2024-05-01T11:00:00+00:00) and the copy on "
        f"its Location CN=UNITY-A,CN=Locations,{NC} (read on DC1, whenChanged "
        "2024-05-01T09:00:00+00:00) disagree, directory vs server: licensed vm 500 vs 600; "
        "licensed inbox 50 vs 60; published vm 40 vs 41. The other servers pool with the "
        "directory's copy."
    )
    assert "DOHPropTest's Total Resync on UNITY-A" in found.fix
    assert "`poolsync resync --total`" in found.fix
    assert not report.healthy


def test_flags_that_differ_are_attachment_differs() -> None:
    readings = [reading("UNITY-A", secondary=False), reading("UNITY-B", pooling=False)]
    report = diagnose(live(readings))
    assert live_causes(report) == {
        ("UNITY-A", "attachment-differs"),
        ("UNITY-B", "attachment-differs"),
    }
    assert (
        "directory vs server: LicSecondaryServerIsLicensed 1 vs 0."
        in finding(report, "UNITY-A", "attachment-differs").evidence
    )
    assert (
        "directory vs server: LicPoolingIsEnabled 1 vs 0."
        in finding(report, "UNITY-B", "attachment-differs").evidence
    )


def test_published_utilization_alone_is_not_attachment_differs() -> None:
    # It drifts between publishes: published-stale's business, not this one's.
    copies = [
        location(n, attachment=data_text(published=Seats(40, 3, 2)))
        for n in ("UNITY-A", "UNITY-B", "UNITY-C")
    ]
    readings = [reading("UNITY-A", published=Seats(45, 0, 9)), reading("UNITY-B", published=None)]
    assert live_causes(diagnose(live(readings, locations=copies, store=False))) == set()


# --- attachment-not-published -----------------------------------------------------------------


def test_pooling_on_the_server_but_no_attachment_is_attachment_not_published() -> None:
    locations = [location("UNITY-A", attachment=None), location("UNITY-B"), location("UNITY-C")]
    report = diagnose(live([reading("UNITY-A")], locations=locations))
    # It takes attachment-missing's place: one finding, with the server's own word.
    assert causes(report) == {("UNITY-A", "attachment-not-published")}
    found = finding(report, "UNITY-A", "attachment-not-published")
    assert found.severity == "error"
    assert found.affects == Viewers(members=True, count=2)
    assert found.evidence == (
        "UNITY-A says its license enables pooling (LicPoolingIsEnabled 1, over http, read "
        f"2024-05-01T11:00:00+00:00), but its Location CN=UNITY-A,CN=Locations,{NC} (read "
        "on DC1, whenChanged 2024-05-01T09:00:00+00:00) carries no pooling attachment: the "
        "other servers do not count it."
    )
    assert found.fix == (
        "Have UNITY-A publish its pooling attachment: DOHPropTest's Total Resync on "
        "UNITY-A, or restart its license service; then run `poolsync resync --total`."
    )


def test_no_attachment_and_no_pooling_on_the_server_stays_attachment_missing() -> None:
    locations = [location("UNITY-A", attachment=None), location("UNITY-B")]
    report = diagnose(live([reading("UNITY-A", pooling=False)], locations=locations))
    assert causes(report) == {("UNITY-A", "attachment-missing")}


def test_pooling_on_the_server_but_off_in_the_copy_is_attachment_not_published() -> None:
    locations = [
        location("UNITY-A", attachment=data_text(pooling=False)),
        location("UNITY-B"),
        location("UNITY-C"),
    ]
    readings = [reading("UNITY-A", licensed=Seats(600, 100, 50))]
    report = diagnose(live(readings, locations=locations))
    # pooling-disabled's fix (install a license with pooling) would be wrong: it has one.
    assert causes(report) == {("UNITY-A", "attachment-not-published")}
    found = finding(report, "UNITY-A", "attachment-not-published")
    assert "but the copy on its Location" in found.evidence
    assert (
        "has LicPoolingIsEnabled 0: the other servers do not count it. It differs in "
        "licensed vm 500 vs 600 too." in found.evidence
    )
    assert not health(report, "UNITY-A").healthy


def test_a_corrupt_copy_is_left_to_attachment_corrupt() -> None:
    locations = [location("UNITY-A", attachment="<AvXmlLicData><Licenses>"), location("UNITY-B")]
    report = diagnose(live([reading("UNITY-A")], locations=locations))
    assert causes(report) == {("UNITY-A", "attachment-corrupt")}


# --- server-unreachable ----------------------------------------------------------------------


def test_every_endpoint_down_is_server_unreachable_info() -> None:
    readings = [
        failed(
            "UNITY-C",
            "http",
            "https://unity-c/avxml/effectivelicense.asp: cannot connect (connection refused)",
        ),
        failed("UNITY-C", "snmp", "snmp://unity-c:161: no answer within 2 s"),
    ]
    report = diagnose(live(readings))
    assert live_causes(report) == {("UNITY-C", "server-unreachable")}
    found = finding(report, "UNITY-C", "server-unreachable")
    assert (found.severity, found.affects) == ("info", NO_VIEWERS)
    assert report.healthy  # a note, not an error: the directory is fine
    assert found.evidence == (
        "UNITY-C's own license could not be read, so it was not compared with the copy on "
        f"its Location CN=UNITY-C,CN=Locations,{NC} (read on DC3, whenChanged "
        "2024-05-01T09:00:00+00:00): its http endpoint did not answer "
        "(2024-05-01T11:00:00+00:00): https://unity-c/avxml/effectivelicense.asp: cannot "
        "connect (connection refused); its snmp endpoint did not answer "
        "(2024-05-01T11:00:00+00:00): snmp://unity-c:161: no answer within 2 s. The pool "
        "counts the directory's copy meanwhile."
    )
    assert found.fix == (
        "Check that UNITY-C is up and that this host can reach it (a "
        "firewall, IIS, the Windows SNMP service), then run `poolsync "
        "servers probe`."
    )


def test_an_endpoint_that_answered_with_an_error_is_said_so() -> None:
    readings = [
        failed(
            "UNITY-C",
            "http",
            "https://unity-c/avxml/effectivelicense.asp: HTTP 500",
            reachable=True,
        ),
        failed(
            "UNITY-C",
            "snmp",
            "snmp://unity-c:161: CISCO-UNITY-MIB license objects not published: ...",
            reachable=True,
        ),
    ]
    report = diagnose(live(readings))
    found = finding(report, "UNITY-C", "server-unreachable")
    assert found.severity == "info"
    assert "its http endpoint answered with an error (" in found.evidence
    assert "its snmp endpoint answered with an error (" in found.evidence
    assert "did not answer" not in found.evidence
    assert found.fix.startswith("UNITY-C answered, but not with its license")


def test_a_secret_that_could_not_be_resolved_is_said_as_it_is() -> None:
    secret = (
        "/etc/poolsync.yaml: servers.UNITY-C.snmp.auth.password: environment "
        "variable UNITY_SNMP_AUTH is not set"
    )
    readings = [
        failed("UNITY-C", "snmp", secret),
        failed("UNITY-C", "http", "https://unity-c/: cannot connect (refused)"),
    ]
    found = finding(diagnose(live(readings)), "UNITY-C", "server-unreachable")
    assert (
        "its snmp endpoint was not asked: a secret in the config could not be "
        f"resolved (2024-05-01T11:00:00+00:00): {secret}."
    ) in found.evidence
    assert "its http endpoint did not answer" in found.evidence
    assert found.fix.split("\n") == [
        "Check that UNITY-C is up and that this host can reach it (a firewall, IIS, the "
        "Windows SNMP service), then run `poolsync servers probe`.",
        "Fix the secret reference the error names (the config's servers: section), then "
        "run `poolsync servers probe`.",
    ]


def test_one_endpoint_down_and_one_read_is_no_finding() -> None:
    readings = [
        reading("UNITY-C", "http"),
        failed("UNITY-C", "snmp", "snmp://unity-c:161: no answer"),
    ]
    assert live_causes(diagnose(live(readings))) == set()


# --- how it is shown --------------------------------------------------------------------------


def test_the_report_shows_the_live_causes() -> None:
    locations = [location("UNITY-A", attachment=None), location("UNITY-B"), location("UNITY-C")]
    readings = [
        reading("UNITY-A"),
        reading("UNITY-B", licensed=Seats(1, 100, 50)),
        failed("UNITY-C", "http", "https://unity-c/: cannot connect (refused)"),
        failed("UNITY-C", "snmp", "snmp://unity-c:161: no answer"),
    ]
    report = diagnose(live(readings, locations=locations))
    table = doctor_report_table(report, width=100)
    assert "ERROR    UNITY-A  attachment-not-published  (not counted by UNITY-B, UNITY-C)" in table
    assert (
        "WARNING  UNITY-B  attachment-differs  (counted from the directory's copy by UNITY-C)"
    ) in table  # UNITY-A is no member: it is not counted
    assert "INFO     UNITY-C  server-unreachable\n" in table
    doc = doctor_report_json(report)
    got = {(s["name"], f["cause"], f["severity"]) for s in doc["servers"] for f in s["findings"]}
    assert got == {
        ("UNITY-A", "attachment-not-published", "error"),
        ("UNITY-B", "attachment-differs", "warning"),
        ("UNITY-C", "server-unreachable", "info"),
    }
