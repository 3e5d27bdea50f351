"""Schema profiles: the built-in one loads; broken ones name file, key and expectation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from poolsync.errors import ProfileError
from poolsync.profile import BUILTIN_DIR, load_profile


def test_builtin_profile_names() -> None:
    p = load_profile("cisco-unity")
    assert p.subscriber.home == "ciscoEcsbuUMLocationObjectId"
    assert p.subscriber.object_type == "ciscoEcsbuObjectType"
    assert p.location.pooling_data == "ciscoEcsbuPoolingData"
    origins = {a.name: a.origin for a in p.attributes}
    assert origins["ciscoEcsbuDtmfId"] == "confirmed"
    assert origins["ciscoEcsbuPoolingData"] == "poolsync"
    assert len(p.fingerprint) == 64


def test_every_profile_attribute_is_documented() -> None:
    rows = (Path(__file__).parents[2] / "docs" / "schema.md").read_text().splitlines()
    for attr in load_profile("cisco-unity").attributes:
        assert any(f"`{attr.name}`" in row and f"| {attr.origin} |" in row for row in rows), (
            attr.name
        )


def broken(tmp_path: Path, change: dict[str, object], section: str | None = None) -> Path:
    doc = yaml.safe_load((BUILTIN_DIR / "cisco-unity.yaml").read_text())
    (doc[section] if section else doc).update(change)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "section", "needle"),
    [
        (
            {"home": "notAnAttribute"},
            "subscriber",
            "subscriber.home: expected an attribute listed under 'attributes'",
        ),
        ({"name": "bad name!"}, "location", "location.name: expected an LDAP name"),
        ({"lab_oid_arc": "1.2.x"}, None, "lab_oid_arc: expected a dotted OID"),
        ({"extra": 1}, "location", "location: unknown key 'extra'"),
    ],
)
def test_broken_profiles(
    tmp_path: Path, change: dict[str, object], section: str | None, needle: str
) -> None:
    path = broken(tmp_path, change, section)
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_missing_profile(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="built-in profiles: cisco-unity"):
        load_profile("no-such-profile")


def test_a_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, {"object_class": "user\n"}, "subscriber")
    with pytest.raises(ProfileError, match=r"subscriber\.object_class: expected an LDAP name"):
        load_profile(str(path))


def test_the_default_profile_follows_the_real_shape() -> None:
    p = load_profile("cisco-unity")
    syntaxes = {a.name: a.syntax for a in p.attributes}
    assert syntaxes["ciscoEcsbuUMLocationObjectId"] == "binary"
    assert p.subscriber.license_class is None and p.subscriber.aux_class is None
    assert p.roles().license_classes is False
    assert p.roles().versions and p.roles().failover
    assert p.subscriber_attributes() == ["ciscoEcsbuUMLocationObjectId", "ciscoEcsbuDtmfId"]


def test_optional_roles_and_standard_attributes(tmp_path: Path) -> None:
    doc = yaml.safe_load((BUILTIN_DIR / "cisco-unity.yaml").read_text())
    del doc["location"]["version"], doc["location"]["failover_of"]
    doc["location"].update(name="displayName", object_id="objectGUID")
    doc["subscriber"]["object_type_value"] = [1, 3, 1]
    doc["attributes"]["ciscoEcsbuListInUMDirectory"] = {"syntax": "boolean"}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    p = load_profile(str(path))
    assert (p.location.version, p.location.failover_of) == (None, None)
    assert p.roles().versions is False and p.roles().failover is False
    assert p.subscriber.object_type_values == (1, 3)
    assert p.location_attributes() == ["displayName", "objectGUID", "ciscoEcsbuPoolingData"]
    assert p.schema_names()[0] == {
        "ciscoEcsbuPoolingData",
        "ciscoEcsbuObjectType",
        "ciscoEcsbuUMLocationObjectId",
        "ciscoEcsbuDtmfId",
    }
    assert p.missing_from({"ciscoEcsbuPoolingData", "ciscoEcsbuObjectType"}, {"user"}) == [
        "ciscoEcsbuUMLocation (location.object_class, a class)",
        "ciscoEcsbuUMLocationObjectId (subscriber.home)",
        "ciscoEcsbuDtmfId (subscriber.dtmf_id)",
    ]


@pytest.mark.parametrize(
    ("change", "section", "needle"),
    [
        (
            {"object_type_value": "1"},
            "subscriber",
            "subscriber.object_type_value: expected an integer or a list of integers",
        ),
        (
            {"object_type_value": []},
            "subscriber",
            "subscriber.object_type_value: expected an integer or a list of integers",
        ),
        (
            {"license_class_values": {"um": "UM"}},
            "subscriber",
            "license_class_values needs license_class",
        ),
    ],
)
def test_broken_optional_roles(
    tmp_path: Path, change: dict[str, object], section: str, needle: str
) -> None:
    with pytest.raises(ProfileError, match=needle):
        load_profile(str(broken(tmp_path, change, section)))


def test_a_changed_decoder_changes_the_fingerprint(tmp_path: Path) -> None:
    # The fingerprint covers how values are read, not only the file: a store read by
    # an older poolsync is re-read in full after an upgrade.
    raw = (BUILTIN_DIR / "cisco-unity.yaml").read_bytes()
    assert load_profile("cisco-unity").fingerprint != hashlib.sha256(raw).hexdigest()
