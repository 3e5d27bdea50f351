"""Forests shaped like real Unity forests, against Samba: binary homes, no license class,
Location names of a forest's own, UTF-16 attachments, orphans; discovery of a forest's
names with `poolsync schema discover`, and the older license-class model.
"""

from __future__ import annotations

import json
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml

from poolsync.lab.edit import Add, LabEditor
from poolsync.lab.ldif import HOME_HEADER
from tests.support import handbuilt
from tests.support.helpers import LICENSE_CLASS_PROFILE, lab_config_copy, run, run_json
from tests.support.lab import TOPOLOGIES, bring_up

pytestmark = pytest.mark.integration
PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def seats(vm: int, um: int, inbox: int) -> dict[str, int]:
    return {"vm": vm, "um": um, "inbox": inbox}


def config_for(lab: Path, tmp_path: Path, name: str, *, profile: str | None = None) -> Path:
    """A copy of the lab's config with a store of its own (and, given, another profile)."""
    path = lab_config_copy(lab, tmp_path / f"{name}.yaml", store=tmp_path / f"{name}.db")
    if profile is not None:
        doc = yaml.safe_load(path.read_text())
        doc["profile"] = profile
        path.write_text(yaml.safe_dump(doc))
    return path


def admin(lab: Path) -> ldap3.Connection:
    state = json.loads((lab / "lab.json").read_text())
    dc = state["dcs"][0]
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=state["ca_file"])
    server = ldap3.Server(
        dc["address"], port=dc["ldaps_port"], use_ssl=True, tls=tls, get_info=ldap3.NONE
    )
    return ldap3.Connection(
        server,
        user=state["bind_user"],
        password=Path(state["password_file"]).read_text(),
        auto_bind=True,
        raise_exceptions=True,
    )


# --- the default lab is real-shaped ------------------------------------------------------


def test_lab_subscribers_are_plain_users_with_binary_homes(tiny_lab: Path) -> None:
    conn = admin(tiny_lab)
    try:
        conn.search(
            "OU=Subscribers,OU=Unity,DC=tiny,DC=example,DC=org",
            "(objectClass=user)",
            attributes=["objectClass", "ciscoEcsbuUMLocationObjectId", "ciscoEcsbuLicenseClass"],
        )
        # Other tests add users of their own to the shared lab: the lab's are UNITY-T's.
        entries = [
            e
            for e in conn.response
            if e.get("type") == "searchResEntry" and e["dn"].startswith("CN=UNITY-T ")
        ]
        assert len(entries) == 5
        for entry in entries:
            raw = entry["raw_attributes"]
            assert sorted(v.decode() for v in raw["objectClass"]) == [
                "organizationalPerson",
                "person",
                "top",
                "user",
            ]
            home = raw["ciscoEcsbuUMLocationObjectId"][0]
            assert home[:4] == HOME_HEADER  # 01 00 07 00, then UTF-16LE 09:{GUID}
            assert home[4:].decode("utf-16-le").startswith("09:{")
            assert not raw.get("ciscoEcsbuLicenseClass")  # not in this forest's schema
        conn.search(
            "OU=Locations,OU=Unity,DC=tiny,DC=example,DC=org",
            "(objectClass=ciscoEcsbuUMLocation)",
            attributes=["ciscoEcsbuObjectId"],
        )
        [location] = [e for e in conn.response if e.get("type") == "searchResEntry"]
        text = location["raw_attributes"]["ciscoEcsbuObjectId"][0].decode()
        assert text.startswith("{") and text.endswith("}") and text == text.upper()
    finally:
        conn.unbind()


def test_real_shaped_pool_counts_vm_from_the_directory_and_says_where_um_comes_from(
    tiny_lab: Path, tmp_path: Path
) -> None:
    config = config_for(tiny_lab, tmp_path, "tiny")
    assert run("--config", config, "resync", "--total").exit_code == 0
    report = run_json("--config", config, "pool", "--format", "json")
    [server] = report["pools"][0]["servers"]
    assert server["used"] == seats(5, 1, 1)  # UM and Inbox: UNITY-T's published counts
    assert server["used_source"] == {"vm": "directory", "um": "published", "inbox": "published"}
    assert server["matched_by"] == ["object_id"]
    assert report["orphans"] == {"count": 0, "share": 0.0, "significant": False, "homes": []}
    table = run("--config", config, "pool")
    assert "1*/2" in table.stdout and "published utilization" in table.stdout


