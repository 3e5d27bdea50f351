"""Unity 4.x license files: parsed, combined and checked the way a Unity server does.

A Unity 4.x server is licensed by FLEXlm text files bound to its MAC address; the files
are cumulative, some expire, and with none installed the built-in default license
applies (docs/licenses.md). This package reads them and answers "what does this server
have on this day, until when, and is that right?". Everything but
:mod:`~poolsync.licensing.files` is pure: no clock, no file system.

Entry points:

* :func:`read_license_file` (I/O) -> :class:`LicenseFile` or :class:`EffectiveXml`
* :func:`parse_license_file` (bytes -> :class:`LicenseFile`, never raises)
* :func:`effective_at`, :func:`timeline` (what the files grant on a day, and when it
  changes)
* :func:`check_licenses` (per-file validity against the server's MACs, and a verdict)
* :func:`normalize_mac`; :data:`DEFAULT_LICENSE`, :data:`PARAMETERS`
* :func:`check_json`, :func:`show_json` (the commands' JSON documents)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poolsync.licensing.check import (
        HEALTHY,
        VERDICTS,
        FileReport,
        LicenseCheck,
        Verdict,
        check_licenses,
    )
    from poolsync.licensing.effective import Effective, TimelineEntry, effective_at, timeline
    from poolsync.licensing.files import EffectiveXml, read_license_file
    from poolsync.licensing.flexlm import FeatureLine, LicenseFile, Problem, parse_license_file
    from poolsync.licensing.mac import normalize_mac
    from poolsync.licensing.params import DEFAULT_LICENSE, PARAMETERS
    from poolsync.licensing.report import check_json, show_json, show_xml_json

# Each name is imported from its module on first use: the config (which only needs
# normalize_mac) and every resync would otherwise load the whole license reader.
_HOME = {
    "HEALTHY": "check",
    "VERDICTS": "check",
    "FileReport": "check",
    "LicenseCheck": "check",
    "Verdict": "check",
    "check_licenses": "check",
    "Effective": "effective",
    "TimelineEntry": "effective",
    "effective_at": "effective",
    "timeline": "effective",
    "EffectiveXml": "files",
    "read_license_file": "files",
    "FeatureLine": "flexlm",
    "LicenseFile": "flexlm",
    "Problem": "flexlm",
    "parse_license_file": "flexlm",
    "normalize_mac": "mac",
    "DEFAULT_LICENSE": "params",
    "PARAMETERS": "params",
    "check_json": "report",
    "show_json": "report",
    "show_xml_json": "report",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_LICENSE",
    "HEALTHY",
    "PARAMETERS",
    "VERDICTS",
    "Effective",
    "EffectiveXml",
    "FeatureLine",
    "FileReport",
    "LicenseCheck",
    "LicenseFile",
    "Problem",
    "TimelineEntry",
    "Verdict",
    "check_json",
    "check_licenses",
    "effective_at",
    "normalize_mac",
    "parse_license_file",
    "read_license_file",
    "show_json",
    "show_xml_json",
    "timeline",
]
