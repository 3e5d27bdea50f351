"""The JSON documents of ``poolsync license show`` and ``license check``. Pure.

Shapes (docs/licenses.md, "JSON"): ``meta`` with type ``license-show`` or
``license-check`` and version 1; flags are JSON booleans, counters integers, dates ISO
``YYYY-MM-DD``. More keys may be added within a version; none is removed or changes
meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from poolsync.attachment import FLAGS as XML_FLAGS
from poolsync.licensing import params
from poolsync.licensing.check import FileReport, LicenseCheck
from poolsync.licensing.effective import Effective, TimelineEntry
from poolsync.licensing.files import EffectiveXml
from poolsync.licensing.flexlm import Problem

__all__ = ["CHECK_TYPE", "JSON_VERSION", "SHOW_TYPE", "check_json", "show_json", "show_xml_json"]

CHECK_TYPE: Final = "license-check"
SHOW_TYPE: Final = "license-show"
JSON_VERSION: Final = 1


def _meta(kind: str, generated: datetime) -> dict[str, Any]:
    return {
        "type": kind,
        "version": JSON_VERSION,
        "generated": generated.isoformat(timespec="seconds"),
    }


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def parameters_json(values: Mapping[str, int]) -> dict[str, int | bool]:
    """Parameters as JSON: flags as booleans, counters as integers; known ones first."""
    known = [n for n in params.PARAMETERS if n in values]
    rest = [n for n in values if n not in params.PARAMETERS]
    return {
        n: (values[n] >= 1 if n in params.FLAGS or n in XML_FLAGS else values[n])
        for n in known + rest
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "line": problem.line,
        "code": problem.code,
        "message": problem.message,
        "severity": problem.severity,
    }


def _file_json(report: FileReport) -> dict[str, Any]:
    return {
        "path": report.path,
        "kind": "flexlm",
        "valid": report.valid,
        "problems": [problem_json(p) for p in report.problems],
        "expires": _day(report.expires),
        "hostid": report.hostid,
        "matched": report.matched,
        "demo": report.demo,
        "contributes": report.contributes,
        "features": report.features,
    }


def _timeline_json(entries: tuple[TimelineEntry, ...]) -> list[dict[str, Any]]:
    return [
        {
            "date": entry.date.isoformat(),
            "changes": {c.name: {"from": c.before, "to": c.after} for c in entry.changes},
            "causes": [{"path": c.path, "line": c.line, "event": c.event} for c in entry.causes],
            "files": list(entry.files),
            "default_license": entry.default_after,
        }
        for entry in entries
    ]


def _effective_json(effective: Effective) -> dict[str, Any]:
    return {
        "effective": parameters_json(effective.values),
        "default_license": effective.default,
        "max_message_seconds": effective.message_seconds,
        "sources": {
            name: [
                {"path": s.path, "line": s.line, "kind": s.kind, "count": s.count} for s in sources
            ]
            for name, sources in effective.sources.items()
        },
    }


def check_json(result: LicenseCheck, *, generated: datetime) -> dict[str, Any]:
    """``license check``: the issue's shape, plus per-file details and the timeline."""
    return {
        "meta": _meta(CHECK_TYPE, generated),
        "at": result.at.isoformat(),
        "hostid": {
            "matched": result.matched,
            "checked": list(result.checked),
            "matched_all": list(result.matched_all),
        },
        "files": [_file_json(f) for f in result.files],
        **_effective_json(result.effective),
        "timeline": _timeline_json(result.timeline),
        "verdict": result.verdict,
    }


def show_json(result: LicenseCheck, *, generated: datetime) -> dict[str, Any]:
    """``license show`` of license files (host IDs not checked; ``hostids`` lists the
    MACs the files are bound to, so more than one shows they belong to several
    servers)."""
    return {
        "meta": _meta(SHOW_TYPE, generated),
        "at": result.at.isoformat(),
        "source": "license-files",
        "hostids": list(result.hostids),
        "files": [_file_json(f) for f in result.files],
        **_effective_json(result.effective),
        "timeline": _timeline_json(result.timeline),
    }


def show_xml_json(xml: EffectiveXml, *, at: date, generated: datetime) -> dict[str, Any]:
    """``license show`` of an effective-license XML: what the server reported.

    The XML is a snapshot with no dates, so the timeline is empty and ``at`` only
    echoes the option.
    """
    licenses = xml.data.licenses
    message_seconds = (
        None if licenses.get(params.MAX_MSG_REC_LEN, 0) >= 1 else params.DEFAULT_MESSAGE_SECONDS
    )
    return {
        "meta": _meta(SHOW_TYPE, generated),
        "at": at.isoformat(),
        "source": "effective-license-xml",
        "files": [{"path": xml.path, "kind": "avxml", "valid": True, "problems": []}],
        "effective": parameters_json(licenses),
        "utilization": dict(xml.data.utilization),
        "default_license": False,
        "max_message_seconds": message_seconds,
        "sources": {},
        "timeline": [],
    }
