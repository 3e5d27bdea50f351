"""The doctor's report in two shapes: JSON for machines, plain text for people.

Both take a finished :class:`~poolsync.doctor.model.DoctorReport` and only format it;
every rule lives in :mod:`poolsync.doctor.causes`. The JSON shape is a contract
(``meta.type`` is ``doctor-report``, ``meta.version`` is 2): keys may be added, never
renamed or removed without a version bump. Version 2 gives visibility per Global
Catalog as a difference (what it lacks, who looks through it) and a finding's viewers
as groups with a count, so the document grows with the forest, not with its square.

The text reads like a troubleshooter's notes: a headline, then each finding worst first
with its evidence and fix under it, the healthy servers, what each pool member's Global
Catalog lacks, and the notes (what could not be checked). It is produced line by line
(:func:`doctor_report_lines`), so a command can write it as it goes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from poolsync.doctor.model import (
    CAUSES,
    SEVERITIES,
    DoctorReport,
    Finding,
    Viewers,
    Visibility,
)

__all__ = [
    "JSON_TYPE",
    "JSON_VERSION",
    "doctor_report_json",
    "doctor_report_lines",
    "doctor_report_table",
]

JSON_TYPE: Final = "doctor-report"
JSON_VERSION: Final = 2

#: How the viewers of a finding relate to it, for the finding's headline.
_VIEWED_AS: Final = {
    "replication-pending": "seen missing by",
    "no-replication-path": "seen missing by",
    "stale-mirror": "seen missing by",
    "other-forest": "seen missing by",
    "location-missing": "seen missing by",
    "pooling-disabled": "not counted by",
    "version-unsupported": "not counted by",
    "attachment-missing": "not counted by",
    "attachment-too-large": "not counted by",
    "attachment-corrupt": "not counted by",
    "failover-secondary": "counted with its primary by",
    "published-stale": "counted from the directory by",
    "orphaned-subscribers": "affects",
    "monitor-dc-unhealthy": "affects",
    "attachment-not-published": "not counted by",
    "attachment-differs": "counted from the directory's copy by",
    "server-unreachable": "affects",
}
FOREST: Final = "(forest)"  # where a finding about the whole forest is listed
_INDENT: Final = 9  # len("WARNING  ")
_FIX: Final = "fix: "
_NBSP: Final = "\x00"  # stands in for a space that must not break (never in real text)
#: A finding's viewers are named in its headline up to this many; beyond, counted (the
#: visibility section names who looks through which GC).
_NAMED: Final = 10


# --- JSON -------------------------------------------------------------------------


def _viewers_json(viewers: Viewers) -> dict[str, Any]:
    return {
        "count": viewers.count,
        "names": list(viewers.names),
        "gcs": list(viewers.gcs),
        "members": viewers.members,
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "cause": finding.cause,
        "severity": finding.severity,
        "affects": _viewers_json(finding.affects),
        "evidence": finding.evidence,
        "fix": finding.fix,
    }


def doctor_report_json(report: DoctorReport) -> dict[str, Any]:
    """The report as a JSON-ready dict (``json.dumps`` it as is; the CLI writes it as
    it encodes it, :func:`poolsync.cli.output.print_json`)."""
    return {
        "meta": {
            "type": JSON_TYPE,
            "version": JSON_VERSION,
            "generated": report.generated.isoformat(),
        },
        "forest": report.forest,
        "healthy": report.healthy,
        "complete": report.complete,
        "visibility": [
            {
                "gc": v.gc,
                "reachable": v.reachable,
                "viewers": list(v.viewers),
                "holds": v.holds,
                "missing": list(v.missing),
            }
            for v in report.visibility
        ],
        "servers": [
            {
                "name": s.name,
                "guid": s.guid,
                "healthy": s.healthy,
                "findings": [_finding_json(f) for f in s.findings],
            }
            for s in report.servers
        ],
        "findings": [_finding_json(f) for f in report.findings],
        "dcs": [
            {
                "name": d.name,
                "healthy": d.healthy,
                "findings": [_finding_json(f) for f in d.findings],
            }
            for d in report.dcs
        ],
        "notes": list(report.notes),
    }


# --- text -------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _headline(report: DoctorReport) -> str:
    line = _verdict(report)
    return line if report.complete else f"{line} (incomplete: see the notes)"


def _verdict(report: DoctorReport) -> str:
    total = len(report.servers)
    sick = sum(1 for s in report.servers if not s.healthy)
    forest = [
        f
        for f in (*report.findings, *(f for d in report.dcs for f in d.findings))
        if f.severity != "info"
    ]
    also = f"; {_plural(len(forest), 'forest problem')}" if forest else ""
    if total == 0:
        return "no Unity servers found" + also
    if sick == 0:
        verdict = "the only server is healthy" if total == 1 else f"all {total} servers healthy"
        return verdict + (f", but {_plural(len(forest), 'forest problem')}" if forest else "")
    verb = "has" if sick == 1 else "have"
    return f"{sick} of {_plural(total, 'server')} {verb} problems{also}"


def _keep_commands(paragraph: str) -> str:
    """Spaces inside `backticks` made unbreakable, so a command stays on one line."""
    parts = paragraph.split("`")
    return "`".join(p.replace(" ", _NBSP) if i % 2 else p for i, p in enumerate(parts))


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` wrapped paragraph by paragraph (``\\n`` separates them)."""
    lines: list[str] = []
    for i, paragraph in enumerate(text.split("\n")):
        lines += textwrap.wrap(
            _keep_commands(paragraph),
            width=width,
            initial_indent=first if i == 0 else rest,
            subsequent_indent=rest,
            break_on_hyphens=False,
            break_long_words=False,
        ) or [first.rstrip()]
    return [line.replace(_NBSP, " ") for line in lines]


