"""``poolsync license show|check`` on the example files: output, JSON, exit codes."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from poolsync.licensing.dates import format_date
from tests.support.helpers import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "licenses"
A_FILES = [
    EXAMPLES / n
    for n in (
        "unity-a-base.lic",
        "unity-a-upgrade.lic",
        "unity-a-ports.lic",
        "unity-a-tts-trial.lic",
    )
]
A_MAC = "00-0B-CD-12-34-56"


def as_json(*args: str | Path, exit_code: int = 0) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == exit_code, result.stderr
    assert result.stderr == ""
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_help() -> None:
    result = run("license", "--help")
    assert result.exit_code == 0
    for word in ("show", "check", "Exit codes", "docs/licenses.md", "default license"):
        assert word in result.stdout
    check = run("license", "check", "--help").stdout
    for word in ("--mac", "--at", "--format", "virtual MAC", "hostid-mismatch", "Exits 0"):
        assert word in check
    assert "effective-license XML" in run("license", "show", "--help").stdout
    assert "license" in run("--help").stdout


def test_check_unity_a_is_licensed() -> None:
    doc = as_json("license", "check", *A_FILES, "--mac", A_MAC, "--at", "2026-12-01")
    assert doc["meta"]["type"] == "license-check" and doc["meta"]["version"] == 1
    assert doc["at"] == "2026-12-01"
    assert doc["verdict"] == "licensed"
    assert doc["hostid"] == {
        "matched": "000BCD123456",
        "checked": ["000BCD123456"],
        "matched_all": ["000BCD123456"],
    }
    assert [f["valid"] for f in doc["files"]] == [True] * 4
    assert [f["path"] for f in doc["files"]] == [str(p) for p in A_FILES]
    effective = doc["effective"]
    # 300 + 200 cumulative; 100 + 100; 20 + 30 Inbox; FEATURE 24 ports over INCREMENT 16.
    assert (
        effective["LicSubscribersMax"],
        effective["LicUMSubscribersMax"],
        effective["LicVMISubscribersMax"],
        effective["LicVoicePortsMax"],
    ) == (500, 200, 50, 24)
    assert effective["LicPoolingIsEnabled"] is True
    assert effective["LicSecondaryServerIsLicensed"] is False
    assert effective["LicTTSSessionsMax"] == 4  # the trial started on 1-dec-2026
    assert [e["date"] for e in doc["timeline"]] == ["2026-12-01", "2027-04-01", "2027-07-01"]
    assert doc["timeline"][2]["changes"] == {"LicVMISubscribersMax": {"from": 50, "to": 20}}
    assert doc["timeline"][2]["files"] == [str(EXAMPLES / "unity-a-upgrade.lic")]


def test_files_expiring_on_different_dates() -> None:
    april = as_json("license", "show", *A_FILES, "--at", "2027-04-01")
    assert april["effective"]["LicTTSSessionsMax"] == 0
    assert april["effective"]["LicVMISubscribersMax"] == 50
    july = as_json("license", "show", *A_FILES, "--at", "1-jul-2027")
    assert july["effective"]["LicVMISubscribersMax"] == 20


def test_the_demo_file_then_its_expiry() -> None:
    demo = EXAMPLES / "demo.lic"
    running = as_json("license", "check", demo, "--mac", A_MAC, "--at", "2026-12-29")
    assert running["verdict"] == "demo"
    assert running["effective"]["LicSubscribersMax"] == 50
    assert running["effective"]["LicVoicePortsMax"] == 16
    assert running["hostid"]["matched"] is None
    assert running["files"][0]["demo"] is True
    expired = as_json("license", "check", demo, "--mac", A_MAC, "--at", "2026-12-30", exit_code=3)
    assert expired["verdict"] == "expired"
    assert expired["default_license"] is True
    assert expired["effective"]["LicSubscribersMax"] == 10
    assert expired["effective"]["LicVoicePortsMax"] == 2
    assert expired["max_message_seconds"] == 30


def test_a_host_id_mismatch_exits_3() -> None:
    doc = as_json(
        "license",
        "check",
        A_FILES[0],
        EXAMPLES / "wrong-host.lic",
        "--mac",
        A_MAC,
        "--at",
        "2026-12-01",
        exit_code=3,
    )
    assert doc["verdict"] == "hostid-mismatch"
    wrong = doc["files"][1]
    assert wrong["valid"] is False
    assert [p["code"] for p in wrong["problems"]] == ["hostid-mismatch"]
    assert wrong["problems"][0]["line"] == 4
    assert doc["effective"]["LicSubscribersMax"] == 300  # the wrong file adds nothing


def test_a_nic_team_matches_its_virtual_mac() -> None:
    doc = as_json(
        "license",
        "check",
        EXAMPLES / "unity-b-team.lic",
        "--mac",
        "00-1A-2B-3C-4D-01",
        "--mac",
        "00-1A-2B-3C-4D-02",
        "--mac",
        "02:00:4c:4f:4f:50",
        "--at",
        "2026-12-01",
    )
    assert doc["verdict"] == "licensed"
    assert doc["hostid"] == {
        "matched": "02004C4F4F50",
        "checked": ["001A2B3C4D01", "001A2B3C4D02", "02004C4F4F50"],
        "matched_all": ["02004C4F4F50"],
    }
    table = run(
        "license",
        "check",
        EXAMPLES / "unity-b-team.lic",
        "--mac",
        "00-1A-2B-3C-4D-01",
        "--mac",
        "02004C4F4F50",
        "--at",
        "2026-12-01",
    )
    assert "Host ID: matched 02004C4F4F50; checked 001A2B3C4D01, 02004C4F4F50" in table.stdout


def test_the_syntax_error_file_lists_every_problem_by_line() -> None:
    result = run(
        "license", "check", EXAMPLES / "syntax-error.lic", "--mac", A_MAC, "--at", "2026-12-01"
    )
    assert result.exit_code == 3
    assert result.stderr == ""
    out = result.stdout
    for line, code in (
        (3, "syntax"),
        (4, "unknown-parameter"),
        (5, "syntax"),
        (6, "syntax"),
        (7, "syntax"),
        (8, "syntax"),
    ):
        assert f"syntax-error.lic:{line}: {code}: " in out
    assert "did you mean LicSubscribersMax?" in out
    assert "unbalanced quote" in out
    assert "Verdict: invalid" in out


def test_show_table_and_exit_codes() -> None:
    result = run("license", "show", *A_FILES, "--at", "2026-12-01")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Effective license on 2026-12-01" in out
    assert "FEATURE " in out and "unity-a-ports.lic:3" in out
    assert "2027-07-01" in out and "expired 30-jun-2027" in out
    assert "Verdict" not in out  # show has no verdict
    broken = run("license", "show", EXAMPLES / "syntax-error.lic", "--at", "2026-12-01")
    assert broken.exit_code == 3
    assert "(default)" in broken.stdout


def test_show_reads_the_effective_license_xml() -> None:
    doc = as_json("license", "show", EXAMPLES / "effective-license.xml")
    assert doc["source"] == "effective-license-xml"
    assert doc["effective"]["LicSubscribersMax"] == 500
    assert doc["effective"]["LicMaxMsgRecLenIsLicensed"] is True  # "Licensed" as a word
    assert doc["utilization"] == {
        "AvLicUtilizationSubscribers": 480,
        "AvLicUtilizationVMISubscribers": 30,
    }
    assert doc["timeline"] == []
    table = run("license", "show", EXAMPLES / "effective-license.xml")
    assert table.exit_code == 0
    assert "Utilization" in table.stdout and "AvLicUtilizationSubscribers" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope.lic"], "nope.lic: cannot read: No such file or directory"),
        (
            ["check", str(EXAMPLES / "effective-license.xml"), "--mac", A_MAC],
            "has no host ID to check; show it with `poolsync license show`",
        ),
        (
            ["show", str(EXAMPLES / "effective-license.xml"), str(EXAMPLES / "demo.lic")],
            "show it on its own, not with other files",
        ),
        (
            ["show", str(EXAMPLES / "demo.lic"), str(EXAMPLES / ".." / "licenses" / "demo.lic")],
            "given twice",
        ),
    ],
)
def test_unreadable_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = run("license", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("poolsync: error: ") and message in line


def test_a_broken_xml_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(
        "<AvXmlLicData><Licenses><LicSubscribersMax>abc</LicSubscribersMax>"
        "</Licenses></AvXmlLicData>"
    )
    result = run("license", "show", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"poolsync: error: {path}: not a readable effective-license XML (AvXmlLicData): "
        "LicSubscribersMax: 'abc' is not a whole number"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mac", "00-0B-CD-12-34-5"], "'00-0B-CD-12-34-5' has 11 hex digits, expected 12"),
        (["--mac", "00 0B CD 12 34 56"], "contains ' ', which is neither a hex digit"),
        (["--mac", A_MAC, "--at", "2027-02-30"], "'2027-02-30' is not a date"),
        (["--mac", A_MAC, "--at", "tomorrow"], "expected YYYY-MM-DD"),
        ([], "Missing option '--mac'"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    result = run("license", "check", EXAMPLES / "demo.lic", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_no_file_is_a_usage_error() -> None:
    result = run("license", "show")
    assert result.exit_code == 2
    assert "FILE..." in result.stderr


def test_binary_garbage_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "garbage.lic"
    path.write_bytes(bytes(range(256)) * 4)
    doc = as_json("license", "check", path, "--mac", A_MAC, "--at", "2026-12-01", exit_code=3)
    [problem] = doc["files"][0]["problems"]
    assert problem["code"] == "syntax" and "NUL byte" in problem["message"]
    assert doc["verdict"] == "invalid"


def test_default_day_is_today() -> None:
    from datetime import date

    doc = as_json("license", "show", EXAMPLES / "unity-b-team.lic")
    assert doc["at"] == date.today().isoformat()


def test_show_says_when_files_belong_to_several_servers() -> None:
    doc = as_json(
        "license", "show", A_FILES[0], EXAMPLES / "unity-b-team.lic", "--at", "2026-12-01"
    )
    assert doc["hostids"] == ["000BCD123456", "02004C4F4F50"]
    table = run("license", "show", A_FILES[0], EXAMPLES / "unity-b-team.lic", "--at", "2026-12-01")
    assert "the files are bound to different MACs (000BCD123456, 02004C4F4F50)" in table.stdout


def _doc_sessions() -> list[tuple[str, str, int | None]]:
    """(command, output, exit code or None) for each `$ poolsync license` in the docs."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "licenses.md").read_text()
    sessions: list[tuple[str, str, int | None]] = []
    for block in re.findall(r"```\n(\$ poolsync license.*?)```", text, flags=re.DOTALL):
        parts = re.split(r"^(\$ .*)$", block, flags=re.MULTILINE)
        # parts: ['', cmd1, out1, cmd2, out2, ...]
        for command, output in zip(parts[1::2], parts[2::2], strict=True):
            if command.startswith("$ echo $?"):
                cmd, out, _ = sessions[-1]
                sessions[-1] = (cmd, out, int(output.strip()))
            else:
                sessions.append((command[2:], output.strip("\n"), None))
    return sessions