# --- another forest's names, discovered ----------------------------------------------------


@pytest.fixture(scope="module")
def other_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(
        TOPOLOGIES / "other-names.yaml",
        tmp_path_factory.mktemp("labs") / "other",
        profile=str(PROFILES / "other-names.yaml"),
    )


@pytest.fixture(scope="module")
def discovered(
    other_lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], Path]:
    """A new user's config (the default profile) for the other-names forest, the
    discovery report, and the profile it wrote."""
    tmp = tmp_path_factory.mktemp("discover")
    config = config_for(other_lab, tmp, "newuser", profile="cisco-unity")
    written = tmp / "other.yaml"
    result = run(
        "--config", config, "schema", "discover", "--format", "json", "--write-profile", written
    )
    assert result.exit_code == 0, result.stderr
    return config, json.loads(result.stdout), written


def test_the_default_profile_is_refused_before_reading(
    discovered: tuple[Path, Any, Path],
) -> None:
    config, _, _ = discovered
    result = run("--config", config, "resync", "--total")
    assert result.exit_code == 2
    assert "ciscoEcsbuServerName (location.name)" in result.stderr
    assert "poolsync schema discover" in result.stderr
    pool = run("--config", config, "pool")  # nothing was read, so nothing is in the store
    assert pool.exit_code != 0 and "holds no completed resync" in pool.stderr


def test_discovery_finds_every_role_with_evidence(discovered: tuple[Path, Any, Path]) -> None:
    _, report, _ = discovered
    assert report["meta"]["type"] == "schema-report"
    roles = {role: (r["attribute"], r["confidence"]) for role, r in report["roles"].items()}
    assert roles == {
        "location.name": ("displayName", "certain"),
        "location.object_id": ("ciscoEcsbuLocationGuid", "certain"),
        "location.version": ("ciscoEcsbuBuild", "certain"),
        "location.failover_of": ("ciscoEcsbuPartnerLocation", "certain"),
        "location.pooling_data": ("ciscoEcsbuLicenseInfo", "certain"),
        "subscriber.home": ("ciscoEcsbuUMLocationObjectId", "certain"),
        "subscriber.dtmf_id": ("ciscoEcsbuDtmfId", "certain"),
        "subscriber.license_class": (None, "missing"),
    }
    assert all(r["evidence"] for r in report["roles"].values())
    assert "UTF-16" in report["roles"]["location.pooling_data"]["evidence"]
    assert report["homes"] == {
        "sampled": 58,
        "matched": 58,
        "unmatched": 0,
        "matched_by": "object_id",
    }
    attributes = {a["name"]: a for a in report["attributes"]}
    assert attributes["ciscoEcsbuUMLocationObjectId"]["syntax"] == "binary"
    assert attributes["ciscoEcsbuListInUMDirectory"]["syntax"] == "boolean"
    assert attributes["ciscoEcsbuObjectType"] == {
        "name": "ciscoEcsbuObjectType",
        "syntax": "integer",
        "syntax_oid": "2.5.5.9",
        "single_valued": True,
        "in_gc": True,
        "indexed": True,
    }
    assert "ciscoEcsbuUMLocationObjectId" in report["user_may_contain"]
    assert report["placement"]["locations"] == [
        {
            "naming_context": "DC=other,DC=example,DC=org",
            "container": "OU=Locations,OU=Unity,DC=other,DC=example,DC=org",
            "count": 4,
        }
    ]
    assert report["warnings"] == []


