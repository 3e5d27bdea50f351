"""The doctor's classifier: one scenario per cause, and only that cause for it."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import datetime

import pytest

from poolsync.doctor.causes import diagnose
from poolsync.doctor.model import (
    CAUSES,
    NO_VIEWERS,
    DoctorInput,
    DoctorReport,
    ForeignSighting,
    LocationCopy,
    Monitor,
    StoreView,
    Viewers,
    Visibility,
)
from poolsync.errors import UserError
from poolsync.forest import AttributeStamp, ForestConfig, with_dc
from poolsync.model import Location, Seats
from poolsync.render.doctor import doctor_report_table
from tests.support.doctor_forest import (
    ATTACHMENT_ATTID,
    FOREST,
    INVOCATION,
    LATE,
    MONITORS,
    NC,
    NOW,
    SYNC,
    T0,
    T1,
    attachment,
    build,
    causes,
    dc,
    dsa,
    health,
    location,
    only_finding,
    probe,
    stamps,
    topology,
)

# --- building blocks ----------------------------------------------------------------


def viewers(report: DoctorReport, name: str, cause: str) -> tuple[str, ...]:
    """The viewers of ``name``'s ``cause`` finding, by name (resolved from the rows)."""
    affects = only_finding(report, name, cause).affects
    names = report.viewer_names(affects, server=name)
    assert len(names) == affects.count
    return names


def row_of(report: DoctorReport, viewer: str) -> Visibility:
    """The visibility row of the GC ``viewer`` looks through."""
    (match,) = [v for v in report.visibility if viewer in v.viewers]
    return match


# --- a healthy forest ---------------------------------------------------------------


def test_healthy_forest_has_no_findings() -> None:
    report = diagnose(build())
    assert report.healthy
    assert [s.name for s in report.servers] == ["UNITY-A", "UNITY-B", "UNITY-C"]
    assert all(s.healthy and not s.findings for s in report.servers)
    assert report.generated == NOW
    assert report.notes == ()
    for row in report.visibility:
        assert row.reachable
        assert row.holds == 3
        assert row.missing == ()
    assert [(v.gc, v.viewers) for v in report.visibility] == [
        ("DC1", ("UNITY-A",)),
        ("DC2", ("UNITY-B",)),
        ("DC3", ("UNITY-C",)),
    ]


# --- replication ----------------------------------------------------------------------


def test_replication_pending_when_a_path_exists() -> None:
    report = diagnose(build(absent={"UNITY-C": {"DC1", "DC2"}}))
    assert causes(report) == {("UNITY-C", "replication-pending")}
    finding = only_finding(report, "UNITY-C", "replication-pending")
    assert finding.severity == "warning"
    # the GCs that lack it stand for their viewers: never a list of every member
    assert finding.affects == Viewers(gcs=("DC1", "DC2"), count=2)
    assert viewers(report, "UNITY-C", "replication-pending") == ("UNITY-A", "UNITY-B")
    assert (
        f"CN=UNITY-C,CN=Locations,{NC} is on DC3 but not on DC1's Global Catalog"
        in finding.evidence
    )
    assert "not on DC2's Global Catalog" in finding.evidence
    assert "DC3 -> DC1 -> DC2" in finding.evidence
    assert "pending since 2024-05-01T09:00:00+00:00" in finding.evidence
    assert f"repadmin /replicate DC1 DC3 {NC}" in finding.fix
    assert f"samba-tool drs replicate DC1 DC3 {NC}" in finding.fix
    assert "wait for the next scheduled replication" in finding.fix
    assert "poolsync lab replicate --from DC3 --to DC1" in finding.fix
    a = row_of(report, "UNITY-A")
    assert (a.gc, a.holds, a.missing) == ("DC1", 2, ("UNITY-C",))
    assert health(report, "UNITY-C").healthy is False
    assert report.servers[0].name == "UNITY-C"  # worst first


