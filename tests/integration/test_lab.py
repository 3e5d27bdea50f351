"""The lab's life cycle: up, status, a second lab beside the first, down."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from poolsync.config import load_config
from tests.support.helpers import run, run_json
from tests.support.lab import TOPOLOGIES

pytestmark = pytest.mark.integration


def test_lab_life_cycle(exclusions_lab: Path, tmp_path: Path) -> None:
    lab_dir = tmp_path / "tiny"
    result = run("lab", "up", "--topology", TOPOLOGIES / "tiny.yaml", "--dir", lab_dir)
    assert result.exit_code == 0, result.stderr
    assert f"config: {lab_dir / 'poolsync.yaml'}" in result.stdout

    status = run_json("lab", "status", "--dir", lab_dir, "--format", "json")
    assert status["forest"] == "tiny.example.org"
    assert status["config"] == str(lab_dir / "poolsync.yaml")
    [dc] = status["dcs"]
    assert {
        "name",
        "address",
        "ldap_port",
        "ldaps_port",
        "gc_port",
        "gcs_port",
        "bind_user",
        "password_file",
    } <= set(dc)
    assert dc["name"] == "DC1" and dc["running"]
    assert dc["address"].startswith("127.") and dc["address"] != "127.0.0.1"
    assert (dc["ldap_port"], dc["ldaps_port"], dc["gc_port"], dc["gcs_port"]) == (
        389,
        636,
        3268,
        3269,
    )
    assert Path(dc["password_file"]).stat().st_mode & 0o777 == 0o600
    assert Path(dc["password_file"]).parent == lab_dir / "secrets"

    # The written config loads, validates TLS against the lab CA, and keeps the
    # password out of the file.
    config = load_config(lab_dir / "poolsync.yaml")
    assert config.directory.tls.validate
    password = Path(dc["password_file"]).read_text()
    assert password not in (lab_dir / "poolsync.yaml").read_text()

    # Other tools can be pointed at the lab with what status says.
    search = subprocess.run(
        [
            "ldapsearch",
            "-LLL",
            "-x",
            "-H",
            f"ldaps://{dc['address']}:{dc['gcs_port']}",
            "-D",
            dc["bind_user"],
            "-y",
            dc["password_file"],
            "-b",
            "",
            "(objectClass=ciscoEcsbuUMLocation)",
            "ciscoEcsbuServerName",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LDAPTLS_CACERT": dc["ca_file"]},
    )
    assert search.returncode == 0, search.stderr
    assert "ciscoEcsbuServerName: UNITY-T" in search.stdout

    # Two labs at once, on different addresses.
    other = run_json("lab", "status", "--dir", exclusions_lab, "--format", "json")
    assert other["dcs"][0]["address"] != dc["address"]

    again = run("lab", "up", "--topology", TOPOLOGIES / "tiny.yaml", "--dir", lab_dir)
    assert again.exit_code == 0
    assert "reusing it" in again.stderr
    assert (
        run_json("lab", "status", "--dir", lab_dir, "--format", "json")["dcs"][0]["pid"]
        == dc["pid"]
    )

    down = run("lab", "down", "--dir", lab_dir)
    assert down.exit_code == 0, down.stderr
    assert not lab_dir.exists()
    assert (
        not Path(f"/proc/{dc['pid']}").exists()
        or Path(f"/proc/{dc['pid']}/comm").read_text().strip() != "samba"
    )
    # Only the tiny lab's samba was stopped.
    assert run_json("lab", "status", "--dir", exclusions_lab, "--format", "json")["running"]

    gone = run("lab", "status", "--dir", lab_dir)
    assert gone.exit_code == 1
    assert "no poolsync lab" in gone.stderr


def test_lab_refuses_a_foreign_directory(tmp_path: Path) -> None:
    from tests.support.lab import require_samba

    require_samba()
    (tmp_path / "precious.txt").write_text("keep me")
    result = run("lab", "up", "--topology", TOPOLOGIES / "tiny.yaml", "--dir", tmp_path)
    assert result.exit_code == 1
    assert "is not a poolsync lab" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_lab_up_with_a_bad_topology(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "forest: lab.example.com\ndcs: [{name: DC1}]\nservers:\n  - {name: A, "
        "subscribers: {vm: 1, um: 5}}\n"
    )
    result = run("lab", "up", "--topology", bad, "--dir", tmp_path / "lab")
    assert result.exit_code == 2
    assert str(bad) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lab").exists()


def test_schema_extension_follows_the_profile(exclusions_lab: Path) -> None:
    """Samba's GC answers with every attribute it holds, so check the schema itself."""
    from poolsync.profile import load_profile

    dc = run_json("lab", "status", "--dir", exclusions_lab, "--format", "json")["dcs"][0]
    search = subprocess.run(
        [
            "ldapsearch",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-x",
            "-H",
            f"ldaps://{dc['address']}:{dc['ldaps_port']}",
            "-D",
            dc["bind_user"],
            "-y",
            dc["password_file"],
            "-b",
            "CN=Schema,CN=Configuration,DC=pool,DC=example,DC=net",
            "(&(objectClass=attributeSchema)(lDAPDisplayName=ciscoEcsbu*))",
            "lDAPDisplayName",
            "isMemberOfPartialAttributeSet",
            "searchFlags",
            "isSingleValued",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LDAPTLS_CACERT": dc["ca_file"]},
    )
    assert search.returncode == 0, search.stderr
    found: dict[str, dict[str, str]] = {}
    for block in search.stdout.strip().split("\n\n"):
        attrs = dict(line.split(": ", 1) for line in block.splitlines()[1:])
        found[attrs["lDAPDisplayName"]] = attrs
    profile = load_profile("cisco-unity")
    assert set(found) == {a.name for a in profile.attributes}
    for attr in profile.attributes:
        got = found[attr.name]
        assert got["isMemberOfPartialAttributeSet"] == "TRUE"
        assert got["searchFlags"] == ("1" if attr.indexed else "0")
        assert got["isSingleValued"] == ("FALSE" if attr.multi else "TRUE")
