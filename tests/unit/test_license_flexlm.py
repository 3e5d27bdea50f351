"""The license file parser: the grammar, every problem it reports, and its limits."""

from __future__ import annotations

from datetime import date

import pytest

from poolsync.licensing.dates import format_date, parse_date, parse_expiry
from poolsync.licensing.flexlm import (
    ANY,
    MAX_LINE_BYTES,
    MAX_LOGICAL_LINE,
    MAX_PROBLEMS,
    MAX_WARNINGS,
    FeatureLine,
    LicenseFile,
    Problem,
    parse_license_file,
)

MAC = "000BCD123456"


def parse(text: str | bytes) -> LicenseFile:
    data = text.encode() if isinstance(text, str) else text
    return parse_license_file(data, path="x.lic")


def only_problem(text: str | bytes) -> Problem:
    result = parse(text)
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


def test_a_complete_file() -> None:
    result = parse(
        "# comment\n"
        "SERVER this_host 00-0B-CD-12-34-56 27000\n"
        "VENDOR cisco\n"
        "USE_SERVER\n"
        "\n"
        'INCREMENT LicSubscribersMax cisco 4.0 permanent 300 NOTICE="Example Corp"\n'
        "FEATURE LicPoolingIsEnabled cisco 4.0 1-jan-0 1 ISSUED=15-jan-2026\n"
        "INCREMENT LicVoicePortsMax cisco 4.0 15-mar-2027 16 START=1-jan-2027\n"
    )
    assert result.problems == ()
    assert result.ok
    assert result.hostid == MAC
    assert result.features == (
        FeatureLine(6, "INCREMENT", "LicSubscribersMax", "cisco", "4.0", None, 300, MAC),
        FeatureLine(
            7,
            "FEATURE",
            "LicPoolingIsEnabled",
            "cisco",
            "4.0",
            None,
            1,
            MAC,
            issued=date(2026, 1, 15),
        ),
        FeatureLine(
            8,
            "INCREMENT",
            "LicVoicePortsMax",
            "cisco",
            "4.0",
            date(2027, 3, 15),
            16,
            MAC,
            start=date(2027, 1, 1),
        ),
    )
    assert result.expires is None  # a permanent line: the file never runs out
    assert not result.is_demo


def test_keywords_and_keys_are_case_insensitive() -> None:
    result = parse(
        "increment LicSubscribersMax cisco 4.0 PERMANENT 5 hostid=000bcd123456 Start=1-Jan-2027\n"
    )
    assert result.problems == ()
    [line] = result.features
    assert (line.kind, line.hostid, line.start) == ("INCREMENT", MAC, date(2027, 1, 1))


def test_continuation_lines_join_and_number_from_the_first() -> None:
    result = parse(
        "# header\n"
        "INCREMENT LicSubscribersMax cisco 4.0 \\\n"
        "    permanent 7 \\\n"
        "    HOSTID=000BCD123456\n"
        "FEATURE LicPoolingIsEnabled cisco 4.0 permanent 1 HOSTID=000BCD123456\n"
    )
    assert result.problems == ()
    assert [(f.line, f.count) for f in result.features] == [(2, 7), (5, 1)]


def test_a_problem_on_a_continued_line_names_that_line_and_column() -> None:
    problem = only_problem(
        'INCREMENT LicSubscribersMax cisco 4.0 permanent 7 \\\n  HOSTID=000BCD123456 NOTICE="open\n'
    )
    assert problem == Problem(2, "syntax", 'column 30: unbalanced quote: this " is never closed')


def test_a_backslash_on_the_last_line() -> None:
    problem = only_problem("INCREMENT LicSubscribersMax cisco 4.0 permanent 7 \\")
    assert (problem.line, problem.code) == (1, "syntax")
    assert "the file ends there" in problem.message


def test_quoted_values_keep_their_blanks_and_equals_signs() -> None:
    result = parse(
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY "
        'NOTICE="a = b  c" SIGN="01 23"\n'
    )
    assert result.problems == ()


def test_the_server_line_binds_lines_without_hostid_and_demo_is_any() -> None:
    demo = parse(
        "INCREMENT LicSubscribersMax cisco 4.0 29-dec-2026 50 HOSTID=ANY\n"
        "INCREMENT LicVoicePortsMax cisco 4.0 29-dec-2026 16 HOSTID=demo\n"
    )
    assert demo.problems == ()
    assert demo.hostid == ANY and demo.is_demo
    assert demo.expires == date(2026, 12, 29)


