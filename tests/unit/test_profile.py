"""Schema profiles: the built-in one loads; broken ones name file, key and expectation."""

from __future__ import annotations

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
    doc = (Path(__file__).parents[2] / "docs" / "schema.md").read_text()
    for attr in load_profile("cisco-unity").attributes:
        assert f"`{attr.name}` | {attr.origin}" in doc


def broken(tmp_path: Path, change: dict[str, object], section: str | None = None) -> Path:
    doc = yaml.safe_load((BUILTIN_DIR / "cisco-unity.yaml").read_text())
    (doc[section] if section else doc).update(change)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(("change", "section", "needle"), [
    ({"home": "notAnAttribute"}, "subscriber",
     "subscriber.home: expected an attribute listed under 'attributes'"),
    ({"name": "bad name!"}, "location", "location.name: expected an LDAP name"),
    ({"lab_oid_arc": "1.2.x"}, None, "lab_oid_arc: expected a dotted OID"),
    ({"extra": 1}, "location", "location: unknown key 'extra'"),
])
def test_broken_profiles(tmp_path: Path, change: dict[str, object], section: str | None,
                         needle: str) -> None:
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
