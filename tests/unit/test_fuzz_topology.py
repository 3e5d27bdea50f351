"""The topology parser never crashes: random, mutated and hostile YAML, and license
files it names that are themselves mutated (hypothesis).

Every input is written to a real file next to copies of the license files the seeds
name, and read by :func:`load_topology`, as ``poolsync lab up --topology`` does; the
only outcome allowed besides a topology is one TopologyError line naming the file.
Example counts: tests/support/fuzzing.py; figures: docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.errors import TopologyError
from tests.support.fuzzing import expect_only, fuzz_settings, mutated_bytes, yaml_inputs
from topology.spec import Topology, load_topology

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted(
    [
        ROOT / "topology" / "lab.yaml",
        ROOT / "examples" / "licenses" / "lab.yaml",
        *(ROOT / "tests" / "topologies").glob("*.yaml"),
        *(ROOT / "examples" / "topologies").glob("*.yaml"),
    ]
)
SEEDS = [p.read_bytes() for p in SEED_FILES]
LICENSES = sorted(
    [
        *(ROOT / "examples" / "licenses").glob("*.lic"),
        *(ROOT / "tests" / "topologies" / "licenses").glob("*.lic"),
    ]
)
KNOWN_KEYS = [
    "forest",
    "dcs",
    "servers",
    "lab_date",
    "replication",
    "faults",
    "name",
    "site",
    "gc",
    "version",
    "mac",
    "pooling",
    "licenses",
    "license_files",
    "subscribers",
    "published",
    "attachment",
    "failover_of",
    "dc",
    "vm",
    "um",
    "inbox",
    "ports",
    "secondary",
    "type",
    "from",
    "to",
    "live",
    "endpoints",
    "http",
    "snmp",
]
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the topology is written: beside the example license files (as
    examples/licenses/lab.yaml names them) and tests' licenses/ directory."""
    base = tmp_path_factory.mktemp("fuzz-topology")
    (base / "licenses").mkdir()
    for lic in (ROOT / "examples" / "licenses").glob("*.lic"):
        shutil.copy(lic, base / lic.name)
    for lic in (ROOT / "tests" / "topologies" / "licenses").glob("*.lic"):
        shutil.copy(lic, base / "licenses" / lic.name)
    return base / "lab.yaml"


def through_load_topology(path: Path, data: bytes) -> Topology | None:
    path.write_bytes(data)
    topology: Topology | None = expect_only(
        TopologyError, path, lambda: load_topology(path, today=TODAY)
    )
    if topology is not None:
        names = [s.name.lower() for s in topology.servers]
        assert len(names) == len(set(names))
        for server in topology.servers:
            assert 0 <= server.subscribers.inbox <= server.subscribers.vm
            assert 0 <= server.subscribers.um <= server.subscribers.vm
            assert server.dc in {d.name for d in topology.dcs}
    return topology


def test_the_seeds_are_valid(scratch: Path) -> None:
    for seed in SEEDS:
        assert through_load_topology(scratch, seed) is not None


@fuzz_settings(3)
@given(data=yaml_inputs(SEEDS, KNOWN_KEYS))
def test_any_yaml_raises_only_topology_error(scratch: Path, data: bytes) -> None:
    through_load_topology(scratch, data)


TOPOLOGY_WITH_FILE = b"""\
forest: fuzz.example.org
lab_date: 2026-06-01
servers:
  - name: UNITY-F
    mac: "00-0B-CD-12-34-56"
    license_files: [fuzzed.lic]
"""


@fuzz_settings(2)
@given(license_file=mutated_bytes([p.read_bytes() for p in LICENSES]), mac=st.booleans())
def test_mutated_license_files_raise_only_topology_error(
    scratch: Path, license_file: bytes, mac: bool
) -> None:
    (scratch.parent / "fuzzed.lic").write_bytes(license_file)
    text = TOPOLOGY_WITH_FILE if mac else TOPOLOGY_WITH_FILE.replace(b"    mac:", b"    #")
    through_load_topology(scratch, text)


SMALL = "forest: lab.example.com\nservers:\n  - {name: UNITY-A}\n"
HUGE: list[Callable[[int], str]] = [
    lambda n: SMALL.replace("UNITY-A", "U" * n),
    lambda n: SMALL.replace("lab.example.com", "a." * n + "com"),
    lambda n: (
        "forest: lab.example.com\nservers:\n"
        + "".join(f"  - {{name: U{i}}}\n" for i in range(n // 20))
    ),
    lambda n: (
        "forest: lab.example.com\nservers:\n"
        + "".join(f"  - {{name: U{i}, failover_of: U{i + 1}}}\n" for i in range(n // 40))
    ),
    lambda n: (
        "forest: lab.example.com\ndcs:\n"
        + "".join(f"  - {{name: DC{i}}}\n" for i in range(n // 20))
        + "servers: []\n"
    ),
    lambda n: SMALL.replace(
        "{name: UNITY-A}", "{name: UNITY-A, subscribers: {vm: " + "9" * min(n, 4300) + "}}"
    ),
    lambda n: SMALL.replace(
        "{name: UNITY-A}",
        "{name: UNITY-A, license_files: [" + ", ".join(["demo.lic"] * (n // 10)) + "]}",
    ),
    lambda n: SMALL.replace("{name: UNITY-A}", "{name: UNITY-A, version: " + "v" * n + "}"),
    lambda n: SMALL + "lab_date: " + "2" * n + "\n",
]


@fuzz_settings(0.1)
@given(build=st.sampled_from(HUGE), size=st.integers(1_000, 100_000))
def test_huge_values_raise_only_topology_error(
    scratch: Path, build: Callable[[int], str], size: int
) -> None:
    through_load_topology(scratch, build(size).encode())


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000,
        "forest: &a [*a]",
        SMALL + "faults: &f [{type: connection-missing, from: *f}]",
        SMALL.replace("{name: UNITY-A}", "{name: UNITY-A, license_files: [/dev/zero]}"),
        SMALL.replace("{name: UNITY-A}", "{name: UNITY-A, license_files: [.]}"),
        # Found by a hostile-input probe: a NUL in a license file path raised ValueError
        # (from Path.resolve).
        SMALL.replace("{name: UNITY-A}", '{name: UNITY-A, license_files: ["a\\0b"]}'),
        # Found by the fuzzer (the long run): a newline in a license file path split the
        # message naming the file into lines.
        SMALL.replace("{name: UNITY-A}", '{name: UNITY-A, license_files: [".\\n\\n$"]}'),
        SMALL + "lab_date: 0000-01-01\n",
        SMALL + "lab_date: !!timestamp 2026-02-30\n",
    ],
)
def test_regressions_raise_only_topology_error(scratch: Path, text: str) -> None:
    assert through_load_topology(scratch, text.encode()) is None
