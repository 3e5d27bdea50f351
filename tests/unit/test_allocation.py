"""The pool rules: membership, exclusion order, failover folding, totals and lending."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolsync.allocation import (
    ExclusionReason,
    PoolReport,
    ServerSeats,
    build_pool_report,
    parse_version,
)
from poolsync.attachment import LicenseData, format_attachment, license_data
from poolsync.model import SEAT_CLASSES, Location, SeatClass, Seats

FOREST = "lab.example.com"


def attachment(
    vm: int = 500,
    um: int = 0,
    inbox: int = 0,
    *,
    pooling: bool = True,
    secondary: bool = False,
    published: Seats | None = None,
) -> str:
    return format_attachment(
        license_data(
            licensed=Seats(vm, um, inbox),
            pooling=pooling,
            secondary=secondary,
            ports=24,
            published=published,
        )
    )


def loc(
    name: str,
    *,
    version: str | None = "4.0(5)",
    attachment_text: str | None = None,
    failover_of: str | None = None,
    object_id: str | None = None,
    guid: str | None = None,
    use_default_attachment: bool = True,
) -> Location:
    if attachment_text is None and use_default_attachment:
        attachment_text = attachment()
    return Location(
        guid=guid or f"guid-{name}",
        dn=f"CN={name},CN=Locations,DC=lab,DC=example,DC=com",
        name=name,
        object_id=f"oid-{name}" if object_id is None else object_id,
        version=version,
        failover_of=failover_of,
        attachment=attachment_text,
    )


def only_pool(report: PoolReport) -> tuple[ServerSeats, ...]:
    assert len(report.pools) == 1
    return report.pools[0].servers


def server(report: PoolReport, name: str) -> ServerSeats:
    (match,) = [s for s in only_pool(report) if s.name == name]
    return match


def reason_of(report: PoolReport, name: str) -> ExclusionReason:
    (match,) = [e for e in report.excluded if e.name == name]
    return match.reason


# --- versions and exclusion reasons -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("4.0(5)", (4, 0)),
        ("4.2(1)", (4, 2)),
        ("5.0(1)", (5, 0)),
        ("10.5", (10, 5)),
        ("3.1(2)", (3, 1)),
        (" 4.0(5) SR1", (4, 0)),
        ("4", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_version(text: str | None, parsed: tuple[int, int] | None) -> None:
    assert parse_version(text) == parsed


def test_enum_values_are_the_documented_strings() -> None:
    assert {r.value for r in ExclusionReason} == {
        "pooling-disabled",
        "attachment-missing",
        "attachment-too-large",
        "attachment-corrupt",
        "version-unsupported",
        "failover-secondary",
    }


@pytest.mark.parametrize(
    ("location", "reason", "detail"),
    [
        (loc("S", version="3.1(2)"), ExclusionReason.VERSION_UNSUPPORTED, "below 4.0"),
        (loc("S", version=None), ExclusionReason.VERSION_UNSUPPORTED, "no version published"),
        (loc("S", version="beta"), ExclusionReason.VERSION_UNSUPPORTED, "'beta' not recognised"),
        (
            loc("S", use_default_attachment=False),
            ExclusionReason.ATTACHMENT_MISSING,
            "no pooling attachment",
        ),
        (
            loc("S", attachment_text="<Foo/>"),
            ExclusionReason.ATTACHMENT_CORRUPT,
            "root element is 'Foo', expected AvXmlLicData",
        ),
        (
            loc("S", attachment_text=attachment(pooling=False)),
            ExclusionReason.POOLING_DISABLED,
            "LicPoolingIsEnabled 0",
        ),
        (
            loc("S", attachment_text="<AvXmlLicData><Licenses/></AvXmlLicData>"),
            ExclusionReason.POOLING_DISABLED,
            "LicPoolingIsEnabled absent",
        ),
        (
            loc("S", failover_of="oid-nowhere"),
            ExclusionReason.FAILOVER_SECONDARY,
            "object id oid-nowhere, which matches no Location",
        ),
    ],
)
def test_each_exclusion_reason(location: Location, reason: ExclusionReason, detail: str) -> None:
    report = build_pool_report(FOREST, [location, loc("M")], {})
    assert report.pools[0].members == ("M",)
    (exclusion,) = report.excluded
    assert (exclusion.name, exclusion.reason, exclusion.guid) == ("S", reason, "guid-S")
    assert detail in exclusion.detail


def test_corrupt_detail_is_the_attachment_error_message() -> None:
    text = (
        "<AvXmlLicData><Licenses><LicSubscribersMax>x</LicSubscribersMax></Licenses></AvXmlLicData>"
    )
    report = build_pool_report(FOREST, [loc("S", attachment_text=text)], {})
    assert report.excluded[0].detail == "LicSubscribersMax: 'x' is not a whole number"


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        # failover is checked first: even an old, attachment-less secondary is a secondary
        (
            loc("S", failover_of="oid-M", version="3.0", use_default_attachment=False),
            ExclusionReason.FAILOVER_SECONDARY,
        ),
        # version before the attachment
        (
            loc("S", version="3.0", use_default_attachment=False),
            ExclusionReason.VERSION_UNSUPPORTED,
        ),
        (loc("S", version=None, attachment_text="junk"), ExclusionReason.VERSION_UNSUPPORTED),
        # a corrupt attachment cannot say whether pooling is on
        (loc("S", attachment_text="<AvXmlLicData>"), ExclusionReason.ATTACHMENT_CORRUPT),
    ],
)
def test_order_of_checks(location: Location, reason: ExclusionReason) -> None:
    report = build_pool_report(FOREST, [location, loc("M")], {})
    assert reason_of(report, "S") is reason


def test_pool_is_present_even_without_members() -> None:
    report = build_pool_report(FOREST, [loc("S", version="2.0")], {"oid-S": Seats(3, 0, 0)})
    (pool,) = report.pools
    assert (pool.id, pool.members, pool.servers) == (FOREST, (), ())
    assert all(pool.seats[c].licensed == 0 and pool.seats[c].compliant for c in SEAT_CLASSES)
    assert report.unpooled == Seats(3, 0, 0)


def test_empty_input() -> None:
    report = build_pool_report(FOREST, [], {})
    assert report.pools[0].members == ()
    assert report.excluded == ()
    assert report.unpooled == report.orphaned == Seats()


# --- failover ---------------------------------------------------------------------


def test_secondary_folds_into_member_primary() -> None:
    primary = loc("UNITY-A", attachment_text=attachment(500, 100, 0, secondary=True))
    secondary = loc("UNITY-A2", failover_of="oid-UNITY-A", use_default_attachment=False)
    homed = {"oid-UNITY-A": Seats(300, 20, 0), "oid-UNITY-A2": Seats(50, 5, 1)}
    report = build_pool_report(FOREST, [secondary, primary], homed)
    a = server(report, "UNITY-A")
    assert a.used == Seats(350, 25, 1)
    assert a.failover == "UNITY-A2"
    assert a.secondary_licensed is True
    assert report.pools[0].members == ("UNITY-A",)
    (exclusion,) = report.excluded
    assert exclusion.reason is ExclusionReason.FAILOVER_SECONDARY
    assert "UNITY-A" in exclusion.detail
    assert report.unpooled == Seats()


def test_secondary_not_licensed_on_primary_is_reported() -> None:
    primary = loc("UNITY-A", attachment_text=attachment(secondary=False))
    secondary = loc("UNITY-A2", failover_of="oid-UNITY-A")
    report = build_pool_report(FOREST, [primary, secondary], {})
    assert server(report, "UNITY-A").secondary_licensed is False


def test_no_secondary_means_secondary_licensed_none() -> None:
    report = build_pool_report(
        FOREST, [loc("UNITY-A", attachment_text=attachment(secondary=True))], {}
    )
    assert server(report, "UNITY-A").failover is None
    assert server(report, "UNITY-A").secondary_licensed is None


def test_secondary_of_excluded_primary_is_unpooled() -> None:
    primary = loc("UNITY-A", attachment_text=attachment(pooling=False))
    secondary = loc("UNITY-A2", failover_of="oid-UNITY-A")
    homed = {"oid-UNITY-A": Seats(10, 0, 0), "oid-UNITY-A2": Seats(5, 0, 0)}
    report = build_pool_report(FOREST, [primary, secondary], homed)
    assert report.pools[0].members == ()
    assert report.unpooled == Seats(15, 0, 0)
    (detail,) = [e.detail for e in report.excluded if e.name == "UNITY-A2"]
    assert "UNITY-A" in detail and "pooling-disabled" in detail


def test_secondary_of_missing_primary_is_unpooled_not_orphaned() -> None:
    secondary = loc("UNITY-A2", failover_of="oid-gone")
    report = build_pool_report(FOREST, [secondary], {"oid-UNITY-A2": Seats(4, 0, 0)})
    assert report.unpooled == Seats(4, 0, 0)
    assert report.orphaned == Seats()
    assert "matches no Location" in report.excluded[0].detail


def test_secondary_of_a_secondary() -> None:
    a = loc("A")
    b = loc("B", failover_of="oid-A")
    c = loc("C", failover_of="oid-B")
    report = build_pool_report(FOREST, [a, b, c], {"oid-C": Seats(2, 0, 0)})
    (detail,) = [e.detail for e in report.excluded if e.name == "C"]
    assert "itself a failover secondary" in detail
    assert report.unpooled == Seats(2, 0, 0)
    assert server(report, "A").failover == "B"


# --- seats ------------------------------------------------------------------------


def test_domain_example_600_plus_400_on_500_plus_500_is_compliant() -> None:
    report = build_pool_report(
        FOREST,
        [loc("UNITY-A"), loc("UNITY-B")],
        {"oid-UNITY-A": Seats(600, 0, 0), "oid-UNITY-B": Seats(400, 0, 0)},
    )
    vm = report.pools[0].seats[SeatClass.VM]
    assert (vm.licensed, vm.used, vm.available, vm.compliant) == (1000, 1000, 0, True)
    assert server(report, "UNITY-A").borrowed == Seats(100, 0, 0)
    assert server(report, "UNITY-A").lent == Seats()
    assert server(report, "UNITY-B").borrowed == Seats()
    assert server(report, "UNITY-B").lent == Seats(100, 0, 0)
    assert report.compliant


def test_over_the_pool_is_not_compliant() -> None:
    report = build_pool_report(
        FOREST,
        [loc("UNITY-A"), loc("UNITY-B")],
        {"oid-UNITY-A": Seats(700, 0, 0), "oid-UNITY-B": Seats(400, 0, 0)},
    )
    vm = report.pools[0].seats[SeatClass.VM]
    assert (vm.available, vm.compliant) == (-100, False)
    assert report.pools[0].seats[SeatClass.UM].compliant
    assert server(report, "UNITY-B").lent == Seats(100, 0, 0)  # all its surplus
    assert not report.compliant


def test_lending_worked_example_from_docs() -> None:
    locations = [
        loc("UNITY-A", attachment_text=attachment(500)),
        loc("UNITY-B", attachment_text=attachment(300)),
        loc("UNITY-C", attachment_text=attachment(400)),
        loc("UNITY-D", attachment_text=attachment(100)),
    ]
    homed = {
        "oid-UNITY-A": Seats(600, 0, 0),
        "oid-UNITY-B": Seats(200, 0, 0),
        "oid-UNITY-C": Seats(200, 0, 0),
        "oid-UNITY-D": Seats(100, 0, 0),
    }
    report = build_pool_report(FOREST, locations, homed)
    assert [s.lent.vm for s in only_pool(report)] == [0, 33, 67, 0]
    assert [s.borrowed.vm for s in only_pool(report)] == [100, 0, 0, 0]


def test_lending_ties_go_by_name_then_guid() -> None:
    locations = [
        loc("Z-BORROWER", attachment_text=attachment(10)),
        loc("B", attachment_text=attachment(20), guid="g2"),
        loc("B", attachment_text=attachment(20), guid="g1", object_id="oid-B1"),
        loc("A", attachment_text=attachment(20)),
    ]
    homed = {
        "oid-Z-BORROWER": Seats(12, 0, 0),
        "oid-B": Seats(10, 0, 0),
        "oid-B1": Seats(10, 0, 0),
        "oid-A": Seats(10, 0, 0),
    }
    report = build_pool_report(FOREST, locations, homed)
    # 2 seats over 3 equal surpluses of 10: quotas 2/3 each, the first two by (name, guid)
    assert [(s.name, s.guid, s.lent.vm) for s in only_pool(report)] == [
        ("A", "guid-A", 1),
        ("B", "g1", 1),
        ("B", "g2", 0),
        ("Z-BORROWER", "guid-Z-BORROWER", 0),
    ]


def test_stale_flag() -> None:
    published = Seats(100, 10, 0)
    locations = [
        loc("FRESH", attachment_text=attachment(published=published)),
        loc("STALE", attachment_text=attachment(published=published)),
        loc("SILENT", attachment_text=attachment(published=None)),
    ]
    homed = {
        "oid-FRESH": Seats(100, 10, 0),
        "oid-STALE": Seats(100, 12, 1),
        "oid-SILENT": Seats(5, 0, 0),
    }
    report = build_pool_report(FOREST, locations, homed)
    assert server(report, "FRESH").stale == ()
    assert server(report, "STALE").stale == (SeatClass.UM, SeatClass.INBOX)
    assert server(report, "STALE").published_used == published
    assert server(report, "SILENT").stale == ()
    assert server(report, "SILENT").published_used is None


def utilization_only(utilization: dict[str, int], vm: int = 500, um: int = 200) -> str:
    """An attachment with pooling on and exactly the given Utilization elements."""
    licenses = {"LicSubscribersMax": vm, "LicUMSubscribersMax": um, "LicPoolingIsEnabled": 1}
    return format_attachment(LicenseData(licenses=licenses, utilization=utilization))


def test_stale_ignores_the_um_class_a_real_server_does_not_publish() -> None:
    # A real Unity server publishes VM and Inbox use; AvLicUtilizationUMSubscribers is
    # poolsync's own name, so its UM subscribers must not make it look stale.
    real = utilization_only(
        {"AvLicUtilizationSubscribers": 480, "AvLicUtilizationVMISubscribers": 30}
    )
    report = build_pool_report(
        FOREST, [loc("REAL", attachment_text=real)], {"oid-REAL": Seats(480, 150, 30)}
    )
    srv = server(report, "REAL")
    assert srv.stale == ()
    assert srv.published_classes == (SeatClass.VM, SeatClass.INBOX)
    assert srv.published_used == Seats(480, 0, 30)


def test_stale_compares_each_published_class() -> None:
    real = utilization_only(
        {"AvLicUtilizationSubscribers": 470, "AvLicUtilizationVMISubscribers": 29}
    )
    report = build_pool_report(
        FOREST, [loc("REAL", attachment_text=real)], {"oid-REAL": Seats(480, 150, 30)}
    )
    assert server(report, "REAL").stale == (SeatClass.VM, SeatClass.INBOX)


def test_utilization_without_seat_counters_is_never_stale() -> None:
    only_secondary = utilization_only({"AvLicUtilizationSecondaryServer": 1})
    report = build_pool_report(
        FOREST, [loc("S", attachment_text=only_secondary)], {"oid-S": Seats(100, 20, 5)}
    )
    srv = server(report, "S")
    assert (srv.stale, srv.published_used, srv.published_classes) == ((), None, ())


def test_fully_published_server_lists_every_class() -> None:
    report = build_pool_report(
        FOREST, [loc("A", attachment_text=attachment(published=Seats(1, 2, 3)))], {}
    )
    assert server(report, "A").published_classes == SEAT_CLASSES
    assert server(report, "A").stale == tuple(SEAT_CLASSES)


def test_server_seats_positional_construction_still_works() -> None:
    args = ("A", None, Seats(5), Seats(4), Seats(4), Seats(), Seats(), (), None)
    srv = ServerSeats(*args, "guid-A")
    # published_used set without published_classes: every class counts as published
    assert srv.published_classes == SEAT_CLASSES
    assert ServerSeats(*args[:4], None, *args[5:]).published_classes == ()
    ordered = ServerSeats(*args, published_classes=(SeatClass.INBOX, SeatClass.VM))
    assert ordered.published_classes == (SeatClass.VM, SeatClass.INBOX)
    with pytest.raises(ValueError, match="published_used is None"):
        ServerSeats(*args[:4], None, *args[5:], published_classes=(SeatClass.VM,))


def test_orphaned_and_unpooled() -> None:
    locations = [loc("M"), loc("X", attachment_text=attachment(pooling=False))]
    homed = {"oid-M": Seats(1, 0, 0), "oid-X": Seats(2, 1, 0), "oid-gone": Seats(4, 0, 1)}
    report = build_pool_report(FOREST, locations, homed)
    assert server(report, "M").used == Seats(1, 0, 0)
    assert report.unpooled == Seats(2, 1, 0)
    assert report.orphaned == Seats(4, 0, 1)


def test_subscribers_without_a_home_are_orphaned() -> None:
    # The store puts subscribers whose home attribute is missing or empty under "".
    homed = {"": Seats(6, 2, 1), "oid-M": Seats(1, 0, 0)}
    report = build_pool_report(FOREST, [loc("M")], homed)
    assert server(report, "M").used == Seats(1, 0, 0)
    assert report.orphaned == Seats(6, 2, 1)
    assert report.unpooled == Seats()


@pytest.mark.parametrize(
    "blank",
    [
        loc("BLANK", object_id=""),  # a member
        loc("BLANK", object_id="", attachment_text=attachment(pooling=False)),  # excluded
        loc("BLANK", object_id="", version="3.1(2)"),  # excluded
        loc("BLANK", object_id="", failover_of="oid-P"),  # a secondary of a member
    ],
)
def test_location_without_object_id_owns_no_homed_seats(blank: Location) -> None:
    homed = {"": Seats(6, 2, 1), "oid-P": Seats(1, 0, 0)}
    # listed first and sorted first by name: it would be the first to claim ""
    report = build_pool_report(FOREST, [blank, loc("P")], homed)
    assert report.orphaned == Seats(6, 2, 1)
    assert report.unpooled == Seats()
    assert server(report, "P").used == Seats(1, 0, 0)
    if "BLANK" in report.pools[0].members:
        assert server(report, "BLANK").used == Seats()
    else:
        assert [e.name for e in report.excluded] == ["BLANK"]


def test_location_without_object_id_still_goes_through_the_checks() -> None:
    locations = [
        loc("A", object_id=""),
        loc("B", object_id="", version="3.1(2)"),
        loc("C", object_id="", use_default_attachment=False),
        loc("D", object_id="", attachment_text=attachment(pooling=False)),
    ]
    report = build_pool_report(FOREST, locations, {"": Seats(3, 0, 0)})
    assert report.pools[0].members == ("A",)
    assert [(e.name, e.reason) for e in report.excluded] == [
        ("B", ExclusionReason.VERSION_UNSUPPORTED),
        ("C", ExclusionReason.ATTACHMENT_MISSING),
        ("D", ExclusionReason.POOLING_DISABLED),
    ]
    assert report.orphaned == Seats(3, 0, 0)


def test_empty_failover_of_matches_no_location() -> None:
    primary = loc("P", object_id="")
    secondary = loc("S", failover_of="")
    homed = {"": Seats(2, 0, 0), "oid-S": Seats(5, 0, 0)}
    report = build_pool_report(FOREST, [primary, secondary], homed)
    assert server(report, "P").failover is None
    assert server(report, "P").used == Seats()
    (exclusion,) = report.excluded
    assert exclusion.detail == "failover secondary of an empty object id, which matches no Location"
    assert report.unpooled == Seats(5, 0, 0)
    assert report.orphaned == Seats(2, 0, 0)


def test_duplicate_object_ids_do_not_double_count() -> None:
    locations = [loc("A", object_id="same"), loc("B", object_id="same")]
    report = build_pool_report(FOREST, locations, {"same": Seats(10, 0, 0)})
    assert [s.used.vm for s in only_pool(report)] == [10, 0]


def test_duplicate_names_sorted_by_guid() -> None:
    locations = [
        loc("DUP", guid="g2", version="1.0"),
        loc("DUP", guid="g1", version="2.0", object_id="o1"),
        loc("DUP", guid="g4", object_id="o4"),
        loc("DUP", guid="g3", object_id="o3"),
    ]
    report = build_pool_report(FOREST, locations, {})
    assert [e.guid for e in report.excluded] == ["g1", "g2"]
    assert [s.guid for s in only_pool(report)] == ["g3", "g4"]
    assert report.pools[0].members == ("DUP", "DUP")


# --- properties -------------------------------------------------------------------

_OIDS = [f"o{i}" for i in range(6)]
_LOCATION_OIDS = [*_OIDS, ""]  # "": the Location's object-id attribute is missing
_seats = st.builds(Seats, st.integers(0, 900), st.integers(0, 300), st.integers(0, 100))
_attachments = st.one_of(
    st.none(),
    st.just("<AvXmlLicData>"),
    st.builds(
        lambda lic, pooling, published: format_attachment(
            license_data(
                licensed=lic, pooling=pooling, secondary=True, ports=8, published=published
            )
        ),
        _seats,
        st.booleans(),
        st.none() | _seats,
    ),
)
_location_fields = st.tuples(
    st.sampled_from(["UNITY-A", "UNITY-B", "UNITY-C", "UNITY-D", "UNITY-E"]),
    st.sampled_from(_LOCATION_OIDS),
    st.sampled_from(["4.0(5)", "4.2(1)", "5.0(1)", "3.1(2)", "x", None]),
    st.none() | st.none() | st.sampled_from([*_LOCATION_OIDS, "o-missing"]),
    _attachments,
)
_inputs = st.tuples(
    st.lists(_location_fields, max_size=8).map(
        lambda rows: [
            Location(f"g{i}", f"CN={name}", name, oid, version, failover, att)
            for i, (name, oid, version, failover, att) in enumerate(rows)
        ]
    ),
    # "": the subscribers without a home
    st.dictionaries(st.sampled_from([*_OIDS, "", "orphan-1", "orphan-2"]), _seats),
)


@settings(max_examples=300)
@given(_inputs)
def test_lending_properties(data: tuple[list[Location], dict[str, Seats]]) -> None:
    locations, homed = data
    report = build_pool_report(FOREST, locations, homed)
    servers = only_pool(report)
    for c in SEAT_CLASSES:
        surplus = [max(0, s.licensed.get(c) - s.used.get(c)) for s in servers]
        borrowed = [s.borrowed.get(c) for s in servers]
        lent = [s.lent.get(c) for s in servers]
        assert sum(lent) == min(sum(borrowed), sum(surplus))
        for s, sur, b, lnt in zip(servers, surplus, borrowed, lent, strict=True):
            assert 0 <= lnt <= sur
            assert b == max(0, s.used.get(c) - s.licensed.get(c))
            assert (b > 0) == (s.used.get(c) > s.licensed.get(c))
            assert not (b > 0 and lnt > 0)


@settings(max_examples=300)
@given(_inputs)
def test_totals_and_accounting(data: tuple[list[Location], dict[str, Seats]]) -> None:
    locations, homed = data
    report = build_pool_report(FOREST, locations, homed)
    (pool,) = report.pools
    licensed = Seats.total(s.licensed for s in pool.servers)
    used = Seats.total(s.used for s in pool.servers)
    for c in SEAT_CLASSES:
        assert pool.seats[c].licensed == licensed.get(c)
        assert pool.seats[c].used == used.get(c)
        assert pool.seats[c].available == licensed.get(c) - used.get(c)
        assert pool.seats[c].compliant == (used.get(c) <= licensed.get(c))
    # every homed seat is counted exactly once
    assert used + report.unpooled + report.orphaned == Seats.total(homed.values())
    # orphaned: exactly the seats under a key no Location's (non-empty) object id has,
    # so the subscribers without a home ("") are always among them
    known = {location.object_id for location in locations if location.object_id}
    assert report.orphaned == Seats.total(s for oid, s in homed.items() if oid not in known)
    # every Location is either a member or excluded, never both
    assert len(pool.servers) + len(report.excluded) == len(locations)
    names = [s.name for s in pool.servers]
    assert list(pool.members) == names == sorted(names)
    assert [e.name for e in report.excluded] == sorted(e.name for e in report.excluded)


@settings(max_examples=200)
@given(_inputs, st.randoms(use_true_random=False))
def test_deterministic_under_permutation(
    data: tuple[list[Location], dict[str, Seats]], rnd: random.Random
) -> None:
    locations, homed = data
    expected = build_pool_report(FOREST, locations, homed)
    shuffled = list(locations)
    rnd.shuffle(shuffled)
    items = list(homed.items())
    rnd.shuffle(items)
    assert build_pool_report(FOREST, shuffled, dict(items)) == expected


def test_an_attachment_refused_for_its_size_is_its_own_exclusion() -> None:
    big = Location(
        guid="g-big",
        dn="CN=BIG",
        name="BIG",
        object_id="oid-big",
        version="4.0(5)",
        attachment_refused=4_194_450,
    )
    refused = Location(
        guid="g-ref",
        dn="CN=REF",
        name="REF",
        object_id="oid-ref",
        version="4.0(5)",
        attachment_refused=0,
    )
    report = build_pool_report("lab.example.com", [big, refused], {})
    details = {e.name: (e.reason, e.detail) for e in report.excluded}
    assert details == {
        "BIG": (
            ExclusionReason.ATTACHMENT_TOO_LARGE,
            "its pooling attachment is 4,194,450 bytes, over the 1,048,576-byte limit, "
            "and was not read",
        ),
        "REF": (
            ExclusionReason.ATTACHMENT_TOO_LARGE,
            "the DC refused to send its pooling attachment (too large for one reply), "
            "so it was not read",
        ),
    }