@pytest.mark.parametrize(
    "hostid", ["00-0B-CD-12-34-56", "00:0b:cd:12:34:56", "000B.CD12.3456", "000bcd123456"]
)
def test_every_mac_form_is_a_hostid(hostid: str) -> None:
    result = parse(f"INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID={hostid}\n")
    assert result.hostid == MAC


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=00-0B-CD-12-34-5",
            "syntax",
            "column 51: HOSTID= is not a MAC address or ANY: '00-0B-CD-12-34-5' has "
            "11 hex digits, expected 12",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=00-0B-CD-12-34-5G",
            "syntax",
            "column 51: HOSTID= is not a MAC address or ANY: '00-0B-CD-12-34-5G' "
            "contains 'G', which is neither a hex digit nor a separator (- : .)",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=00-0B:CD-12-34-56",
            "syntax",
            "column 51: HOSTID= is not a MAC address or ANY: '00-0B:CD-12-34-56' is "
            "not written in an accepted form (00-0B-CD-12-34-56, 00:0b:cd:12:34:56, "
            "000B.CD12.3456 or 000bcd123456)",
        ),
        (
            "INCREMENT LicSubscriberMax cisco 4.0 permanent 1 HOSTID=ANY",
            "unknown-parameter",
            "'LicSubscriberMax' is not a Unity license parameter; did you "
            "mean LicSubscribersMax? (names are case-sensitive)",
        ),
        (
            "INCREMENT licsubscribersmax cisco 4.0 permanent 1 HOSTID=ANY",
            "unknown-parameter",
            "'licsubscribersmax' is not a Unity license parameter; did you "
            "mean LicSubscribersMax? (names are case-sensitive)",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 31-feb-2027 1 HOSTID=ANY",
            "syntax",
            "column 39: expiry '31-feb-2027' is not a date: February 2027 has 28 days",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 15-mar-27 1 HOSTID=ANY",
            "syntax",
            "column 39: expiry '15-mar-27': write the year with four digits",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 15-mrz-2027 1 HOSTID=ANY",
            "syntax",
            "column 39: expiry '15-mrz-2027': 'mrz' is not a month (expected jan, feb, ... dec)",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 2027-03-15 1 HOSTID=ANY",
            "syntax",
            "column 39: expiry '2027-03-15' is neither permanent nor a date "
            "(expected e.g. 15-mar-2027)",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 5-jun-0 1 HOSTID=ANY",
            "syntax",
            "column 39: expiry '5-jun-0': year 0 only means permanent as 1-jan-0",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent uncounted HOSTID=ANY",
            "syntax",
            "column 49: count 'uncounted': poolsync reads the count as the value of "
            "LicSubscribersMax, so it must be a whole number",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent -5 HOSTID=ANY",
            "syntax",
            "column 49: count '-5' is not a whole number",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 2000000 HOSTID=ANY",
            "syntax",
            "column 49: count 2000000 is over 1,000,000, more than any Unity server has",
        ),
        (
            "FEATURE LicPoolingIsEnabled cisco 4.0 permanent 2 HOSTID=ANY",
            "syntax",
            "column 49: LicPoolingIsEnabled is a flag: count must be 1 (licensed) or 0, not 2",
        ),
        (
            "INCREMENT LicSubscribersMax cisco four permanent 1 HOSTID=ANY",
            "syntax",
            "column 35: version 'four' is not a version number such as 4.0",
        ),
        (
            "INCREMENT LicSubscribersMax ci-sco 4.0 permanent 1 HOSTID=ANY",
            "syntax",
            "column 29: vendor 'ci-sco' is not a vendor daemon name (letters, digits, _)",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent",
            "syntax",
            "INCREMENT needs name, vendor, version, expiry and count; got 4 of them",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY extra",
            "syntax",
            "column 62: unexpected word 'extra' after KEY=value pairs",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 junk HOSTID=ANY",
            "syntax",
            "column 51: unexpected word 'junk': after the count only KEY=value pairs "
            "follow (and, in old files, one hex license key)",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY hostid=ANY",
            "syntax",
            "column 62: HOSTID= given twice",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=",
            "syntax",
            "column 51: HOSTID= has no value",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 =ANY",
            "syntax",
            "column 51: '=ANY' has no key before '='",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 1-jan-2027 1 HOSTID=ANY START=2-jan-2027",
            "syntax",
            "column 63: START= is after the expiry date: the line would never count",
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY START=soon",
            "syntax",
            "column 62: START= 'soon' is not a date (expected day-month-year, e.g. 15-mar-2027)",
        ),
        (
            'INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY NOTICE="open',
            "syntax",
            'column 69: unbalanced quote: this " is never closed',
        ),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1",
            "hostid-missing",
            "no HOSTID= and no SERVER line: the line is bound to no machine",
        ),
        (
            "FEATUR LicSubscribersMax cisco 4.0 permanent 1",
            "syntax",
            "'FEATUR' does not start a license file line (expected FEATURE, INCREMENT, "
            "SERVER, VENDOR, DAEMON, USE_SERVER or a # comment)",
        ),
        (
            'PACKAGE suite cisco 4.0 COMPONENTS="a b"',
            "syntax",
            "PACKAGE lines are not part of poolsync's license file model (docs/licenses.md)",
        ),
        (
            "SERVER this_host",
            "syntax",
            "SERVER needs a host name and a host ID (SERVER host 000BCD123456 [port])",
        ),
        ("VENDOR", "syntax", "VENDOR needs a vendor daemon name"),
        ("USE_SERVER now", "syntax", "USE_SERVER takes nothing after it"),
        (
            "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY NOTICE=caf\u00a0e",
            "syntax",
            "column 72: character U+00A0 is not printable text (binary data, or a "
            "character pasted from a document?)",
        ),
    ],
)
def test_problems(line: str, code: str, message: str) -> None:
    problem = only_problem(line + "\n")
    assert problem == Problem(1, code, message)


