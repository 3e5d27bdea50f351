"""The doctor report's JSON contract and its text for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from poolsync.doctor.model import DoctorReport, Finding, ServerHealth, Viewers, Visibility
from poolsync.render.doctor import doctor_report_json, doctor_report_table

GENERATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

NO_PATH = Finding(
    cause="no-replication-path",
    severity="error",
    affects=Viewers(gcs=("DC1",), count=1),
    evidence="Location CN=UNITY-C,CN=Locations,DC=lab,DC=example,DC=com is on DC3 but not on "
    "DC1's Global Catalog, and no replication path leads from DC3 to DC1: the "
    "connection DC3 -> DC1 is disabled.",
    fix="Set enabledConnection TRUE on CN=DC3-DC1, or let the KCC rebuild it: "
    "`repadmin /kcc DC1` / `samba-tool drs kcc DC1`.",
)
PENDING = Finding(
    cause="replication-pending",
    severity="warning",
    affects=Viewers(gcs=("DC1", "DC2"), count=2),
    evidence="DC1's Global Catalog holds an older copy of CN=UNITY-B; it replicates "
    "DC2 -> DC1, pending since 2024-05-01T09:00:00+00:00.",
    fix="Replicate now: `repadmin /replicate DC1 DC2 DC=lab,DC=example,DC=com` (Windows) or "
    "`samba-tool drs replicate DC1 DC2 DC=lab,DC=example,DC=com` (Samba), or wait for "
    "the next scheduled replication.\n"
    "In a poolsync lab: `poolsync lab replicate --from DC2 --to DC1`.",
)
SECONDARY = Finding(
    cause="failover-secondary",
    severity="info",
    affects=Viewers(members=True, count=3),
    evidence="UNITY-B2: failover secondary of UNITY-B; counted with it.",
    fix="None needed: UNITY-B2 is counted with its primary UNITY-B.",
)


def sample() -> DoctorReport:
    return DoctorReport(
        forest="lab.example.com",
        generated=GENERATED,
        visibility=(
            Visibility("DC1", ("UNITY-A",), 3, ("UNITY-B", "UNITY-C")),
            Visibility("DC2", ("UNITY-D",), 4, ("UNITY-B",)),
            Visibility("DC3", ("UNITY-C",), 0, (), reachable=False),
        ),
        servers=(
            ServerHealth("UNITY-C", "guid-c", (NO_PATH,)),
            ServerHealth("UNITY-B", "guid-b", (PENDING,)),
            ServerHealth("UNITY-A", "guid-a"),
            ServerHealth("UNITY-B2", "guid-b2", (SECONDARY,)),
            ServerHealth("UNITY-D", "guid-d"),
        ),
        notes=("DC3 (ldaps://dc3:3269) could not be read: timed out",),
    )


def healthy() -> DoctorReport:
    return DoctorReport(
        forest="lab.example.com",
        generated=GENERATED,
        visibility=(Visibility("DC1", ("UNITY-A",), 1, ()),),
        servers=(ServerHealth("UNITY-A", "guid-a"),),
    )


# --- JSON -------------------------------------------------------------------------


def test_json_contract() -> None:
    doc = doctor_report_json(sample())
    assert set(doc) == {
        "meta",
        "forest",
        "healthy",
        "complete",
        "visibility",
        "servers",
        "findings",
        "dcs",
        "notes",
    }
    assert doc["meta"] == {
        "type": "doctor-report",
        "version": 2,
        "generated": "2024-05-01T12:30:00+00:00",
    }
    assert doc["forest"] == "lab.example.com"
    assert doc["healthy"] is False
    for row in doc["visibility"]:
        assert set(row) == {"gc", "reachable", "viewers", "holds", "missing"}
        assert isinstance(row["viewers"], list) and isinstance(row["missing"], list)
        assert isinstance(row["holds"], int) and isinstance(row["reachable"], bool)
    for server in doc["servers"]:
        assert set(server) == {"name", "guid", "healthy", "findings"}
        assert isinstance(server["healthy"], bool)
        for finding in server["findings"]:
            assert set(finding) == {"cause", "severity", "affects", "evidence", "fix"}
            assert set(finding["affects"]) == {"count", "names", "gcs", "members"}
    assert json.loads(json.dumps(doc)) == doc


def test_json_values() -> None:
    doc = doctor_report_json(sample())
    assert [s["name"] for s in doc["servers"]] == [
        "UNITY-C",
        "UNITY-B",
        "UNITY-A",
        "UNITY-B2",
        "UNITY-D",
    ]
    assert [s["healthy"] for s in doc["servers"]] == [False, False, True, True, True]
    c = doc["servers"][0]
    assert c["guid"] == "guid-c"
    assert c["findings"] == [
        {
            "cause": "no-replication-path",
            "severity": "error",
            "affects": {"count": 1, "names": [], "gcs": ["DC1"], "members": False},
            "evidence": NO_PATH.evidence,
            "fix": NO_PATH.fix,
        }
    ]
    assert doc["visibility"][0] == {
        "gc": "DC1",
        "reachable": True,
        "viewers": ["UNITY-A"],
        "holds": 3,
        "missing": ["UNITY-B", "UNITY-C"],
    }
    assert doc["visibility"][2] == {
        "gc": "DC3",
        "reachable": False,
        "viewers": ["UNITY-C"],
        "holds": 0,
        "missing": [],
    }
    secondary = doc["servers"][3]["findings"][0]["affects"]
    assert secondary == {"count": 3, "names": [], "gcs": [], "members": True}
    assert doc["notes"] == ["DC3 (ldaps://dc3:3269) could not be read: timed out"]
    assert doctor_report_json(healthy())["healthy"] is True


# --- text -------------------------------------------------------------------------


def test_table_headline() -> None:
    assert doctor_report_table(sample()).splitlines()[1] == "2 of 5 servers have problems"
    assert doctor_report_table(healthy()).splitlines()[1] == "the only server is healthy"
    two = DoctorReport("f", GENERATED, (), (ServerHealth("A", "a"), ServerHealth("B", "b")))
    assert doctor_report_table(two).splitlines()[1] == "all 2 servers healthy"
    one_sick = DoctorReport(
        "f", GENERATED, (), (ServerHealth("A", "a", (NO_PATH,)), ServerHealth("B", "b"))
    )
    assert doctor_report_table(one_sick).splitlines()[1] == "1 of 2 servers has problems"


def test_table_findings_worst_first_with_evidence_and_fix() -> None:
    text = doctor_report_table(sample(), width=100)
    lines = text.splitlines()
    heads = [line for line in lines if line.split("  ")[0].strip() in {"ERROR", "WARNING", "INFO"}]
    assert heads == [
        "ERROR    UNITY-C  no-replication-path  (seen missing by UNITY-A)",
        "WARNING  UNITY-B  replication-pending  (seen missing by UNITY-A, UNITY-D)",
        "INFO     UNITY-B2  failover-secondary  (counted with its primary by UNITY-A, "
        "UNITY-C, UNITY-D)",
    ]
    start = lines.index(heads[0])
    assert lines[start + 1].startswith("         Location CN=UNITY-C")
    assert "         fix: Set enabledConnection TRUE on CN=DC3-DC1" in text
    # commands are never broken across lines; the lab line starts its own paragraph
    assert "`repadmin /replicate DC1 DC2 DC=lab,DC=example,DC=com`" in text
    assert "              In a poolsync lab: `poolsync lab replicate --from DC2 --to DC1`." in lines
    assert all(len(line) <= 100 for line in lines if "`" not in line)


def test_table_healthy_visibility_and_notes() -> None:
    text = doctor_report_table(sample())
    lines = text.splitlines()
    assert "Healthy: UNITY-A, UNITY-B2, UNITY-D" in lines
    header = lines.index("What each pool member's Global Catalog holds:")
    assert lines[header + 1].split() == ["GC", "VIEWERS", "SEES", "MISSING"]
    # per GC, who looks through it, how many servers it holds and which it lacks: never
    # the servers it holds by name
    assert lines[header + 2].split() == [
        "DC1",
        "UNITY-A",
        "3",
        "of",
        "5",
        "servers",
        "UNITY-B,",
        "UNITY-C",
    ]
    assert lines[header + 3].split() == ["DC2", "UNITY-D", "4", "of", "5", "servers", "UNITY-B"]
    assert lines[header + 4].split()[:2] == ["DC3", "UNITY-C"]
    assert "(GC not reachable)" in lines[header + 4]
    assert lines[header + 4].endswith("?")
    assert lines[-2:] == ["Notes:", "  - DC3 (ldaps://dc3:3269) could not be read: timed out"]
    assert (
        text.index("ERROR")
        < text.index("Healthy:")
        < text.index("What each")
        < text.index("Notes:")
    )


def test_table_of_a_healthy_report_has_no_findings() -> None:
    text = doctor_report_table(healthy())
    assert "ERROR" not in text and "WARNING" not in text and "fix:" not in text
    assert "Healthy: UNITY-A" in text
    assert "Notes:" not in text


def test_a_fix_is_never_wrapped() -> None:
    long_fix = (
        'Enable the connection: `Set-ADObject "CN=from DC3,CN=NTDS Settings,CN=DC1,'
        'CN=Servers,CN=HQ,CN=Sites,CN=Configuration,DC=corp,DC=example,DC=com" '
        "-Replace @{enabledConnection=$true}`. In a poolsync lab: `poolsync lab "
        "connection --from DC3 --to DC1 --enable`."
    )
    finding = Finding("no-replication-path", "error", Viewers.named("UNITY-A"), "e " * 80, long_fix)
    report = DoctorReport("f", GENERATED, (), (ServerHealth("UNITY-C", "g", (finding,)),))
    lines = doctor_report_table(report, width=80).splitlines()
    assert f"         fix: {long_fix}" in lines
    assert all(len(line) <= 80 for line in lines if "fix:" not in line)


def test_table_counts_viewers_beyond_ten_and_says_sees_all() -> None:
    viewers = tuple(f"UNITY-{i:02d}" for i in range(12))
    everyone = Finding(
        "pooling-disabled",
        "warning",
        Viewers(members=True, count=12),
        "UNITY-X: license has LicPoolingIsEnabled 0.",
        "Install a license.",
    )
    behind = Finding(
        "replication-pending",
        "warning",
        Viewers(gcs=("DC2",), count=1),
        "DC2 lacks it.",
        "Replicate.",
    )
    through = Finding(
        "replication-pending",
        "warning",
        Viewers(gcs=("DC1",), count=12),
        "DC1 lacks it.",
        "Replicate.",
    )
    report = DoctorReport(
        "f",
        GENERATED,
        (Visibility("DC1", viewers, 14, ()), Visibility("DC2", ("UNITY-Z",), 13, ("UNITY-Y",))),
        (
            ServerHealth("UNITY-X", "x", (everyone,)),
            ServerHealth("UNITY-Y", "y", (behind,)),
            ServerHealth("UNITY-W", "w", (through,)),
        ),
    )
    text = doctor_report_table(report, width=100)
    assert "WARNING  UNITY-X  pooling-disabled  (not counted by the 12 other pool members)" in text
    assert "WARNING  UNITY-Y  replication-pending  (seen missing by UNITY-Z)" in text
    assert (
        "WARNING  UNITY-W  replication-pending  (seen missing by the 12 pool members "
        "monitoring DC1's GC)"
    ) in text
    assert "UNITY-00" not in text.split("What each")[0]  # not named in a headline
    rows = text.split("What each pool member's Global Catalog holds:\n")[1].splitlines()
    assert rows[1].split()[-4:] == ["all", "14", "servers", "-"]
    assert rows[1].split()[1:3] == ["UNITY-00,", "UNITY-01,"]
    assert "13 of 14" in rows[-1] and rows[-1].endswith("UNITY-Y")


def test_viewer_names_resolves_groups_from_the_rows() -> None:
    report = sample()
    assert report.viewer_names(Viewers(gcs=("dc2", "DC1"), count=2)) == ("UNITY-A", "UNITY-D")
    assert report.viewer_names(Viewers(members=True, count=2), server="UNITY-C") == (
        "UNITY-A",
        "UNITY-D",
    )
    assert report.viewer_names(Viewers.named("poolsync")) == ("poolsync",)
