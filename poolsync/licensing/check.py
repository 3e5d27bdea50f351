"""A server's license files checked against its MACs on a day: per file, and a verdict.

Pure: the files are parsed already, the MACs normalized, the day passed in. The
verdict is the first of these that applies (docs/licenses.md, "Verdicts"):

1. ``invalid``: a file has an error other than a host-ID mismatch or expiry (syntax,
   unknown parameter, no host ID, no feature lines, a demo file that never expires or
   runs over 90 days). Such a file contributes nothing.
2. ``hostid-mismatch``: a file is bound to a MAC that is none of the server's.
3. ``expired``: a file that is not a demo file has expired (every line of it lapsed):
   what it granted is gone even if other files still count; or no line counts on the
   day and a line of some file has lapsed, so the server runs on the built-in default
   license because its files ran out. An expired demo file beside files that count is
   harmless (the FAQ says not to remove license files).
4. ``default``: no line counts on the day and no line has lapsed (e.g. every START=
   lies ahead); the built-in default license applies.
5. ``demo``: every file that counts is a demo file (HOSTID=ANY).
6. ``licensed``.

``licensed`` and ``demo`` are the verdicts a healthy server has; the CLI exits 3 for
the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Final, Literal

from poolsync.licensing.dates import format_date
from poolsync.licensing.effective import (
    Effective,
    TimelineEntry,
    duplicate_features,
    effective_at,
    timeline,
)
from poolsync.licensing.flexlm import ANY, LicenseFile, Problem
from poolsync.licensing.mac import normalize_mac

__all__ = [
    "EXPIRED",
    "HEALTHY",
    "HOSTID_MISMATCH",
    "VERDICTS",
    "FileReport",
    "LicenseCheck",
    "Verdict",
    "check_licenses",
]

Verdict = Literal["licensed", "demo", "default", "expired", "hostid-mismatch", "invalid"]
#: In precedence order: the first that applies is the verdict.
VERDICTS: Final[tuple[Verdict, ...]] = (
    "invalid",
    "hostid-mismatch",
    "expired",
    "default",
    "demo",
    "licensed",
)
#: The verdicts of a server that runs on what it should (exit 0).
HEALTHY: Final[frozenset[Verdict]] = frozenset({"licensed", "demo"})

HOSTID_MISMATCH: Final = "hostid-mismatch"
EXPIRED: Final = "expired"
DUPLICATE_FILE: Final = "duplicate-file"
DEMO_INVALID: Final = "demo-invalid"
HOSTID_SEVERAL: Final = "hostid-several"
#: The longest demo term [confirmed, seed FAQ: demo files expire in 60 or 90 days].
DEMO_DAYS: Final = 90


@dataclass(frozen=True)
class FileReport:
    """One file's result. ``valid``: no errors (it would be used on this server).

    ``hostid`` is the file's host ID (``ANY``, 12 hex digits, or None when unreadable);
    ``matched`` the server MAC it matched (None for ANY, a mismatch, or no check);
    ``contributes``: a line of it counts on the day; ``features``: how many of its
    FEATURE/INCREMENT lines read cleanly.
    """

    path: str
    valid: bool
    problems: tuple[Problem, ...]
    expires: date | None
    hostid: str | None
    matched: str | None
    demo: bool
    contributes: bool
    features: int


@dataclass(frozen=True)
class LicenseCheck:
    """The result for a set of files: per file, the effective license, the verdict.

    ``checked`` are the MACs checked (empty when host IDs were not checked, as for
    ``license show``); ``matched`` is the first of them that a file is bound to and
    ``matched_all`` every one of them that a file is bound to, in ``checked`` order.
    """

    at: date
    checked: tuple[str, ...]
    matched: str | None
    files: tuple[FileReport, ...]
    effective: Effective
    timeline: tuple[TimelineEntry, ...]
    verdict: Verdict
    matched_all: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.verdict in HEALTHY

    @property
    def hostids(self) -> tuple[str, ...]:
        """The distinct MACs the files are bound to (``ANY`` left out), in file order.

        More than one means no single server has all the files; ``license show``
        says so, since it combines them without checking host IDs.
        """
        return tuple(
            dict.fromkeys(f.hostid for f in self.files if f.hostid is not None and f.hostid != ANY)
        )


def _first_line(file: LicenseFile) -> int | None:
    return file.features[0].line if file.features else None


def _mismatch(file: LicenseFile, macs: tuple[str, ...] | None) -> Problem | None:
    if macs is None or not file.ok or file.hostid in (None, ANY) or file.hostid in macs:
        return None
    listed = ", ".join(macs) if macs else "none given"
    # The NIC-team hint only where the server has several MACs (a team's members and
    # its virtual MAC); for one MAC the file is simply another machine's.
    hint = (
        "a NIC team is licensed on its virtual MAC"
        if len(macs) > 1
        else "the file was issued for another machine: rehost the license to this MAC"
    )
    return Problem(
        _first_line(file),
        HOSTID_MISMATCH,
        f"bound to {file.hostid}, which is none of the server's MACs ({listed}): "
        f"the file contributes nothing ({hint})",
    )


def _expiry_problems(file: LicenseFile, at: date) -> list[Problem]:
    lapsed = [f for f in file.features if f.expiry is not None and f.expiry < at]
    if not lapsed:
        return []
    if len(lapsed) == len(file.features):
        last = max(f.expiry for f in lapsed if f.expiry is not None)
        line = max(lapsed, key=lambda f: (f.expiry, -f.line)).line
        since = format_date(last + timedelta(days=1))
        return [
            Problem(
                line,
                EXPIRED,
                f"the file expired on {format_date(last)}: it contributes nothing since {since}",
            )
        ]
    return [
        Problem(
            f.line,
            EXPIRED,
            f"{f.name} expired on {format_date(f.expiry)}: this "
            "line contributes nothing, the rest of the file still counts",
            "warning",
        )
        for f in lapsed
        if f.expiry is not None
    ]


def _demo_term(file: LicenseFile) -> Problem | None:
    """An error when a demo file never expires or runs over :data:`DEMO_DAYS`, counted
    from a line's START= or else its ISSUED= date (a line with neither is not judged)."""
    for line in file.features:
        if line.expiry is None:
            return Problem(
                line.line,
                DEMO_INVALID,
                f"a demo file (HOSTID=ANY) that never "
                f"expires: Cisco's demo files run {DEMO_DAYS} days at most (60 or "
                "90); this is not one, and it counts for nothing",
            )
        since = line.start or line.issued
        if since is not None and (days := (line.expiry - since).days + 1) > DEMO_DAYS:
            return Problem(
                line.line,
                DEMO_INVALID,
                f"a demo file (HOSTID=ANY) that runs "
                f"{days} days, {format_date(since)} through "
                f"{format_date(line.expiry)}: Cisco's demo files run {DEMO_DAYS} "
                "days at most (60 or 90); it counts for nothing",
            )
    return None


