"""The lab the integration tests run: what it needs, and bringing one up.

Integration tests skip when Samba, lighttpd or snmpd (or root) is missing on a
developer machine, but fail under CI=true: a suite that silently skips its directory
tests proves nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "tests" / "topologies"

#: What a lab runs (tool -> Debian package): Samba for its DCs, lighttpd and snmpd for
#: its Unity servers' own license pages and SNMP agents.
LAB_TOOLS = {
    "samba": "samba",
    "samba-tool": "samba",
    "ldbadd": "ldb-tools",
    "ldapsearch": "ldap-utils",
    "lighttpd": "lighttpd lighttpd-mod-openssl",
    "snmpd": "snmpd",
}

#: Whether the test being set up may build a lab: tests/conftest.py sets it before each
#: test's set-up (session fixtures included), true only for tests marked integration.
may_build = True


def which(tool: str) -> str | None:
    # Daemons live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/local/sbin")


def tools_missing_reason(tools: dict[str, str]) -> str | None:
    missing = [t for t in tools if not which(t)]
    if missing:
        packages = " ".join(dict.fromkeys(tools[t] for t in missing))
        return f"needs {', '.join(missing)} (apt-get install {packages})"
    return None


def samba_missing_reason() -> str | None:
    reason = tools_missing_reason(LAB_TOOLS)
    if reason is not None:
        return reason
    if os.geteuid() != 0:
        return "needs root to run a Samba AD DC"
    return None


def skip_or_fail(reason: str | None) -> None:
    """Skip on a developer machine, but fail under CI=true: a suite that silently skips
    what it cannot run proves nothing."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"integration test cannot run under CI: {reason}")
    pytest.skip(reason)


def require_samba() -> None:
    """A lab can be brought up: Samba, lighttpd, snmpd and root."""
    skip_or_fail(samba_missing_reason())


def require_tools(tools: dict[str, str]) -> None:
    """The client tools a test runs (tool -> Debian package), e.g. curl or snmpget."""
    skip_or_fail(tools_missing_reason(tools))


def bring_up(topology_file: Path, lab_dir: Path, *, profile: str = "cisco-unity") -> Iterator[Path]:
    """A lab of ``topology_file`` in ``lab_dir``, running until the generator closes.

    Only tests marked ``integration`` may call this (tests/conftest.py marks them by
    path, and by the lab fixtures they use); a lab built by any other test fails it,
    so ``-m "not integration"`` builds none.
    """
    from poolsync.lab import build
    from poolsync.profile import load_profile
    from topology.spec import load_topology

    if not may_build:
        pytest.fail(
            "a lab is built only by tests marked integration: put the test under "
            "tests/integration (tests/conftest.py marks it there)"
        )
    require_samba()
    build.up(
        load_topology(topology_file),
        load_profile(profile),
        lab_dir,
        step=lambda _msg: None,
        progress=lambda _done, _total: None,
    )
    try:
        yield lab_dir
    finally:
        build.down(lab_dir)