def test_an_unknown_parameter_without_a_close_name_lists_the_known_ones() -> None:
    problem = only_problem("INCREMENT Seats cisco 4.0 permanent 1 HOSTID=ANY\n")
    assert problem.code == "unknown-parameter"
    assert "LicSubscribersMax, LicUMSubscribersMax" in problem.message
    assert "LicSecondaryServerIsLicensed" in problem.message


def test_an_unknown_key_is_a_warning_and_the_line_still_counts() -> None:
    result = parse("INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY FOO=bar\n")
    assert result.problems == (
        Problem(1, "unknown-key", "column 62: unknown key FOO= ignored", "warning"),
    )
    assert result.ok and len(result.features) == 1


def test_an_old_style_hex_license_key_is_accepted() -> None:
    result = parse(
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 0123456789ABCDEF0123 HOSTID=ANY\n"
    )
    assert result.problems == ()


def test_one_file_one_hostid() -> None:
    result = parse(
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=000BCD123456\n"
        "INCREMENT LicVoicePortsMax cisco 4.0 permanent 1 HOSTID=000BCD999999\n"
    )
    assert result.problems == (
        Problem(
            2,
            "syntax",
            "bound to host ID 000BCD999999, but line 1 "
            "to 000BCD123456: a license file is bound to one MAC "
            "address",
        ),
    )
    assert not result.ok


def test_a_second_server_line() -> None:
    problem = only_problem(
        "SERVER a 000BCD123456\nSERVER b 000BCD123457\n"
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1\n"
    )
    assert problem == Problem(
        2,
        "syntax",
        "a second SERVER line (the first is line 1); a Unity license file is bound to one MAC",
    )


def test_a_file_without_feature_lines() -> None:
    assert only_problem("# nothing\nVENDOR cisco\n") == Problem(
        None, "no-features", "no FEATURE or INCREMENT line: the file licenses nothing"
    )
    assert only_problem(b"").code == "no-features"


def test_every_bad_line_is_reported_and_good_lines_are_kept() -> None:
    result = parse(
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY\n"
        "INCREMENT Bad cisco 4.0 permanent 1 HOSTID=ANY\n"
        "INCREMENT LicVoicePortsMax cisco 4.0 permanent x HOSTID=ANY\n"
        "INCREMENT LicUMSubscribersMax cisco 4.0 permanent 2 HOSTID=ANY\n"
    )
    assert [(p.line, p.code) for p in result.problems] == [(2, "unknown-parameter"), (3, "syntax")]
    assert [f.line for f in result.features] == [1, 4]
    assert not result.ok  # one error: the whole file counts for nothing


# -- bytes that are not a text license file -------------------------------------------


def test_a_nul_byte_means_binary() -> None:
    problem = only_problem(b"INCREMENT x\nabc\x00def\n")
    assert problem == Problem(
        2,
        "syntax",
        "a NUL byte: this is binary data, not a text license "
        "file (or UTF-16 without a byte-order mark)",
    )


def test_utf16_with_a_bom() -> None:
    text = "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY\n"
    problem = only_problem(text.encode("utf-16"))
    assert problem.line == 1 and "UTF-16" in problem.message and "save it as" in problem.message


def test_a_utf8_bom_is_ignored() -> None:
    text = "\ufeffINCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY\n"
    assert parse(text).problems == ()