def _several_demos(files: Sequence[LicenseFile]) -> dict[str, Problem]:
    demos = [f for f in files if f.is_demo]
    return {
        f.path: Problem(
            _first_line(f),
            DEMO_INVALID,
            f"a second demo file (the first "
            f"is {demos[0].path}): Cisco registers one demo license per MAC "
            "address; both count here",
            "warning",
        )
        for f in demos[1:]
    }


def _several_macs(report: FileReport, matched_all: tuple[str, ...]) -> FileReport:
    """A ``hostid-several`` warning on a file bound to a server MAC other than the first
    one matched: a server's files are bound to one MAC (a NIC team's virtual MAC)."""
    if report.matched is None or report.matched == matched_all[0]:
        return report
    others = ", ".join(m for m in matched_all if m != report.matched)
    problem = Problem(
        None,
        HOSTID_SEVERAL,
        f"bound to {report.matched}, while other files "
        f"are bound to {others}: a server's license files are bound to one MAC; "
        "a NIC team is licensed on its virtual MAC only, so files for a "
        "physical MAC stop counting when the team fails over",
        "warning",
    )
    return replace(report, problems=(problem, *report.problems))


def _duplicate_files(files: Sequence[LicenseFile]) -> dict[str, Problem]:
    seen: dict[tuple[object, ...], str] = {}
    found: dict[str, Problem] = {}
    for file in files:
        if not file.ok or not file.features:
            continue
        key = (file.hostid, *((f.kind, f.name, f.count, f.expiry, f.start) for f in file.features))
        if key in seen:
            found[file.path] = Problem(
                None,
                DUPLICATE_FILE,
                f"the same license lines as "
                f"{seen[key]}: its INCREMENTs count twice; a copy of a "
                "license file grants nothing more",
                "warning",
            )
        else:
            seen[key] = file.path
    return found


