"""``resync --total --from-ldif`` and ``directory.ldif`` through the CLI: a good export
fills the store and every report says where the data came from; each bad export is
one line naming the file and the line, exit 2 (4 for one that would empty the store),
and the store is unchanged."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from poolsync.attachment import format_attachment, license_data
from poolsync.model import Entry, Seats
from poolsync.store import Store
from tests.support.fakes import guid_bytes
from tests.support.helpers import run
from tests.support.ldifexport import ldapsearch_bytes, ldifde_bytes

DOMAIN = "DC=lab,DC=example,DC=com"
ROOT_DSE = Entry(
    "",
    {
        "dnshostname": [b"dc7.lab.example.com"],
        "defaultnamingcontext": [DOMAIN.encode()],
        "highestcommittedusn": [b"777"],
        "currenttime": [b"20240501100000.0Z"],
    },
)


def location(n: int, name: str, vm: int) -> Entry:
    attachment = format_attachment(
        license_data(licensed=Seats(vm=vm), pooling=True, secondary=False, ports=4, published=None)
    )
    return Entry(
        f"CN={name},OU=Locations,OU=Unity,{DOMAIN}",
        {
            "objectclass": [b"top", b"ciscoEcsbuUMLocation"],
            "objectguid": [guid_bytes(n)],
            "ciscoecsbuservername": [name.encode()],
            "ciscoecsbuobjectid": [f"{{00000000-0000-0000-0000-{n:012d}}}".encode()],
            "ciscoecsbuserverversion": [b"4.0(5)"],
            "ciscoecsbupoolingdata": [attachment.encode()],
        },
    )


def subscriber(n: int, home: int) -> Entry:
    return Entry(
        f"CN=u{n},OU=Subscribers,OU=Unity,{DOMAIN}",
        {
            "objectclass": [b"top", b"person", b"organizationalPerson", b"user"],
            "objectguid": [guid_bytes(10_000 + n)],
            "ciscoecsbuobjecttype": [b"1"],
            "ciscoecsbuumlocationobjectid": [f"{{00000000-0000-0000-0000-{home:012d}}}".encode()],
            "ciscoecsbudtmfid": [str(5000 + n).encode()],
        },
    )


def forest() -> list[Entry]:
    return [
        ROOT_DSE,
        location(1, "UNITY-A", 10),
        location(2, "UNITY-B", 5),
        *(subscriber(i, 1 + i % 2) for i in range(9)),
    ]


def config(tmp_path: Path, *files: str) -> Path:
    path = tmp_path / "poolsync.yaml"
    listed = ", ".join(files)
    path.write_text(f"forest: lab.example.com\nstore: store.db\ndirectory:\n  ldif: [{listed}]\n")
    return path


def state(tmp_path: Path) -> tuple[object, ...]:
    """What a failed run must leave as it was: runs, Locations, subscribers, passes."""
    store_path = tmp_path / "store.db"
    if not store_path.exists():
        return ()
    with Store.open(store_path, create=False) as store, store.reading():
        return (
            tuple(store.runs()),
            tuple(store.rows("locations")),
            tuple(store.rows("subscribers")),
            tuple(store.passes()),
        )


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    (tmp_path / "good.ldif").write_bytes(ldapsearch_bytes(forest()))
    path = config(tmp_path, "good.ldif")
    result = run("--config", path, "resync", "--total")
    assert result.exit_code == 0, result.stderr
    return path


def test_resync_from_config_ldif_fills_the_store_and_says_so(synced: Path) -> None:
    result = run("--config", synced, "pool", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    [pool] = doc["pools"]
    assert pool["members"] == ["UNITY-A", "UNITY-B"]
    assert pool["seats"]["vm"]["licensed"] == 15 and pool["seats"]["vm"]["used"] == 9
    assert doc["origin"] == {
        "kind": "export",
        "files": [str((synced.parent / "good.ldif").resolve())],
        "taken_at": "2024-05-01T10:00:00+00:00",
    }
    table = run("--config", synced, "pool")
    assert "From an LDIF export" in table.stdout and "2024-05-01T10:00:00" in table.stdout


def test_capacity_report_projects_from_the_export_day(synced: Path) -> None:
    result = run("--config", synced, "report", "capacity", "--format", "json")
    assert result.exit_code in (0, 3), result.stderr
    doc = json.loads(result.stdout)
    assert doc["today"] == "2024-05-01"
    assert any(
        "From an LDIF export" in note and "taken 2024-05-01" in note for note in doc["notes"]
    )


def test_from_ldif_overrides_and_taken_at(synced: Path, tmp_path: Path) -> None:
    (tmp_path / "a.ldif").write_bytes(ldifde_bytes(forest()[:2]))
    (tmp_path / "b.ldif").write_bytes(ldifde_bytes(forest()[2:]))
    result = run(
        "--config",
        synced,
        "resync",
        "--total",
        "--format",
        "json",
        "--taken-at",
        "2024-06-01T08:00:00",
        "--from-ldif",
        tmp_path / "a.ldif",
        tmp_path / "b.ldif",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["origin"]["kind"] == "export"
    assert doc["origin"]["taken_at"] == "2024-06-01T08:00:00+00:00"
    assert {p["dc_host"] for p in doc["passes"]} == {"dc7.lab.example.com"}
    origin = json.loads(run("--config", synced, "pool", "--format", "json").stdout)["origin"]
    assert origin["files"] == [str((tmp_path / n).resolve()) for n in ("a.ldif", "b.ldif")]
    assert origin["taken_at"] == "2024-06-01T08:00:00+00:00"


def test_from_ldif_needs_total(synced: Path) -> None:
    before = state(synced.parent)
    result = run("--config", synced, "resync", "--from-ldif", synced.parent / "good.ldif")
    assert result.exit_code == 2
    assert "an export holds no change history, so it is always read in full" in result.stderr
    assert state(synced.parent) == before


def good_plus(extra: bytes) -> bytes:
    return ldapsearch_bytes(forest())[:-1].rsplit(b"# search result", 1)[0] + extra


BAD: list[tuple[str, bytes, int | None, str]] = [
    ("truncated", ldapsearch_bytes(forest())[:900], None, "cut short"),
    (
        "no-guid",
        good_plus(
            b"dn: CN=UNITY-Z,OU=Locations,DC=lab,DC=example,DC=com\n"
            b"objectClass: ciscoEcsbuUMLocation\n\n"
            b"# search result\nsearch: 3\nresult: 0 Success\n\n"
        ),
        None,
        "has no objectGUID",
    ),
    ("encoding", b"dn: CN=caf\xe9,DC=lab,DC=example,DC=com\ncn: x\n\n", 1, "not UTF-8 text"),
    ("utf32", codecs.BOM_UTF32_LE + "dn: CN=a\n\n".encode("utf-32-le"), 1, "UTF-32"),
    ("base64", b"dn: CN=a,DC=lab,DC=example,DC=com\nobjectGUID:: AA$=\n\n", 2, "not valid base64"),
    (
        "modify",
        b"dn: CN=a,DC=lab,DC=example,DC=com\nchangetype: modify\nreplace: cn\ncn: b\n-\n\n",
        2,
        "changetype: modify",
    ),
    (
        "duplicate",
        ldapsearch_bytes([*forest(), location(1, "UNITY-AGAIN", 1)]),
        None,
        "the objectGUID 00000000-0000-0000-0000-000000000001",
    ),
    (
        "no-locations",
        ldapsearch_bytes([ROOT_DSE, subscriber(1, 1)]),
        None,
        "no Location (objectClass=ciscoEcsbuUMLocation)",
    ),
]


@pytest.mark.parametrize(("name", "data", "line", "words"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("store", ["empty", "synced"])
def test_bad_export_is_one_line_exit_2_and_nothing_changes(
    tmp_path: Path, name: str, data: bytes, line: int | None, words: str, store: str
) -> None:
    if store == "synced":
        (tmp_path / "good.ldif").write_bytes(ldapsearch_bytes(forest()))
        assert run("--config", config(tmp_path, "good.ldif"), "resync", "--total").exit_code == 0
    (tmp_path / "bad.ldif").write_bytes(data)
    path = config(tmp_path, "bad.ldif")
    before = state(tmp_path)
    result = run("--config", path, "resync", "--total")
    bad = tmp_path / "bad.ldif"
    if name == "no-locations" and store == "synced":
        # Not the wrong export but an empty forest: the run's own guard refuses it.
        assert result.exit_code == 4, result.stderr
        assert "read no Locations" in result.stderr
    else:
        assert result.exit_code == 2, result.stderr
        [message] = result.stderr.strip().splitlines()
        assert message.startswith(f"poolsync: error: {bad}:")
        if line is not None:
            assert message.startswith(f"poolsync: error: {bad}:{line}: ")
        assert words in message
        assert result.stdout == ""
    assert state(tmp_path)[1:] == before[1:]
    if store == "empty":
        assert state(tmp_path) == before  # not even a run recorded
    if name == "duplicate":
        assert f"{bad}:" in message.split("too", 1)[0]  # both places named


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "poolsync.yaml"
    for body, words in [
        ("  ldif: export.ldif\n", "directory.ldif: expected a non-empty list of LDIF"),
        ("  ldif: [missing.ldif]\n", "directory.ldif[0]: cannot read LDIF file"),
        ("  ldif: [x.ldif]\n  bind: {method: anonymous}\n", "directory.bind: not used with"),
    ]:
        (tmp_path / "x.ldif").write_bytes(b"")
        path.write_text(f"forest: lab.example.com\ndirectory:\n{body}")
        result = run("--config", path, "resync", "--total")
        assert result.exit_code == 2
        assert f"{path}: {words}" in result.stderr, result.stderr


def test_schema_discover_and_doctor_read_the_export(synced: Path) -> None:
    discover = run("--config", synced, "schema", "discover", "--format", "json")
    assert discover.exit_code in (0, 3), discover.stderr
    assert json.loads(discover.stdout)["origin"]["kind"] == "export"
    doctor = run("--config", synced, "doctor", "--format", "json")
    assert doctor.exit_code in (0, 3), doctor.stderr  # an export without sites is no error
    notes = json.loads(doctor.stdout)["notes"]
    assert any("the export holds no CN=Sites," in note for note in notes)
    assert any("read from an LDIF export" in note for note in notes)


def test_an_export_is_assessed_as_of_when_it_was_taken(tmp_path: Path) -> None:
    """A violation in an export is first seen when the export was taken, not when it
    was loaded: its grace period runs from the export's day."""
    over = [ROOT_DSE, location(1, "UNITY-A", 3), *(subscriber(i, 1) for i in range(9))]
    (tmp_path / "over.ldif").write_bytes(ldapsearch_bytes(over))
    path = config(tmp_path, "over.ldif")
    result = run("--config", path, "resync", "--total")
    assert result.exit_code == 3, result.stderr  # out of compliance
    doc = json.loads(run("--config", path, "pool", "--format", "json").stdout)
    [pool] = doc["pools"]
    assert pool["state"]["state"] != "compliant"
    assert pool["state"]["since"].startswith("2024-05-01")
    with Store.open(tmp_path / "store.db", create=False) as store:
        assert {when.isoformat() for when in store.violations().values()} == {
            "2024-05-01T10:00:00+00:00"
        }
