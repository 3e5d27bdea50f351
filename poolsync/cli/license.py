"""``poolsync license show|check``: Unity 4.x license files, read as a server reads them.

No config, no directory, no store: the commands read the files named on the command
line. The parsing and the rules are in :mod:`poolsync.licensing`; this module reads the
files, picks the day and renders tables.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from poolsync.cli.main import EXIT_NOT_COMPLIANT
from poolsync.cli.output import now, print_json
from poolsync.errors import LicenseFileError
from poolsync.licensing import (
    EffectiveXml,
    LicenseCheck,
    LicenseFile,
    check_json,
    check_licenses,
    normalize_mac,
    read_license_file,
    show_json,
    show_xml_json,
)
from poolsync.licensing.check import EXPIRED
from poolsync.licensing.dates import format_date, parse_date
from poolsync.licensing.effective import Cause, TimelineEntry
from poolsync.licensing.params import PARAMETERS, is_flag

#: Exit code when the files were read but the verdict is not licensed or demo (or,
#: for ``show``, a file has errors): the same "done, but found a problem" code as
#: ``poolsync pool``.
EXIT_FINDINGS = EXIT_NOT_COMPLIANT

_VERDICT_STYLE = {
    "licensed": "green",
    "demo": "yellow",
    "default": "bold yellow",
    "expired": "bold red",
    "hostid-mismatch": "bold red",
    "invalid": "bold red",
}
_VERDICT_MEANS = {
    "licensed": "the server runs on its license files",
    "demo": "the server runs on a demo license (HOSTID=ANY) until it expires",
    "default": "no line counts on this day: the built-in default license applies "
    "(2 ports, 10 subscribers, 30-second messages)",
    "expired": "the license files have expired: the built-in default license applies "
    "(2 ports, 10 subscribers, 30-second messages)",
    "hostid-mismatch": "a file is bound to a MAC the server does not have; it counts for nothing",
    "invalid": "a file has errors; it counts for nothing",
}


#: ``expired`` while other files still count: the server runs on less than it had.
_EXPIRED_PARTLY = (
    "a license file (not a demo) has expired: what it granted is gone and "
    "the server runs on the files that still count; renew it"
)


def _verdict_means(result: LicenseCheck) -> str:
    if result.verdict == "expired" and not result.effective.default:
        return _EXPIRED_PARTLY
    return _VERDICT_MEANS[result.verdict]


class DateType(click.ParamType[date, Any]):
    """A day: ``2027-03-15`` or FLEXlm's ``15-mar-2027``."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return parse_date(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a date (expected YYYY-MM-DD, e.g. 2027-03-15, or 15-mar-2027)",
                param,
                ctx,
            )


class MacType(click.ParamType[str, Any]):
    """A MAC address in an accepted form, normalized to 12 upper-case hex digits."""

    name = "MAC"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return normalize_mac(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


files_argument = click.argument(
    "files", nargs=-1, required=True, metavar="FILE...", type=click.Path(path_type=Path)
)
at_option = click.option(
    "--at",
    "at",
    type=DateType(),
    default=None,
    help="The day to evaluate: YYYY-MM-DD or 15-mar-2027.  [default: today]",
)
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people; json for machines.",
)


@click.group(name="license")
def license_group() -> None:
    """Read Unity 4.x license files (FLEXlm text): what they grant, and whether they fit.

    Files are combined as one server's installed license files: INCREMENT lines add
    up across files, a FEATURE line sets its parameter, a line counts through its
    expiry date, and with no line counting the built-in default license applies
    (2 ports, 10 subscribers, 30-second messages). The format, the rules and every
    problem code are in docs/licenses.md; examples/licenses/ has files to try.

    \b
    Exit codes: 0 fine; 2 a file cannot be read or an option is wrong;
    3 read fine but found a problem (check: the verdict is not licensed or demo;
    show: a file has errors other than expiry).
    """


