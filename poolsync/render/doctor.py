"""The doctor's report in two shapes: JSON for machines, plain text for people.

Both take a finished :class:`~poolsync.doctor.model.DoctorReport` and only format it;
every rule lives in :mod:`poolsync.doctor.causes`. The JSON shape is a contract
(``meta.type`` is ``doctor-report``, ``meta.version`` is 1): keys may be added, never
renamed or removed without a version bump.

The text reads like a troubleshooter's notes: a headline, then each finding worst first
with its evidence and fix under it, the healthy servers, what each pool member's Global
Catalog holds, and the notes (what could not be checked).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, Final

from poolsync.doctor.model import CAUSES, SEVERITIES, DoctorReport, Finding, Visibility

__all__ = ["JSON_TYPE", "JSON_VERSION", "doctor_report_json", "doctor_report_table"]

JSON_TYPE: Final = "doctor-report"
JSON_VERSION: Final = 1

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
}
FOREST: Final = "(forest)"  # where a finding about the whole forest is listed
_INDENT: Final = 9  # len("WARNING  ")
_FIX: Final = "fix: "
_NBSP: Final = "\x00"  # stands in for a space that must not break (never in real text)


# --- JSON -------------------------------------------------------------------------


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "cause": finding.cause,
        "severity": finding.severity,
        "viewers": list(finding.viewers),
        "evidence": finding.evidence,
        "fix": finding.fix,
    }


def doctor_report_json(report: DoctorReport) -> dict[str, Any]:
    """The report as a JSON-ready dict (``json.dumps`` it as is)."""
    return {
        "meta": {"type": JSON_TYPE, "version": JSON_VERSION,
                 "generated": report.generated.isoformat()},
        "forest": report.forest,
        "healthy": report.healthy,
        "complete": report.complete,
        "visibility": [
            {"viewer": v.viewer, "gc": v.gc, "sees": list(v.sees), "missing": list(v.missing),
             "reachable": v.reachable}
            for v in report.visibility
        ],
        "servers": [
            {"name": s.name, "guid": s.guid, "healthy": s.healthy,
             "findings": [_finding_json(f) for f in s.findings]}
            for s in report.servers
        ],
        "findings": [_finding_json(f) for f in report.findings],
        "dcs": [{"name": d.name, "healthy": d.healthy,
                 "findings": [_finding_json(f) for f in d.findings]} for d in report.dcs],
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
    forest = [f for f in (*report.findings, *(f for d in report.dcs for f in d.findings))
              if f.severity != "info"]
    also = f"; {_plural(len(forest), 'forest problem')}" if forest else ""
    if total == 0:
        return "no Unity servers found" + also
    if sick == 0:
        verdict = ("the only server is healthy" if total == 1
                   else f"all {total} servers healthy")
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
        lines += textwrap.wrap(_keep_commands(paragraph), width=width,
                               initial_indent=first if i == 0 else rest,
                               subsequent_indent=rest, break_on_hyphens=False,
                               break_long_words=False) or [first.rstrip()]
    return [line.replace(_NBSP, " ") for line in lines]


def _finding_lines(server: str, finding: Finding, width: int) -> list[str]:
    head = f"{finding.severity.upper():<{_INDENT - 2}}  {server}  {finding.cause}"
    if finding.viewers:
        head += f"  ({_VIEWED_AS.get(finding.cause, 'affects')} {', '.join(finding.viewers)})"
    pad = " " * _INDENT
    # The fix is never wrapped: its commands are copied and pasted, and a terminal that
    # folds a long line still gives it back whole.
    fix = [f"{pad}{_FIX if i == 0 else ' ' * len(_FIX)}{paragraph}"
           for i, paragraph in enumerate(finding.fix.split("\n"))]
    return [head, *_wrap(finding.evidence, width, pad, pad), *fix]


def _findings(report: DoctorReport, width: int) -> list[str]:
    ranked: list[tuple[int, int, int, str, Finding]] = []
    for finding in report.findings:
        cause = CAUSES.index(finding.cause) if finding.cause in CAUSES else len(CAUSES)
        ranked.append((SEVERITIES.index(finding.severity), -1, cause, FOREST, finding))
    for order, dc in enumerate(report.dcs):
        for finding in dc.findings:
            cause = CAUSES.index(finding.cause) if finding.cause in CAUSES else len(CAUSES)
            ranked.append((SEVERITIES.index(finding.severity), len(report.servers) + order,
                           cause, f"{dc.name} (DC)", finding))
    for order, server in enumerate(report.servers):
        for finding in server.findings:
            cause = CAUSES.index(finding.cause) if finding.cause in CAUSES else len(CAUSES)
            ranked.append((SEVERITIES.index(finding.severity), order, cause, server.name,
                           finding))
    ranked.sort(key=lambda r: r[:3])
    lines: list[str] = []
    for *_, name, finding in ranked:
        lines += _finding_lines(name, finding, width)
    return lines


def _cells(names: Sequence[str], width: int) -> list[str]:
    return textwrap.wrap(", ".join(names), width=width, break_on_hyphens=False) or ["-"]


def _matrix(rows: Sequence[Visibility], width: int) -> list[str]:
    viewer_w = max(len("VIEWER"), *(len(v.viewer) for v in rows))
    gc_w = max(len("GC"), *(len(v.gc or "(none)") for v in rows))
    free = max(24, width - 2 - viewer_w - gc_w - 6)
    sees_w = max(12, free // 2)
    missing_w = max(12, free - sees_w)
    lines = _row("VIEWER", viewer_w, "GC", gc_w, ["SEES"], sees_w, ["MISSING"])
    for v in rows:
        if v.reachable:
            sees, missing = _cells(v.sees, sees_w), _cells(v.missing, missing_w)
        else:
            sees, missing = ["(GC not reachable)"], ["?"]
        lines += _row(v.viewer, viewer_w, v.gc or "(none)", gc_w, sees, sees_w, missing)
    return lines


def _row(viewer: str, viewer_w: int, gc: str, gc_w: int, sees: list[str], sees_w: int,
         missing: list[str]) -> list[str]:
    out: list[str] = []
    for i in range(max(len(sees), len(missing))):
        left = f"  {viewer if i == 0 else '':<{viewer_w}}  {gc if i == 0 else '':<{gc_w}}  "
        see = sees[i] if i < len(sees) else ""
        miss = missing[i] if i < len(missing) else ""
        out.append(f"{left}{see:<{sees_w}}  {miss}".rstrip())
    return out


def _section(title: str, body: Iterable[str]) -> list[str]:
    return ["", title, *body]


def doctor_report_table(report: DoctorReport, *, width: int = 100) -> str:
    """The report as plain text for a terminal, lines wrapped at ``width``."""
    width = max(width, 40)
    lines = [f"Doctor: forest {report.forest}, {report.generated.isoformat(timespec='seconds')}",
             _headline(report)]
    findings = _findings(report, width)
    if findings:
        lines += ["", *findings]
    healthy = [s.name for s in report.servers if s.healthy]
    if healthy:
        lines += ["", *_wrap(", ".join(healthy), width, "Healthy: ", "  ")]
    if report.visibility:
        lines += _section("What each pool member's Global Catalog holds:",
                          _matrix(report.visibility, width))
    if report.notes:
        lines += _section("Notes:", (line for note in report.notes
                                     for line in _wrap(note, width, "  - ", "    ")))
    return "\n".join(lines) + "\n"