def test_pending_from_another_holder_when_the_home_dc_has_no_path() -> None:
    # UNITY-B was made on DC2 and already reached DC1 before DC2 -> DC1 broke; DC3 still
    # lacks it, and DC1 -> DC3 works: on its way, not stuck.
    report = diagnose(build(absent={"UNITY-B": {"DC3"}}, topo=topology(disabled=[("DC2", "DC1")])))
    # UNITY-A's GC (DC1) has a disabled inbound connection: a warning for it too.
    assert causes(report) == {
        ("UNITY-B", "replication-pending"),
        ("UNITY-A", "monitor-dc-unhealthy"),
    }
    finding = only_finding(report, "UNITY-B", "replication-pending")
    assert viewers(report, "UNITY-B", "replication-pending") == ("UNITY-C",)
    assert "DC1 -> DC3" in finding.evidence
    assert "poolsync lab replicate --from DC1 --to DC3" in finding.fix


def test_no_replication_path_names_the_broken_connection() -> None:
    inp = build(absent={"UNITY-C": {"DC1", "DC2"}}, topo=topology(disabled=[("DC3", "DC1")]))
    report = diagnose(inp)
    assert causes(report) == {
        ("UNITY-C", "no-replication-path"),
        ("UNITY-A", "monitor-dc-unhealthy"),
    }
    [dc1] = [d for d in report.dcs if d.name == "DC1"]
    [disabled] = dc1.findings
    assert disabled.cause == "connection-disabled" and "DC3 -> DC1" in disabled.evidence
    assert "enabledConnection: TRUE" in disabled.fix and "Set-ADObject" in disabled.fix
    finding = only_finding(report, "UNITY-C", "no-replication-path")
    assert finding.severity == "error"
    assert viewers(report, "UNITY-C", "no-replication-path") == ("UNITY-A", "UNITY-B")
    for sentence in inp.topology.inbound_problems("DC1"):
        assert sentence in finding.evidence
    assert "no replication path leads from DC3 to DC1" in finding.evidence
    assert (
        "only DC1 can send changes to DC2, and none of them is reachable from DC3"
        in finding.evidence
    )
    assert f"`dn: CN=DC3-DC1,{dsa('DC1')}`" in finding.fix
    assert "`enabledConnection: TRUE`" in finding.fix and "Set-ADObject" in finding.fix
    assert "`poolsync lab connection --from DC3 --to DC1 --enable`" in finding.fix
    assert "repadmin /kcc DC1" in finding.fix and "samba-tool drs kcc DC1" in finding.fix
    assert "pending" not in finding.evidence


def test_no_replication_path_inbound_disabled() -> None:
    topo = with_dc(topology(), dc("DC1", inbound_disabled=True))
    report = diagnose(build(absent={"UNITY-C": {"DC1", "DC2"}}, topo=topo))
    finding = only_finding(report, "UNITY-C", "no-replication-path")
    assert "DC1 has inbound replication disabled" in finding.evidence
    assert "repadmin /options DC1 -DISABLE_INBOUND_REPL" in finding.fix
    assert "samba-tool drs options DC1 --dsa-option=-DISABLE_INBOUND_REPL" in finding.fix
    assert viewers(report, "UNITY-C", "no-replication-path") == ("UNITY-A", "UNITY-B")
    assert causes(report) == {
        ("UNITY-C", "no-replication-path"),
        ("UNITY-A", "monitor-dc-unhealthy"),
    }
    [dc1] = [d for d in report.dcs if d.name == "DC1"]
    assert [f.cause for f in dc1.findings] == ["inbound-replication-disabled"]
    assert "poolsync lab replication DC1 --inbound on" in dc1.findings[0].fix
    assert all(d.healthy for d in report.dcs if d.name != "DC1")


