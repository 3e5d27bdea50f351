"""Servers licensed by license files, end to end on a real Samba AD DC.

tests/topologies/licenses.yaml combines each server's license files on a fixed lab date
(2026-06-01), as Unity's Install License File wizard would; the lab publishes the
result as the pooling attachment, and `resync --total` + `pool` must see exactly that:
cumulative INCREMENTs and a FEATURE override on UNITY-L, a running demo on UNITY-D, an
expired demo that fell back to the default license on UNITY-X, and a file for another
MAC that counts for nothing on UNITY-M.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.attachment import parse_attachment
from poolsync.config import load_config
from poolsync.store import Store
from tests.support.helpers import run, run_json
from tests.support.lab import TOPOLOGIES, bring_up

pytestmark = pytest.mark.integration

TOPOLOGY = TOPOLOGIES / "licenses.yaml"


@pytest.fixture(scope="module")
def license_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(TOPOLOGY, tmp_path_factory.mktemp("labs") / "licenses")


@pytest.fixture(scope="module")
def synced(license_lab: Path) -> Path:
    config = license_lab / "poolsync.yaml"
    summary = run_json("--config", config, "resync", "--total", "--format", "json")
    assert summary["servers"] == 4
    assert summary["subscribers"] == 50 + 30 + 5 + 4
    return config


def seats(vm: int, um: int, inbox: int) -> dict[str, int]:
    return {"vm": vm, "um": um, "inbox": inbox}


def test_pool_reflects_the_license_files(synced: Path) -> None:
    result = run("--config", synced, "pool", "--format", "json")
    assert result.exit_code in (0, 3), result.stderr
    import json

    report = json.loads(result.stdout)
    [pool] = report["pools"]
    assert pool["members"] == ["UNITY-D", "UNITY-L"]
    servers = {s["name"]: s for s in pool["servers"]}
    # UNITY-L: 40 + 20 VM (the 30-seat term expired 31-may-2026), 10 UM, 5 Inbox.
    assert servers["UNITY-L"]["licensed"] == seats(60, 10, 5)
    assert servers["UNITY-L"]["used"] == seats(50, 8, 3)
    # FEATURE LicSecondaryServerIsLicensed in l-upgrade.lic (no secondary in this lab).
    assert servers["UNITY-L"]["failover"] is None
    # UNITY-D runs on its demo file until 30-jun-2026: 50 subscribers.
    assert servers["UNITY-D"]["licensed"] == seats(50, 0, 0)
    assert pool["seats"]["vm"]["licensed"] == 110
    assert pool["seats"]["vm"]["used"] == 80
    excluded = {e["name"]: e for e in report["excluded"]}
    assert set(excluded) == {"UNITY-M", "UNITY-X"}
    for name in ("UNITY-M", "UNITY-X"):
        # The default license does not enable pooling: published as 0, not absent.
        assert excluded[name]["reason"] == "pooling-disabled"
        assert "LicPoolingIsEnabled 0" in excluded[name]["detail"]
    assert report["unpooled"] == seats(5 + 4, 0, 0)


def test_published_attachments_are_the_file_derived_licenses(synced: Path) -> None:
    config = load_config(synced)
    with Store.open(config.store, create=False) as store:
        attachments = {loc.name: loc.attachment for loc in store.locations()}
    licenses = {
        name: parse_attachment(text).licenses
        for name, text in attachments.items()
        if text is not None
    }
    # The expired demo and the wrong-host file fall back to the built-in default
    # license: 10 subscribers, 2 ports, 30-second messages, no pooling.
    for name in ("UNITY-X", "UNITY-M"):
        assert licenses[name]["LicSubscribersMax"] == 10
        assert licenses[name]["LicVoicePortsMax"] == 2
        assert licenses[name]["LicMaxMsgRecLenIsLicensed"] == 0
        assert licenses[name]["LicPoolingIsEnabled"] == 0
    # The FEATURE line sets 24 ports; the INCREMENT of 8 is overridden.
    assert licenses["UNITY-L"]["LicVoicePortsMax"] == 24
    assert licenses["UNITY-L"]["LicSecondaryServerIsLicensed"] == 1
    assert licenses["UNITY-D"]["LicVoicePortsMax"] == 16


def test_license_check_agrees_with_the_lab(license_lab: Path) -> None:
    files = TOPOLOGIES / "licenses"
    doc = run(
        "license",
        "check",
        files / "demo-expired.lic",
        "--mac",
        "00-0B-CD-12-34-56",
        "--at",
        "2026-06-01",
        "--format",
        "json",
    )
    assert doc.exit_code == 3
    assert '"verdict": "expired"' in doc.stdout
