"""Per-file validity, host-ID matching, the verdict and its precedence, the JSON shape."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from poolsync.licensing import VERDICTS, check_json, check_licenses, show_json
from poolsync.licensing.flexlm import LicenseFile, parse_license_file

MAC = "000BCD123456"
OTHER = "000BCD999999"
DAY = date(2026, 12, 1)
GENERATED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def lic(path: str, text: str) -> LicenseFile:
    return parse_license_file(text.encode(), path=path)


BASE = lic(
    "base.lic",
    f"SERVER h {MAC}\n"
    "INCREMENT LicSubscribersMax cisco 4.0 permanent 500\n"
    "INCREMENT LicUMSubscribersMax cisco 4.0 permanent 200\n"
    "INCREMENT LicVMISubscribersMax cisco 4.0 permanent 50\n"
    "INCREMENT LicVoicePortsMax cisco 4.0 permanent 24\n"
    "FEATURE LicPoolingIsEnabled cisco 4.0 permanent 1\n",
)
DEMO = lic(
    "demo.lic",
    "INCREMENT LicSubscribersMax cisco 4.0 29-dec-2026 50 HOSTID=ANY\n"
    "INCREMENT LicVoicePortsMax cisco 4.0 29-dec-2026 16 HOSTID=ANY\n",
)
WRONG = lic("wrong.lic", f"INCREMENT LicSubscribersMax cisco 4.0 permanent 100 HOSTID={OTHER}\n")
BROKEN = lic("broken.lic", "INCREMENT LicSubscriberMax cisco 4.0 permanent 1 HOSTID=ANY\n")
TERM = lic(
    "term.lic",
    f"INCREMENT LicTTSSessionsMax cisco 4.0 30-nov-2026 4 HOSTID={MAC}\n"
    f"INCREMENT LicLanguagesMax cisco 4.0 permanent 1 HOSTID={MAC}\n",
)
LATER = lic(
    "later.lic",
    f"INCREMENT LicSubscribersMax cisco 4.0 permanent 5 HOSTID={MAC} START=1-jan-2027\n",
)


def verdict(*files: LicenseFile, macs: list[str] | None = None, at: date = DAY) -> str:
    return check_licenses(files, at=at, macs=[MAC] if macs is None else macs).verdict


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ((BASE,), "licensed"),
        ((BASE, DEMO), "licensed"),
        ((DEMO,), "demo"),
        ((LATER,), "default"),
        ((), "default"),
        ((BASE, TERM), "licensed"),  # a partly expired file still counts
        ((BASE, WRONG), "hostid-mismatch"),
        ((WRONG,), "hostid-mismatch"),
        ((BASE, BROKEN), "invalid"),
        ((BROKEN, WRONG, DEMO), "invalid"),
    ],
)
def test_verdicts(files: tuple[LicenseFile, ...], expected: str) -> None:
    assert verdict(*files) == expected


def test_expired_only_when_the_server_fell_back_to_the_default_license() -> None:
    after = date(2026, 12, 30)
    assert verdict(DEMO, at=after) == "expired"
    # An expired demo left installed beside a real license (the FAQ says not to
    # remove license files) is not a finding for the verdict, but the file is invalid.
    result = check_licenses([BASE, DEMO], at=after, macs=[MAC])
    assert result.verdict == "licensed"
    demo = result.files[1]
    assert not demo.valid and [p.code for p in demo.problems] == ["expired"]
    assert demo.problems[0].message == (
        "the file expired on 29-dec-2026: it contributes nothing since 30-dec-2026"
    )


def test_precedence_order_is_documented() -> None:
    assert VERDICTS == ("invalid", "hostid-mismatch", "expired", "default", "demo", "licensed")


def test_a_partly_expired_file_gets_a_warning_per_line() -> None:
    result = check_licenses([TERM], at=DAY, macs=[MAC])
    [report] = result.files
    assert report.valid and report.contributes
    assert [(p.line, p.code, p.severity) for p in report.problems] == [(1, "expired", "warning")]
    assert result.effective.values["LicTTSSessionsMax"] == 0
    assert result.effective.values["LicLanguagesMax"] == 1


def test_a_nic_team_matches_on_its_virtual_mac_and_says_which() -> None:
    team = lic(
        "team.lic",
        "SERVER h 02-00-4C-4F-4F-50\nINCREMENT LicSubscribersMax cisco 4.0 permanent 250\n",
    )
    macs = ["00-1A-2B-3C-4D-01", "00:1a:2b:3c:4d:02", "0200.4C4F.4F50"]
    result = check_licenses([team], at=DAY, macs=macs)
    assert result.verdict == "licensed"
    assert result.checked == ("001A2B3C4D01", "001A2B3C4D02", "02004C4F4F50")
    assert result.matched == "02004C4F4F50"
    assert result.files[0].matched == "02004C4F4F50"
    # Checked with the physical MACs only, the file is for another machine.
    physical = check_licenses([team], at=DAY, macs=macs[:2])
    assert physical.verdict == "hostid-mismatch" and physical.matched is None
    problem = physical.files[0].problems[0]
    assert problem.code == "hostid-mismatch" and problem.line == 2
    assert "001A2B3C4D01, 001A2B3C4D02" in problem.message
    assert "virtual MAC" in problem.message  # several MACs: maybe a team
    # One MAC: no team to blame; the file is another machine's.
    single = check_licenses([team], at=DAY, macs=macs[:1]).files[0].problems[0]
    assert "NIC team" not in single.message and "rehost the license" in single.message


def test_a_demo_file_matches_no_mac() -> None:
    result = check_licenses([DEMO], at=DAY, macs=[MAC])
    assert result.matched is None and result.files[0].demo


def test_bad_macs_and_repeated_paths_are_value_errors() -> None:
    with pytest.raises(ValueError, match="11 hex digits"):
        check_licenses([BASE], at=DAY, macs=["00-0B-CD-12-34-5"])
    with pytest.raises(ValueError, match="given twice"):
        check_licenses([BASE, BASE], at=DAY, macs=[MAC])


def test_show_does_not_check_host_ids() -> None:
    result = check_licenses([WRONG], at=DAY, macs=None)
    assert result.verdict == "licensed"
    assert result.checked == ()
    assert result.effective.values["LicSubscribersMax"] == 100


def test_a_copied_file_counts_twice_and_says_so() -> None:
    copy = lic(
        "copy.lic",
        "SERVER h 00-0B-CD-12-34-56\n"
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 500\n"
        "INCREMENT LicUMSubscribersMax cisco 4.0 permanent 200\n"
        "INCREMENT LicVMISubscribersMax cisco 4.0 permanent 50\n"
        "INCREMENT LicVoicePortsMax cisco 4.0 permanent 24\n"
        "FEATURE LicPoolingIsEnabled cisco 4.0 permanent 1\n",
    )
    result = check_licenses([BASE, copy], at=DAY, macs=[MAC])
    codes = [p.code for p in result.files[1].problems]
    assert "duplicate-file" in codes and "duplicate-feature" in codes
    assert result.files[1].valid  # warnings only
    assert result.effective.values["LicSubscribersMax"] == 1000


def test_check_json_has_the_documented_shape() -> None:
    doc = check_json(check_licenses([BASE, WRONG], at=DAY, macs=[MAC]), generated=GENERATED)
    json.dumps(doc)  # serializable as is
    assert doc["meta"] == {
        "type": "license-check",
        "version": 1,
        "generated": "2026-12-01T08:00:00+00:00",
    }
    assert doc["at"] == "2026-12-01"
    assert doc["hostid"] == {"matched": MAC, "checked": [MAC], "matched_all": [MAC]}
    base, wrong = doc["files"]
    assert base == {
        "path": "base.lic",
        "kind": "flexlm",
        "valid": True,
        "problems": [],
        "expires": None,
        "hostid": MAC,
        "matched": MAC,
        "demo": False,
        "contributes": True,
        "features": 5,
    }
    assert wrong["valid"] is False
    assert wrong["problems"] == [
        {
            "line": 1,
            "code": "hostid-mismatch",
            "message": wrong["problems"][0]["message"],
            "severity": "error",
        }
    ]
    effective = doc["effective"]
    assert {
        k: effective[k]
        for k in (
            "LicSubscribersMax",
            "LicUMSubscribersMax",
            "LicVMISubscribersMax",
            "LicVoicePortsMax",
            "LicPoolingIsEnabled",
            "LicSecondaryServerIsLicensed",
        )
    } == {
        "LicSubscribersMax": 500,
        "LicUMSubscribersMax": 200,
        "LicVMISubscribersMax": 50,
        "LicVoicePortsMax": 24,
        "LicPoolingIsEnabled": True,
        "LicSecondaryServerIsLicensed": False,
    }
    assert doc["verdict"] == "hostid-mismatch"
    assert doc["default_license"] is False
    assert doc["max_message_seconds"] == 30


def test_show_json_has_a_timeline() -> None:
    doc = show_json(check_licenses([BASE, DEMO], at=DAY, macs=None), generated=GENERATED)
    assert doc["meta"]["type"] == "license-show"
    assert doc["source"] == "license-files"
    assert "verdict" not in doc and "hostid" not in doc
    assert doc["timeline"] == [
        {
            "date": "2026-12-30",
            "changes": {
                "LicSubscribersMax": {"from": 550, "to": 500},
                "LicVoicePortsMax": {"from": 40, "to": 24},
            },
            "causes": [
                {"path": "demo.lic", "line": 1, "event": "expired"},
                {"path": "demo.lic", "line": 2, "event": "expired"},
            ],
            "files": ["demo.lic"],
            "default_license": False,
        }
    ]
    assert doc["files"][1]["expires"] == "2026-12-29"


BASE_TERM = lic(
    "base-term.lic",
    f"SERVER h {MAC}\n"
    "INCREMENT LicSubscribersMax cisco 4.0 30-nov-2026 500\n"
    "FEATURE LicPoolingIsEnabled cisco 4.0 30-nov-2026 1\n",
)
PORTS = lic("ports.lic", f"FEATURE LicVoicePortsMax cisco 4.0 permanent 24 HOSTID={MAC}\n")


def test_an_expired_real_file_beside_one_that_counts_is_expired() -> None:
    # The review's reproducer: the base term ran out, the ports file still counts, so
    # the server has 0 subscribers and no pooling; that is not "licensed".
    result = check_licenses([BASE_TERM, PORTS], at=DAY, macs=[MAC])
    assert not result.effective.default
    assert result.effective.values["LicSubscribersMax"] == 0
    assert result.verdict == "expired"
    assert not result.healthy
    # The day before, it was licensed; an expired *demo* beside it stays harmless.
    assert verdict(BASE_TERM, PORTS, at=date(2026, 11, 30)) == "licensed"
    assert verdict(BASE, DEMO, at=date(2026, 12, 30)) == "licensed"


def test_a_lapsed_line_with_the_rest_not_yet_started_is_expired_not_default() -> None:
    # One file: a line that expired and a line that starts later. No line counts, so
    # the default license applies, but because a line ran out, not "nothing expired".
    gap = lic(
        "gap.lic",
        f"INCREMENT LicSubscribersMax cisco 4.0 30-nov-2026 50 HOSTID={MAC}\n"
        f"INCREMENT LicSubscribersMax cisco 4.0 permanent 50 HOSTID={MAC} "
        "START=1-jan-2027\n",
    )
    result = check_licenses([gap], at=DAY, macs=[MAC])
    assert result.effective.default
    assert [(p.code, p.severity) for p in result.files[0].problems] == [("expired", "warning")]
    assert result.verdict == "expired"


def test_a_permanent_or_overlong_demo_file_is_invalid() -> None:
    # The FAQ: demo files expire after 60 or 90 days.
    forever = lic(
        "forever.lic",
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 50 HOSTID=ANY ISSUED=1-oct-2026\n",
    )
    long = lic(
        "long.lic",
        "INCREMENT LicSubscribersMax cisco 4.0 30-dec-2026 50 HOSTID=ANY ISSUED=1-oct-2026\n",
    )  # 91 days, 1-oct through 30-dec
    for file in (forever, long):
        result = check_licenses([BASE, file], at=DAY, macs=[MAC])
        [problem] = result.files[1].problems
        assert (problem.line, problem.code, problem.severity) == (1, "demo-invalid", "error")
        assert result.verdict == "invalid"
        assert not result.files[1].contributes
        assert result.effective.values["LicSubscribersMax"] == 500
    assert (
        "never expires"
        in check_licenses([forever], at=DAY, macs=[MAC]).files[0].problems[0].message
    )
    assert "91 days" in check_licenses([long], at=DAY, macs=[MAC]).files[0].problems[0].message
    # 90 days (the example demo file) and a demo without a date to count from are fine.
    ninety = lic(
        "ninety.lic",
        "INCREMENT LicSubscribersMax cisco 4.0 29-dec-2026 50 HOSTID=ANY START=1-oct-2026\n",
    )
    assert verdict(ninety) == "demo" and verdict(DEMO) == "demo"


def test_a_second_demo_file_is_a_warning() -> None:
    # The FAQ: one demo license per MAC address.
    other = lic("demo2.lic", "INCREMENT LicVoicePortsMax cisco 4.0 29-dec-2026 8 HOSTID=ANY\n")
    result = check_licenses([DEMO, other], at=DAY, macs=[MAC])
    assert result.files[0].problems == ()
    [problem] = result.files[1].problems
    assert (problem.code, problem.severity) == ("demo-invalid", "warning")
    assert "demo.lic" in problem.message and "one demo" in problem.message
    assert result.verdict == "demo" and result.files[1].contributes


def test_files_on_several_of_the_servers_macs_get_a_warning() -> None:
    # A NIC team is licensed on its virtual MAC only; a file for a physical MAC of the
    # team stops counting when the team fails over to the other NIC.
    team = lic(
        "team.lic", "INCREMENT LicSubscribersMax cisco 4.0 permanent 250 HOSTID=02004C4F4F50\n"
    )
    nic = lic("nic.lic", "INCREMENT LicVoicePortsMax cisco 4.0 permanent 12 HOSTID=001A2B3C4D01\n")
    macs = ["001A2B3C4D01", "02004C4F4F50"]
    result = check_licenses([team, nic], at=DAY, macs=macs)
    assert result.matched == "001A2B3C4D01"
    assert result.matched_all == ("001A2B3C4D01", "02004C4F4F50")
    assert result.files[1].problems == ()
    [problem] = result.files[0].problems
    assert (problem.code, problem.severity) == ("hostid-several", "warning")
    assert "virtual MAC only" in problem.message and "001A2B3C4D01" in problem.message
    assert result.verdict == "licensed" and result.files[0].valid
    doc = check_json(result, generated=GENERATED)
    assert doc["hostid"] == {"matched": "001A2B3C4D01", "checked": macs, "matched_all": macs}
    # One MAC matched: no warning.
    assert check_licenses([team], at=DAY, macs=macs).files[0].problems == ()
