"""What the fuzz tests share: their hypothesis settings and input strategies.

A fuzz test (marked ``fuzz``) feeds a parser random, hostile and mutated input through
the function a command uses; the only outcome allowed besides success is the parser's
own :class:`~poolsync.errors.PoolsyncError` subclass, as one line that names the file.

Example counts come from the active hypothesis profile (registered in
``tests/conftest.py``): the default profile (and hypothesis's ``ci`` profile under
CI=true) keeps the suite bounded; ``make fuzz`` loads the ``fuzz`` profile, which runs
every fuzz test 25 times as many examples.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, settings
from hypothesis import strategies as st

from poolsync.errors import PoolsyncError


def fuzz_settings(weight: float = 1.0) -> settings:
    """Settings for one fuzz test: ``weight`` times the active profile's examples
    (100 by default, 2500 under ``make fuzz``), no deadline (a slow example is not a
    failure here), fixtures allowed (the scratch file is reused on purpose)."""
    return settings(
        max_examples=max(1, round(settings().max_examples * weight)),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def expect_only(error: type[PoolsyncError], path: Path | None, parse: Callable[[], Any]) -> Any:
    """``parse()``'s result, or None when it raised ``error``: one line, naming ``path``.

    Any other exception propagates and fails the test: it is a finding.
    """
    try:
        result = parse()
    except error as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        if path is not None:
            assert message.startswith(str(path)), message
        outcome("refused: not valid YAML" if "not valid YAML" in message else "refused")
        return None
    outcome("accepted")
    return result


def outcome(name: str) -> None:
    """Count an outcome in --hypothesis-show-statistics (regression tests call
    :func:`expect_only` outside hypothesis)."""
    if currently_in_test_context():
        event(name)


# -- bytes and text --------------------------------------------------------------------

HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\n",
        "\r\n",
        "\t",
        "~",
        "null",
        "yes",
        "on",
        "no",
        "0x1F",
        "0o17",
        "1_000",
        "1e400",
        "-1",
        "-0",
        ".inf",
        "-.inf",
        ".nan",
        "2024-13-01",
        "2024-02-30",
        "0000-00-00",
        "9999-12-31",
        "0001-01-01",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "é" * 3,
        "\u202e",
        "\ufeff",
        "\u2028",
        "\x85",
        "\ufffd",
        "../../etc/passwd",
        "/dev/null",
        "/dev/zero",
        "/",
        ".",
        "..",
        "\\\\server\\share",
        "C:\\x",
        "%s%n",
        "{}",
        "[]",
        "*",
        "&",
        "!!python",
        "ldap://",
        "ldaps://[::1]:0",
        "ldap://h:99999",
    ]
)
#: Long runs of one character or token (built, so that hypothesis's reports stay short).
LONG_STRINGS = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["9", "x", "é", "a.", "\\"]),
    st.integers(1_000, 70_000),
)

TEXT = st.one_of(
    st.text(), st.text(alphabet=st.characters(codec="utf-8")), HOSTILE_STRINGS, LONG_STRINGS
)

ENCODINGS = st.sampled_from(
    ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig", "cp500"]
)


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A seed with a few random byte edits: delete, insert, replace, cut, duplicate,
    and characters that mean something to the usual parsers (quotes, NUL, newlines)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        edit = draw(
            st.sampled_from(["delete", "insert", "replace", "special", "truncate", "duplicate"])
        )
        if edit == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif edit == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "special":
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b'"',
                        b"'",
                        b"\\",
                        b"\x00",
                        b"\n",
                        b"\r",
                        b"\t",
                        b" ",
                        b":",
                        b"-",
                        b"#",
                        b",",
                        b"{",
                        b"}",
                        b"[",
                        b"]",
                        b"&a",
                        b"*a",
                        b"!!binary",
                        b"\xff",
                        b"\xc3",
                        b"\xef\xbb\xbf",
                        b"\n ",
                        b": ",
                        b"\n-",
                        b"99999999999999999999",
                    ]
                )
            )
        elif edit == "truncate":
            del data[at:]
        elif edit == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
    return bytes(data)


@st.composite
def reencoded(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A seed (UTF-8) with accented text added, in another encoding."""
    text = draw(st.sampled_from(seeds)).decode("utf-8")
    extra = draw(st.text(alphabet="éüßçñ€«»\u00a0\x00", max_size=5))
    at = draw(st.integers(0, len(text)))
    return (text[:at] + extra + text[at:]).encode(draw(ENCODINGS), "replace")


