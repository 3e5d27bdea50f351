"""Role inference on synthetic samples (pure): each role from the values, with evidence,
and never a silent guess."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml

from poolsync.attachment import format_attachment, license_data
from poolsync.config import Config, load_config
from poolsync.directory.schema import SYNTAX_NAMES, SchemaAttribute, SchemaRead
from poolsync.discovery.report import build_report, profile_text, report_json, report_table
from poolsync.discovery.roles import Discovery, infer_roles
from poolsync.discovery.sample import ForestSample
from poolsync.model import Entry, Seats
from poolsync.profile import load_profile, parse_profile_bytes

HEADER = bytes.fromhex("01000700")
IDS = [uuid.UUID(int=0xA0 + n) for n in range(3)]
OBJECT_GUIDS = [uuid.UUID(int=0xB0 + n) for n in range(3)]
SPELLED = {
    n.lower(): n
    for n in (
        "ciscoEcsbuName",
        "ciscoEcsbuLocId",
        "ciscoEcsbuVer",
        "ciscoEcsbuPartner",
        "ciscoEcsbuBlob",
        "ciscoEcsbuUMLocationObjectId",
        "ciscoEcsbuDtmfId",
        "ciscoEcsbuTransferId",
        "ciscoEcsbuLicenseClass",
        "ciscoEcsbuObjectType",
        "ciscoEcsbuDescription",
        "displayName",
        "cn",
    )
}
TEXT = frozenset(
    {
        "ciscoecsbuname",
        "ciscoecsbuver",
        "ciscoecsbudtmfid",
        "ciscoecsbutransferid",
        "ciscoecsbulicenseclass",
        "ciscoecsbudescription",
        "displayname",
        "cn",
    }
)


def attachment(encoding: str = "utf-8") -> bytes:
    text = format_attachment(
        license_data(
            licensed=Seats(10, 1, 1), pooling=True, secondary=False, ports=4, published=None
        )
    )
    if encoding == "utf-16":
        return text.replace("utf-8", "UTF-16").encode("utf-16")
    return text.encode()


def real_home(value: uuid.UUID) -> bytes:
    return HEADER + ("09:{" + str(value).upper() + "}").encode("utf-16-le")


def location(n: int, *, drop: tuple[str, ...] = (), **extra: list[bytes]) -> Entry:
    attrs = {
        "objectguid": [OBJECT_GUIDS[n].bytes_le],
        "cn": [f"UNITY-{n}".encode()],
        "ciscoecsbuname": [f"UNITY-{n}".encode()],
        "ciscoecsbulocid": [("{" + str(IDS[n]).upper() + "}").encode()],
        "ciscoecsbuver": [b"4.0(5)"],
        "ciscoecsbublob": [attachment("utf-16")],
    }
    attrs.update({k.lower(): v for k, v in extra.items()})
    for name in drop:
        del attrs[name]
    return Entry(f"CN=UNITY-{n},OU=Locations,DC=x", attrs)


def subscriber(n: int, home: bytes, **extra: list[bytes]) -> Entry:
    attrs = {
        "objectguid": [uuid.UUID(int=0x1000 + n).bytes_le],
        "ciscoecsbuobjecttype": [b"1"],
        "ciscoecsbuumlocationobjectid": [home],
        "ciscoecsbudtmfid": [str(5000 + n).encode()],
    }
    attrs.update({k.lower(): v for k, v in extra.items()})
    return Entry(f"CN=u{n},OU=Subscribers,DC=x", attrs)


def infer(locations: list[Entry], subscribers: list[Entry]) -> Discovery:
    return infer_roles(
        locations,
        subscribers,
        spelled=SPELLED,
        text_attributes=TEXT,
        object_type="ciscoEcsbuObjectType",
    )


def roles_of(discovery: Discovery) -> dict[str, tuple[str | None, str]]:
    return {r: (f.attribute, f.confidence) for r, f in discovery.roles.items()}


def test_a_real_shaped_forest_is_found_role_by_role() -> None:
    locations = [
        location(0),
        location(1),
        location(2, ciscoEcsbuPartner=[("{" + str(IDS[0]) + "}").encode()]),
    ]
    subscribers = [subscriber(n, real_home(IDS[n % 2])) for n in range(10)]
    found = infer(locations, subscribers)
    assert roles_of(found) == {
        "location.name": ("ciscoEcsbuName", "certain"),
        "location.object_id": ("ciscoEcsbuLocId", "certain"),
        "location.version": ("ciscoEcsbuVer", "certain"),
        "location.failover_of": ("ciscoEcsbuPartner", "certain"),
        "location.pooling_data": ("ciscoEcsbuBlob", "certain"),
        "subscriber.home": ("ciscoEcsbuUMLocationObjectId", "certain"),
        "subscriber.dtmf_id": ("ciscoEcsbuDtmfId", "certain"),
        "subscriber.license_class": (None, "missing"),
    }
    assert found.complete
    assert (found.homes.sampled, found.homes.matched, found.homes.matched_by) == (
        10,
        10,
        "object_id",
    )
    assert "3 UTF-16" in found.roles["location.pooling_data"].evidence
    assert "after a header" in found.roles["subscriber.home"].evidence
    assert found.object_type_values == (1,)


def test_homes_that_name_object_guids_make_object_guid_the_object_id() -> None:
    locations = [location(0), location(1)]
    subscribers = [subscriber(n, real_home(OBJECT_GUIDS[n % 2])) for n in range(4)]
    found = infer(locations, subscribers)
    assert found.roles["location.object_id"].attribute == "objectGUID"
    assert found.homes.matched_by == "objectGUID"


def test_display_name_comes_first_and_the_others_are_named() -> None:
    locations = [location(n, displayName=[f"Unity {n}".encode()]) for n in range(2)]
    found = infer(locations, [subscriber(0, real_home(IDS[0]))])
    name = found.roles["location.name"]
    assert (name.attribute, name.confidence) == ("displayName", "certain")
    assert "ciscoEcsbuName" in name.evidence


def test_names_that_repeat_or_are_missing_are_passed_over_with_a_reason() -> None:
    locations = [
        location(0, ciscoEcsbuName=[b"SAME"], ciscoEcsbuDescription=[b"a"]),
        location(1, ciscoEcsbuName=[b"SAME"]),
    ]
    found = infer(locations, [subscriber(0, real_home(IDS[0]))])
    name = found.roles["location.name"]
    assert (name.attribute, name.confidence) == ("cn", "likely")
    assert "ciscoEcsbuName (not distinct)" in name.evidence
    assert "ciscoEcsbuDescription (not on every Location)" in name.evidence


def test_two_name_candidates_without_a_hint_are_ambiguous() -> None:
    locations = [
        location(
            n,
            drop=("ciscoecsbuname", "cn"),
            ciscoEcsbuDescription=[f"d{n}".encode()],
            ciscoEcsbuTransferId=[f"t{n}".encode()],
        )
        for n in range(2)
    ]
    found = infer(locations, [subscriber(0, real_home(IDS[0]))])
    assert found.roles["location.name"].confidence == "ambiguous"
    assert not found.complete


def test_an_extension_twin_is_resolved_by_its_name_and_says_so() -> None:
    subscribers = [
        subscriber(n, real_home(IDS[0]), ciscoEcsbuTransferId=[str(5000 + n).encode()])
        for n in range(3)
    ]
    found = infer([location(0)], subscribers)
    dtmf = found.roles["subscriber.dtmf_id"]
    assert (dtmf.attribute, dtmf.confidence) == ("ciscoEcsbuDtmfId", "likely")
    assert "ciscoEcsbuTransferId too (chose the one called DTMF)" in dtmf.evidence


def test_license_classes_are_found_where_they_exist() -> None:
    subscribers = [
        subscriber(n, real_home(IDS[0]), ciscoEcsbuLicenseClass=[b"UM", b"VMI"]) for n in range(2)
    ]
    found = infer([location(0)], subscribers)
    assert found.roles["subscriber.license_class"].attribute == "ciscoEcsbuLicenseClass"


def test_two_attributes_holding_attachments_are_ambiguous() -> None:
    locations = [location(n, ciscoEcsbuDescription=[attachment()]) for n in range(2)]
    found = infer(locations, [subscriber(0, real_home(IDS[0]))])
    assert found.roles["location.pooling_data"].confidence == "ambiguous"


def test_homes_naming_nothing_leave_the_object_id_missing() -> None:
    stranger = uuid.UUID(int=0xDEAD)
    subscribers = [subscriber(n, real_home(stranger)) for n in range(5)]
    found = infer([location(0)], subscribers)
    assert found.roles["location.object_id"].confidence == "missing"
    home = found.roles["subscriber.home"]
    assert (home.attribute, home.confidence) == ("ciscoEcsbuUMLocationObjectId", "likely")
    assert "none names a Location" in home.evidence
    assert (found.homes.matched, found.homes.unmatched) == (0, 5)
    assert not found.complete


def test_an_empty_forest_is_reported_not_guessed() -> None:
    found = infer([], [])
    assert {f.confidence for f in found.roles.values()} == {"missing"}
    assert "no Location was found" in found.notes[0]
    assert not found.complete


# --- the report and the written profile -------------------------------------------------


def sample(locations: list[Entry], subscribers: list[Entry], *, unity: bool = True) -> ForestSample:
    names = [
        ("ciscoEcsbuName", "2.5.5.12"),
        ("ciscoEcsbuLocId", "2.5.5.12"),
        ("ciscoEcsbuVer", "2.5.5.12"),
        ("ciscoEcsbuPartner", "2.5.5.12"),
        ("ciscoEcsbuBlob", "2.5.5.10"),
        ("ciscoEcsbuUMLocationObjectId", "2.5.5.10"),
        ("ciscoEcsbuDtmfId", "2.5.5.12"),
        ("ciscoEcsbuObjectType", "2.5.5.9"),
    ]
    attributes = (
        tuple(SchemaAttribute(n, SYNTAX_NAMES[oid], oid, True, True, False) for n, oid in names)
        if unity
        else ()
    )
    base = "DC=x"
    return ForestSample(
        dc_host="dc1.x",
        endpoint="ldaps://dc1.x:636",
        naming_contexts=(base,),
        domain_naming_context=base,
        schema=SchemaRead("CN=Schema", attributes, ()),
        user_may=(),
        contact_may=(),
        location_class="ciscoEcsbuUMLocation",
        object_type="ciscoEcsbuObjectType" if unity else None,
        locations=tuple(locations),
        subscribers=tuple(subscribers),
        subscribers_limited=False,
    )


def config(tmp_path: Path, base_dn: str = "") -> Config:
    path = tmp_path / "poolsync.yaml"
    dc = {"url": "ldaps://dc1.x"} | ({"base_dn": base_dn} if base_dn else {})
    path.write_text(
        yaml.safe_dump(
            {
                "forest": "x.example.com",
                "directory": {"dc": dc, "bind": {"user": "u@x", "password": {"env": "PW"}}},
            }
        )
    )
    return load_config(path)


NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_the_written_profile_reads_back_as_the_roles_found(tmp_path: Path) -> None:
    forest = sample(
        [location(0), location(1)], [subscriber(n, real_home(IDS[n % 2])) for n in range(4)]
    )
    report = build_report(config(tmp_path), load_profile("cisco-unity"), forest, now=NOW)
    assert report.exit_code == 0
    text = profile_text(report, name="x-forest")
    assert text.startswith("# Written by `poolsync schema discover` for forest x.example.com")
    written = parse_profile_bytes(tmp_path / "x-forest.yaml", text.encode())
    assert written.location.object_id == "ciscoEcsbuLocId"
    assert written.location.failover_of is None  # not found: left out, not guessed
    assert written.subscriber.license_class is None
    assert written.syntax_of("ciscoEcsbuUMLocationObjectId") == "binary"
    assert {a.origin for a in written.attributes} == {"discovered"}
    doc = report_json(report)
    assert set(doc) >= {"meta", "forest", "attributes", "classes", "roles", "homes"}
    assert set(doc["roles"]["location.name"]) >= {"attribute", "evidence", "confidence"}


def test_a_forest_without_the_unity_schema_says_so(tmp_path: Path) -> None:
    report = build_report(
        config(tmp_path), load_profile("cisco-unity"), sample([], [], unity=False), now=NOW
    )
    assert report.exit_code == 3
    assert "Unity's schema extension is not installed" in report_table(report)


def test_a_base_dn_that_misses_the_objects_is_a_warning(tmp_path: Path) -> None:
    forest = sample([location(0)], [subscriber(0, real_home(IDS[0]))])
    report = build_report(
        config(tmp_path, base_dn="OU=Elsewhere,DC=x"), load_profile("cisco-unity"), forest, now=NOW
    )
    assert any(
        "misses 2 of the objects found" in w and "OU=Elsewhere,DC=x" in w for w in report.warnings
    )
