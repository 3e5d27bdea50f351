"""The SNMP source against a real agent (net-snmp's snmpd), good and hostile.

Each agent serves CISCO-UNITY-MIB through a pass_persist handler (tests/support/unity_agent.py)
from data the test chooses, as the MIB types it or not: a Unity server with GOOD (v2c
and two v3 users), one with OTHER, one that serves no license object (a Unity older
than the MIB's 2005 revision), and ones serving a counter as a string or a TruthValue
of 3. Timeouts are short, so a silent agent costs a fraction of a second.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from poolsync.secrets import SecretRef
from poolsync.servers.endpoints import ServerEndpoints, SnmpAuth, SnmpEndpoint
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerNotFound,
    ServerUnavailable,
)
from poolsync.servers.probe import probe_servers
from poolsync.servers.snmp import GLOBAL_INFO, SnmpSource
from poolsync.servers.source import NO_RETRIES, SERVER_RETRIES, read_server
from tests.support.serverlab import Snmpd, agent_data, free_port, loopback_address, require_daemons
from tests.support.servers_contract import GOOD, OTHER, ContractLab, LicenseSourceContract, clock

pytestmark = pytest.mark.servers

COMMUNITY = "snmp-Community-5d1e"
AUTH = "snmp-Auth-Pass-0b7c"
PRIV = "snmp-Priv-Pass-e29a"
WRONG = "snmp-Wrong-Pass-44f0"
USERS = (("poolsync", "SHA", AUTH, "AES", PRIV), ("poolsync256", "SHA-256", AUTH, "AES-256", PRIV))
TIMEOUT = 0.3


def _served(**changes: tuple[str, int | str]) -> dict[str, tuple[str, int | str]]:
    served: dict[str, tuple[str, int | str]] = dict(agent_data(GOOD))
    for column, value in changes.items():
        served[f"{GLOBAL_INFO}.{column.removeprefix('c')}.0"] = value
    return served


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Snmpd]]:
    require_daemons()
    base = tmp_path_factory.mktemp("snmpd")
    wanted: dict[str, Mapping[str, tuple[str, int | str]]] = {
        "good": agent_data(GOOD),
        "other": agent_data(OTHER),
        "empty": {},
        "string": _served(c10=("string", "five hundred")),
        "truth": _served(c17=("integer", 3)),
    }
    running: dict[str, Snmpd] = {}
    try:
        for name, served in wanted.items():
            agent = Snmpd(
                base / name, served, community=COMMUNITY, users=USERS if name == "good" else ()
            )
            agent.start()
            running[name] = agent
        yield running
    finally:
        for agent in running.values():
            agent.stop()


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SecretRef]:
    directory = tmp_path_factory.mktemp("snmp-secrets")
    refs = {}
    for name, value in (("community", COMMUNITY), ("auth", AUTH), ("priv", PRIV), ("wrong", WRONG)):
        path = directory / name
        path.write_text(value + "\n")
        path.chmod(0o600)
        refs[name] = SecretRef("file", str(path))
    return refs


def v2c(
    agent: Snmpd | None,
    secrets: dict[str, SecretRef],
    *,
    port: int | None = None,
    community: str = "community",
    host: str | None = None,
) -> SnmpEndpoint:
    return SnmpEndpoint(
        host=host or (agent.address if agent else loopback_address()),
        port=port or (agent.port if agent else 0),
        version="2c",
        community=secrets[community],
        user=None,
        auth=None,
        priv=None,
        timeout=TIMEOUT,
    )


def v3(
    agent: Snmpd,
    secrets: dict[str, SecretRef],
    *,
    user: str = "poolsync",
    auth: tuple[str, str] = ("SHA", "auth"),
    priv: tuple[str, str] | None = ("AES", "priv"),
) -> SnmpEndpoint:
    return SnmpEndpoint(
        host=agent.address,
        port=agent.port,
        version="3",
        community=None,
        user=user,
        auth=SnmpAuth(auth[0], secrets[auth[1]]),
        priv=SnmpAuth(priv[0], secrets[priv[1]]) if priv else None,
        timeout=TIMEOUT,
    )


def server(name: str, snmp: SnmpEndpoint) -> ServerEndpoints:
    return ServerEndpoints(name=name, http=None, snmp=snmp)


class TestSnmpContract(LicenseSourceContract):
    @pytest.fixture
    def lab(self, agents: dict[str, Snmpd], secrets: dict[str, SecretRef]) -> ContractLab:
        closed = free_port(agents["good"].address, kind=socket.SOCK_DGRAM)
        return ContractLab(
            source=SnmpSource(),
            servers={
                "good": server("UNITY-A", v3(agents["good"], secrets)),
                "other": server("UNITY-B", v2c(agents["other"], secrets)),
                "unreachable": server("UNITY-C", v2c(agents["good"], secrets, port=closed)),
                "refused": server("UNITY-D", v3(agents["good"], secrets, auth=("SHA", "wrong"))),
                "bad": server("UNITY-E", v2c(agents["string"], secrets)),
                "unpublished": server("UNITY-F", v2c(agents["empty"], secrets)),
            },
            secrets=(COMMUNITY, AUTH, PRIV, WRONG),
        )


def test_v2c_reads_the_same_license(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    data = SnmpSource().fetch(server("A", v2c(agents["good"], secrets)))
    assert data.licensed == GOOD.licensed and data.pooling_enabled
    assert "AvLicUtilizationUMSubscribers" not in data.utilization  # the MIB has none


def test_v3_sha256_and_aes256(agents: dict[str, Snmpd], secrets: dict[str, SecretRef]) -> None:
    endpoint = v3(
        agents["good"],
        secrets,
        user="poolsync256",
        auth=("SHA256", "auth"),
        priv=("AES256", "priv"),
    )
    assert SnmpSource().fetch(server("A", endpoint)).licensed == GOOD.licensed


def test_a_wrong_community_is_silence(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    started = time.monotonic()
    reading = read_server(
        SnmpSource(), server("A", v2c(agents["good"], secrets, community="wrong")), now=clock
    )
    assert reading.reachable is False
    assert (
        "no SNMP answer within 0.3 s: the agent is down or unreachable, or the community "
        "is wrong" in (reading.error or "")
    )
    assert time.monotonic() - started < 1.5


def test_a_wrong_privacy_password_is_silence(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    with pytest.raises(ServerUnavailable, match="v3 privacy password or protocol is wrong"):
        SnmpSource().fetch(server("A", v3(agents["good"], secrets, priv=("AES", "wrong"))))


def test_an_unknown_user_is_refused(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    with pytest.raises(ServerAuthError, match="no v3 user 'nobody'"):
        SnmpSource().fetch(server("A", v3(agents["good"], secrets, user="nobody")))


def test_no_privacy_for_a_user_that_needs_it_is_refused(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    with pytest.raises(ServerAuthError, match="authorizationError"):
        SnmpSource().fetch(server("A", v3(agents["good"], secrets, priv=None)))


def test_a_truth_value_of_3_is_refused(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    with pytest.raises(
        ServerDataError,
        match=r"ciscoUnityLicPoolingIsEnabled\.0 is 3, not a "
        "TruthValue",
    ):
        SnmpSource().fetch(server("A", v2c(agents["truth"], secrets)))


def test_a_counter_served_as_a_string_is_refused(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    with pytest.raises(ServerDataError, match=r"ciscoUnityLicSubscribersMax\.0 is OctetString"):
        SnmpSource().fetch(server("A", v2c(agents["string"], secrets)))


def test_an_agent_without_the_license_objects_publishes_none(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    with pytest.raises(
        NotPublished,
        match="no CISCO-UNITY-MIB license object is published "
        r"\(noSuchInstance\)",
    ):
        SnmpSource().fetch(server("A", v2c(agents["empty"], secrets)))


def test_a_host_that_does_not_resolve_is_not_retried(secrets: dict[str, SecretRef]) -> None:
    require_daemons()
    endpoint = v2c(None, secrets, host="unity.invalid", port=161)
    with pytest.raises(ServerNotFound, match="does not resolve"):
        SnmpSource().fetch(server("A", endpoint))


def test_many_reads_in_parallel_each_get_their_own_answer(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef], tmp_path: Path
) -> None:
    good_v2c, good_v3 = v2c(agents["good"], secrets), v3(agents["good"], secrets)
    other = v2c(agents["other"], secrets)
    servers = [server(f"S{i}", (good_v2c, good_v3, other)[i % 3]) for i in range(12)]
    readings = probe_servers(
        servers, sources={"snmp": SnmpSource()}, now=clock, retries=SERVER_RETRIES
    )
    assert [r.server for r in readings] == [s.name for s in servers]
    for i, reading in enumerate(readings):
        assert reading.ok, reading.error
        assert reading.licensed == (OTHER.licensed if i % 3 == 2 else GOOD.licensed)


def test_no_retries_means_one_attempt(
    agents: dict[str, Snmpd], secrets: dict[str, SecretRef]
) -> None:
    closed = free_port(agents["good"].address, kind=socket.SOCK_DGRAM)
    started = time.monotonic()
    reading = read_server(
        SnmpSource(),
        server("A", v2c(agents["good"], secrets, port=closed)),
        now=clock,
        retries=NO_RETRIES,
    )
    assert not reading.reachable and time.monotonic() - started < 1.0
