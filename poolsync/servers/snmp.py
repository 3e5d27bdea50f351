"""A Unity server's license over SNMP: the CISCO-UNITY-MIB license scalars, with pysnmp.

The 16 ``ciscoUnityLic*`` objects are read-only scalars of the local server under
``ciscoUnityGlobalInfo`` (1.3.6.1.4.1.9.9.385.1.2), columns .8 to .23, instance .0;
all of them are asked in one GET. Each becomes the ``AvXmlLicData`` parameter of the
same meaning (:data:`LICENSE_OBJECTS`), so a reading over SNMP is built from the same
:class:`~poolsync.attachment.LicenseData` as one over HTTP. The MIB's types are
enforced: Unsigned32 (BER tag 0x42, shown as Gauge32) within the MIB's range for the
counters, TruthValue (an INTEGER, 1 = true, 2 = false) for the flags; anything else is
refused. A license object answered ``noSuchObject``/``noSuchInstance`` is not
published (the objects came with the MIB's 2005 revision); without the four that a
pool needs (:data:`REQUIRED`) the read fails with :class:`NotPublished`. There is no
UM utilization object.

v2c (a community) and v3 (SHA or SHA-256 authentication, optionally AES or AES-256
privacy) are supported. pysnmp is asyncio-only: each :meth:`SnmpSource.fetch` runs
one GET with an engine of its own in ``asyncio.run``, so it is safe in the probe's
threads. pysnmp objects never leave this module.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_NONE,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from poolsync.attachment import LICENSES, UTILIZATION, LicenseData
from poolsync.servers.endpoints import ServerEndpoints, SnmpEndpoint
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerError,
    ServerNotFound,
    ServerUnavailable,
    one_line,
)
from poolsync.servers.model import Source

__all__ = [
    "GLOBAL_INFO",
    "LICENSE_OBJECTS",
    "REQUIRED",
    "LicenseObject",
    "Scalar",
    "SnmpSource",
    "license_from_scalars",
    "scalar",
]

log = logging.getLogger(__name__)
_warned: set[str] = set()

#: ciscoUnityGlobalInfo: the local server's scalars.
GLOBAL_INFO: Final = "1.3.6.1.4.1.9.9.385.1.2"
_MAX_SUBSCRIBERS: Final = 2_147_483_647

Kind = Literal["unsigned", "truth"]


@dataclass(frozen=True, slots=True)
class LicenseObject:
    """One ``ciscoUnityLic*`` scalar and the ``AvXmlLicData`` parameter it is."""

    column: int
    name: str  # the MIB's name
    section: str  # Licenses or Utilization
    parameter: str  # the AvXmlLicData element
    kind: Kind
    maximum: int = 0  # unsigned: the MIB's range is 0..maximum

    @property
    def oid(self) -> str:
        return f"{GLOBAL_INFO}.{self.column}.0"


def _u(column: int, name: str, section: str, parameter: str, maximum: int) -> LicenseObject:
    return LicenseObject(column, name, section, parameter, "unsigned", maximum)


def _t(column: int, name: str, parameter: str) -> LicenseObject:
    return LicenseObject(column, name, LICENSES, parameter, "truth")


#: CISCO-UNITY-MIB (REVISION 200512120000Z), ciscoUnityLicInfoGroup, in column order.
LICENSE_OBJECTS: Final[tuple[LicenseObject, ...]] = (
    _u(8, "ciscoUnityLicLanguagesMax", LICENSES, "LicLanguagesMax", 255),
    _u(9, "ciscoUnityLicTTSSessionsMax", LICENSES, "LicTTSSessionsMax", 255),
    _u(10, "ciscoUnityLicSubscribersMax", LICENSES, "LicSubscribersMax", _MAX_SUBSCRIBERS),
    _u(11, "ciscoUnityLicUMSubscribersMax", LICENSES, "LicUMSubscribersMax", _MAX_SUBSCRIBERS),
    _u(12, "ciscoUnityLicVMISubscribersMax", LICENSES, "LicVMISubscribersMax", _MAX_SUBSCRIBERS),
    _u(13, "ciscoUnityLicVoicePortsMax", LICENSES, "LicVoicePortsMax", 255),
    _u(14, "ciscoUnityLicBridgeSessionsMax", LICENSES, "LicBridgeSessionsMax", 255),
    _t(15, "ciscoUnityLicAMISIsLicensed", "LicAMISIsLicensed"),
    _t(16, "ciscoUnityLicMaxMsgRecLenIsLic", "LicMaxMsgRecLenIsLicensed"),
    _t(17, "ciscoUnityLicPoolingIsEnabled", "LicPoolingIsEnabled"),
    _t(18, "ciscoUnityLicVPIMIsLicensed", "LicVPIMIsLicensed"),
    # [model] No XML name for it was ever seen: this one follows the others' pattern.
    _t(19, "ciscoUnityLicPrimaryServerIsLic", "LicPrimaryServerIsLicensed"),
    _t(20, "ciscoUnityLicSecondServerIsLic", "LicSecondaryServerIsLicensed"),
    _u(21, "ciscoUnityLicUtilSecondServer", UTILIZATION, "AvLicUtilizationSecondaryServer", 1),
    _u(22, "ciscoUnityLicUtilSubs", UTILIZATION, "AvLicUtilizationSubscribers", _MAX_SUBSCRIBERS),
    _u(
        23,
        "ciscoUnityLicUtilVMISubs",
        UTILIZATION,
        "AvLicUtilizationVMISubscribers",
        _MAX_SUBSCRIBERS,
    ),
)
#: Licensed VM, UM and Inbox seats and the pooling flag: without them there is no reading.
REQUIRED: Final = frozenset({10, 11, 12, 17})

_AUTH: Final = {"SHA": USM_AUTH_HMAC96_SHA, "SHA256": USM_AUTH_HMAC192_SHA256}
# AES256 is net-snmp's AES-256 (the Blumenthal key extension); with SHA-256 the key
# needs no extension, so it equals the Reeder (Cisco "AES256C") variant there.
_PRIV: Final = {"AES": USM_PRIV_CFB128_AES, "AES256": USM_PRIV_CFB256_AES_BLUMENTHAL}

ScalarKind = Literal["unsigned", "integer", "absent", "other"]


@dataclass(frozen=True, slots=True)
class Scalar:
    """A varbind's value as the mapping needs it: its kind, its number (unsigned and
    integer only) and its SNMP type's name (for messages)."""

    kind: ScalarKind
    value: int | None
    type_name: str


