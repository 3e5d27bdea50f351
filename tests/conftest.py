"""Shared fixtures: the real Samba AD lab for integration tests.

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
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# poolsync refuses a config, profile or what-if file that group or others can write
# (poolsync.trust), and the suite writes many of those with plain write_text(): under a
# permissive umask (the red team ran it with umask 000) they would all be refused. So
# the files the suite makes get a login shell's umask, whatever it was started with.
# poolsync's own files never depend on it: the tests of that set a umask of their own
# (the `umask` fixtures of tests/unit/test_security_*.py) and so do the CLI processes
# the security tests start.
os.umask(0o022)
TOPOLOGIES = Path(__file__).resolve().parent / "topologies"

# Hypothesis profiles. The fuzz tests (marked ``fuzz``; tests/fuzzing.py) scale their
# examples from the active profile's max_examples: hypothesis's own "default" (and
# "ci", which it loads under CI=true) keep them bounded; "fuzz" (`make fuzz`, or
# --hypothesis-profile=fuzz, or HYPOTHESIS_PROFILE=fuzz) runs 25 times as many.
settings.register_profile(
    "fuzz", settings.get_profile("default"), max_examples=2500, deadline=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


#: What a lab runs (tool -> Debian package): Samba for its DCs, lighttpd and snmpd for
#: its Unity servers' own license pages and SNMP agents.
LAB_TOOLS = {"samba": "samba", "samba-tool": "samba", "ldbadd": "ldb-tools",
             "ldapsearch": "ldap-utils", "lighttpd": "lighttpd lighttpd-mod-openssl",
             "snmpd": "snmpd"}


def _which(tool: str) -> str | None:
    # Daemons live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/local/sbin")


def tools_missing_reason(tools: dict[str, str]) -> str | None:
    missing = [t for t in tools if not _which(t)]
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


def _skip_or_fail(reason: str | None) -> None:
    """Skip on a developer machine, but fail under CI=true: a suite that silently skips
    what it cannot run proves nothing."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"integration test cannot run under CI: {reason}")
    pytest.skip(reason)


def require_samba() -> None:
    """A lab can be brought up: Samba, lighttpd, snmpd and root."""
    _skip_or_fail(samba_missing_reason())


def require_tools(tools: dict[str, str]) -> None:
    """The client tools a test runs (tool -> Debian package), e.g. curl or snmpget."""
    _skip_or_fail(tools_missing_reason(tools))


def _bring_up(topology_file: Path, lab_dir: Path, *,
              profile: str = "cisco-unity") -> Iterator[Path]:
    from poolsync.lab import build
    from poolsync.profile import load_profile
    from topology.spec import load_topology

    require_samba()
    build.up(load_topology(topology_file), load_profile(profile), lab_dir,
             step=lambda _msg: None, progress=lambda _done, _total: None)
    try:
        yield lab_dir
    finally:
        build.down(lab_dir)


@pytest.fixture(scope="session")
def exclusions_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lab with every exclusion reason, a failover pair and stale data (running)."""
    yield from _bring_up(TOPOLOGIES / "exclusions.yaml",
                         tmp_path_factory.mktemp("labs") / "exclusions")


@pytest.fixture(scope="session")
def tiny_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny topology's lab (running). Tests that write to it use objects of their own."""
    yield from _bring_up(TOPOLOGIES / "tiny.yaml", tmp_path_factory.mktemp("labs") / "tiny")