@pytest.mark.parametrize(("command", "output", "code"), _doc_sessions())
def test_the_outputs_in_docs_licenses_md_are_real(
    command: str, output: str, code: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES)
    result = run(*shlex.split(command)[1:])
    if code is not None:
        assert result.exit_code == code
    actual = result.stdout
    if "--format json" in command:
        doc = json.loads(actual)
        doc["meta"]["generated"] = "2026-12-01T08:00:00+00:00"
        actual = json.dumps(doc, indent=2)
    assert "\n".join(line.rstrip() for line in actual.splitlines()).strip("\n") == output


def test_an_expired_base_file_beside_a_ports_file_is_not_licensed(tmp_path: Path) -> None:
    # The review's reproducer: unity-a-base.lic with every expiry on 30-nov-2026.
    text = (EXAMPLES / "unity-a-base.lic").read_text()
    term = re.sub(r" (permanent|1-jan-0) ", " 30-nov-2026 ", text)
    base = tmp_path / "base-term.lic"
    base.write_text(term)
    args = (
        "license",
        "check",
        base,
        EXAMPLES / "unity-a-ports.lic",
        "--mac",
        A_MAC,
        "--at",
        "2026-12-01",
    )
    doc = as_json(*args, exit_code=3)
    assert doc["verdict"] == "expired"
    assert doc["effective"]["LicSubscribersMax"] == 0
    assert doc["effective"]["LicPoolingIsEnabled"] is False
    table = run(*args)
    assert table.exit_code == 3
    assert "Verdict: expired — a license file (not a demo) has expired" in table.stdout
    assert "built-in default license applies (2 ports" not in table.stdout


