"""Topology servers licensed by license_files: the numbers, the lab date, the errors,
and the pooling attachment the lab publishes from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.attachment import parse_attachment
from poolsync.errors import TopologyError
from poolsync.lab.ldif import attachment_text
from topology.spec import LicenseSpec, load_topology

REPO = Path(__file__).resolve().parents[2]
MAC = "00-0B-CD-12-34-56"
BASE = (
    "SERVER h 000BCD123456\n"
    "INCREMENT LicSubscribersMax cisco 4.0 permanent 40\n"
    "INCREMENT LicUMSubscribersMax cisco 4.0 permanent 10\n"
    "INCREMENT LicVMISubscribersMax cisco 4.0 permanent 5\n"
    "INCREMENT LicVoicePortsMax cisco 4.0 permanent 8\n"
    "INCREMENT LicTTSSessionsMax cisco 4.0 permanent 2\n"
    "FEATURE LicPoolingIsEnabled cisco 4.0 permanent 1\n"
    "FEATURE LicSecondaryServerIsLicensed cisco 4.0 permanent 1\n"
)
DEMO = (
    "INCREMENT LicSubscribersMax cisco 4.0 29-dec-2026 50 HOSTID=ANY\n"
    "INCREMENT LicVoicePortsMax cisco 4.0 29-dec-2026 16 HOSTID=ANY\n"
    "INCREMENT LicPoolingIsEnabled cisco 4.0 29-dec-2026 1 HOSTID=ANY\n"
)


def setup(
    tmp_path: Path,
    server: dict[str, Any],
    *,
    files: dict[str, str] | None = None,
    lab_date: object = "2026-12-01",
) -> Path:
    for name, text in (files or {"base.lic": BASE, "demo.lic": DEMO}).items():
        (tmp_path / name).write_text(text)
    doc: dict[str, Any] = {"forest": "lab.example.com", "servers": [server]}
    if lab_date is not None:
        doc["lab_date"] = lab_date
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def error(path: Path) -> str:
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    return str(info.value)


def test_license_files_become_the_servers_licenses(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        {
            "name": "U",
            "mac": MAC,
            "license_files": ["base.lic", "demo.lic"],
            "subscribers": {"vm": 3},
        },
    )
    topology = load_topology(path)
    assert topology.lab_date == date(2026, 12, 1)
    [server] = topology.servers
    assert server.licenses == LicenseSpec(vm=90, um=10, inbox=5, ports=24, secondary=True)
    assert server.pooling
    assert server.license_files is not None
    assert server.license_files.verdict == "licensed"
    assert server.license_files.paths == (tmp_path / "base.lic", tmp_path / "demo.lic")
    # The attachment carries every parameter the files grant, not just the seats.
    data = parse_attachment(attachment_text(server) or "")
    assert data.licenses["LicTTSSessionsMax"] == 2
    assert data.licenses["LicMaxMsgRecLenIsLicensed"] == 0
    assert data.licensed.vm == 90 and data.voice_ports == 24 and data.secondary_licensed
    assert data.published_used is not None and data.published_used.vm == 3


def test_an_expired_demo_falls_back_to_the_default_license(tmp_path: Path) -> None:
    path = setup(tmp_path, {"name": "U", "license_files": ["demo.lic"]}, lab_date="2026-12-30")
    [server] = load_topology(path).servers
    assert server.license_files is not None and server.license_files.verdict == "expired"
    assert server.licenses == LicenseSpec(vm=10, ports=2)
    assert not server.pooling
    data = parse_attachment(attachment_text(server) or "")
    assert data.licenses["LicPoolingIsEnabled"] == 0
    assert not data.pooling_enabled


def test_a_running_demo(tmp_path: Path) -> None:
    path = setup(tmp_path, {"name": "U", "license_files": ["demo.lic"]}, lab_date=None)
    [server] = load_topology(path, today=date(2026, 12, 29)).servers
    assert server.license_files is not None and server.license_files.verdict == "demo"
    assert server.license_files.at == date(2026, 12, 29)
    assert server.licenses.vm == 50 and server.pooling


def test_lab_date_wins_over_today(tmp_path: Path) -> None:
    path = setup(tmp_path, {"name": "U", "license_files": ["demo.lic"]}, lab_date="2026-12-30")
    [server] = load_topology(path, today=date(2026, 12, 1)).servers
    assert server.licenses.vm == 10


def test_a_file_for_another_mac_counts_for_nothing(tmp_path: Path) -> None:
    path = setup(tmp_path, {"name": "U", "mac": "00-0B-CD-00-00-01", "license_files": ["base.lic"]})
    [server] = load_topology(path).servers
    assert server.license_files is not None
    assert server.license_files.verdict == "hostid-mismatch"
    assert server.licenses == LicenseSpec(vm=10, ports=2)


@pytest.mark.parametrize(
    ("server", "files", "lab_date", "expected"),
    [
        (
            {"name": "U", "mac": MAC, "license_files": ["base.lic"], "licenses": {"vm": 1}},
            None,
            "2026-12-01",
            "servers[0].licenses: licenses comes from the license files when license_files is "
            "given; remove one of them",
        ),
        (
            {"name": "U", "mac": MAC, "license_files": ["base.lic"], "pooling": False},
            None,
            "2026-12-01",
            "servers[0].pooling: pooling comes from the license files when license_files is "
            "given; remove one of them",
        ),
        (
            {"name": "U", "license_files": ["base.lic"]},
            None,
            "2026-12-01",
            "servers[0].license_files[0]: {dir}/base.lic is bound to the MAC 000BCD123456: give "
            "the server's mac so the lab can check it",
        ),
        (
            {"name": "U", "license_files": []},
            None,
            "2026-12-01",
            "servers[0].license_files: expected at least one license file path, got an empty list",
        ),
        (
            {"name": "U", "license_files": "base.lic"},
            None,
            "2026-12-01",
            "servers[0].license_files: expected a list of license file paths (relative to the "
            "topology file), got 'base.lic'",
        ),
        (
            {"name": "U", "license_files": ["demo.lic", "./demo.lic"]},
            None,
            "2026-12-01",
            "servers[0].license_files[1]: './demo.lic' is listed twice (also "
            "license_files[0]); each file counts once",
        ),
        (
            {"name": "U", "license_files": ["nope.lic"]},
            None,
            "2026-12-01",
            "servers[0].license_files[0]: {dir}/nope.lic: cannot read: No such file or directory",
        ),
        (
            {"name": "U", "license_files": ["bad.lic"]},
            {"bad.lic": "INCREMENT LicSubscriberMax cisco 4.0 permanent 1 HOSTID=ANY\n"},
            "2026-12-01",
            "servers[0].license_files[0]: {dir}/bad.lic line 1: unknown-parameter: "
            "'LicSubscriberMax' is not a Unity license parameter; did you mean "
            "LicSubscribersMax? (names are case-sensitive) (the Install License File wizard "
            "would refuse this file)",
        ),
        (
            {"name": "U", "license_files": ["e.xml"]},
            {"e.xml": "<AvXmlLicData><Licenses/></AvXmlLicData>"},
            "2026-12-01",
            "servers[0].license_files[0]: {dir}/e.xml is an effective-license XML "
            "(AvXmlLicData), not a license file; list FLEXlm license files",
        ),
        (
            {"name": "U", "license_files": ["demo.lic"]},
            None,
            "2026-02-30",
            "lab_date: '2026-02-30' is not a date: day is out of range for month",
        ),
        (
            {"name": "U", "license_files": ["demo.lic"]},
            None,
            "soon",
            "lab_date: expected a date such as 2026-12-01, got 'soon'",
        ),
        (
            {"name": "U", "license_files": ["demo.lic"]},
            None,
            20261201,
            "lab_date: expected a date such as 2026-12-01, got 20261201",
        ),
    ],
)
def test_errors(
    tmp_path: Path,
    server: dict[str, Any],
    files: dict[str, str] | None,
    lab_date: object,
    expected: str,
) -> None:
    path = setup(tmp_path, server, files=files, lab_date=lab_date)
    assert error(path) == f"{path}: " + expected.format(dir=tmp_path)


def test_a_failover_secondary_has_no_license_files(tmp_path: Path) -> None:
    (tmp_path / "demo.lic").write_text(DEMO)
    path = tmp_path / "lab.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "forest": "lab.example.com",
                "servers": [
                    {"name": "A"},
                    {"name": "A2", "failover_of": "A", "license_files": ["demo.lic"]},
                ],
            }
        )
    )
    assert error(path) == (
        f"{path}: servers[1].license_files: a failover secondary "
        "(failover_of: A) has no license_files of its own; remove it"
    )


def test_the_example_topology_loads() -> None:
    topology = load_topology(REPO / "examples" / "licenses" / "lab.yaml")
    verdicts = {
        s.name: s.license_files.verdict for s in topology.servers if s.license_files is not None
    }
    assert verdicts == {"UNITY-A": "licensed", "UNITY-B": "licensed", "UNITY-DEMO": "demo"}
    a = topology.server("UNITY-A")
    assert a.licenses == LicenseSpec(vm=500, um=200, inbox=50, ports=24, secondary=False)
