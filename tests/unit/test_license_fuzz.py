"""The license parser never crashes: random, mutated and hostile files (hypothesis).

Every input goes through the whole path a command takes (read_license_file on a real
file, then check_licenses, the JSON documents and json.dumps). The only outcomes
allowed are problems in the result or one LicenseFileError; any other exception fails
the test. Each test is bounded so CI stays fast, and ``make fuzz`` runs 25 times as
many examples (tests/support/fuzzing.py); run with ``--hypothesis-show-statistics`` to see how
many were tried. Figures: docs/reliability.md.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolsync.errors import LicenseFileError
from poolsync.licensing import (
    EffectiveXml,
    check_json,
    check_licenses,
    read_license_file,
    show_json,
    show_xml_json,
)
from poolsync.licensing.flexlm import MAX_PROBLEMS, MAX_WARNINGS
from tests.support.fuzzing import fuzz_settings

pytestmark = pytest.mark.fuzz

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "licenses"
SEEDS = sorted(p.read_bytes() for p in EXAMPLES.glob("*.lic"))
MACS = ["00-0B-CD-12-34-56", "02:00:4c:4f:4f:50"]
CODES = {
    "syntax",
    "unknown-parameter",
    "unknown-key",
    "hostid-missing",
    "no-features",
    "hostid-mismatch",
    "expired",
    "duplicate-feature",
    "duplicate-file",
    "demo-invalid",
    "hostid-several",
}
GENERATED = datetime(2026, 12, 1, tzinfo=UTC)
FUZZ = fuzz_settings(2)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "input.lic"


def through_everything(path: Path, data: bytes, day: date = date(2026, 12, 1)) -> None:
    """Run *data* the way `license show` and `license check` would; fail on a crash."""
    path.write_bytes(data)
    try:
        read = read_license_file(path)
    except LicenseFileError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message
        return
    if isinstance(read, EffectiveXml):
        json.dumps(show_xml_json(read, at=day, generated=GENERATED))
        return
    lines = max(data.count(b"\n"), len(data.splitlines()), 1)
    assert sum(p.severity == "error" for p in read.problems) <= MAX_PROBLEMS + 1
    assert sum(p.severity == "warning" for p in read.problems) <= MAX_WARNINGS + 1
    for problem in read.problems:
        assert problem.code in CODES
        assert problem.line is None or 1 <= problem.line <= lines
        assert problem.message and "\n" not in problem.message
    result = check_licenses([read], at=day, macs=MACS)
    json.dumps(check_json(result, generated=GENERATED))
    json.dumps(show_json(check_licenses([read], at=day, macs=None), generated=GENERATED))
    if not read.ok:
        assert not result.files[0].contributes


@FUZZ
@given(text=st.text())
def test_random_text(scratch: Path, text: str) -> None:
    through_everything(scratch, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=st.binary(max_size=4096))
def test_binary_garbage(scratch: Path, data: bytes) -> None:
    through_everything(scratch, data)


_TOKENS = st.sampled_from(
    [
        "FEATURE",
        "INCREMENT",
        "SERVER",
        "VENDOR",
        "USE_SERVER",
        "DAEMON",
        "PACKAGE",
        "LicSubscribersMax",
        "LicPoolingIsEnabled",
        "LicVoicePortsMax",
        "cisco",
        "4.0",
        "permanent",
        "1-jan-0",
        "29-feb-2028",
        "31-apr-2027",
        "15-mar-27",
        "0",
        "1",
        "2",
        "uncounted",
        "HOSTID=ANY",
        "HOSTID=000BCD123456",
        "hostid=00-0B-CD-12-34-5",
        "START=1-jan-2027",
        'NOTICE="a b"',
        '"',
        "\\",
        "\\\n",
        "#",
        "=",
        "\n",
        " ",
        "\t",
        "\r",
        "\x00",
        "\u00a0",
        "\u2028",
        "\ufeff",
    ]
)


@FUZZ
@given(tokens=st.lists(_TOKENS, max_size=60))
def test_license_like_token_soup(scratch: Path, tokens: list[str]) -> None:
    through_everything(scratch, " ".join(tokens).encode("utf-8"))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """An example file with a few random edits (delete, insert, replace, quote, cut)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        edit = draw(
            st.sampled_from(
                ["delete", "insert", "replace", "quote", "truncate", "duplicate", "backslash"]
            )
        )
        if edit == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif edit == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "quote":
            data[at:at] = b'"'
        elif edit == "truncate":
            del data[at:]
        elif edit == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
        elif edit == "backslash":
            data[at:at] = b"\\"
    return bytes(data)


@FUZZ
@given(data=mutated())
def test_mutated_example_files(scratch: Path, data: bytes) -> None:
    through_everything(scratch, data)


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    encoding=st.sampled_from(
        ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig", "cp500"]
    ),
    extra=st.text(alphabet="éüßçñ€«»\u00a0", max_size=5),
)
def test_wrong_encodings(scratch: Path, seed: bytes, encoding: str, extra: str) -> None:
    text = (
        seed.decode("utf-8") + f"# {extra}\nINCREMENT LicSubscribersMax cisco 4.0 "
        f"permanent 1 HOSTID=ANY NOTICE={extra or 'x'}\n"
    )
    through_everything(scratch, text.encode(encoding, "replace"))


@FUZZ
@given(seed=st.sampled_from(SEEDS), quotes=st.lists(st.integers(0, 10_000), min_size=1, max_size=5))
def test_unbalanced_quotes(scratch: Path, seed: bytes, quotes: list[int]) -> None:
    data = bytearray(seed)
    for position in quotes:
        at = position % (len(data) + 1)
        data[at:at] = b'"'
    through_everything(scratch, bytes(data))


@fuzz_settings(0.5)
@given(
    length=st.integers(1_000, 200_000),
    char=st.sampled_from(["x", "\\", '"', " ", "é"]),
    lines=st.integers(1, 3),
)
def test_huge_lines(scratch: Path, length: int, char: str, lines: int) -> None:
    line = "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY NOTICE=" + char * length
    through_everything(scratch, ("\n".join([line] * lines) + "\n").encode("utf-8"))


def test_oversized_file_is_one_clear_error(scratch: Path) -> None:
    scratch.write_bytes(b"# padding\n" * 200_000)
    with pytest.raises(LicenseFileError, match=r"over the 1048576-byte limit"):
        read_license_file(scratch)


def test_unreadable_paths_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LicenseFileError, match=r"cannot read: No such file"):
        read_license_file(tmp_path / "missing.lic")
    with pytest.raises(LicenseFileError, match=r"is a directory"):
        read_license_file(tmp_path)


@FUZZ
@given(body=st.text(max_size=300))
def test_xml_lookalikes(scratch: Path, body: str) -> None:
    """Anything starting with '<' goes to the attachment parser: XML or one error."""
    through_everything(
        scratch, ("<AvXmlLicData><Licenses>" + body).encode("utf-8", "surrogatepass")
    )


def test_the_seeds_are_the_examples() -> None:
    assert len(SEEDS) >= 7
    assert any(re.search(rb"HOSTID=ANY", s) for s in SEEDS)
