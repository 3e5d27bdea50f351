"""The schema profile parser never crashes: random, mutated and hostile YAML, and
hostile profile names (hypothesis).

Every input is written to a real file and read by :func:`load_profile`, as a command
does with the config's ``profile:`` (a built-in name or a path); the only outcome
allowed besides a profile is one ProfileError naming the file. Example counts:
tests/support/fuzzing.py; figures: docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from poolsync.errors import ProfileError
from poolsync.profile import BUILTIN_DIR, Profile, load_profile
from tests.support.fuzzing import TEXT, expect_only, fuzz_settings, yaml_inputs

pytestmark = pytest.mark.fuzz

SEEDS = [p.read_bytes() for p in sorted(BUILTIN_DIR.glob("*.yaml"))]
KNOWN_KEYS = [
    "name",
    "version",
    "lab_oid_arc",
    "attributes",
    "location",
    "subscriber",
    "syntax",
    "multi",
    "indexed",
    "origin",
    "holds",
    "object_class",
    "object_id",
    "failover_of",
    "pooling_data",
    "aux_class",
    "object_type",
    "object_type_value",
    "home",
    "dtmf_id",
    "license_class",
    "license_class_values",
    "um",
    "inbox",
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-profile") / "profile.yaml"


def through_load_profile(path: Path, data: bytes) -> Profile | None:
    path.write_bytes(data)
    profile: Profile | None = expect_only(ProfileError, path, lambda: load_profile(str(path)))
    if profile is not None:
        known = {a.name for a in profile.attributes}
        assert set(profile.location_attributes()) <= known
        assert set(profile.subscriber_attributes()) <= known
    return profile


def test_the_seeds_are_valid(scratch: Path) -> None:
    for seed in SEEDS:
        assert through_load_profile(scratch, seed) is not None


@fuzz_settings(2)
@given(data=yaml_inputs(SEEDS, KNOWN_KEYS))
def test_any_yaml_raises_only_profile_error(scratch: Path, data: bytes) -> None:
    through_load_profile(scratch, data)


@fuzz_settings(1)
@given(name=TEXT)
def test_any_profile_name_raises_only_profile_error(scratch: Path, name: str) -> None:
    """``lab up --profile NAME`` and the config's ``profile:`` reach load_profile with
    whatever text was given (a built-in name, or a path relative to the config)."""
    try:
        load_profile(name, base_dir=scratch.parent)
    except ProfileError as exc:
        assert str(exc)


@pytest.mark.parametrize(
    "name",
    [
        # Found by a hostile-input probe: a name longer than the file system allows raised
        # OSError (ENAMETOOLONG) from Path.is_file.
        "a" * 5000,
        "a/" * 3000,
        "\x00",
        "cisco-unity\x00",
    ],
)
def test_regressions_raise_only_profile_error(scratch: Path, name: str) -> None:
    with pytest.raises(ProfileError, match=r"cannot read|no such schema profile"):
        load_profile(name, base_dir=scratch.parent)
