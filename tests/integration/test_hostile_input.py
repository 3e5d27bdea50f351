"""Hostile and broken directory values against a real Samba DC.

tests/topologies/hostile.yaml gives two healthy servers (UNITY-G1, UNITY-G2). Once the
lab is up, the module writes the hostile objects into it over LDAPS as the lab's
administrator (huge values, bytes that are not UTF-8, names with ``*()\\`` and NUL,
thousands of values on one attribute, megabytes of XML, billion laughs, an XML
encoding Python cannot decode, subscribers homed on no Location, duplicate server
names), then runs ``resync --total``, ``resync`` (incremental, from a store synced
before the writes), ``pool`` and ``doctor`` over that directory. For each case: the
run completes (exit 0, or 3 for findings; never 1), the bad object is excluded with a
reason or read safely with its exact value, and the good objects are all there and
counted exactly. Values Samba itself refuses are checked as refused.

The first tests are pure regressions of the fixes these cases found (no lab needed).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ldap3
import pytest
import yaml

from poolsync.allocation import ExclusionReason, build_pool_report
from poolsync.attachment import MAX_ATTACHMENT_BYTES, format_attachment, license_data
from poolsync.config import Config, load_config
from poolsync.directory import LiveSource
from poolsync.directory.filters import and_filter, equality
from poolsync.model import Entry, Location, SeatClass, Seats
from poolsync.profile import load_profile
from poolsync.store import Store
from poolsync.sync import decode
from tests.support.faultproxy import FaultProxy, reset
from tests.support.helpers import LICENSE_CLASS_PROFILE, lab_config_copy, named, run
from tests.support.lab import TOPOLOGIES, bring_up

PROFILE = load_profile(str(LICENSE_CLASS_PROFILE))
GUID = bytes(range(16))

# --- pure regressions of the fixes (no lab) ------------------------------------------


def entry(dn: str = "CN=X,OU=L", /, **values: bytes | list[bytes]) -> Entry:
    attributes: dict[str, list[bytes]] = {"objectguid": [GUID]}
    for name, value in values.items():
        attributes[name.lower()] = value if isinstance(value, list) else [value]
    return Entry(dn, attributes)


@pytest.mark.parametrize(
    ("dn", "name"),
    [
        (r"CN=no\,name \2B(x),OU=Locations,DC=x", "no,name +(x)"),
        (r"CN=Smith\, J,OU=x", "Smith, J"),
        (r"CN=a\\b\=c,OU=x", "a\\b=c"),
        (r"CN=multi+SN=valued,OU=x", "multi"),
        (r"CN=caf\C3\A9,OU=x", "café"),
        (r"CN=bad\F4\90\80\80,OU=x", "bad\\xf4\\x90\\x80\\x80"),
        ("CN=plain", "plain"),
        ("not a DN", "not a DN"),
    ],
)
def test_location_without_a_name_is_named_by_its_unescaped_rdn(dn: str, name: str) -> None:
    """Regression: the fallback cut the DN at its first comma, escaped or not, so
    ``CN=no\\,name ...`` was named ``no\\``."""
    loc = decode.decode_location(entry(dn, ciscoEcsbuObjectId=b"id"), PROFILE)
    assert loc.name == name


def test_bytes_that_are_not_utf8_keep_apart_and_visible() -> None:
    """Regression: undecodable bytes read as U+FFFD, so two different broken object ids
    read the same and a subscriber was homed on a Location it does not name."""
    one = decode.decode_location(
        entry(
            ciscoEcsbuObjectId=b"oid\xf4\x90\x80\x80",
            ciscoEcsbuServerName=b"N\xed\xa0\x80",
            ciscoEcsbuServerVersion=b"v\xed\xa0\x804.0",
        ),
        PROFILE,
    )
    # An id that is no text at all is kept, and shown, as hex (poolsync.objectid).
    assert one.object_id == "0x" + b"oid\xf4\x90\x80\x80".hex()
    assert one.name == "N\\xed\\xa0\\x80"
    assert one.version == "v\\xed\\xa0\\x804.0"
    other = decode.decode_subscriber(
        entry(ciscoEcsbuUMLocationObjectId=b"oid\xf4\x91\x80\x80", ciscoEcsbuDtmfId=b"12\xff"),
        PROFILE,
    )
    assert other.home == "0x" + b"oid\xf4\x91\x80\x80".hex() != one.object_id
    assert other.dtmf_id == "12\\xff"


def test_ranged_attribute_is_refused_with_a_reason() -> None:
    """AD sends a big multi-valued attribute as ``name;range=0-1499``: taking it for the
    whole attribute would drop values silently, so the object is skipped, saying why."""
    values: dict[str, bytes | list[bytes]] = {
        "ciscoEcsbuLicenseClass;range=0-1499": [b"X"] * 1500,
        "ciscoEcsbuUMLocationObjectId": b"home",
    }
    ranged = entry(**values)
    with pytest.raises(
        ValueError,
        match=r"ciscoecsbulicenseclass;range=0-1499 came back "
        "in ranges",
    ):
        decode.decode_subscriber(ranged, PROFILE)
    # An option that is not a range (e.g. ;binary) is an ordinary value.
    plain = entry(**{"ciscoEcsbuLicenseClass;binary": [b"UM"]})
    decode.decode_subscriber(plain, PROFILE)


def test_usn_with_a_digit_int_refuses_is_no_usn() -> None:
    assert decode.usn(entry(uSNChanged=b"\xc2\xb2")) is None  # "²": isdigit, not int
    assert decode.usn(entry(uSNChanged=b"42")) == 42


def test_sorting_locations_does_not_copy_their_attachments() -> None:
    """Regression: the sort key was ``repr(attachment)``, a copy up to four times the
    size of each attachment. Same-named Locations of every attachment type still sort
    and are all reported."""
    big = b"\xff" * (4 << 20)
    locations = [
        Location(guid="g", dn="d", name="N", object_id=f"o{i}", attachment=a)
        for i, a in enumerate([big, "text", None, b"x"])
    ]
    report = build_pool_report("f", locations + locations[::-1], {})
    assert len(report.excluded) == 8


# --- the lab ------------------------------------------------------------------------

# A whole `resync --total` of this lab (both passes, eight 4 MiB attachments skipped
# unread twice, billion laughs refused): measured 1.2 s and 94 MiB peak RSS (with one
# 4 MiB attachment read whole, before: 4.6 s and 115 MiB); the bounds leave room for a
# busy machine. Expanding the billion laughs alone would take about 3 GB.
LAB_TIME_BOUND = 30.0
BIG_COPIES = 7  # more Locations with BIG_XML
LAB_MEMORY_BOUND = 300 << 20

SAMBA_ACCEPTED_NOT_UTF8 = b"\xf4\x90\x80\x80"  # "UTF-8" of a code point over U+10FFFF
SURROGATE = b"\xed\xa0\x80"  # UTF-8-encoded U+D800: Samba takes it where not indexed
HUGE_NAME = "H" * 200_000 + "-END"
NUL_NAME = "nul\x00name\\()*"
INJECTION = "*)(objectClass=*"
BIG_XML = (
    "<?xml version='1.0' encoding='utf-8'?><AvXmlLicData><Licenses>"
    + "<!-- megabytes of padding -->" * ((4 << 20) // 29)
    + "<LicPoolingIsEnabled>1</LicPoolingIsEnabled></Licenses></AvXmlLicData>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE AvXmlLicData [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    + "]><AvXmlLicData><Licenses><LicSubscribersMax>&l9;</LicSubscribersMax>"
    "<LicPoolingIsEnabled>1</LicPoolingIsEnabled></Licenses></AvXmlLicData>"
)
X_ENCODING = (
    '<?xml version="1.0" encoding="x-unknown"?><AvXmlLicData><Licenses>'
    "<LicPoolingIsEnabled>1</LicPoolingIsEnabled></Licenses></AvXmlLicData>"
)
OID_BYTES = b"oid-" + SAMBA_ACCEPTED_NOT_UTF8
OTHER_OID_BYTES = b"oid-\xf4\x91\x80\x80"  # read as the same U+FFFDs before the fix
ORPHAN_HOME = "00000000-0000-0000-0000-000000000000"
MANY_VALUES = 5000


def attachment(licensed: Seats, published: Seats | None, *, pooling: bool = True) -> str:
    return format_attachment(
        license_data(
            licensed=licensed, pooling=pooling, secondary=False, ports=4, published=published
        )
    )


NOT_POOLED = attachment(Seats(vm=1), None, pooling=False)


@dataclass(frozen=True)
class LocationCase:
    cn: str  # the RDN value, escaped as a DN needs it
    name: str | bytes | None
    object_id: str | bytes
    version: str | bytes = "4.0(5)"
    pooling_data: str | bytes | None = NOT_POOLED


@dataclass(frozen=True)
class SubscriberCase:
    cn: str
    home: str | bytes
    classes: tuple[str, ...] = ()
    dtmf: str | bytes | None = None


def oid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"poolsync-hostile/{name}"))


LOCATIONS = {
    # read safely, then excluded only because their (valid) license does not pool
    "huge-name": LocationCase("HUGE-NAME", HUGE_NAME, oid("huge")),
    "injection": LocationCase("INJECTION", INJECTION, oid("injection")),
    "nul": LocationCase("NUL", NUL_NAME, oid("nul")),
    "not-utf8-name": LocationCase(
        "NOT-UTF8", b"NOT-UTF8-" + SAMBA_ACCEPTED_NOT_UTF8, oid("not-utf8")
    ),
    # excluded with a reason
    "not-utf8-version": LocationCase(
        "BAD-VERSION", "BAD-VERSION", oid("bad-version"), version=b"v" + SURROGATE + b"4.0"
    ),
    "not-utf8-xml": LocationCase(
        "BAD-XML-BYTES",
        "BAD-XML-BYTES",
        oid("bad-xml"),
        pooling_data=NOT_POOLED.encode().replace(b"<Licenses>", b"<Licenses>" + SURROGATE),
    ),
    "no-name": LocationCase(r"no\,name \2B(x)", None, oid("no-name"), pooling_data=None),
    "big-xml": LocationCase("BIG-XML", "BIG-XML", oid("big-xml"), pooling_data=BIG_XML),
    "laughs": LocationCase("LAUGHS", "LAUGHS", oid("laughs"), pooling_data=LAUGHS),
    "x-encoding": LocationCase(
        "X-ENCODING", "X-ENCODING", oid("x-encoding"), pooling_data=X_ENCODING
    ),
    # read safely and pooled
    "host": LocationCase(
        "UNITY-H", "UNITY-H", oid("host"), pooling_data=attachment(Seats(10, 2, 2), Seats(3, 1, 1))
    ),
    "not-utf8-oid": LocationCase(
        "UNITY-OID", "UNITY-OID", OID_BYTES, pooling_data=attachment(Seats(5, 1, 1), Seats(1, 0, 0))
    ),
    "dup-1": LocationCase(
        "DUP-1", "UNITY-DUP", oid("dup-1"), pooling_data=attachment(Seats(5, 0, 0), Seats(1, 0, 0))
    ),
    "dup-2": LocationCase(
        "DUP-2", "UNITY-DUP", oid("dup-2"), pooling_data=attachment(Seats(5, 0, 0), Seats(1, 0, 0))
    ),
    # Eight 4 MiB attachments in all: one page of the Location search would be 34 MB,
    # over Samba's 25.6 MB reply limit (sizeLimitExceeded stopped the whole forest).
    **{
        f"big-xml-{n}": LocationCase(
            f"BIG-XML-{n}", f"BIG-XML-{n}", oid(f"big-xml-{n}"), pooling_data=BIG_XML
        )
        for n in range(1, BIG_COPIES + 1)
    },
}

SUBSCRIBERS = {
    "many-values": SubscriberCase(
        "hx-many", oid("host"), ("UM", "VMI", *(f"X{i:05d}" for i in range(MANY_VALUES)))
    ),
    "huge-dtmf": SubscriberCase("hx-huge-dtmf", oid("host"), dtmf="9" * 300_000),
    "not-utf8-dtmf": SubscriberCase(
        "hx-bad-dtmf", oid("host"), dtmf=b"12" + SAMBA_ACCEPTED_NOT_UTF8
    ),
    "oid-match": SubscriberCase("hx-oid-match", OID_BYTES),
    "oid-other": SubscriberCase("hx-oid-other", OTHER_OID_BYTES),
    "orphan": SubscriberCase("hx-orphan", ORPHAN_HOME, ("UM",)),
    "injection-home": SubscriberCase("hx-injection-home", INJECTION),
    "on-excluded": SubscriberCase("hx-on-excluded", oid("laughs")),
    "dup-1": SubscriberCase("hx-dup-1", oid("dup-1")),
    "dup-2": SubscriberCase("hx-dup-2", oid("dup-2")),
}

#: What Samba 4.17 refuses outright (case -> (attribute value, expected LDAP result)).
SAMBA_REFUSES = {
    "lone 0xff": (b"bad\xff\xfe", "invalidAttributeSyntax"),
    "lone continuation byte": (b"bad\x80", "invalidAttributeSyntax"),
    "overlong NUL": (b"bad\xc0\x80", "invalidAttributeSyntax"),
    "surrogate in an indexed attribute": (b"bad" + SURROGATE, "operationsError"),
}


@dataclass
class Hostile:
    lab: Path
    config: Config
    password: str | None
    admin: ldap3.Connection
    work: Path
    incremental: Path  # a config whose store was synced before the hostile writes
    guids: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.config.directory.dc.base_dn

    @property
    def locations_ou(self) -> str:
        return f"OU=Locations,OU=Unity,{self.base}"

    @property
    def subscribers_ou(self) -> str:
        return f"OU=Subscribers,OU=Unity,{self.base}"

    def add(self, dn: str, classes: list[str], attributes: dict[str, Any]) -> bool:
        ok = bool(self.admin.add(dn, classes, attributes))
        if ok:
            self.admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
            raw = self.admin.response[0]["raw_attributes"]["objectGUID"]
            self.guids[dn] = Entry(dn, {"objectguid": raw}).guid()
        else:
            self.refused[dn] = self.admin.result["description"]
        return ok

    def location_dn(self, case: str) -> str:
        return f"CN={LOCATIONS[case].cn},{self.locations_ou}"

    def subscriber_dn(self, case: str) -> str:
        return f"CN={SUBSCRIBERS[case].cn},{self.subscribers_ou}"


def _admin(lab: Path) -> ldap3.Connection:
    state = json.loads((lab / "lab.json").read_text())
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(lab / "tls" / "ca.pem"))
    server = ldap3.Server(
        state["dcs"][0]["address"],
        port=state["dcs"][0]["ldaps_port"],
        use_ssl=True,
        tls=tls,
        get_info=ldap3.NONE,
    )
    return ldap3.Connection(
        server,
        user=state["bind_user"],
        password=(lab / "secrets" / "admin.password").read_text(),
        auto_bind=True,
        raise_exceptions=False,
    )


def _write_hostile_objects(h: Hostile) -> None:
    p = PROFILE
    for case, loc in LOCATIONS.items():
        attributes: dict[str, Any] = {
            p.location.object_id: loc.object_id,
            named(p.location.version): loc.version,
        }
        if loc.name is not None:
            attributes[p.location.name] = loc.name
        if loc.pooling_data is not None:
            attributes[p.location.pooling_data] = loc.pooling_data
        assert h.add(h.location_dn(case), [p.location.object_class], attributes), (
            case,
            h.admin.result,
        )
    for case, sub in SUBSCRIBERS.items():
        attributes = {
            "sAMAccountName": sub.cn[:20],
            p.subscriber.object_type: "1",
            p.subscriber.home: sub.home,
        }
        if sub.classes:
            attributes[named(p.subscriber.license_class)] = list(sub.classes)
        if sub.dtmf is not None:
            attributes[p.subscriber.dtmf_id] = sub.dtmf
        assert h.add(
            h.subscriber_dn(case),
            [p.subscriber.object_class, named(p.subscriber.aux_class)],
            attributes,
        ), (case, h.admin.result)
    for n, (label, (value, _)) in enumerate(SAMBA_REFUSES.items()):
        assert not h.add(
            f"CN=REFUSED-{n},{h.locations_ou}",
            [p.location.object_class],
            {p.location.object_id: oid(label), p.location.name: value},
        ), label


@pytest.fixture(scope="module")
def hostile_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from bring_up(
        TOPOLOGIES / "hostile.yaml",
        tmp_path_factory.mktemp("labs") / "hx",
        profile=str(LICENSE_CLASS_PROFILE),
    )


@pytest.fixture(scope="module")
def hostile(hostile_lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    work = tmp_path_factory.mktemp("hostile")
    incremental = lab_config_copy(hostile_lab, work / "inc.yaml", store=work / "inc.db")
    assert run("-c", incremental, "resync", "--total").exit_code == 0
    config = load_config(hostile_lab / "poolsync.yaml")
    admin = _admin(hostile_lab)
    h = Hostile(
        hostile_lab, config, config.directory.bind.resolve_password(), admin, work, incremental
    )
    _write_hostile_objects(h)
    yield h
    admin.unbind()


@dataclass
class Runs:
    config: Path
    store: Path
    total: dict[str, Any]
    seconds: float
    max_rss: int
    incremental_code: int
    pool_code: int
    pool: dict[str, Any]
    doctor_code: int
    doctor: dict[str, Any]
    metrics: str


def _cli_process(work: Path, *args: str | Path) -> tuple[int, str, str, float, int]:
    """Run the CLI as a process of its own: exit code, stdout, stderr, wall seconds and
    peak RSS in bytes (``wait4`` gives this child's own figures, not the test's)."""
    out, err = work / "cli.out", work / "cli.err"
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from poolsync.cli.main import main; main()", *map(str, args)],
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    # ru_maxrss is in kilobytes on Linux
    return proc.returncode, out.read_text(), err.read_text(), seconds, usage.ru_maxrss * 1024


@pytest.fixture(scope="module")
def runs(hostile: Hostile) -> Runs:
    store = hostile.work / "total.db"
    config = lab_config_copy(hostile.lab, hostile.work / "total.yaml", store=store)
    metrics = hostile.work / "total.prom"
    code, out, err, seconds, rss = _cli_process(
        hostile.work,
        "-c",
        config,
        "resync",
        "--total",
        "--format",
        "json",
        "--metrics-file",
        metrics,
    )
    assert code in (0, 3), err
    incremental = run("-c", hostile.incremental, "resync")
    pool = run("-c", config, "pool", "--format", "json")
    doctor = run("-c", config, "doctor", "--format", "json")
    return Runs(
        config,
        store,
        json.loads(out),
        seconds,
        rss,
        incremental.exit_code,
        pool.exit_code,
        json.loads(pool.stdout),
        doctor.exit_code,
        json.loads(doctor.stdout),
        metrics.read_text(),
    )


def seats(vm: int, um: int, inbox: int) -> dict[str, int]:
    return {"vm": vm, "um": um, "inbox": inbox}


def stored_locations(store: Path) -> dict[str, Location]:
    with Store.open(store, create=False) as s:
        return {loc.guid: loc for loc in s.locations()}


def stored_subscribers(store: Path) -> dict[str, tuple[Any, ...]]:
    """guid -> (dn, home, dtmf_id, um, inbox), from the domain pass."""
    with Store.open(store, create=False) as s:
        rows = s.rows("subscribers")
    columns = ["pass", "guid", "dn", "home", "dtmf_id", "um", "inbox"]
    found = {}
    for row in rows:
        named = dict(zip(columns, row, strict=False))
        if named["pass"] == "domain":
            found[named["guid"]] = (
                named["dn"],
                named["home"],
                named["dtmf_id"],
                named["um"],
                named["inbox"],
            )
    return found


# -- what Samba lets through ---------------------------------------------------------------


@pytest.mark.integration
def test_samba_refuses_these_values_and_takes_every_other(hostile: Hostile) -> None:
    refused = {dn.split(",", 1)[0]: why for dn, why in hostile.refused.items()}
    assert refused == {f"CN=REFUSED-{n}": why for n, (_, why) in enumerate(SAMBA_REFUSES.values())}
    assert len(hostile.guids) == len(LOCATIONS) + len(SUBSCRIBERS)


@pytest.mark.integration
def test_samba_sends_thousands_of_values_unranged_unless_a_range_is_asked(hostile: Hostile) -> None:
    """Samba 4.17 has no MaxValRange: all 5002 values come in one answer. Asked for a
    range, it sends one, and poolsync refuses that object rather than read part of it."""
    dn = hostile.subscriber_dn("many-values")
    attribute = named(PROFILE.subscriber.license_class)
    source = LiveSource(hostile.config.directory, password=hostile.password)
    with source.open(hostile.config.directory.dc) as conn:
        [whole] = conn.search(dn, "(objectClass=*)", decode.subscriber_attributes(PROFILE))
        [ranged] = conn.search(
            dn,
            "(objectClass=*)",
            [f"{attribute};range=0-1499", PROFILE.subscriber.home, "objectGUID"],
        )
    assert len(whole.attributes[attribute.lower()]) == MANY_VALUES + 2
    assert not any(";" in key for key in whole.attributes)
    assert decode.decode_subscriber(whole, PROFILE).classes == {SeatClass.UM, SeatClass.INBOX}
    assert len(ranged.attributes[f"{attribute.lower()};range=0-1499"]) == 1500
    with pytest.raises(ValueError, match="came back in ranges"):
        decode.decode_subscriber(ranged, PROFILE)


# -- the runs complete, in bounded time and memory ------------------------------------------


@pytest.mark.integration
def test_every_run_completes_without_an_internal_error(runs: Runs) -> None:
    assert runs.total["meta"]["type"] == "resync-summary"
    assert runs.incremental_code in (0, 3)
    assert runs.pool_code in (0, 3)
    assert runs.doctor_code == 3  # the excluded servers are findings


@pytest.mark.integration
def test_total_resync_of_megabytes_and_billion_laughs_is_bounded(runs: Runs) -> None:
    assert runs.seconds < LAB_TIME_BOUND, runs.seconds
    assert runs.max_rss < LAB_MEMORY_BOUND, runs.max_rss
    assert len(BIG_XML) > 4 * MAX_ATTACHMENT_BYTES


@pytest.mark.integration
def test_both_passes_read_every_object_and_skip_none(runs: Runs) -> None:
    locations = 2 + len(LOCATIONS)
    subscribers = 7 + len(SUBSCRIBERS)
    for p in runs.total["passes"]:
        assert (p["name"], p["locations"], p["subscribers"], p["skipped"]) == (
            p["name"],
            locations,
            subscribers,
            0,
        )
    assert runs.total["servers"] == locations
    assert runs.total["subscribers"] == subscribers


@pytest.mark.integration
def test_incremental_and_total_read_the_hostile_objects_alike(hostile: Hostile, runs: Runs) -> None:
    incremental = load_config(hostile.incremental).store
    assert stored_locations(incremental) == stored_locations(runs.store)
    assert stored_subscribers(incremental) == stored_subscribers(runs.store)


# -- the pool: good objects counted exactly, bad ones excluded with a reason --------------


@pytest.mark.integration
def test_pool_members_and_totals_are_exact(runs: Runs) -> None:
    [pool] = runs.pool["pools"]
    assert pool["members"] == [
        "UNITY-DUP",
        "UNITY-DUP",
        "UNITY-G1",
        "UNITY-G2",
        "UNITY-H",
        "UNITY-OID",
    ]
    # licensed: G1 20/5/5, G2 10/2/0, H 10/2/2, OID 5/1/1, DUP 5/0/0 twice
    # used:     G1 4/1/1,  G2 3/1/0,  H 3/1/1,  OID 1/0/0, DUP 1/0/0 twice
    assert pool["seats"] == {
        "vm": {
            "licensed": 55,
            "used": 13,
            "used_source": "directory",
            "available": 42,
            "compliant": True,
        },
        "um": {
            "licensed": 10,
            "used": 3,
            "used_source": "directory",
            "available": 7,
            "compliant": True,
        },
        "inbox": {
            "licensed": 8,
            "used": 2,
            "used_source": "directory",
            "available": 6,
            "compliant": True,
        },
    }
    servers = {(s["name"], s["guid"]): s for s in pool["servers"]}
    for s in servers.values():
        assert s["stale"] == [], s["name"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for (name, _), s in servers.items():
        by_name.setdefault(name, []).append(s)
    assert [s["used"] for s in by_name["UNITY-G1"]] == [seats(4, 1, 1)]
    assert [s["used"] for s in by_name["UNITY-G2"]] == [seats(3, 1, 0)]
    # 5002 license-class values, a 300 kB extension and one that is not UTF-8: all read.
    assert [s["used"] for s in by_name["UNITY-H"]] == [seats(3, 1, 1)]
    # Homed by the exact bytes of a non-UTF-8 object id; the near miss is not.
    assert [s["used"] for s in by_name["UNITY-OID"]] == [seats(1, 0, 0)]
    # Duplicate names: two servers, told apart by objectGUID, each counted once.
    dups = by_name["UNITY-DUP"]
    assert len({s["guid"] for s in dups}) == 2
    assert [s["used"] for s in dups] == [seats(1, 0, 0)] * 2


@pytest.mark.integration
def test_orphaned_and_unpooled_seats_are_counted(runs: Runs) -> None:
    # orphan (UM) on a nonexistent Location, home "*)(objectClass=*", the near-miss oid
    assert runs.pool["orphaned"] == seats(3, 1, 0)
    # the subscriber homed on the billion-laughs Location
    assert runs.pool["unpooled"] == seats(1, 0, 0)


EXCLUDED = {
    "huge-name": (ExclusionReason.POOLING_DISABLED, "LicPoolingIsEnabled 0"),
    "injection": (ExclusionReason.POOLING_DISABLED, "LicPoolingIsEnabled 0"),
    "nul": (ExclusionReason.POOLING_DISABLED, "LicPoolingIsEnabled 0"),
    "not-utf8-name": (ExclusionReason.POOLING_DISABLED, "LicPoolingIsEnabled 0"),
    "not-utf8-version": (
        ExclusionReason.VERSION_UNSUPPORTED,
        r"version 'v\\xed\\xa0\\x804.0' not recognised",
    ),
    "not-utf8-xml": (
        ExclusionReason.ATTACHMENT_CORRUPT,
        "not well-formed XML: line 3, column 12 (not well-formed (invalid token))",
    ),
    "no-name": (ExclusionReason.ATTACHMENT_MISSING, "no pooling attachment"),
    **{
        case: (
            ExclusionReason.ATTACHMENT_TOO_LARGE,
            f"its pooling attachment is {len(BIG_XML):,} bytes, over the 1,048,576-byte "
            "limit, and was not read",
        )
        for case in ("big-xml", *(f"big-xml-{n}" for n in range(1, BIG_COPIES + 1)))
    },
    "laughs": (ExclusionReason.ATTACHMENT_CORRUPT, "DTDs are not allowed in an attachment"),
    "x-encoding": (
        ExclusionReason.ATTACHMENT_CORRUPT,
        "unsupported character encoding in the XML declaration ('unknown encoding: x-unknown')",
    ),
}
EXPECTED_NAMES = {
    "huge-name": HUGE_NAME,
    "injection": INJECTION,
    "nul": NUL_NAME,
    "not-utf8-name": "NOT-UTF8-\\xf4\\x90\\x80\\x80",
    "not-utf8-version": "BAD-VERSION",
    "not-utf8-xml": "BAD-XML-BYTES",
    "no-name": "no,name +(x)",
    "big-xml": "BIG-XML",
    **{f"big-xml-{n}": f"BIG-XML-{n}" for n in range(1, BIG_COPIES + 1)},
    "laughs": "LAUGHS",
    "x-encoding": "X-ENCODING",
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(EXCLUDED))
def test_each_bad_location_is_excluded_with_its_reason(
    case: str, hostile: Hostile, runs: Runs
) -> None:
    guid = hostile.guids[hostile.location_dn(case)]
    [exclusion] = [e for e in runs.pool["excluded"] if e["guid"] == guid]
    reason, detail = EXCLUDED[case]
    assert exclusion["name"] == EXPECTED_NAMES[case]
    assert exclusion["reason"] == reason.value
    assert detail in exclusion["detail"]


@pytest.mark.integration
def test_exactly_the_bad_locations_are_excluded(hostile: Hostile, runs: Runs) -> None:
    assert {e["guid"] for e in runs.pool["excluded"]} == {
        hostile.guids[hostile.location_dn(case)] for case in EXCLUDED
    }


@pytest.mark.integration
def test_exact_values_are_stored(hostile: Hostile, runs: Runs) -> None:
    locations = stored_locations(runs.store)
    for case, name in EXPECTED_NAMES.items():
        assert locations[hostile.guids[hostile.location_dn(case)]].name == name, case
    assert (
        locations[hostile.guids[hostile.location_dn("not-utf8-oid")]].object_id
        == "0x" + b"oid-\xf4\x90\x80\x80".hex()
    )
    big = locations[hostile.guids[hostile.location_dn("big-xml")]]
    # Refused unread: its size is kept.
    assert big.attachment is None
    assert big.attachment_refused == len(BIG_XML)
    assert locations[hostile.guids[hostile.location_dn("laughs")]].attachment == LAUGHS.encode()
    subscribers = stored_subscribers(runs.store)
    dtmf = {
        case: subscribers[hostile.guids[hostile.subscriber_dn(case)]][2]
        for case in ("huge-dtmf", "not-utf8-dtmf")
    }
    assert dtmf == {"huge-dtmf": "9" * 300_000, "not-utf8-dtmf": "12\\xf4\\x90\\x80\\x80"}
    home = subscribers[hostile.guids[hostile.subscriber_dn("injection-home")]][1]
    assert home == INJECTION
    many = subscribers[hostile.guids[hostile.subscriber_dn("many-values")]]
    assert many[3:] == (1, 1)  # UM and Inbox found among 5002 values


# -- doctor -------------------------------------------------------------------------------


@pytest.mark.integration
def test_doctor_reports_each_bad_location_and_no_healthy_one(hostile: Hostile, runs: Runs) -> None:
    health = {s["guid"]: s for s in runs.doctor["servers"] if s["guid"]}
    for case, (reason, _) in EXCLUDED.items():
        server = health[hostile.guids[hostile.location_dn(case)]]
        assert server["name"] == EXPECTED_NAMES[case]
        assert [f["cause"] for f in server["findings"]] == [reason.value], case
    healthy = sorted(s["name"] for s in runs.doctor["servers"] if s["healthy"])
    assert healthy == ["UNITY-G1", "UNITY-G2", "UNITY-H", "UNITY-OID"]
    for case in ("dup-1", "dup-2"):  # counted, but the name is ambiguous
        server = health[hostile.guids[hostile.location_dn(case)]]
        assert [f["cause"] for f in server["findings"]] == ["duplicate-name"]
    assert runs.doctor["complete"] is True


@pytest.mark.integration
def test_two_locations_with_one_name_are_two_metric_series(hostile: Hostile, runs: Runs) -> None:
    """node_exporter drops a file with two series of one label set."""
    series = [
        line.rsplit(" ", 1)[0]
        for line in runs.metrics.splitlines()
        if line and not line.startswith("#")
    ]
    assert len(series) == len(set(series))
    for case in ("dup-1", "dup-2"):
        guid = hostile.guids[hostile.location_dn(case)]
        assert f'name="UNITY-DUP ({guid})"' in runs.metrics


@pytest.mark.integration
@pytest.mark.parametrize("command", [["pool"], ["doctor"], ["pool", "--format", "csv"]])
def test_tables_and_csv_render_the_hostile_names(runs: Runs, command: list[str]) -> None:
    result = run("-c", runs.config, *command)
    assert result.exit_code in (0, 3), result.stderr
    assert "UNITY-G1" in result.stdout and "LAUGHS" in result.stdout


# -- filters: a hostile value finds nothing extra ------------------------------------------


@pytest.mark.integration
def test_doctor_server_argument_is_matched_literally(hostile: Hostile, runs: Runs) -> None:
    result = run("-c", runs.config, "doctor", "--format", "json", INJECTION)
    assert result.exit_code == 3, result.stderr
    doc = json.loads(result.stdout)
    assert [s["guid"] for s in doc["servers"]] == [hostile.guids[hostile.location_dn("injection")]]
    wildcard = run("-c", runs.config, "doctor", "*")
    assert wildcard.exit_code == 2
    assert "no server named '*'" in wildcard.stderr
    both = json.loads(run("-c", runs.config, "doctor", "--format", "json", "UNITY-DUP").stdout)
    assert sorted(s["guid"] for s in both["servers"]) == sorted(
        hostile.guids[hostile.location_dn(c)] for c in ("dup-1", "dup-2")
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("attribute", "value", "cases"),
    [
        ("name", INJECTION, ["injection"]),
        ("name", "*", []),
        ("name", "UNITY-*", []),
        ("name", NUL_NAME, ["nul"]),
        # Samba compares a stored value only up to its first NUL (C strings): both of these
        # match "nul\0name...", although the filter sends "nul" and "nul\0other" exactly.
        ("name", "nul", ["nul"]),
        ("name", "nul\x00other", ["nul"]),
        ("name", "nul\x00name", ["nul"]),
        ("name", "UNITY-DUP", ["dup-1", "dup-2"]),
        ("object_id", OID_BYTES, ["not-utf8-oid"]),
        ("object_id", OTHER_OID_BYTES, []),
        ("name", HUGE_NAME, ["huge-name"]),
    ],
)
def test_hostile_values_in_a_filter_find_exactly_their_objects(
    hostile: Hostile, attribute: str, value: str | bytes, cases: list[str]
) -> None:
    name = getattr(PROFILE.location, attribute)
    ldap_filter = and_filter(decode.location_filter(PROFILE), equality(name, value))
    source = LiveSource(hostile.config.directory, password=hostile.password)
    with source.open(hostile.config.directory.dc) as conn:
        found = {e.guid() for e in conn.search(hostile.base, ldap_filter, ["objectGUID"])}
    assert found == {hostile.guids[hostile.location_dn(c)] for c in cases}


@pytest.mark.integration
def test_pasted_unescaped_the_injection_would_have_matched_every_location(hostile: Hostile) -> None:
    """The control for the test above: the same value pasted raw matches all."""
    name = PROFILE.location.name
    pasted = f"(&{decode.location_filter(PROFILE)}({name}={INJECTION}))"
    source = LiveSource(hostile.config.directory, password=hostile.password)
    with source.open(hostile.config.directory.dc) as conn:
        found = list(conn.search(hostile.base, pasted, ["objectGUID"]))
    assert len(found) > 2


@pytest.mark.integration
def test_a_reset_while_skipping_a_large_attachment_is_retried_cleanly(
    hostile: Hostile, runs: Runs
) -> None:
    """Through a proxy that resets the DC's first connection 12 MB in (the middle of
    the 4 MiB attachments being skipped), the domain pass is retried and the store ends
    as a clean run's."""
    doc = yaml.safe_load(runs.config.read_text())
    url = urlsplit(doc["directory"]["dc"]["url"])
    assert url.hostname is not None and url.port is not None
    with FaultProxy(url.hostname, (url.hostname, url.port)) as proxy:
        proxy.plan([reset(after=12 << 20)])
        doc["directory"]["dc"]["url"] = f"ldaps://{url.hostname}:{proxy.port}"
        doc["store"] = str(hostile.work / "reset.db")
        config = hostile.work / "reset.yaml"
        config.write_text(yaml.safe_dump(doc))
        resynced = run("-c", config, "resync", "--total", "--format", "json")
        assert proxy.applied["reset"] == 1
        assert proxy.connections >= 2  # the reset connection, then the retry's
    assert resynced.exit_code in (0, 3), resynced.stderr
    shown = run("-c", config, "pool", "--format", "json")
    assert shown.exit_code == runs.pool_code
    pool = json.loads(shown.stdout)
    # Only when and through which endpoint (the proxy's) it was read may differ.
    assert {k: v for k, v in pool.items() if k not in ("meta", "origin")} == {
        k: v for k, v in runs.pool.items() if k not in ("meta", "origin")
    }
