"""The example systemd units share one hardened sandbox, and docs/security.md says what
each of its options does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "examples" / "systemd"
SECURITY_DOC = ROOT / "docs" / "security.md"
NAMES = (
    "poolsync.service",
    "poolsync-resync.service",
    "poolsync-resync-total.service",
    "poolsync-kerberos.service",
)
# What differs between the units by design: the command and how it is run and restarted.
PER_UNIT = {
    "Type",
    "ExecStart",
    "SuccessExitStatus",
    "Restart",
    "RestartSec",
    "RestartPreventExitStatus",
    "TimeoutStartSec",
    "TimeoutStopSec",
    "KillSignal",
}
REQUIRED = {
    ("User", "poolsync"),
    ("Group", "poolsync"),
    ("UMask", "0077"),
    ("LimitCORE", "0"),
    ("NoNewPrivileges", "yes"),
    ("CapabilityBoundingSet", ""),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
    ("ReadWritePaths", "/var/lib/poolsync /var/lib/node_exporter/textfile_collector"),
}


def service_section(name: str) -> list[tuple[str, str]]:
    """The [Service] section's settings in order (a key may repeat, as systemd allows)."""
    settings: list[tuple[str, str]] = []
    section = ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings.append((key.strip(), value.strip()))
    return settings


def sandbox(name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in service_section(name) if k not in PER_UNIT]


def test_every_unit_has_the_same_sandbox() -> None:
    reference = sandbox(NAMES[0])
    for name in NAMES[1:]:
        assert sandbox(name) == reference, name


@pytest.mark.parametrize("name", NAMES)
def test_the_sandbox_is_hardened(name: str) -> None:
    settings = set(sandbox(name))
    assert settings >= REQUIRED, REQUIRED - settings
    keys = {k for k, _ in settings}
    assert not keys & {"AmbientCapabilities", "PermissionsStartOnly", "RootDirectory"}
    assert ("User", "root") not in settings


def test_the_security_page_explains_every_sandbox_option() -> None:
    text = SECURITY_DOC.read_text()
    for key in sorted({k for k, _ in sandbox(NAMES[0])}):
        assert re.search(rf"`{key}=", text), key


def test_the_security_page_is_linked() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "| [docs/security.md](docs/security.md) |" in readme
    operations = (ROOT / "docs" / "operations.md").read_text()
    section = operations.split("## Security", 1)[1]
    assert "(security.md)" in section


def _cannot_run(reason: str) -> None:
    """Skip on a developer machine; under CI=true a check that cannot run fails."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.parametrize("name", NAMES)
def test_systemd_rates_the_sandbox_ok(name: str) -> None:
    if shutil.which("systemd-analyze") is None:
        _cannot_run("needs systemd-analyze")
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNITS / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    if match is None:
        _cannot_run(f"systemd-analyze security --offline not supported: {proc.stderr[-200:]}")
    assert match is not None
    assert float(match.group(1)) <= 1.5, proc.stdout[-2000:]
