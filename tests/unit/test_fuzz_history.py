"""The usage-history import never crashes: random, mutated and hostile CSV and JSON
(hypothesis).

Every input is written to a real file and taken through what ``poolsync history
import`` does: read as UTF-8 (with or without a BOM), :func:`parse_history`, then
stored. The only outcome allowed besides rows is one HistoryFileError line naming
the file; rows that parse must survive export and re-import unchanged. Example counts:
tests/support/fuzzing.py; figures: docs/reliability.md.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.capacity.history import (
    MAX_COUNT,
    HistoryFileError,
    parse_history,
    to_csv,
    to_json,
)
from poolsync.capacity.model import Snapshot
from poolsync.store import Store
from tests.support.capacity import worked_example
from tests.support.fuzzing import (
    HOSTILE_STRINGS,
    LONG_STRINGS,
    TEXT,
    expect_only,
    fuzz_settings,
    mutated_bytes,
    outcome,
    reencoded,
)

pytestmark = pytest.mark.fuzz

GENERATED = datetime(2026, 12, 1, tzinfo=UTC)
ROWS = worked_example()[:12]
CSV_SEED = to_csv(ROWS)
JSON_SEED = json.dumps(to_json(ROWS, generated=GENERATED), indent=2)
HAND_SEED = """\
Server,CLASS,date,pool,note,used,licensed,published
UNITY-A,vm,2026-09-01,Lab.Example.com,"a, ""quoted"" note",540,500,530
UNITY-A,UM,2026-09-01T10:00:00+02:00,lab.example.com,,150,200,
"UNITY-B",inbox,2026-09-01T10:00:00,lab.example.com,x,25,50,
"""
SEEDS = [CSV_SEED.encode(), JSON_SEED.encode(), HAND_SEED.encode()]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-history") / "history.csv"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store.open(tmp_path_factory.mktemp("fuzz-store") / "poolsync.db") as opened:
        yield opened


def through_import(path: Path, data: bytes, store: Store) -> list[Snapshot] | None:
    path.write_bytes(data)
    try:
        # As `history import` reads it (its own error for bytes that are not UTF-8).
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        outcome("not UTF-8: the command refuses it before parsing")
        return None
    rows: list[Snapshot] | None = expect_only(
        HistoryFileError, path, lambda: parse_history(text, path=path)
    )
    if rows is None:
        return None
    for row in rows:
        assert row.taken_at.tzinfo == UTC and row.taken_at.microsecond == 0
        assert 0 <= row.licensed <= MAX_COUNT and 0 <= row.used <= MAX_COUNT
        assert row.published is None or 0 <= row.published <= MAX_COUNT
        assert row.pool and row.server
    assert parse_history(to_csv(rows), path=path) == rows
    exported = json.dumps(to_json(rows, generated=GENERATED))
    assert parse_history(exported, path=path) == rows
    store.add_snapshots(rows, source="import")
    return rows


def test_the_seeds_are_valid(scratch: Path, store: Store) -> None:
    for seed in SEEDS:
        assert through_import(scratch, seed, store)


CSV_TOKENS = st.sampled_from(
    [
        ",",
        ",",
        ",",
        "\n",
        "\r\n",
        "\r",
        '"',
        '""',
        " ",
        "\x00",
        "\ufeff",
        "date",
        "pool",
        "server",
        "class",
        "licensed",
        "used",
        "published",
        "DATE",
        " used ",
        "vm",
        "UM",
        "inbox",
        "VMI",
        "lab.example.com",
        "UNITY-A",
        "unity-a",
        "0",
        "1",
        "-1",
        "+1",
        "1.5",
        "1e3",
        "٣",
        "1_000",
        "9223372036854775807",
        "9223372036854775808",
        "2026-09-01",
        "2026-9-1",
        "2026-13-01",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-09-01T10:00:00Z",
        "2026-09-01 10:00",
        "2026-09-01T10:00:00.123456+05:30",
        "20260901",
        "2026-W36-1",
        "{",
        "}",
        "[",
        "]",
    ]
)
HEADER = "date,pool,server,class,licensed,used,published\n"


@st.composite
def json_documents(draw: st.DrawFn) -> str:
    """The exported JSON with values replaced by random JSON (wrong types, huge
    numbers, escapes), items dropped or added, or random JSON altogether."""
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.floats()
        | st.integers()
        | TEXT
        | st.sampled_from([10**30, -(10**30), 2**63, "\\ud800", "NaN"]),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )
    doc: dict[str, Any] = copy.deepcopy(to_json(ROWS, generated=GENERATED))
    for _ in range(draw(st.integers(0, 4))):
        items = doc["snapshots"] if isinstance(doc["snapshots"], list) else []
        objects = [item for item in items if isinstance(item, dict)]
        edit = draw(st.sampled_from(["field", "item", "drop", "meta", "snapshots"]))
        if edit == "field" and objects:
            item = draw(st.sampled_from(objects))
            key = draw(st.sampled_from([*item, "extra"]))
            item[key] = draw(json_values)
        elif edit == "item":
            items.insert(draw(st.integers(0, len(items))), draw(json_values))
        elif edit == "drop" and items:
            del items[draw(st.integers(0, len(items) - 1))]
        elif edit == "meta":
            doc["meta"] = draw(json_values)
        elif edit == "snapshots":
            doc["snapshots"] = draw(json_values)
    text = json.dumps(doc, allow_nan=True)
    # json.dumps escapes non-ASCII; let some through raw, and unescape a lone surrogate.
    return text.replace("\\\\ud800", "\\ud800") if draw(st.booleans()) else text


HISTORY_INPUTS = st.one_of(
    st.binary(max_size=2048),
    TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(CSV_TOKENS | HOSTILE_STRINGS, max_size=80).map(
        lambda ts: ("".join(ts)).encode("utf-8", "surrogatepass")
    ),
    st.lists(CSV_TOKENS | HOSTILE_STRINGS, max_size=80).map(
        lambda ts: (HEADER + "".join(ts)).encode("utf-8", "surrogatepass")
    ),
    mutated_bytes(SEEDS),
    reencoded(SEEDS),
    json_documents().map(str.encode),
)


@fuzz_settings(6)
@given(data=HISTORY_INPUTS)
def test_any_file_raises_only_history_file_error(scratch: Path, store: Store, data: bytes) -> None:
    through_import(scratch, data, store)


ROW = "2026-09-01,lab.example.com,UNITY-A,vm,500,540,\n"
HUGE: list[Callable[[int], str]] = [
    lambda n: HEADER + ROW.replace("UNITY-A", "U" * n),
    lambda n: HEADER + ROW.replace("UNITY-A", '"' + "U" * n + '"'),
    lambda n: HEADER + ROW.replace("540", "9" * n),
    lambda n: HEADER + ROW.replace(",\n", "," + "x" * n + "\n"),
    lambda n: (
        HEADER
        + "".join(
            ROW.replace("2026-09-01", f"2026-09-01T00:{i // 60 % 60:02}:{i % 60:02}")
            for i in range(n // 50)
        )
    ),
    lambda n: HEADER.rstrip("\n") + ",x" * (n // 2) + "\n" + ROW,
    lambda n: '{"snapshots": ' + "[" * n + "]" * n + "}",
    lambda n: '{"snapshots": [' + ",".join(["{}"] * (n // 3)) + "]}",
    lambda n: '{"snapshots": [{"used": ' + "9" * n + "}]}",
    lambda n: '{"snapshots": [{"used": 1e' + "9" * min(n, 20) + "}]}",
]


@fuzz_settings(0.1)
@given(build=st.sampled_from(HUGE), size=st.integers(1_000, 200_000))
def test_huge_values_raise_only_history_file_error(
    scratch: Path, store: Store, build: Callable[[int], str], size: int
) -> None:
    through_import(scratch, build(size).encode(), store)


@fuzz_settings(0.5)
@given(
    field=st.sampled_from(["2026-09-01", "lab.example.com", "UNITY-A", "vm", "500", "540", ",\n"]),
    text=LONG_STRINGS,
)
def test_long_fields_raise_only_history_file_error(
    scratch: Path, store: Store, field: str, text: str
) -> None:
    """One field of a good row (or an extra column) is a long run of one character."""
    row = ROW.replace(field, ",," + text + "\n" if field == ",\n" else text, 1)
    through_import(scratch, (HEADER + row).encode(), store)


def _json_row(**fields: object) -> str:
    row = {
        "date": "2026-09-01",
        "pool": "p",
        "server": "s",
        "class": "vm",
        "licensed": 1,
        "used": 1,
        **fields,
    }
    return json.dumps({"snapshots": [row]})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Found by the fuzzer: the csv module's own error (csv.Error) for a field over its
        # size limit.
        (HEADER + ROW.replace("UNITY-A", "a." * 65537), r"line 2: not valid CSV: field larger"),
        # Found by the fuzzer: json's RecursionError on deep nesting.
        ('{"snapshots": ' + "[" * 5000 + "]" * 5000 + "}", "not valid JSON: nested too deeply"),
        # Found by a hostile-input probe: a moment at the ends of the calendar overflowed
        # (OverflowError) when converted to UTC.
        (
            HEADER + ROW.replace("2026-09-01", "0001-01-01T00:00:00+01:00"),
            r"line 2: date: expected .* between the years 1 and 9999 in UTC",
        ),
        (_json_row(date="9999-12-31T23:59:59-01:00"), r"snapshots\[0\]: date: expected"),
        # Found by a hostile-input probe: an escaped lone surrogate parsed, then failed in
        # the store (UnicodeEncodeError).
        (_json_row(server="\ud800"), r"snapshots\[0\]: server: expected text, got a lone"),
        (_json_row(pool="a\udfffb"), r"snapshots\[0\]: pool: expected text, got a lone"),
        # Found by a hostile-input probe: counts were read with int(), which takes more
        # than digits ("1_000", other scripts' digits).
        (HEADER + ROW.replace("540", "1_000"), r"used: expected a whole number >= 0, got '1_000'"),
        (HEADER + ROW.replace("540", "\u0661\u0662"), r"used: expected a whole number >= 0"),
        (
            HEADER + ROW.replace("540", "9" * 5000),
            r"used: expected at most 9223372036854775807, "
            r"got a number of 5000 digits",
        ),
        (
            _json_row(licensed="-" + "0" * 5000 + "1"),
            r"licensed: expected a whole number >= 0, "
            r"got -1",
        ),
        # Found by the fuzzer (the long run): a list as a pool name was read as its str(),
        # and a name over the csv module's field limit was not importable once exported.
        (
            _json_row(pool=["a." * 70_000]),
            r"snapshots\[0\]: pool: expected a string or a "
            r"number, got a list",
        ),
        (
            _json_row(server={"a": 1}),
            r"snapshots\[0\]: server: expected a string or a number, "
            r"got an object",
        ),
        (
            _json_row(pool="a" * 1025),
            r"snapshots\[0\]: pool: expected at most 1024 "
            r"characters, got 1025",
        ),
        (
            HEADER + ROW.replace("UNITY-A", "U" * 100_000),
            r"line 2: server: expected at most 1024 "
            r"characters, got 100000",
        ),
    ],
)
def test_regressions_raise_one_history_file_error(
    scratch: Path, store: Store, text: str, message: str
) -> None:
    scratch.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(HistoryFileError, match=message):
        parse_history(scratch.read_text(encoding="utf-8", errors="surrogatepass"), path=scratch)
    assert through_import(scratch, text.encode("utf-8", "surrogatepass"), store) is None
