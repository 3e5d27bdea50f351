"""What `make test` installs: the browser the HTML report test uses comes without its
recommends (with them, chromium pulled 107 packages and 453 MB, upgrading systemd), while
Samba's AD modules, which are only recommends of samba, are named so they still come."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str) -> str:
    """What ``make -n TARGET`` prints: the commands it would run, sub-makes included."""
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def variable(name: str) -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")  # continued lines
    match = re.search(rf"^{name}\s*:=\s*(.*)$", text, re.MULTILINE)
    assert match, name
    return match.group(1).split()


def test_chromium_comes_without_recommends() -> None:
    assert variable("TEST_APT_PACKAGES") == ["chromium", "faketime"]
    rule = dry_run("test-system-packages")
    assert "APT_FLAGS=--no-install-recommends" in rule
    assert 'PACKAGES="chromium faketime"' in rule


def test_samba_and_its_ad_modules_come_for_the_demo_and_the_tests() -> None:
    packages = variable("APT_PACKAGES")
    for name in (
        "samba",
        "samba-dsdb-modules",
        "samba-ad-provision",
        "ldb-tools",
        "ldap-utils",
        "libnss-wrapper",
    ):
        assert name in packages
    # make test's set-up installs Samba first (with its recommends), then the browser.
    test_setup = dry_run("test-system-packages")
    assert test_setup.index('PACKAGES="samba ') < test_setup.index('PACKAGES="chromium')


def test_the_lab_servers_daemons_and_their_clients_come_for_the_demo_and_the_tests() -> None:
    packages = variable("APT_PACKAGES")
    for name in ("lighttpd", "lighttpd-mod-openssl", "snmpd", "snmp", "curl"):
        assert name in packages
    # .ci/run gets them through `make test`, whose set-up installs APT_PACKAGES.
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    for target in ("system-packages", "test-setup"):
        assert "lighttpd lighttpd-mod-openssl snmpd snmp curl" in dry_run(target)


def test_kerberos_builds_and_its_clock_test_runs() -> None:
    """gssapi (poolsync[kerberos], in the test extra) builds against MIT Kerberos's
    headers; faketime puts one test's clock ahead of the KDC's. Neither package writes
    /etc/krb5.conf (krb5-user would: the lab never touches the machine's Kerberos)."""
    assert "libkrb5-dev" in variable("APT_PACKAGES")
    assert "faketime" in variable("TEST_APT_PACKAGES")
    for name in ("krb5-user", "krb5-config"):
        assert name not in variable("APT_PACKAGES") + variable("TEST_APT_PACKAGES")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"poolsync[kerberos,ntlm]"' in pyproject