def _read(paths: Sequence[Path]) -> list[LicenseFile | EffectiveXml]:
    seen: dict[Path, Path] = {}
    for path in paths:
        try:
            key = path.resolve()
        except (RuntimeError, OSError) as exc:  # RuntimeError: a symlink loop (3.11)
            reason = getattr(exc, "strerror", None) or str(exc)
            if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
                reason = "too many levels of symbolic links (a symlink loop)"
            raise LicenseFileError(f"{path}: cannot read: {reason}") from None
        if key in seen:
            raise LicenseFileError(f"{path}: given twice (as {seen[key]}); each file counts once")
        seen[key] = path
    return [read_license_file(path) for path in paths]


def _flexlm_only(read: Sequence[LicenseFile | EffectiveXml], command: str) -> list[LicenseFile]:
    files: list[LicenseFile] = []
    for item in read:
        if isinstance(item, EffectiveXml):
            if command == "check":
                raise LicenseFileError(
                    f"{item.path}: an effective-license XML (AvXmlLicData) "
                    "has no host ID to check; show it with `poolsync "
                    "license show`"
                )
            raise LicenseFileError(
                f"{item.path}: an effective-license XML (AvXmlLicData) is "
                "a server's whole license; show it on its own, not with "
                "other files"
            )
        files.append(item)
    return files


@license_group.command()
@files_argument
@at_option
@format_option
def show(files: tuple[Path, ...], at: date | None, fmt: str) -> None:
    """What the license FILEs grant on a day, and the days on which that changes.

    Shows the effective value of every license parameter (and the lines it comes
    from) and a timeline of the days on which a value changes, e.g. when a demo file
    expires, with the file that causes it. Host IDs are not checked here (every
    well-formed file counts); `license check --mac` does that.

    A FILE may also be the effective-license XML a Unity server reports (root
    AvXmlLicData, sections Licenses and Utilization; recognized by content): it is
    shown as reported. Give it on its own.

    Exits 0; 3 when a file has errors (it then counts for nothing; an expired file is
    not an error here); 2 when a file cannot be read.
    """
    day = at or date.today()
    read = _read(files)
    if len(read) == 1 and isinstance(read[0], EffectiveXml):
        _show_xml(read[0], day, fmt)
        return
    result = check_licenses(_flexlm_only(read, "show"), at=day, macs=None)
    if fmt == "json":
        print_json(show_json(result, generated=now()))
    else:
        _render(result, stdout_console(), check=False)
    broken = any(
        p.severity == "error" and p.code != EXPIRED for f in result.files for p in f.problems
    )
    if broken:
        click.get_current_context().exit(EXIT_FINDINGS)


@license_group.command()
@files_argument
@click.option(
    "--mac",
    "macs",
    type=MacType(),
    multiple=True,
    required=True,
    help="A MAC address of the server; repeat it for every NIC (for a NIC team, "
    "the physical MACs and the team's virtual MAC). Forms: "
    "00-0B-CD-12-34-56, 00:0b:cd:12:34:56, 000B.CD12.3456, 000bcd123456.",
)
@at_option
@format_option
def check(files: tuple[Path, ...], macs: tuple[str, ...], at: date | None, fmt: str) -> None:
    """Check license FILEs for a server with the given MAC(s) on a day.

    Says for each file whether it is valid, with reasons (syntax errors with line
    numbers, a host ID that is none of the server's MACs, expiry, unknown
    parameters, duplicate FEATURE lines), which MAC matched, the effective license and
    a verdict, the first of: invalid, hostid-mismatch, expired, default, demo,
    licensed (docs/licenses.md, "Verdicts").

    Exits 0 for licensed or demo; 3 for any other verdict; 2 when a file cannot be
    read or a --mac is not a MAC address.
    """
    day = at or date.today()
    result = check_licenses(_flexlm_only(_read(files), "check"), at=day, macs=macs)
    if fmt == "json":
        print_json(check_json(result, generated=now()))
    else:
        _render(result, stdout_console(), check=True)
    if not result.healthy:
        click.get_current_context().exit(EXIT_FINDINGS)


# -- tables -----------------------------------------------------------------------------