def test_a_max_size_file_prints_a_readable_table_fast(tmp_path: Path) -> None:
    # ~14,600 lines expiring on consecutive days: thousands of expired warnings and
    # timeline rows. The table prints the first problems and the rows nearest --at,
    # and says how many more --format json lists.
    lines, size, day = [], 0, date(1990, 1, 1)
    while True:
        line = f"INCREMENT LicSubscribersMax cisco 4.0 {format_date(day)} 1 HOSTID=000BCD123456\n"
        if size + len(line) > 1024 * 1024:
            break
        lines.append(line)
        size += len(line)
        day += timedelta(days=1)
    path = tmp_path / "big.lic"
    path.write_text("".join(lines))
    started = time.perf_counter()
    result = run("license", "check", path, "--mac", A_MAC, "--at", "2026-12-01")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.stderr
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert "... and 13,433 more problems (--format json lists them all)" in result.stdout
    assert "14,523 more changes not shown, the furthest from 2026-12-01" in result.stdout
    assert result.stdout.count(" expired ") < 200
    assert "2026-11-11 (past)" in result.stdout and "2026-11-10 (past)" not in result.stdout


def test_a_symlink_loop_is_one_clear_error(tmp_path: Path) -> None:
    loop = tmp_path / "loop.lic"
    loop.symlink_to(tmp_path / "other.lic")
    (tmp_path / "other.lic").symlink_to(loop)
    commands: tuple[list[str | Path], ...] = (["show", loop], ["check", loop, "--mac", A_MAC])
    for command in commands:
        result = run("license", *command)
        assert result.exit_code == 2
        assert result.stdout == ""
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"poolsync: error: {loop}: ")
        assert "symbolic links" in line and "internal error" not in line


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.lic"
    os.mkfifo(fifo)
    result = run("license", "show", fifo)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"poolsync: error: {fifo}: not a regular file (a FIFO or device cannot hold a license file)"
    )
