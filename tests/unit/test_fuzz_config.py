"""The config parser never crashes: random, mutated and hostile YAML (hypothesis).

Every input is written to a real file and read by :func:`load_config`, as the CLI's
``--config`` does; the only outcome allowed besides a config is one ConfigError line
naming the file. ``parse_duration`` (``sync.max_age``, ``capacity.window``, the
``--every`` and ``--window`` options) may only raise ValueError. Example counts:
tests/support/fuzzing.py; figures: docs/reliability.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.config import Config, load_config, parse_duration
from poolsync.errors import ConfigError
from tests.support.fuzzing import TEXT, expect_only, fuzz_settings, yaml_inputs

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[2]
FULL = """\
forest: Lab.Example.com
directory:
  dc: {url: [ldaps://dc1.lab.example.com, "ldap://[::1]:389"], base_dn: "DC=lab,DC=example,DC=com"}
  gc: {url: ldap://10.0.0.1:3268, base_dn: ""}
  bind: {method: simple, user: svc@lab.example.com, password: {command: "pass show ad"}}
  tls: {ca_file: tls/ca.pem, validate: false, insecure: true, starttls: true}
  page_size: 500
  timeouts: {connect: 2.5, operation: 60}
  retries: {attempts: 3, initial_wait: 0, max_wait: 30}
profile: profiles/custom.yaml
store: data/poolsync.db
sync: {method: dirsync, max_age: 12h, deletions: {max_objects: 0, max_percent: 12.5}}
compliance: {max_voice_ports: null, max_subscribers_per_server: 500, grace_days: 3650}
doctor:
  servers: {UNITY-A: {dc: DC1, gc: DC2}, unity-b: {}}
  expected: [UNITY-A, UNITY-C]
  other_forests: [other/poolsync.yaml]
capacity:
  window: 30d
  horizon: 3650d
  license_files:
    UNITY-A: {files: [a.lic, b.lic], mac: "00-0B-CD-12-34-56"}
servers:
  UNITY-A:
    http: {url: "https://127.38.0.2:8443", ca_file: tls/ca.pem, validate: true,
           auth: {user: reader, password: {file: secrets/http}}, timeout: 2}
    snmp: {host: 127.38.0.2, port: 1161, version: "3", user: poolsync, timeout: 1,
           auth: {protocol: SHA, password: {file: secrets/admin.password}},
           priv: {protocol: AES256, password: {env: PRIV}}}
  unity-b:
    http: {url: "http://[::1]/avxml/effectivelicense.asp", insecure: true, validate: false}
    snmp: {host: unity-b.example.com, version: "2c", community: {command: "pass show c"}}
"""
ANONYMOUS = """\
forest: lab.example.com
directory:
  dc: {url: ldap://dc1}
  bind: {method: anonymous}
"""
SEEDS = [(ROOT / "examples" / "poolsync.yaml").read_bytes(), FULL.encode(), ANONYMOUS.encode()]
KNOWN_KEYS = [
    "forest",
    "directory",
    "profile",
    "store",
    "sync",
    "compliance",
    "doctor",
    "capacity",
    "dc",
    "gc",
    "url",
    "base_dn",
    "bind",
    "method",
    "user",
    "password",
    "env",
    "file",
    "command",
    "tls",
    "ca_file",
    "validate",
    "insecure",
    "starttls",
    "page_size",
    "timeouts",
    "connect",
    "operation",
    "retries",
    "attempts",
    "initial_wait",
    "max_wait",
    "max_age",
    "deletions",
    "max_objects",
    "max_percent",
    "max_voice_ports",
    "max_subscribers_per_server",
    "grace_days",
    "servers",
    "expected",
    "other_forests",
    "window",
    "horizon",
    "license_files",
    "files",
    "mac",
    "http",
    "snmp",
    "auth",
    "priv",
    "protocol",
    "host",
    "port",
    "version",
    "community",
    "timeout",
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the config is written, with the files the seeds refer to, so that
    mutated seeds get past "cannot read" into the checks behind it."""
    base = tmp_path_factory.mktemp("fuzz-config")
    for name in ("tls/ca.pem", "profiles/custom.yaml", "a.lic", "b.lic", "secrets/admin.password"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("x\n")
    return base / "poolsync.yaml"


def through_load_config(path: Path, data: bytes) -> Config | None:
    path.write_bytes(data)
    config: Config | None = expect_only(ConfigError, path, lambda: load_config(path))
    if config is not None:
        assert config.forest == config.forest.lower()
        assert config.directory.dcs and config.directory.gcs
        assert all(1 <= e.port <= 65535 for e in (*config.directory.dcs, *config.directory.gcs))
        assert 0 < config.sync.max_age < math.inf
        assert 1 <= config.capacity.window_days <= 3650
        assert len({s.name.lower() for s in config.servers}) == len(config.servers)
        for server in config.servers:
            assert server.http is not None or server.snmp is not None
            if server.http is not None:
                assert server.http.url.startswith(("http://", "https://"))
                assert 0 < server.http.timeout <= 3600
            if server.snmp is not None:
                assert 1 <= server.snmp.port <= 65535
                assert (server.snmp.community is None) == (server.snmp.version == "3")
    return config


def test_the_seeds_are_valid(scratch: Path) -> None:
    for seed in SEEDS:
        assert through_load_config(scratch, seed) is not None


@fuzz_settings(3)
@given(data=yaml_inputs(SEEDS, KNOWN_KEYS))
def test_any_yaml_raises_only_config_error(scratch: Path, data: bytes) -> None:
    through_load_config(scratch, data)


SMALL = """\
forest: lab.example.com
directory:
  dc: {url: ldaps://dc1}
  bind: {method: anonymous}
"""
HUGE = [
    lambda n: SMALL.replace("lab.example.com", "a." * n + "com"),
    lambda n: SMALL.replace("ldaps://dc1", "ldaps://" + "a" * n),
    lambda n: SMALL.replace("ldaps://dc1", "[" + ", ".join(["ldap://dc"] * (n // 10)) + "]"),
    lambda n: SMALL.replace(
        "{method: anonymous}", "{user: " + "u" * n + ", password: {env: " + "E" * n + "}}"
    ),
    lambda n: SMALL + "store: " + "x" * n + "\n",
    lambda n: SMALL + "sync: {max_age: " + "9" * n + "}\n",
    lambda n: SMALL + "sync: {deletions: {max_percent: 0." + "1" * n + "}}\n",
    lambda n: SMALL + "doctor: {expected: [" + ", ".join(["S"] * (n // 10)) + "]}\n",
    lambda n: (
        SMALL + "doctor: {servers: {" + ", ".join(f"S{i}: {{}}" for i in range(n // 10)) + "}}\n"
    ),
    lambda n: SMALL + "capacity: {window: " + "1" * n + "d}\n",
    lambda n: SMALL + "profile: " + "p/" * n + "x.yaml\n",
    lambda n: SMALL + "# " + "x" * n + "\n",
    lambda n: SMALL + "store: " + "\u00e9" * n + "\n",
    lambda n: SMALL + 'servers: {U: {http: {url: "https://' + "a" * n + '"}}}\n',
    lambda n: (
        SMALL
        + "servers: {"
        + ", ".join(
            f'S{i}: {{snmp: {{host: h, version: "2c", community: {{env: C}}}}}}'
            for i in range(n // 60)
        )
        + "}\n"
    ),
]


@fuzz_settings(0.1)
@given(build=st.sampled_from(HUGE), size=st.integers(1_000, 200_000))
def test_huge_values_raise_only_config_error(
    scratch: Path, build: Callable[[int], str], size: int
) -> None:
    through_load_config(scratch, build(size).encode())


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000,
        "{a: " * 1000,
        "- " * 1000,
        "&a [*a, *a]",
        "a: &a [*a]",
        "forest: lab.example.com\ndirectory: &d {dc: {url: ldap://dc}, bind: {method: anonymous}}"
        "\ndoctor: {expected: &x [*d, *d, *d]}",
        # Found by the parse_duration fuzzer: a duration too large for a float was
        # infinity, and rounding it to days raised OverflowError.
        "forest: lab.example.com\ndirectory: {dc: {url: ldap://dc}, bind: {method: anonymous}}\n"
        "capacity: {window: " + "9" * 400 + "d}\n",
        "forest: lab.example.com\ndirectory: {dc: {url: ldap://dc}, bind: {method: anonymous}}\n"
        "sync: {max_age: " + "9" * 400 + "}\n",
        # Found by a hostile-input probe: a NUL in a license file path raised ValueError
        # (from Path.resolve); in the store's path or another forest's config path it was
        # accepted, and failed later wherever the path was used.
        SMALL + 'capacity: {license_files: {U: {files: ["a\\0b"]}}}\n',
        SMALL + 'store: "a\\0b"\n',
        SMALL + 'doctor: {other_forests: ["a\\0b"]}\n',
        # Found by the fuzzer (the long run, in a topology's license file path): a newline
        # in a path split the message naming the file.
        SMALL.replace("bind:", 'tls: {ca_file: "a\\nb"}\n  bind:'),
        SMALL + 'profile: "profiles/a\\nb.yaml"\n',
    ],
)
def test_regressions_raise_only_config_error(scratch: Path, text: str) -> None:
    assert through_load_config(scratch, text.encode()) is None


DURATIONS = st.one_of(
    TEXT,
    st.builds(
        lambda n, unit, space: f"{n}{space}{unit}",
        st.one_of(
            st.integers(0, 10**400),
            st.floats(allow_nan=True),
            st.decimals(allow_nan=False, places=3),
        ),
        st.sampled_from(["", "s", "m", "h", "d", "w", "y", "D", " d", "dd"]),
        st.sampled_from(["", " ", "\t", "\n"]),
    ),
)


@fuzz_settings(3)
@given(text=DURATIONS)
def test_parse_duration_raises_only_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert "expected a duration" in str(exc)
    else:
        assert 0 < seconds < math.inf


@pytest.mark.parametrize("text", ["9" * 400, "9" * 400 + "w", "9" * 309 + ".5s"])
def test_a_duration_too_large_for_a_float_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Found by the fuzzer: pyyaml's ReaderError (a NUL byte, bytes that are not
        # UTF-8) gave a two-line message.
        (b"\x00", "not valid YAML: character 1 is U+0000, which YAML does not allow"),
        (b"forest: a\x07", "not valid YAML: character 10 is U+0007, which YAML does not allow"),
        (b"forest: \xff", "not valid YAML: not utf-8 text at byte 9: invalid start byte"),
        # Found by the fuzzer: pyyaml's constructors raise IndexError for an empty
        # explicitly tagged number ...
        (
            b"forest: !!int ''",
            "line 1, column 9: not valid YAML: an empty string is not a valid !!int",
        ),
        (
            b"forest: !!float ''",
            "line 1, column 9: not valid YAML: an empty string is not a valid !!float",
        ),
        # ... and, found by a hostile-input probe, KeyError and AttributeError for other tags.
        (
            b"sync:\n  method: !!bool x",
            "line 2, column 11: not valid YAML: 'x' is not a valid !!bool",
        ),
        (
            b"forest: !!timestamp x",
            "line 1, column 9: not valid YAML: 'x' is not a valid !!timestamp",
        ),
    ],
)
def test_yaml_regressions_are_one_line_config_errors(
    scratch: Path, data: bytes, message: str
) -> None:
    scratch.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(scratch)
    assert str(info.value) == f"{scratch}: {message}"