def test_older_copy_is_replication_pending_with_the_attributes_behind() -> None:
    report = diagnose(build(newer={"UNITY-B": {"DC2"}}))
    assert causes(report) == {("UNITY-B", "replication-pending")}
    finding = only_finding(report, "UNITY-B", "replication-pending")
    assert viewers(report, "UNITY-B", "replication-pending") == ("UNITY-A", "UNITY-C")
    assert (
        f"DC1's Global Catalog holds an older copy of CN=UNITY-B,CN=Locations,{NC}"
        in finding.evidence
    )
    assert f"1 attribute behind DC2's copy (attid {ATTACHMENT_ATTID})" in finding.evidence
    assert "DC2 -> DC1" in finding.evidence and "DC2 -> DC1 -> DC3" in finding.evidence
    assert row_of(report, "UNITY-B").missing == ()
    assert row_of(report, "UNITY-A").missing == ("UNITY-B",)


def test_older_copy_without_stamps_compares_fields_and_when_changed() -> None:
    old, new = location("UNITY-B"), location("UNITY-B", version="4.2(1)")
    a = location("UNITY-A")

    def copy(dc_name: str, loc: Location, when: datetime) -> LocationCopy:
        return LocationCopy(dc=dc_name, location=loc, when_changed=when)

    inp = DoctorInput(
        forest=FOREST,
        topology=topology(),
        monitors=MONITORS,
        now=NOW,
        probes=(
            probe("DC1", [copy("DC1", a, T0), copy("DC1", old, T0)]),
            probe("DC2", [copy("DC2", a, T0), copy("DC2", new, T1)]),
        ),
        store=StoreView(gc="DC1", synced_at=SYNC, locations=(a, old)),
    )
    report = diagnose(inp)
    finding = only_finding(report, "UNITY-B", "replication-pending")
    assert viewers(report, "UNITY-B", "replication-pending") == ("UNITY-A",)
    assert "it differs from DC2's copy in version" in finding.evidence
    assert "stale-mirror" not in {c for _, c in causes(report)}


def test_gc_copy_is_not_blamed_for_attributes_outside_the_partial_set() -> None:
    inp = build()
    local = AttributeStamp(999, 5, LATE, INVOCATION["DC1"], 300, 300)
    dc1 = inp.probes[0]
    full = tuple(replace(c, stamps=(*c.stamps, local)) for c in dc1.copies)
    report = diagnose(replace(inp, probes=(probe("DC1", full, gc=False), *inp.probes)))
    assert causes(report) == set()


def test_gc_port_without_the_location_its_dc_holds() -> None:
    inp = build(absent={"UNITY-C": {"DC1", "DC2", "DC3"}})
    (c_copy,) = [c for c in build().probes[2].copies if c.location.name == "UNITY-C"]
    inp = replace(inp, probes=(*inp.probes, probe("DC3", [c_copy], gc=False)))
    report = diagnose(inp)
    finding = only_finding(report, "UNITY-C", "replication-pending")
    assert viewers(report, "UNITY-C", "replication-pending") == ("UNITY-A", "UNITY-B", "UNITY-C")
    assert "DC3 holds it, but its Global Catalog does not return it" in finding.evidence
    assert "partial attribute set" in finding.fix
    assert "poolsync lab replicate --from DC3 --to DC1" in finding.fix


def test_reference_copy_is_the_freshest_and_names_the_server() -> None:
    renamed = replace(location("UNITY-B"), name="UNITY-B-NEW")
    inp = build()
    probes = []
    for p in inp.probes:
        copies = tuple(
            replace(c, location=renamed, stamps=stamps("DC2", version=3, changed=LATE))
            if c.location.guid == "guid-UNITY-B" and c.dc == "DC2"
            else c
            for c in p.copies
        )
        probes.append(replace(p, copies=copies))
    monitors = (*MONITORS, Monitor("UNITY-B-NEW", dc="DC2", gc="DC2"))
    report = diagnose(replace(inp, probes=tuple(probes), monitors=monitors, store=None))
    assert "UNITY-B-NEW" in {s.name for s in report.servers}
    finding = only_finding(report, "UNITY-B-NEW", "replication-pending")
    assert "differs" not in finding.evidence
    assert "1 attribute behind DC2's copy" in finding.evidence
    assert "pending since 2024-05-01T11:00:00+00:00" in finding.evidence