def scalar(value: Any) -> Scalar:
    """Classify a pysnmp varbind value by its BER tag (a response is decoded without
    the MIB, so Unsigned32 and Gauge32 arrive alike)."""
    type_name = type(value).__name__
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return Scalar("absent", None, type_name[:1].lower() + type_name[1:])
    tag = getattr(value, "tagSet", None)
    if tag == rfc1902.Gauge32.tagSet:
        return Scalar("unsigned", int(value), "Unsigned32")
    if tag == rfc1902.Integer32.tagSet:
        return Scalar("integer", int(value), "INTEGER")
    return Scalar("other", None, type_name)


def license_from_scalars(values: Mapping[int, Scalar], *, where: str = "") -> LicenseData:
    """The LicenseData the license scalars (by column) describe.

    Raises :class:`NotPublished` when a :data:`REQUIRED` object is absent and
    :class:`ServerDataError` for a value of the wrong type or out of the MIB's range.
    """
    prefix = f"{where}: " if where else ""
    absent = [o for o in LICENSE_OBJECTS if values.get(o.column, _MISSING).kind == "absent"]
    if len(absent) == len(LICENSE_OBJECTS):
        raise NotPublished(
            f"{prefix}no CISCO-UNITY-MIB license object is published "
            f"({values[absent[0].column].type_name}); a Unity older than the MIB's 2005 "
            "revision has none: read it over http"
        )
    missing = [o for o in absent if o.column in REQUIRED]
    if missing:
        names = ", ".join(f"{o.name}.0 ({values[o.column].type_name})" for o in missing)
        raise NotPublished(f"{prefix}CISCO-UNITY-MIB license objects not published: {names}")
    sections: dict[str, dict[str, int]] = {LICENSES: {}, UTILIZATION: {}}
    for obj in LICENSE_OBJECTS:
        value = values.get(obj.column, _MISSING)
        if value.kind == "absent":
            continue
        sections[obj.section][obj.parameter] = _checked(obj, value, prefix)
    return LicenseData(licenses=sections[LICENSES], utilization=sections[UTILIZATION])


_MISSING: Final = Scalar("absent", None, "missing from the response")