def test_the_written_profile_gives_exactly_the_directorys_pool(
    discovered: tuple[Path, Any, Path], tmp_path: Path
) -> None:
    config, _, written = discovered
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert "forest other.example.org" in written.read_text().splitlines()[0]
    doc = yaml.safe_load(config.read_text())
    doc["profile"] = str(written)
    doc["store"] = str(tmp_path / "with-profile.db")
    config.with_name("with-profile.yaml").write_text(yaml.safe_dump(doc))
    mine = config.with_name("with-profile.yaml")
    assert run("--config", mine, "resync", "--total").exit_code == 0
    report = run_json("--config", mine, "pool", "--format", "json")
    [pool] = report["pools"]
    assert pool["members"] == ["UNITY-N1", "UNITY-N2"]
    # VM from the directory: 30 on N1 (its secondary N1B homes none), 24 on N2.
    # UM and Inbox from what each published (the lab publishes the truth for them).
    assert {c: (s["licensed"], s["used"]) for c, s in pool["seats"].items()} == {
        "vm": (60, 54),
        "um": (15, 9),
        "inbox": (10, 3),
    }
    servers = {s["name"]: s for s in pool["servers"]}
    assert servers["UNITY-N1"]["failover"] == "UNITY-N1B"
    assert servers["UNITY-N1"]["stale"] == ["vm"]  # publishes 28, 30 homed on it
    assert servers["UNITY-N2"]["borrowed"] == seats(4, 0, 0)
    assert {(e["name"], e["reason"]) for e in report["excluded"]} == {
        ("UNITY-N1B", "failover-secondary"),
        ("UNITY-N3", "pooling-disabled"),
    }
    assert report["unpooled"] == seats(4, 0, 0)
    assert report["orphans"]["count"] == 0


# --- a forest built without poolsync's lab code ----------------------------------------------


@pytest.fixture(scope="module")
def hand_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for lab in bring_up(
        TOPOLOGIES / "bare.yaml",
        tmp_path_factory.mktemp("labs") / "hand",
        profile=str(PROFILES / "bare.yaml"),
    ):
        conn = admin(lab)
        try:
            handbuilt.schema(conn, "DC=hand,DC=example,DC=org")
            handbuilt.objects(conn, "DC=hand,DC=example,DC=org")
        finally:
            conn.unbind()
        yield lab