def test_home_dc_from_objectclass_origin_without_monitor() -> None:
    inp = build(absent={"UNITY-C": {"DC1"}}, monitors=())
    inp = replace(inp, default_gc="DC1")
    report = diagnose(inp)
    finding = only_finding(report, "UNITY-C", "replication-pending")
    # DC2 holds a copy too, but objectClass originated on DC3: the change comes from there
    assert "it replicates DC3 -> DC1" in finding.evidence
    assert viewers(report, "UNITY-C", "replication-pending") == ("UNITY-A", "UNITY-B", "UNITY-C")


def test_home_dc_from_monitor_wins_over_metadata() -> None:
    monitors = (Monitor("UNITY-A", dc="DC1", gc="DC1"), Monitor("UNITY-C", dc="DC2", gc="DC2"))
    report = diagnose(build(absent={"UNITY-C": {"DC1"}}, monitors=monitors))
    finding = only_finding(report, "UNITY-C", "replication-pending")
    assert "it replicates DC2 -> DC1" in finding.evidence


# --- exclusions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "cause", "severity", "evidence", "fix"),
    [
        (
            {"attachment": attachment(pooling=False)},
            "pooling-disabled",
            "warning",
            "LicPoolingIsEnabled 0",
            "LicPoolingIsEnabled=1",
        ),
        ({"version": "3.1(2)"}, "version-unsupported", "error", "below 4.0", "4.0 or later"),
        (
            {"attachment": None},
            "attachment-missing",
            "error",
            "no pooling attachment",
            "Total Resync on UNITY-D",
        ),
        (
            {"attachment": "<AvXmlLicData>"},
            "attachment-corrupt",
            "error",
            "not well-formed",
            "poolsync resync --total",
        ),
        (
            {"failover_of": "oid-UNITY-A"},
            "failover-secondary",
            "info",
            "failover secondary of UNITY-A",
            "counted with its primary UNITY-A",
        ),
    ],
)
def test_exclusions(
    fields: dict[str, object], cause: str, severity: str, evidence: str, fix: str
) -> None:
    locs = [location(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    locs.append(location("UNITY-D", **fields))
    report = diagnose(build(locs))
    assert causes(report) == {("UNITY-D", cause)}
    finding = only_finding(report, "UNITY-D", cause)
    assert finding.severity == severity
    # every other member, as a group: never a list of every member per excluded server
    assert finding.affects == Viewers(members=True, count=3)
    assert viewers(report, "UNITY-D", cause) == ("UNITY-A", "UNITY-B", "UNITY-C")
    assert evidence in finding.evidence
    assert f"(Location CN=UNITY-D,CN=Locations,{NC}, read on DC1)." in finding.evidence
    assert fix in finding.fix
    # an excluded server is no viewer
    assert not any("UNITY-D" in v.viewers for v in report.visibility)
    assert health(report, "UNITY-D").healthy is (severity == "info")


@pytest.mark.parametrize(
    ("secondary", "extra", "fix"),
    [
        # the primary is excluded itself: its secondary's subscribers are unpooled
        (
            {"failover_of": "oid-UNITY-P"},
            [location("UNITY-P", attachment=attachment(pooling=False))],
            "Make UNITY-P a pool member first",
        ),
        # the primary is itself a secondary
        (
            {"failover_of": "oid-UNITY-P"},
            [location("UNITY-P", failover_of="oid-UNITY-A")],
            "primary UNITY-P is itself a failover secondary",
        ),
        # a secondary of itself
        ({"failover_of": "oid-UNITY-D"}, [], "names itself as its failover primary"),
        # an empty object id matches no Location, not one whose object id is missing too
        (
            {"failover_of": ""},
            [replace(location("UNITY-P"), object_id="")],
            "whose primary is not in the directory",
        ),
    ],
)
def test_failover_secondary_fix_says_none_needed_only_when_counted(
    secondary: dict[str, object], extra: list[Location], fix: str
) -> None:
    locs = [location("UNITY-A"), *extra, location("UNITY-D", attachment=None, **secondary)]
    report = diagnose(build(locs))
    finding = only_finding(report, "UNITY-D", "failover-secondary")
    assert fix in finding.fix
    assert "None needed" not in finding.fix
    # A broken pair counts its subscribers in no pool: a warning, and unhealthy.
    assert finding.severity == "warning"
    assert not health(report, "UNITY-D").healthy


def test_entries_a_dc_could_not_decode_are_notes() -> None:
    inp = build()
    first = replace(inp.probes[0], skipped=("DC1 (ldaps://x): skipped CN=odd: no GUID",))
    report = diagnose(replace(inp, probes=(first, *inp.probes[1:])))
    assert "DC1 (ldaps://x): skipped CN=odd: no GUID" in report.notes
    assert report.healthy


def test_a_note_when_the_stores_gc_cannot_be_read_now() -> None:
    report = diagnose(build(errors={"DC1": "timed out"}))
    assert (
        "poolsync's store was last read from DC1, which could not be read now: "
        "stale-mirror was not checked"
    ) in report.notes


def test_expected_names_are_matched_case_insensitively() -> None:
    report = diagnose(build(expected=("UNITY-Y", "unity-y", "Unity-Y")))
    assert causes(report) == {("UNITY-Y", "location-missing")}
    assert [s.name for s in report.servers].count("UNITY-Y") == 1


def test_excluded_servers_are_still_checked_for_replication() -> None:
    locs = [location(n) for n in ("UNITY-A", "UNITY-B")]
    locs.append(location("UNITY-D", attachment=None))
    report = diagnose(build(locs, absent={"UNITY-D": {"DC2"}}))
    assert causes(report) == {("UNITY-D", "attachment-missing"), ("UNITY-D", "replication-pending")}
    assert [f.cause for f in health(report, "UNITY-D").findings] == [
        "attachment-missing",
        "replication-pending",
    ]  # error before warning


# --- poolsync's store -----------------------------------------------------------------


def test_stale_mirror_when_the_store_lacks_a_location_on_its_gc() -> None:
    locs = [location(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    store = StoreView(gc="DC1", synced_at=SYNC, locations=tuple(locs[:2]))
    report = diagnose(build(locs, store=store))
    assert causes(report) == {("UNITY-C", "stale-mirror")}
    finding = only_finding(report, "UNITY-C", "stale-mirror")
    assert finding.severity == "error"
    assert finding.affects == Viewers.named("poolsync")
    assert (
        "on DC1's Global Catalog (uSNChanged 4711, changed 2024-05-01T09:00:00+00:00), "
        "but poolsync's store, last read from DC1 at 2024-05-01T10:00:00+00:00, does not "
        "have it: the watermark skipped it"
    ) in finding.evidence
    assert "poolsync resync --total" in finding.fix


def test_stale_mirror_when_the_store_holds_an_older_version() -> None:
    locs = [location(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    old = replace(locs[2], attachment=attachment(pooling=True).encode() + b"<!-- old -->")
    store = StoreView(gc="DC1", synced_at=SYNC, locations=(locs[0], locs[1], old))
    report = diagnose(build(locs, store=store))
    assert causes(report) == {("UNITY-C", "stale-mirror")}
    assert "differs in attachment" in only_finding(report, "UNITY-C", "stale-mirror").evidence


def test_stale_mirror_by_the_watermark() -> None:
    locs = [location(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    # the copies carry uSNChanged 4711; the time says "after the read", the USN decides
    below = StoreView(gc="DC1", synced_at=T0, locations=tuple(locs[:2]), usn=5000)
    finding = only_finding(diagnose(build(locs, store=below)), "UNITY-C", "stale-mirror")
    assert (
        "last read from DC1 at 2024-05-01T08:00:00+00:00 (watermark USN 5000)" in finding.evidence
    )
    above = StoreView(gc="DC1", synced_at=SYNC, locations=tuple(locs[:2]), usn=4000)
    assert causes(diagnose(build(locs, store=above))) == set()


def test_stale_mirror_ignores_attachment_encoding_and_later_changes() -> None:
    locs = [location(n) for n in ("UNITY-A", "UNITY-B", "UNITY-C")]
    as_bytes = replace(locs[0], attachment=attachment().encode())
    store = StoreView(gc="DC1", synced_at=T0, locations=(as_bytes, locs[1]))
    # UNITY-C changed on DC1 at T1, after the store's last read at T0: not skipped yet
    assert causes(diagnose(build(locs, store=store))) == set()


# --- expected servers -----------------------------------------------------------------


def test_other_forest() -> None:
    sighting = ForeignSighting(
        server="UNITY-X",
        forest="other.example.com",
        dn="CN=UNITY-X,CN=Locations,DC=other,DC=example,DC=com",
        dc="ODC1",
    )
    report = diagnose(build(expected=("unity-x",), foreign=(sighting,)))
    assert causes(report) == {("unity-x", "other-forest")}
    finding = only_finding(report, "unity-x", "other-forest")
    assert finding.severity == "error"
    assert finding.affects == Viewers(members=True, count=3)
    assert viewers(report, "unity-x", "other-forest") == ("UNITY-A", "UNITY-B", "UNITY-C")
    assert (
        "unity-x's Location CN=UNITY-X,CN=Locations,DC=other,DC=example,DC=com is in "
        "forest other.example.com (read on ODC1), not in lab.example.com: one directory "
        "is one pool"
    ) in finding.evidence
    assert "re-run Unity's directory setup against lab.example.com" in finding.fix
    assert health(report, "unity-x").guid is None


def test_location_missing() -> None:
    report = diagnose(build(expected=("UNITY-Y", "unity-a")))
    assert causes(report) == {("UNITY-Y", "location-missing")}
    finding = only_finding(report, "UNITY-Y", "location-missing")
    assert finding.severity == "error"
    assert viewers(report, "UNITY-Y", "location-missing") == ("UNITY-A", "UNITY-B", "UNITY-C")
    assert (
        "No Location named UNITY-Y on any DC asked (DC1, DC2, DC3); no other forest is "
        "configured (doctor.other_forests)."
    ) in finding.evidence
    assert "poolsync resync --total" in finding.fix
    assert report.servers[0].name == "UNITY-Y"
    searched = diagnose(
        dataclasses.replace(build(expected=("UNITY-Y",)), other_forests=("b.example", "c.example"))
    )
    assert (
        "nor in the other forests (b.example, c.example)."
        in only_finding(searched, "UNITY-Y", "location-missing").evidence
    )


# --- published utilization -------------------------------------------------------------


def test_published_stale() -> None:
    locs = [
        location("UNITY-A", attachment=attachment(published=Seats(480, 0, 0))),
        location("UNITY-B"),
        location("UNITY-C"),
    ]
    store = StoreView(
        gc="DC1", synced_at=SYNC, locations=tuple(locs), homed={"oid-UNITY-A": Seats(520, 0, 0)}
    )
    report = diagnose(build(locs, store=store))
    assert causes(report) == {("UNITY-A", "published-stale")}
    finding = only_finding(report, "UNITY-A", "published-stale")
    assert finding.severity == "warning"
    assert finding.affects == Viewers(members=True, count=2)
    assert viewers(report, "UNITY-A", "published-stale") == ("UNITY-B", "UNITY-C")
    assert (
        "UNITY-A publishes vm 480 in its pooling attachment, but 520 subscribers are "
        "homed on it (poolsync's store, synced 2024-05-01T10:00:00+00:00)"
    ) in finding.evidence
    assert "Total Resync on UNITY-A" in finding.fix


def test_published_stale_only_for_locations_the_store_holds() -> None:
    # UNITY-A is in the directory but not yet in the store (not replicated to the
    # store's DC): the store's count of its subscribers (0) proves nothing.
    locs = [
        location("UNITY-A", attachment=attachment(published=Seats(480, 0, 0))),
        location("UNITY-B"),
        location("UNITY-C"),
    ]
    store = StoreView(gc="DC1", synced_at=SYNC, locations=tuple(locs[1:]), homed={})
    report = diagnose(build(locs, store=store))
    assert ("UNITY-A", "published-stale") not in causes(report)


def test_published_stale_needs_the_store() -> None:
    locs = [
        location("UNITY-A", attachment=attachment(published=Seats(480, 0, 0))),
        location("UNITY-B"),
        location("UNITY-C"),
    ]
    report = diagnose(build(locs, store=None))
    assert causes(report) == set()
    assert report.notes == (
        "no committed sync in the store: stale-mirror, published-stale "
        "and orphaned-subscribers were not checked",
    )


# --- unreachable GCs, notes, filter, order ------------------------------------------------


def test_unreachable_gc_is_a_note_not_a_finding() -> None:
    report = diagnose(build(errors={"DC3": "timed out"}))
    assert causes(report) == set()
    c = row_of(report, "UNITY-C")
    assert (c.gc, c.reachable, c.holds, c.missing) == ("DC3", False, 0, ())
    assert report.notes == (
        f"DC3 (ldaps://dc3.{FOREST}:3269) could not be read: timed out",
        "UNITY-C's Global Catalog DC3 could not be read, so what UNITY-C sees was not checked.",
    )


def test_viewer_without_gc_is_a_note() -> None:
    monitors = (Monitor("UNITY-A", gc="DC1"), Monitor("UNITY-B", gc="DC2"))
    report = diagnose(build(monitors=monitors))
    c = row_of(report, "UNITY-C")
    assert not c.reachable and c.gc == ""
    assert any("UNITY-C has no Global Catalog to check" in n for n in report.notes)


def test_gc_probe_preferred_over_ldap_probe() -> None:
    inp = build(absent={"UNITY-C": {"DC1"}})
    with_ldap = (probe("DC1", list(inp.probes[1].copies), gc=False), *inp.probes)
    report = diagnose(replace(inp, probes=with_ldap))
    assert viewers(report, "UNITY-C", "replication-pending") == ("UNITY-A",)


def test_only_filter() -> None:
    report = diagnose(build(absent={"UNITY-C": {"DC1"}}), only="unity-c")
    assert [s.name for s in report.servers] == ["UNITY-C"]
    assert {v.gc for v in report.visibility} == {"DC1", "DC2", "DC3"}
    assert report.visibility[0].missing == ("UNITY-C",)
    report = diagnose(build(expected=("UNITY-Y",)), only="UNITY-Y")
    assert [s.name for s in report.servers] == ["UNITY-Y"]
    assert report.visibility == ()


def test_only_filter_unknown_name() -> None:
    with pytest.raises(UserError, match=r"no server named 'UNITY-Q'.*UNITY-A, UNITY-B, UNITY-C"):
        diagnose(build(), only="UNITY-Q")


def test_deterministic_whatever_the_input_order() -> None:
    inp = build(
        absent={"UNITY-C": {"DC1", "DC2"}}, newer={"UNITY-B": {"DC2"}}, expected=("UNITY-Y",)
    )
    shuffled = replace(
        inp, probes=tuple(replace(p, copies=p.copies[::-1]) for p in reversed(inp.probes))
    )
    assert diagnose(inp) == diagnose(shuffled)
    report = diagnose(inp)
    assert [s.name for s in report.servers] == ["UNITY-Y", "UNITY-B", "UNITY-C", "UNITY-A"]
    order = [(f.severity, f.cause) for s in report.servers for f in s.findings]
    assert order == [
        ("error", "location-missing"),
        ("warning", "replication-pending"),
        ("warning", "replication-pending"),
    ]


def test_every_cause_code_is_known() -> None:
    inp = build(absent={"UNITY-C": {"DC1", "DC2"}}, expected=("UNITY-Y",))
    for server in diagnose(inp).servers:
        for finding in server.findings:
            assert finding.cause in CAUSES


def test_reports_say_when_they_are_incomplete() -> None:
    assert diagnose(build()).complete
    report = diagnose(build(errors={"DC3": "timed out"}))
    assert report.healthy and not report.complete


# --- the DCs themselves ------------------------------------------------------------------


def test_a_sick_dc_makes_the_report_unhealthy_though_every_server_is_seen() -> None:
    # The first-use report: one fault fixed, "all 3 servers healthy" (exit 0), while
    # DC2 still had DISABLE_INBOUND_REPL set.
    topo = with_dc(topology(), dc("DC2", inbound_disabled=True))
    report = diagnose(build(topo=topo))
    assert not any(f.cause == "no-replication-path" for s in report.servers for f in s.findings)
    [dc2] = [d for d in report.dcs if d.name == "DC2"]
    assert [f.cause for f in dc2.findings] == ["inbound-replication-disabled"]
    assert "repadmin /options DC2 -DISABLE_INBOUND_REPL" in dc2.findings[0].fix
    assert "Set-ADObject" in dc2.findings[0].fix
    assert not report.healthy
    # UNITY-B's monitors use DC2: warned now, before anything goes missing.
    assert ("UNITY-B", "monitor-dc-unhealthy") in causes(report)
    table = doctor_report_table(report)
    assert "1 forest problem" in table.splitlines()[1]
    assert "DC2 (DC)  inbound-replication-disabled" in table


def test_a_dc_without_inbound_connections_is_connection_missing() -> None:
    topo = topology()
    topo = ForestConfig(
        dcs=topo.dcs, connections=tuple(c for c in topo.connections if c.target != "DC3")
    )
    report = diagnose(build(topo=topo))
    [dc3] = [d for d in report.dcs if d.name == "DC3"]
    assert [f.cause for f in dc3.findings] == ["connection-missing"]
    assert "repadmin /kcc DC3" in dc3.findings[0].fix
    assert all(d.healthy for d in report.dcs if d.name != "DC3")


# --- Locations sharing a name ---------------------------------------------------------


def test_locations_sharing_a_name_each_get_a_duplicate_name_warning() -> None:
    a = location("UNITY-A")
    twin = dataclasses.replace(
        location("unity-a"), guid="guid-twin", dn=f"CN=unity-a-restored,CN=Locations,{NC}"
    )
    report = diagnose(build([a, twin, location("UNITY-B")]))
    dup = [(s.guid, f) for s in report.servers for f in s.findings if f.cause == "duplicate-name"]
    assert sorted(str(guid) for guid, _ in dup) == ["guid-UNITY-A", "guid-twin"]
    for guid, finding in dup:
        other = "guid-twin" if guid == "guid-UNITY-A" else "guid-UNITY-A"
        assert finding.severity == "warning" and finding.affects == NO_VIEWERS
        assert finding.evidence.startswith("2 Locations are named ")
        assert f"(objectGUID {guid}, changed " in finding.evidence
        assert f"(objectGUID {other}, changed " in finding.evidence
        assert "remove the others" in finding.fix
    assert ("UNITY-B", "duplicate-name") not in causes(report)
    assert "duplicate-name" in doctor_report_table(report, width=100)


def test_a_crowd_of_namesakes_is_named_in_a_bounded_sentence() -> None:
    crowd = [
        dataclasses.replace(
            location("UNITY-X"), guid=f"guid-{n:03}", dn=f"CN=x{n:03},CN=Locations,{NC}"
        )
        for n in range(40)
    ]
    report = diagnose(build(crowd))
    findings = [f for s in report.servers for f in s.findings if f.cause == "duplicate-name"]
    assert len(findings) == 40
    assert all(
        f.evidence.count("(objectGUID ") == 6 and "and 34 more." in f.evidence for f in findings
    )