def _audience(report: DoctorReport, server: str, viewers: Viewers) -> str:
    """Who a finding affects, in words: by name up to _NAMED of them, else counted."""
    count = viewers.count
    if not viewers.gcs and not viewers.members:
        return ", ".join(viewers.names)
    if count <= _NAMED:
        named = report.viewer_names(viewers, server=server)
        if len(named) == count:  # else some rows were filtered out (``only``)
            return ", ".join(named)
    noun = "pool member" if count == 1 else "pool members"
    if viewers.members:
        return f"the {count:,} other {noun}"
    gcs = " or ".join(f"{gc}'s" for gc in viewers.gcs)
    return f"the {count:,} {noun} monitoring {gcs} GC"


def _finding_lines(report: DoctorReport, server: str, finding: Finding, width: int) -> list[str]:
    head = f"{finding.severity.upper():<{_INDENT - 2}}  {server}  {finding.cause}"
    if finding.affects.count:
        who = _audience(report, server, finding.affects)
        head += f"  ({_VIEWED_AS.get(finding.cause, 'affects')} {who})"
    pad = " " * _INDENT
    # The fix is never wrapped: its commands are copied and pasted, and a terminal that
    # folds a long line still gives it back whole.
    fix = [
        f"{pad}{_FIX if i == 0 else ' ' * len(_FIX)}{paragraph}"
        for i, paragraph in enumerate(finding.fix.split("\n"))
    ]
    return [head, *_wrap(finding.evidence, width, pad, pad), *fix]