def _verdict(reports: Sequence[FileReport], effective: Effective) -> Verdict:
    codes = {p.code for r in reports for p in r.problems if p.severity == "error"}
    if codes - {HOSTID_MISMATCH, EXPIRED}:
        return "invalid"
    if HOSTID_MISMATCH in codes:
        return "hostid-mismatch"
    lapsed = any(p.code == EXPIRED for r in reports for p in r.problems)
    if effective.default:
        return "expired" if lapsed else "default"
    if any(
        not r.demo and any(p.code == EXPIRED and p.severity == "error" for p in r.problems)
        for r in reports
    ):
        return "expired"
    if all(r.demo for r in reports if r.contributes):
        return "demo"
    return "licensed"


def check_licenses(
    files: Sequence[LicenseFile], *, at: date, macs: Sequence[str] | None
) -> LicenseCheck:
    """Check *files* (parsed, in install order) for a server with *macs* on day *at*.

    *macs* None skips the host-ID check (every well-formed file applies), which is
    what ``license show`` does. MACs may be in any accepted form. ValueError for a MAC
    that is not one, or a path given twice.
    """
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise ValueError(f"{twice} is given twice; each file counts once")
    checked = None if macs is None else tuple(dict.fromkeys(normalize_mac(m) for m in macs))
    mismatches = {f.path: _mismatch(f, checked) for f in files}
    terms = {f.path: _demo_term(f) if f.ok and f.is_demo else None for f in files}
    applying = [f for f in files if f.ok and mismatches[f.path] is None and terms[f.path] is None]
    effective = effective_at(applying, at)
    duplicates = duplicate_features(applying)
    copies = _duplicate_files(applying)
    demos = _several_demos(applying)
    reports: list[FileReport] = []
    for file in files:
        problems = list(file.problems)
        mismatch = mismatches[file.path]
        term = terms[file.path]
        if mismatch is not None:
            problems.append(mismatch)
        elif term is not None:
            problems.append(term)
        elif file.ok:
            problems += duplicates.get(file.path, [])
            if file.path in copies:
                problems.append(copies[file.path])
            if file.path in demos:
                problems.append(demos[file.path])
            problems += _expiry_problems(file, at)
        matched = file.hostid if checked and file.hostid in checked else None
        reports.append(
            FileReport(
                path=file.path,
                valid=not any(p.severity == "error" for p in problems),
                problems=tuple(sorted(problems, key=lambda p: p.line or 0)),
                expires=file.expires,
                hostid=file.hostid,
                matched=matched,
                demo=file.is_demo,
                contributes=file.path in effective.contributing,
                features=len(file.features),
            )
        )
    matched_any = {r.matched for r in reports if r.matched is not None}
    matched_all = tuple(m for m in checked or () if m in matched_any)
    if len(matched_all) > 1:
        reports = [_several_macs(r, matched_all) for r in reports]
    return LicenseCheck(
        at=at,
        checked=checked or (),
        matched=matched_all[0] if matched_all else None,
        matched_all=matched_all,
        files=tuple(reports),
        effective=effective,
        timeline=timeline(applying),
        verdict=_verdict(reports, effective),
    )