def stdout_console() -> Console:
    """Like the other commands' console, but wide when not a terminal: file paths make
    long cells, and a wrapped path in a log or a pipe is hard to read or grep."""
    return Console(file=sys.stdout, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _value(name: str, value: int) -> str:
    if is_flag(name):
        return "yes" if value >= 1 else "no"
    return f"{value:,}"


def _expires(day: date | None) -> str:
    return "permanent" if day is None else format_date(day)


def _files_table(result: LicenseCheck, *, check: bool) -> Table:
    table = Table(
        title=f"License files on {result.at.isoformat()}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("File", no_wrap=True)
    table.add_column("Host ID", no_wrap=True)
    table.add_column("Expires", no_wrap=True)
    table.add_column("Status")
    for report in result.files:
        hostid = report.hostid or "-"
        if report.demo:
            hostid += " (demo)"
        elif check and report.matched:
            hostid += " (matched)"
        if report.valid:
            status = Text("valid", style="green")
            status.append(
                ", counts" if report.contributes else ", counts for nothing today",
                style="" if report.contributes else "yellow",
            )
        else:
            status = Text("not valid: ", style="bold red")
            codes = dict.fromkeys(p.code for p in report.problems if p.severity == "error")
            status.append(", ".join(codes))
        expires = _expires(report.expires) if report.features else "-"
        table.add_row(Text(report.path), Text(hostid), Text(expires), status)
    return table


#: Problem lines the table prints per file; --format json lists them all. A file of
#: thousands of lapsed lines would otherwise print thousands of warnings.
TABLE_PROBLEMS_PER_FILE = 50


def _problem_lines(result: LicenseCheck) -> list[Text]:
    lines: list[Text] = []
    for report in result.files:
        for p in report.problems[:TABLE_PROBLEMS_PER_FILE]:
            where = report.path if p.line is None else f"{report.path}:{p.line}"
            style = "bold red" if p.severity == "error" else "yellow"
            lines.append(Text.assemble(f"  {where}: ", (p.code, style), f": {p.message}"))
        more = len(report.problems) - TABLE_PROBLEMS_PER_FILE
        if more > 0:
            lines.append(
                Text(
                    f"  {report.path}: ... and {more:,} more problems "
                    "(--format json lists them all)"
                )
            )
    return lines


def _sources(result: LicenseCheck, name: str) -> str:
    sources = result.effective.sources.get(name, ())
    if not sources:
        return "default license" if result.effective.default else "-"
    if sources[0].kind == "FEATURE":
        return f"FEATURE {sources[0].path}:{sources[0].line}"
    return "INCREMENT " + " + ".join(f"{s.path}:{s.line} ({s.count:,})" for s in sources)


def _effective_table(result: LicenseCheck) -> Table:
    effective = result.effective
    title = f"Effective license on {result.at.isoformat()}"
    table = Table(
        title=title + (" (default)" if effective.default else ""),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Parameter", no_wrap=True)
    table.add_column("Value", justify="right", no_wrap=True)
    table.add_column("From")
    for name in PARAMETERS:
        table.add_row(name, _value(name, effective.values[name]), _sources(result, name))
    return table


def _effective_notes(result: LicenseCheck) -> list[str]:
    notes = []
    if result.effective.default:
        notes.append(
            "No line of any file counts on this day: the built-in default license applies."
        )
    seconds = result.effective.message_seconds
    if seconds is not None:
        notes.append(
            f"Recorded messages are cut at {seconds} seconds "
            "(LicMaxMsgRecLenIsLicensed is not licensed)."
        )
    return notes


def _when(entry_day: date, at: date) -> str:
    if entry_day < at:
        return f"{entry_day.isoformat()} (past)"
    if entry_day == at:
        return f"{entry_day.isoformat()} (today)"
    return entry_day.isoformat()


def _cause(cause: Cause, entry_day: date) -> str:
    if cause.event == "starts":
        return f"{cause.path}:{cause.line} starts"
    return f"{cause.path}:{cause.line} expired {format_date(entry_day - timedelta(days=1))}"


def _timeline_table(result: LicenseCheck) -> Table | Text:
    if not result.timeline:
        return Text("Timeline: nothing changes on any day (no line starts or expires).")
    table = Table(
        title="Timeline: the days on which the effective license changes",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Date", no_wrap=True)
    table.add_column("Change")
    table.add_column("Because")
    shown, hidden = _timeline_window(result.timeline, result.at)
    for entry in shown:
        changes = "\n".join(
            f"{c.name} {_value(c.name, c.before)} → {_value(c.name, c.after)}"
            for c in entry.changes
        )
        if entry.default_after and not entry.default_before:
            changes += "\n(the built-in default license applies)"
        because = "\n".join(_cause(c, entry.date) for c in entry.causes)
        table.add_row(_when(entry.date, result.at), changes, because)
    if hidden:
        table.caption = (
            f"{hidden:,} more changes not shown, the furthest from "
            f"{result.at.isoformat()} (--format json lists them all)"
        )
        table.caption_justify = "left"
    return table


#: Timeline rows the table prints; the rest (the furthest from --at) are counted.
TABLE_TIMELINE_ROWS = 100


def _timeline_window(
    entries: Sequence[TimelineEntry], at: date
) -> tuple[Sequence[TimelineEntry], int]:
    """The rows nearest *at* (mostly ahead of it, some behind), and how many are left."""
    if len(entries) <= TABLE_TIMELINE_ROWS:
        return entries, 0
    split = next((i for i, e in enumerate(entries) if e.date >= at), len(entries))
    ahead = len(entries) - split
    behind = min(split, max(TABLE_TIMELINE_ROWS - ahead, TABLE_TIMELINE_ROWS // 5))
    first = split - behind
    shown = entries[first : first + TABLE_TIMELINE_ROWS]
    return shown, len(entries) - len(shown)


def _render(result: LicenseCheck, console: Console, *, check: bool) -> None:
    console.print(_files_table(result, check=check))
    problems = _problem_lines(result)
    if problems:
        console.print(Text("Problems:", style="bold"))
        for line in problems:
            console.print(line, soft_wrap=True)
        console.print()
    if not check and len(result.hostids) > 1:
        console.print(
            Text.assemble(
                ("Note: ", "bold yellow"),
                "the files are bound to different MACs (",
                ", ".join(result.hostids),
                "): no single server has them all; they are combined "
                "here anyway. `license check --mac` checks them for one server.",
            ),
            soft_wrap=True,
        )
        console.print()
    if check:
        checked = ", ".join(result.checked)
        matched = ", ".join(result.matched_all) or "none (no file is bound to one of them)"
        console.print(f"Host ID: matched {matched}; checked {checked}", soft_wrap=True)
        console.print()
    console.print(_effective_table(result))
    notes = _effective_notes(result)
    for note in notes:
        console.print(note, soft_wrap=True)
    if notes:
        console.print()
    console.print(_timeline_table(result))
    if check:
        console.print()
        console.print(
            Text.assemble(
                "Verdict: ",
                (result.verdict, _VERDICT_STYLE[result.verdict]),
                f" — {_verdict_means(result)}",
            ),
            soft_wrap=True,
        )


def _show_xml(xml: EffectiveXml, day: date, fmt: str) -> None:
    if fmt == "json":
        print_json(show_xml_json(xml, at=day, generated=now()))
        return
    console = stdout_console()
    table = Table(
        title=f"Effective license reported in {xml.path} (AvXmlLicData)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Section", no_wrap=True)
    table.add_column("Parameter", no_wrap=True)
    table.add_column("Value", justify="right", no_wrap=True)
    licenses = xml.data.licenses
    ordered = [n for n in PARAMETERS if n in licenses] + [
        n for n in licenses if n not in PARAMETERS
    ]
    for name in ordered:
        table.add_row("Licenses", name, _value(name, licenses[name]))
    if xml.data.utilization:
        table.add_section()
        for name, value in xml.data.utilization.items():
            table.add_row("Utilization", name, f"{value:,}")
    console.print(table)
    console.print("A server's own report: no dates, so no timeline.")