def _checked(obj: LicenseObject, value: Scalar, prefix: str) -> int:
    if obj.kind == "truth":
        if value.kind != "integer":
            raise ServerDataError(
                f"{prefix}{obj.name}.0 is {value.type_name}, expected a TruthValue (INTEGER 1 or 2)"
            )
        if value.value not in (1, 2):
            raise ServerDataError(
                f"{prefix}{obj.name}.0 is {value.value}, not a TruthValue (1 = true, 2 = false)"
            )
        return 1 if value.value == 1 else 0
    if value.kind != "unsigned" or value.value is None:
        raise ServerDataError(
            f"{prefix}{obj.name}.0 is {value.type_name}, expected Unsigned32 (Gauge32)"
        )
    if not 0 <= value.value <= obj.maximum:
        raise ServerDataError(
            f"{prefix}{obj.name}.0 is {value.value}, out of the MIB's range 0..{obj.maximum}"
        )
    return value.value


def _where(endpoint: SnmpEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return one_line(f"snmp://{host}:{endpoint.port}")


def _credentials(endpoint: SnmpEndpoint, where: str) -> CommunityData | UsmUserData:
    """pysnmp's credentials for ``endpoint``, with the secrets resolved now."""
    if endpoint.version == "2c":
        if endpoint.community is None:
            raise ServerError(f"{where}: SNMP v2c needs a community")
        if not _warned:
            _warned.add("v2c")
            log.warning(
                "%s: SNMP v2c sends the community in clear (as Unity's Windows SNMP "
                "service must); use v3 where the agent has it",
                where,
            )
        # v2c is what the Windows SNMP service of a Unity 4.x server speaks.
        return CommunityData(endpoint.community.resolve(), mpModel=1)  # noqa: S508
    if endpoint.version != "3":
        raise ServerError(f"{where}: unsupported SNMP version {endpoint.version!r} (2c or 3)")
    if not endpoint.user:
        raise ServerError(f"{where}: SNMP v3 needs a user")
    auth_protocol, priv_protocol = USM_AUTH_NONE, USM_PRIV_NONE
    auth_key = priv_key = None
    if endpoint.auth is not None:
        auth_protocol = _protocol(_AUTH, endpoint.auth.protocol, "auth", where)
        auth_key = endpoint.auth.password.resolve()
    if endpoint.priv is not None:
        if endpoint.auth is None:
            raise ServerError(f"{where}: SNMP v3 privacy needs authentication (auth)")
        priv_protocol = _protocol(_PRIV, endpoint.priv.protocol, "priv", where)
        priv_key = endpoint.priv.password.resolve()
    return UsmUserData(
        endpoint.user,
        authKey=auth_key,
        privKey=priv_key,
        authProtocol=auth_protocol,
        privProtocol=priv_protocol,
    )


def _protocol(table: Mapping[str, Any], name: str, what: str, where: str) -> Any:
    try:
        return table[name.upper()]
    except KeyError:
        raise ServerError(
            f"{where}: unsupported SNMP v3 {what} protocol {name!r} ({' or '.join(table)})"
        ) from None


def _indication_error(indication: object, endpoint: SnmpEndpoint, where: str) -> ServerError:
    """A pysnmp error indication (no usable response) as a typed error."""
    text = one_line(str(indication))
    if isinstance(indication, errind.RequestTimedOut):
        if endpoint.version == "3":
            why = (
                "or the v3 privacy password or protocol is wrong (an agent that cannot "
                "decrypt a request ignores it)"
            )
        else:
            why = "or the community is wrong (an agent ignores a wrong community)"
        return ServerUnavailable(
            f"{where}: no SNMP answer within {endpoint.timeout:g} s: the "
            f"agent is down or unreachable, {why}"
        )
    if isinstance(indication, errind.WrongDigest):
        return ServerAuthError(
            f"{where}: the agent refused the v3 authentication password "
            f"or protocol of user {one_line(endpoint.user or '')!r} "
            f"({text})"
        )
    if isinstance(indication, errind.UnknownUserName | errind.UnknownSecurityName):
        return ServerAuthError(
            f"{where}: the agent has no v3 user {one_line(endpoint.user or '')!r} ({text})"
        )
    if isinstance(
        indication,
        errind.UnsupportedSecurityLevel
        | errind.DecryptionError
        | errind.AuthenticationFailure
        | errind.AuthenticationError,
    ):
        return ServerAuthError(f"{where}: the agent refused the v3 credentials ({text})")
    if isinstance(indication, errind.NotInTimeWindow | errind.UnknownEngineID):
        return ServerUnavailable(f"{where}: {text}")
    return ServerError(f"{where}: SNMP failed: {text}")


def _status_error(status: object, index: int, varbinds: Sequence[Any], where: str) -> ServerError:
    """An error-status in the response PDU as a typed error."""
    said = one_line(str(getattr(status, "prettyPrint", lambda: status)()))
    at = ""
    if 0 < index <= len(varbinds):
        at = f" at {varbinds[index - 1][0]}"
    if said in ("authorizationError", "noAccess"):
        return ServerAuthError(
            f"{where}: the agent refused access ({said}): the community "
            "or user may not read 1.3.6.1.4.1.9.9.385, or the user needs "
            "privacy (priv)"
        )
    if said == "noSuchName":
        return NotPublished(
            f"{where}: CISCO-UNITY-MIB license objects not published (noSuchName{at})"
        )
    return ServerDataError(f"{where}: the agent answered {said}{at}")


class SnmpSource:
    """:class:`~poolsync.servers.source.LicenseSource` over SNMP, with pysnmp."""

    @property
    def source(self) -> Source:
        return "snmp"

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        endpoint = server.snmp
        if endpoint is None:
            raise ValueError(f"{server.name} has no snmp endpoint")
        where = _where(endpoint)
        credentials = _credentials(endpoint, where)
        # pysnmp bounds each request by the timeout; a v3 read is two requests (engine
        # discovery first). The outer bound only guards against a hang in between.
        bound = 3 * endpoint.timeout + 1
        try:
            varbinds = asyncio.run(
                asyncio.wait_for(self._get(endpoint, credentials, where), timeout=bound)
            )
        except TimeoutError:
            raise ServerUnavailable(
                f"{where}: no complete SNMP answer within {bound:g} s"
            ) from None
        finally:
            del credentials
        return license_from_scalars(_by_column(varbinds, where), where=where)

    async def _get(
        self, endpoint: SnmpEndpoint, credentials: CommunityData | UsmUserData, where: str
    ) -> list[tuple[str, Any]]:
        engine = SnmpEngine()
        try:
            target = await self._target(endpoint, where)
            try:
                indication, status, index, varbinds = await get_cmd(
                    engine,
                    credentials,
                    target,
                    ContextData(),
                    *(ObjectType(ObjectIdentity(o.oid)) for o in LICENSE_OBJECTS),
                    lookupMib=False,
                )
            except PySnmpError as exc:
                raise ServerError(f"{where}: SNMP failed: {one_line(str(exc))}") from None
        finally:
            engine.close_dispatcher()
        if indication:
            raise _indication_error(indication, endpoint, where)
        if status:
            raise _status_error(status, int(index), varbinds, where)
        return [(str(name), value) for name, value in varbinds]

    @staticmethod
    async def _target(endpoint: SnmpEndpoint, where: str) -> UdpTransportTarget:
        kind = Udp6TransportTarget if ":" in endpoint.host else UdpTransportTarget
        try:
            return await kind.create(
                (endpoint.host, endpoint.port), timeout=endpoint.timeout, retries=0
            )
        except PySnmpError as exc:
            for item in (exc.__cause__, exc.__context__):
                if isinstance(item, socket.gaierror):
                    if item.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
                        raise ServerNotFound(
                            f"{where}: the host name does not resolve ({item.strerror})"
                        ) from None
                    raise ServerUnavailable(
                        f"{where}: looking the host up failed ({item.strerror})"
                    ) from None
            raise ServerError(f"{where}: {one_line(str(exc))}") from None


def _by_column(varbinds: Iterable[tuple[str, Any]], where: str) -> dict[int, Scalar]:
    """The response's values by column; a varbind for an OID not asked is an error."""
    wanted = {o.oid: o.column for o in LICENSE_OBJECTS}
    values: dict[int, Scalar] = {}
    for name, value in varbinds:
        column = wanted.get(name.lstrip("."))
        if column is None:
            raise ServerDataError(
                f"{where}: the agent answered {one_line(name, limit=80)}, which was not asked for"
            )
        values[column] = scalar(value)
    return values