def test_latin1_outside_comments_is_reported_with_its_column() -> None:
    data = (
        "# Soci\xe9t\xe9 in a comment is fine\n"
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY NOTICE=Soci\xe9t\xe9\n"
    ).encode("latin-1")
    assert only_problem(data) == Problem(
        2,
        "syntax",
        "column 73: byte 0xE9 is not UTF-8 text (a license file is plain ASCII; "
        "was it saved in another encoding?)",
    )


def test_crlf_and_cr_line_ends() -> None:
    text = (
        "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY\r\n"
        "INCREMENT LicVoicePortsMax cisco 4.0 permanent 2 HOSTID=ANY\r"
        "INCREMENT LicUMSubscribersMax cisco 4.0 permanent 3 HOSTID=ANY"
    )
    result = parse(text)
    assert result.problems == ()
    assert [f.line for f in result.features] == [1, 2, 3]


def test_a_huge_line_is_one_problem_and_the_rest_still_reads() -> None:
    huge = "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY NOTICE=" + "x" * 10_000
    result = parse(huge + "\nINCREMENT LicVoicePortsMax cisco 4.0 permanent 2 HOSTID=ANY\n")
    assert result.problems == (
        Problem(
            1,
            "syntax",
            f"the line is {len(huge)} bytes long, over "
            f"the {MAX_LINE_BYTES}-byte limit for a license file "
            "line",
        ),
    )
    assert [f.line for f in result.features] == [2]


def test_an_endless_continuation_is_cut() -> None:
    lines = ["INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY NOTICE=\\"]
    lines += ["x" * 1000 + " \\"] * 20 + ["end"]
    problem = only_problem("\n".join(lines) + "\n")
    assert problem == Problem(
        1, "syntax", f"the line is continued over more than {MAX_LOGICAL_LINE} characters"
    )


def test_too_many_problems_stop_the_reading() -> None:
    result = parse("garbage\n" * 500)
    assert len(result.problems) == MAX_PROBLEMS + 1
    assert "stopped reading" in result.problems[-1].message
    assert result.features == () and not result.ok


def test_warnings_do_not_count_toward_the_problem_cap() -> None:
    # 11 valid lines with 5 unknown keys each: 55 warnings, no error. The file is fine.
    keys = " ".join(f"X{k}=1" for k in range(5))
    text = "".join(
        f"INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY {keys}\n" for _ in range(11)
    )
    result = parse(text)
    assert result.ok and len(result.features) == 11
    assert all(p.severity == "warning" for p in result.problems)
    listed = [p for p in result.problems if p.line is not None]
    assert len(listed) == MAX_WARNINGS
    last = result.problems[-1]
    assert (last.line, last.code, last.severity) == (None, "unknown-key", "warning")
    assert last.message.startswith("5 more warnings not listed")


def test_errors_still_stop_the_reading_among_warnings() -> None:
    noisy = "INCREMENT LicSubscribersMax cisco 4.0 permanent 1 HOSTID=ANY X=1 Y=2\n"
    result = parse((noisy + "garbage\n") * 100)
    errors = [p for p in result.problems if p.severity == "error"]
    assert len(errors) == MAX_PROBLEMS + 1 and "stopped reading" in errors[-1].message
    assert result.features == () and not result.ok


def test_an_oversized_buffer_is_one_problem() -> None:
    result = parse(b"#" * (1024 * 1024 + 1))
    assert [p.code for p in result.problems] == ["syntax"]
    assert "over the 1048576-byte limit" in result.problems[0].message


# -- dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["permanent", "PERMANENT", "1-jan-0", "1-jan-00", "1-JAN-0000", "01-jan-0"]
)
def test_permanent_spellings(text: str) -> None:
    assert parse_expiry(text) is None


def test_dates_round_trip() -> None:
    assert parse_date("15-Mar-2027") == date(2027, 3, 15)
    assert parse_date("29-feb-2028") == date(2028, 2, 29)
    assert format_date(date(2027, 3, 5)) == "5-mar-2027"
    with pytest.raises(ValueError, match="February 2027 has 28 days"):
        parse_date("29-feb-2027")
    with pytest.raises(ValueError, match="before FLEXlm's time"):
        parse_date("1-jan-1969")


def test_the_last_representable_day_does_not_overflow() -> None:
    from poolsync.licensing import check_licenses

    result = parse("INCREMENT LicSubscribersMax cisco 4.0 31-dec-9999 5 HOSTID=ANY\n")
    assert result.problems == ()
    checked = check_licenses([result], at=date(2027, 1, 1), macs=None)
    assert checked.effective.values["LicSubscribersMax"] == 5
    assert checked.timeline == ()