def test_a_hand_built_forest_is_discovered_and_pooled_exactly(
    hand_lab: Path, tmp_path: Path
) -> None:
    # A new user's config: the default profile, which this forest does not fit.
    config = config_for(hand_lab, tmp_path, "hand", profile="cisco-unity")
    refused = run("--config", config, "resync", "--total")
    assert refused.exit_code == 2 and "ciscoEcsbuServerName (location.name)" in refused.stderr
    written = tmp_path / "hand-profile.yaml"
    result = run(
        "--config", config, "schema", "discover", "--format", "json", "--write-profile", written
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    roles = {role: (r["attribute"], r["confidence"]) for role, r in report["roles"].items()}
    assert roles == {
        "location.name": ("ciscoEcsbuAlias", "certain"),
        "location.object_id": ("ciscoEcsbuLocationObjectId", "certain"),
        "location.version": ("ciscoEcsbuVersionString", "certain"),
        "location.failover_of": ("ciscoEcsbuPrimaryLocationObjectId", "certain"),
        "location.pooling_data": ("ciscoEcsbuLicensePoolingData", "certain"),
        "subscriber.home": ("ciscoEcsbuUMLocationObjectId", "certain"),
        # DtmfId and TransferId hold the same digits: the twin is named, not hidden.
        "subscriber.dtmf_id": ("ciscoEcsbuDtmfId", "likely"),
        "subscriber.license_class": (None, "missing"),
    }
    assert "ciscoEcsbuTransferId" in report["roles"]["subscriber.dtmf_id"]["evidence"]
    assert report["homes"] == {
        "sampled": 150,
        "matched": 150,
        "unmatched": 0,
        "matched_by": "object_id",
    }
    assert (
        report["placement"]["subscribers"][0]["container"] == "CN=Users,DC=hand,DC=example,DC=org"
    )
    doc = yaml.safe_load(config.read_text())
    doc["profile"] = str(written)
    config.write_text(yaml.safe_dump(doc))
    assert run("--config", config, "resync", "--total").exit_code == 0
    pool_doc = run_json("--config", config, "pool", "--format", "json")
    [pool] = pool_doc["pools"]
    assert pool["members"] == ["UNITY-BR", "UNITY-HQ"]
    # VM from the directory: HQ 60 + its failover secondary's 5, BR 45. Inbox from what
    # each published (5, 3). No server publishes a UM count: unknown, not zero-as-fact.
    assert {c: (s["licensed"], s["used"], s["used_source"]) for c, s in pool["seats"].items()} == {
        "vm": (150, 110, "directory"),
        "um": (30, 0, "none"),
        "inbox": (20, 8, "published"),
    }
    servers = {s["name"]: s for s in pool["servers"]}
    assert servers["UNITY-HQ"]["failover"] == "UNITY-HQ-FO"
    assert servers["UNITY-HQ"]["used"] == seats(65, 0, 5)
    assert servers["UNITY-HQ"]["stale"] == ["vm"]  # publishes 60
    assert servers["UNITY-BR"]["published_used"] == {"vm": 40, "um": None, "inbox": 3}
    assert {(e["name"], e["reason"]) for e in pool_doc["excluded"]} == {
        ("UNITY-HQ-FO", "failover-secondary"),
        ("UNITY-OLD", "version-unsupported"),
    }
    assert pool_doc["unpooled"] == seats(40, 0, 0)
    assert pool_doc["orphans"]["count"] == 0 and pool_doc["subscribers"] == 150
    assert pool["state"]["state"] == "compliant"
    table = run("--config", config, "pool").stdout
    assert "unknown: no member publishes its UM use" in table


# --- orphans cannot hide behind "compliant" -------------------------------------------------


@pytest.fixture(scope="module")
def orphans_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(TOPOLOGIES / "orphans.yaml", tmp_path_factory.mktemp("labs") / "orph")


def test_orphans_make_the_pool_unverified_and_the_doctor_says_why(
    orphans_lab: Path, tmp_path: Path
) -> None:
    garbage = b"\x01\x00\xff\xfe\x80garbage"
    dn = "CN=garbage-home,OU=Subscribers,OU=Unity,DC=orphans,DC=example,DC=org"
    LabEditor(orphans_lab).apply(
        [
            Add(
                dn,
                (
                    ("objectClass", "user"),
                    ("sAMAccountName", "garbagehome"),
                    ("ciscoEcsbuObjectType", "1"),
                    ("ciscoEcsbuUMLocationObjectId", garbage),
                ),
            )
        ]
    )
    config = config_for(orphans_lab, tmp_path, "orphans")
    assert run("--config", config, "resync", "--total").exit_code == 3  # with findings
    result = run("--config", config, "pool", "--format", "json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    # UNITY-O2 homes its 3 on a Location that does not exist; one more is garbage.
    assert report["orphans"]["count"] == 4 and report["subscribers"] == 54
    assert report["orphans"]["significant"] is True
    assert "0x" + garbage.hex() in report["orphans"]["homes"]
    [pool] = report["pools"]
    assert pool["compliant"] is True  # what was counted fits ...
    assert pool["state"]["state"] == "unverified"  # ... but not everything was counted
    table = run("--config", config, "pool")
    assert "Orphaned: 4 subscribers' home matches no Location" in table.stdout
    assert "poolsync schema discover" in table.stdout
    assert "unverified" in table.stdout
    doctor = run("--config", config, "doctor", "--format", "json")
    assert doctor.exit_code == 3, doctor.stderr
    doc = json.loads(doctor.stdout)
    [finding] = doc["findings"]
    assert finding["cause"] == "orphaned-subscribers" and finding["severity"] == "error"
    assert "4 of 54 subscribers" in finding["evidence"]
    assert f"{dn} (home 0x{garbage.hex()})" in finding["evidence"]
    assert "schema discover" in finding["fix"]
    assert not doc["healthy"]


def test_discovery_reports_unmatched_homes(orphans_lab: Path, tmp_path: Path) -> None:
    config = config_for(orphans_lab, tmp_path, "orphans-discover")
    report = run_json("--config", config, "schema", "discover", "--format", "json")
    homes = report["homes"]
    assert homes["matched"] == 50 and homes["unmatched"] == homes["sampled"] - 50


def test_lab_subscriber_verbs_change_what_resync_reads(orphans_lab: Path, tmp_path: Path) -> None:
    config = config_for(orphans_lab, tmp_path, "verbs")

    def used() -> dict[str, int]:
        assert run("--config", config, "resync").exit_code in (0, 3)
        doc = run("--config", config, "pool", "--format", "json")
        return {s["name"]: s["used"]["vm"] for s in json.loads(doc.stdout)["pools"][0]["servers"]}

    before = used()
    added = run(
        "lab", "subscribers", "add", "--dir", orphans_lab, "--server", "UNITY-O1", "--count", "3"
    )
    assert added.exit_code == 0 and "added 3 subscribers homed on UNITY-O1" in added.stdout
    assert used()["UNITY-O1"] == before["UNITY-O1"] + 3
    moved = run(
        "lab",
        "subscribers",
        "move",
        "--dir",
        orphans_lab,
        "--from",
        "UNITY-O1",
        "--to",
        "UNITY-O2",
        "--count",
        "2",
    )
    assert moved.exit_code == 0, moved.stderr
    after_move = used()
    assert after_move["UNITY-O1"] == before["UNITY-O1"] + 1
    assert after_move["UNITY-O2"] == before["UNITY-O2"] + 2
    removed = run(
        "lab", "subscribers", "remove", "--dir", orphans_lab, "--server", "UNITY-O2", "--count", "2"
    )
    assert removed.exit_code == 0, removed.stderr
    assert used()["UNITY-O2"] == before["UNITY-O2"]
    refused = run(
        "lab", "subscribers", "remove", "--dir", orphans_lab, "--server", "UNITY-O2", "--count", "1"
    )
    assert refused.exit_code == 1 and "homes 0 subscribers" in refused.stderr
    unknown = run(
        "lab", "subscribers", "add", "--dir", orphans_lab, "--server", "NOPE", "--count", "1"
    )
    assert unknown.exit_code == 1 and "no server 'NOPE'" in unknown.stderr


# --- the older model: license classes on every subscriber -------------------------------------


@pytest.fixture(scope="module")
def older_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(
        TOPOLOGIES / "older.yaml",
        tmp_path_factory.mktemp("labs") / "old",
        profile=str(LICENSE_CLASS_PROFILE),
    )


def test_the_license_class_model_counts_um_and_inbox_from_the_directory(
    older_lab: Path, tmp_path: Path
) -> None:
    config = config_for(older_lab, tmp_path, "older")
    assert run("--config", config, "resync", "--total").exit_code == 0
    report = run_json("--config", config, "pool", "--format", "json")
    [pool] = report["pools"]
    assert {c: (s["licensed"], s["used"], s["used_source"]) for c, s in pool["seats"].items()} == {
        "vm": (50, 32, "directory"),
        "um": (15, 13, "directory"),
        "inbox": (10, 4, "directory"),
    }
    servers = {s["name"]: s for s in pool["servers"]}
    assert servers["UNITY-L1"]["used"] == seats(20, 7, 3)
    assert servers["UNITY-L1"]["published_used"] == seats(20, 5, 4)
    assert servers["UNITY-L1"]["stale"] == ["um", "inbox"]
    assert servers["UNITY-L2"]["used"] == seats(12, 6, 1)
    assert servers["UNITY-L2"]["borrowed"] == seats(0, 1, 0)
    assert report["notes"] == []
    discovered = run_json("--config", config, "schema", "discover", "--format", "json")
    assert discovered["roles"]["subscriber.license_class"]["attribute"] == "ciscoEcsbuLicenseClass"
