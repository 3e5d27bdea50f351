"""The SNMP source's mapping of CISCO-UNITY-MIB values, and how it names failures.

The values are pysnmp's own types, as a response decodes them; the real agent is in
tests/integration/test_servers_snmp.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from pysnmp.proto import errind, rfc1902, rfc1905

from poolsync.attachment import LicenseData
from poolsync.model import Seats
from poolsync.secrets import SecretRef
from poolsync.servers.endpoints import ServerEndpoints, SnmpAuth, SnmpEndpoint
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerError,
    ServerUnavailable,
)
from poolsync.servers.model import reading_from_license
from poolsync.servers.snmp import (
    GLOBAL_INFO,
    LICENSE_OBJECTS,
    REQUIRED,
    Scalar,
    SnmpSource,
    _by_column,
    _indication_error,
    _status_error,
    license_from_scalars,
    scalar,
)
from tests.support.servers_contract import NOW

#: What the lab's UNITY-A serves, as the MIB types it.
SERVED: dict[int, Any] = {
    8: rfc1902.Gauge32(2),
    9: rfc1902.Gauge32(4),
    10: rfc1902.Gauge32(500),
    11: rfc1902.Gauge32(200),
    12: rfc1902.Gauge32(50),
    13: rfc1902.Gauge32(24),
    14: rfc1902.Gauge32(0),
    15: rfc1902.Integer32(1),
    16: rfc1902.Integer32(1),
    17: rfc1902.Integer32(1),
    18: rfc1902.Integer32(2),
    19: rfc1902.Integer32(1),
    20: rfc1902.Integer32(1),
    21: rfc1902.Gauge32(1),
    22: rfc1902.Gauge32(412),
    23: rfc1902.Gauge32(37),
}
V2C = SnmpEndpoint(
    host="127.0.0.1",
    port=161,
    version="2c",
    community=SecretRef("env", "X"),
    user=None,
    auth=None,
    priv=None,
    timeout=2.0,
)
V3 = SnmpEndpoint(
    host="127.0.0.1",
    port=161,
    version="3",
    community=None,
    user="poolsync",
    auth=SnmpAuth("SHA", SecretRef("env", "X")),
    priv=None,
    timeout=2.0,
)


def scalars(**changes: Any) -> dict[int, Scalar]:
    values = dict(SERVED)
    for key, value in changes.items():
        values[int(key.removeprefix("c"))] = value
    return {column: scalar(value) for column, value in values.items()}


def test_the_objects_are_the_mibs_license_scalars() -> None:
    assert [o.column for o in LICENSE_OBJECTS] == list(range(8, 24))
    assert all(o.oid == f"1.3.6.1.4.1.9.9.385.1.2.{o.column}.0" for o in LICENSE_OBJECTS)
    assert GLOBAL_INFO == "1.3.6.1.4.1.9.9.385.1.2"
    by_column = {o.column: o for o in LICENSE_OBJECTS}
    assert by_column[10].name == "ciscoUnityLicSubscribersMax"
    assert by_column[17].name == "ciscoUnityLicPoolingIsEnabled"
    assert by_column[22].parameter == "AvLicUtilizationSubscribers"
    assert {by_column[c].parameter for c in REQUIRED} == {
        "LicSubscribersMax",
        "LicUMSubscribersMax",
        "LicVMISubscribersMax",
        "LicPoolingIsEnabled",
    }
    assert not any("UM" in o.parameter for o in LICENSE_OBJECTS if o.section == "Utilization")


def test_the_scalars_become_the_same_license_data_as_the_page() -> None:
    data = license_from_scalars(scalars())
    assert data == LicenseData(
        licenses={
            "LicLanguagesMax": 2,
            "LicTTSSessionsMax": 4,
            "LicSubscribersMax": 500,
            "LicUMSubscribersMax": 200,
            "LicVMISubscribersMax": 50,
            "LicVoicePortsMax": 24,
            "LicBridgeSessionsMax": 0,
            "LicAMISIsLicensed": 1,
            "LicMaxMsgRecLenIsLicensed": 1,
            "LicPoolingIsEnabled": 1,
            "LicVPIMIsLicensed": 0,
            "LicPrimaryServerIsLicensed": 1,
            "LicSecondaryServerIsLicensed": 1,
        },
        utilization={
            "AvLicUtilizationSecondaryServer": 1,
            "AvLicUtilizationSubscribers": 412,
            "AvLicUtilizationVMISubscribers": 37,
        },
    )
    reading = reading_from_license("UNITY-A", "snmp", data, read_at=NOW)
    assert reading.licensed == Seats(500, 200, 50)
    assert reading.published_used == Seats(vm=412, um=0, inbox=37)


def test_truth_value_2_is_false() -> None:
    data = license_from_scalars(scalars(c17=rfc1902.Integer32(2), c20=rfc1902.Integer32(2)))
    assert data.pooling_enabled is False and data.secondary_licensed is False


def test_unsigned32_and_gauge32_are_the_same_tag() -> None:
    assert scalar(rfc1902.Unsigned32(7)) == Scalar("unsigned", 7, "Unsigned32")
    assert scalar(rfc1902.Gauge32(7)) == Scalar("unsigned", 7, "Unsigned32")
    assert scalar(rfc1902.Integer(1)) == Scalar("integer", 1, "INTEGER")
    assert scalar(rfc1905.NoSuchObject("")) == Scalar("absent", None, "noSuchObject")
    assert scalar(rfc1905.NoSuchInstance("")) == Scalar("absent", None, "noSuchInstance")
    assert scalar(rfc1905.EndOfMibView("")).kind == "absent"


@pytest.mark.parametrize(
    "value",
    [
        rfc1902.Counter32(500),
        rfc1902.Counter64(500),
        rfc1902.Integer32(500),
        rfc1902.TimeTicks(500),
        rfc1902.OctetString("500"),
        rfc1902.IpAddress("1.2.3.4"),
        rfc1902.Opaque(b"\x01"),
        rfc1902.ObjectName("1.3.6"),
    ],
)
def test_a_counter_of_another_type_is_refused(value: Any) -> None:
    with pytest.raises(
        ServerDataError, match=r"ciscoUnityLicSubscribersMax\.0 is \w+, expected Unsigned32"
    ):
        license_from_scalars(scalars(c10=value))


@pytest.mark.parametrize(
    "value", [rfc1902.Gauge32(1), rfc1902.OctetString("true"), rfc1902.Counter32(1)]
)
def test_a_flag_that_is_not_an_integer_is_refused(value: Any) -> None:
    with pytest.raises(
        ServerDataError,
        match=r"ciscoUnityLicPoolingIsEnabled\.0 is \w+, "
        r"expected a TruthValue",
    ):
        license_from_scalars(scalars(c17=value))


@pytest.mark.parametrize("number", [0, 3, -1, 255])
def test_a_truth_value_other_than_1_or_2_is_refused(number: int) -> None:
    with pytest.raises(ServerDataError, match=f"is {number}, not a TruthValue"):
        license_from_scalars(scalars(c20=rfc1902.Integer32(number)))


@pytest.mark.parametrize(
    ("column", "value", "limit"),
    [
        ("c8", 256, 255),
        ("c13", 1000, 255),
        ("c21", 2, 1),
        ("c10", 2_147_483_648, 2_147_483_647),
        ("c22", 4_294_967_295, 2_147_483_647),
    ],
)
def test_a_value_out_of_the_mibs_range_is_refused(column: str, value: int, limit: int) -> None:
    with pytest.raises(ServerDataError, match=f"out of the MIB's range 0..{limit}"):
        license_from_scalars(scalars(**{column: rfc1902.Gauge32(value)}))


def test_no_license_object_at_all_is_not_published() -> None:
    values = {o.column: scalar(rfc1905.NoSuchObject("")) for o in LICENSE_OBJECTS}
    with pytest.raises(
        NotPublished,
        match=r"no CISCO-UNITY-MIB license object is published "
        r"\(noSuchObject\)",
    ):
        license_from_scalars(values)


def test_a_missing_required_object_is_not_published_and_named() -> None:
    with pytest.raises(
        NotPublished,
        match=r"not published: ciscoUnityLicUMSubscribersMax\.0 "
        r"\(noSuchInstance\)",
    ):
        license_from_scalars(scalars(c11=rfc1905.NoSuchInstance("")))


def test_missing_optional_objects_are_left_out() -> None:
    data = license_from_scalars(
        scalars(
            c22=rfc1905.NoSuchInstance(""),
            c23=rfc1905.NoSuchInstance(""),
            c8=rfc1905.NoSuchObject(""),
        )
    )
    assert "LicLanguagesMax" not in data.licenses
    assert data.published_used is None  # neither counter: nothing published
    assert reading_from_license("A", "snmp", data, read_at=NOW).published_used is None


def test_a_varbind_that_was_not_asked_for_is_refused() -> None:
    with pytest.raises(ServerDataError, match="which was not asked for"):
        _by_column([("1.3.6.1.2.1.1.5.0", rfc1902.OctetString("x"))], "snmp://h:161")
    assert _by_column([(f"{GLOBAL_INFO}.10.0", rfc1902.Gauge32(5))], "w") == {
        10: Scalar("unsigned", 5, "Unsigned32")
    }


@pytest.mark.parametrize(
    ("indication", "endpoint", "error", "words"),
    [
        (errind.requestTimedOut, V2C, ServerUnavailable, "or the community is wrong"),
        (errind.requestTimedOut, V3, ServerUnavailable, "v3 privacy password or protocol"),
        (errind.wrongDigest, V3, ServerAuthError, "refused the v3 authentication password"),
        (errind.unknownUserName, V3, ServerAuthError, "has no v3 user 'poolsync'"),
        (errind.unsupportedSecurityLevel, V3, ServerAuthError, "refused the v3 credentials"),
        (errind.notInTimeWindow, V3, ServerUnavailable, "not in windows of trust"),
        (errind.tooBig, V2C, ServerError, "SNMP failed"),
    ],
)
def test_error_indications_are_typed(
    indication: object, endpoint: SnmpEndpoint, error: type[ServerError], words: str
) -> None:
    result = _indication_error(indication, endpoint, "snmp://h:161")
    assert type(result) is error and words in str(result)
    assert str(result).startswith("snmp://h:161: ")


class Status:
    def __init__(self, name: str) -> None:
        self.name = name

    def prettyPrint(self) -> str:  # pysnmp's name
        return self.name


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("authorizationError", ServerAuthError),
        ("noAccess", ServerAuthError),
        ("noSuchName", NotPublished),
        ("genErr", ServerDataError),
        ("tooBig", ServerDataError),
    ],
)
def test_error_statuses_are_typed(status: str, error: type[ServerError]) -> None:
    varbinds = [(f"{GLOBAL_INFO}.10.0", None)]
    result = _status_error(Status(status), 1, varbinds, "w")
    assert type(result) is error and status in str(result)


@pytest.mark.parametrize(
    ("snmp", "words"),
    [
        (
            SnmpEndpoint(
                host="h",
                port=1,
                version="2c",
                community=None,
                user=None,
                auth=None,
                priv=None,
                timeout=1,
            ),
            "v2c needs a community",
        ),
        (
            SnmpEndpoint(
                host="h",
                port=1,
                version="1",
                community=None,
                user=None,
                auth=None,
                priv=None,
                timeout=1,
            ),
            "unsupported SNMP version '1'",
        ),
        (
            SnmpEndpoint(
                host="h",
                port=1,
                version="3",
                community=None,
                user=None,
                auth=None,
                priv=None,
                timeout=1,
            ),
            "v3 needs a user",
        ),
        (
            SnmpEndpoint(
                host="h",
                port=1,
                version="3",
                community=None,
                user="u",
                auth=None,
                priv=SnmpAuth("AES", SecretRef("env", "X")),
                timeout=1,
            ),
            "privacy needs authentication",
        ),
        (
            SnmpEndpoint(
                host="h",
                port=1,
                version="3",
                community=None,
                user="u",
                auth=SnmpAuth("MD5", SecretRef("env", "HOME")),
                priv=None,
                timeout=1,
            ),
            "unsupported SNMP v3 auth protocol 'MD5' (SHA or SHA256)",
        ),
    ],
)
def test_an_unusable_endpoint_is_an_error_before_anything_is_sent(
    snmp: SnmpEndpoint, words: str
) -> None:
    with pytest.raises(ServerError, match=words.replace("(", r"\(").replace(")", r"\)")):
        SnmpSource().fetch(ServerEndpoints(name="A", http=None, snmp=snmp))