# -- YAML ------------------------------------------------------------------------------

YAML_TOKENS = st.sampled_from(
    [
        "\n",
        "\n  ",
        "\n    ",
        " ",
        "\t",
        "- ",
        ": ",
        ":",
        "? ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        '"',
        "#",
        "|",
        ">",
        "&a ",
        "*a",
        "<<: *a",
        "!!binary ",
        "!!python/object:os.system",
        "!!str ",
        "!!int ",
        "!!float ",
        "!!map ",
        "!!set ",
        "!!omap ",
        "!custom ",
        "%YAML 1.1\n",
        "---\n",
        "...\n",
        "~",
        "null",
        "true",
        "yes",
        "on",
        "No",
        ".inf",
        ".nan",
        "0x7f",
        "0b11",
        "1_000",
        "0o777",
        "1e400",
        "2024-13-01",
        "2024-02-29",
        "2024-02-29 25:61:61",
        "\x00",
        "\x85",
        "\u2028",
        "\ufeff",
        "é",
        "forest",
        "directory",
        "dc",
        "url",
        "bind",
        "servers",
        "name",
        "licenses",
        "subscribers",
        "vm",
        "um",
        "inbox",
        "changes",
        "attributes",
        "location",
        "subscriber",
        "lab.example.com",
        "ldaps://dc:636",
        "UNITY-A",
    ]
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1]),
    st.builds(pow, st.just(10), st.sampled_from([400, 4000])),
    st.floats(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.binary(max_size=16),
    TEXT,
)
_KEYS = st.one_of(
    st.text(max_size=12),
    HOSTILE_STRINGS,
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.dates(),
)
YAML_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


def dump_yaml(doc: object) -> bytes:
    """``doc`` as YAML (pyyaml's safe dumper, libyaml's when there is one: it is several
    times faster; unsorted: keys may be of mixed types)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True).encode("utf-8")


def _paths(node: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _subtrees(node: object) -> list[object]:
    found: list[object] = [node]
    if isinstance(node, dict):
        for value in node.values():
            found += _subtrees(value)
    elif isinstance(node, list):
        for value in node:
            found += _subtrees(value)
    return found


@st.composite
def mutated_documents(
    draw: st.DrawFn, seeds: Sequence[object], known_keys: Sequence[str] = ()
) -> object:
    """A parsed seed with a few structural edits: a value replaced by a random YAML
    value (a wrong type at a known key) or by another part of a seed (a plausible
    value in the wrong place), a key dropped, a known or unknown key added, a value
    wrapped in a list."""
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    spare = [t for seed in seeds for t in _subtrees(seed)]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        value: object = draw(st.one_of(YAML_VALUES, st.sampled_from(spare).map(copy.deepcopy)))
        edit = draw(st.sampled_from(["replace", "delete", "add", "wrap"]))
        if not path:
            if edit == "replace":
                doc = value
            continue
        last = path[-1]
        if edit == "replace":
            parent[last] = value
        elif edit == "delete":
            del parent[last]
        elif edit == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent[last], dict):
            key = draw(st.sampled_from(known_keys) | _KEYS) if known_keys else draw(_KEYS)
            parent[last][key] = value
        elif isinstance(parent[last], list):
            parent[last].insert(draw(st.integers(0, len(parent[last]))), value)
    return doc


def yaml_inputs(seeds: Sequence[bytes], known_keys: Sequence[str] = ()) -> st.SearchStrategy[bytes]:
    """Every kind of YAML input, for a parser with these seed files: random text and
    bytes, token soup, random documents, seeds mutated as bytes and as documents,
    seeds re-encoded."""
    documents = [yaml.safe_load(seed) for seed in seeds]
    return st.one_of(
        st.binary(max_size=2048),
        TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(YAML_TOKENS | LONG_STRINGS, max_size=60).map(
            lambda ts: "".join(ts).encode("utf-8")
        ),
        YAML_VALUES.map(dump_yaml),
        mutated_bytes(seeds),
        mutated_documents(documents, known_keys).map(dump_yaml),
        reencoded(seeds),
    )