def _findings(report: DoctorReport, width: int) -> list[str]:
    ranked: list[tuple[int, int, int, str, Finding]] = []
    for finding in report.findings:
        cause = CAUSES.index(finding.cause) if finding.cause in CAUSES else len(CAUSES)
        ranked.append((SEVERITIES.index(finding.severity), -1, cause, FOREST, finding))
    for order, dc in enumerate(report.dcs):
        for finding in dc.findings:
            cause = CAUSES.index(finding.cause) if finding.cause in CAUSES else len(CAUSES)
            ranked.append(
                (
                    SEVERITIES.index(finding.severity),
                    len(report.servers) + order,
                    cause,
                    f"{dc.name} (DC)",
                    finding,
                )
            )
    for order, server in enumerate(report.servers):
        for finding in server.findings:
            cause = CAUSES.index(finding.cause) if finding.cause in CAUSES else len(CAUSES)
            ranked.append((SEVERITIES.index(finding.severity), order, cause, server.name, finding))
    ranked.sort(key=lambda r: r[:3])
    lines: list[str] = []
    for *_, name, finding in ranked:
        lines += _finding_lines(report, name, finding, width)
    return lines


def _cells(names: Sequence[str], width: int) -> list[str]:
    return textwrap.wrap(", ".join(names), width=width, break_on_hyphens=False) or ["-"]


def _sees(row: Visibility) -> str:
    if not row.reachable:
        return "(GC not reachable)"
    total = row.holds + len(row.missing)
    if row.missing:
        return f"{row.holds:,} of {total:,} servers"
    return "the only server" if total == 1 else f"all {total:,} servers"


def _matrix(rows: Sequence[Visibility], width: int) -> Iterator[str]:
    """One row per GC: who looks through it, how many servers it holds current, and
    which it lacks (named: the difference, never the servers it holds)."""
    gc_w = max(len("GC"), *(len(v.gc or "(none)") for v in rows))
    sees_w = max(len("SEES"), *(len(_sees(v)) for v in rows))
    free = max(24, width - 2 - gc_w - sees_w - 6)
    longest = max(len(", ".join(v.viewers)) for v in rows)
    viewers_w = max(len("VIEWERS"), min(free // 2, longest))
    missing_w = max(12, free - viewers_w)
    yield from _row("GC", gc_w, ["VIEWERS"], viewers_w, "SEES", sees_w, ["MISSING"])
    for v in rows:
        missing = _cells(v.missing, missing_w) if v.reachable else ["?"]
        yield from _row(
            v.gc or "(none)",
            gc_w,
            _cells(v.viewers, viewers_w),
            viewers_w,
            _sees(v),
            sees_w,
            missing,
        )


def _row(
    gc: str,
    gc_w: int,
    viewers: list[str],
    viewers_w: int,
    sees: str,
    sees_w: int,
    missing: list[str],
) -> Iterator[str]:
    for i in range(max(len(viewers), len(missing))):
        left = f"  {gc if i == 0 else '':<{gc_w}}  "
        who = viewers[i] if i < len(viewers) else ""
        held = sees if i == 0 else ""
        miss = missing[i] if i < len(missing) else ""
        yield f"{left}{who:<{viewers_w}}  {held:<{sees_w}}  {miss}".rstrip()


def _section(title: str, body: Iterable[str]) -> Iterator[str]:
    yield ""
    yield title
    yield from body


def doctor_report_lines(report: DoctorReport, *, width: int = 100) -> Iterator[str]:
    """The report as plain text for a terminal, line by line (no line ends), wrapped at
    ``width``."""
    width = max(width, 40)
    yield f"Doctor: forest {report.forest}, {report.generated.isoformat(timespec='seconds')}"
    yield _headline(report)
    findings = _findings(report, width)
    if findings:
        yield ""
        yield from findings
    healthy = [s.name for s in report.servers if s.healthy]
    if healthy:
        yield ""
        yield from _wrap(", ".join(healthy), width, "Healthy: ", "  ")
    if report.visibility:
        yield from _section(
            "What each pool member's Global Catalog holds:", _matrix(report.visibility, width)
        )
    if report.notes:
        yield from _section(
            "Notes:", (line for note in report.notes for line in _wrap(note, width, "  - ", "    "))
        )


def doctor_report_table(report: DoctorReport, *, width: int = 100) -> str:
    """The report as plain text for a terminal, lines wrapped at ``width``."""
    return "".join(f"{line}\n" for line in doctor_report_lines(report, width=width))
