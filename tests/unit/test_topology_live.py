"""The topology's ``live`` and ``endpoints`` keys: what a lab Unity server says itself
(its license page and SNMP agent) where that differs from its directory copy, and
whether those answer; one source of truth with the Location's attachment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.attachment import format_attachment
from poolsync.errors import TopologyError
from poolsync.lab.ldif import attachment_text, directory_data, live_data
from poolsync.model import Seats
from topology.spec import EndpointsSpec, LiveSpec, Topology, load_topology

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "tests" / "topologies" / "servers.yaml"


def topology_of(tmp_path: Path, servers: list[dict[str, Any]]) -> Topology:
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"forest": "lab.example.com", "servers": servers}))
    return load_topology(path)


def topology_error(tmp_path: Path, servers: list[dict[str, Any]]) -> str:
    with pytest.raises(TopologyError) as info:
        topology_of(tmp_path, servers)
    return str(info.value).removeprefix(f"{tmp_path / 'lab.yaml'}: ")


# -- topology keys ----------------------------------------------------------------------


def test_live_and_endpoints_default_to_the_directory_copy_and_up(tmp_path: Path) -> None:
    [server] = topology_of(tmp_path, [{"name": "UNITY-A"}]).servers
    assert server.live == LiveSpec() and not server.live
    assert server.endpoints == EndpointsSpec(http="up", snmp="up")


def test_live_values_become_attachment_parameters(tmp_path: Path) -> None:
    [server] = topology_of(
        tmp_path,
        [
            {
                "name": "UNITY-A",
                "pooling": False,
                "live": {
                    "licenses": {"vm": 60, "um": 7, "inbox": 3, "ports": 12, "secondary": True},
                    "pooling": True,
                    "published": {"vm": 40, "inbox": 2},
                },
                "endpoints": {"http": "error", "snmp": "down"},
            }
        ],
    ).servers
    assert server.live == LiveSpec(
        licenses=(
            ("LicSubscribersMax", 60),
            ("LicUMSubscribersMax", 7),
            ("LicVMISubscribersMax", 3),
            ("LicVoicePortsMax", 12),
            ("LicSecondaryServerIsLicensed", 1),
            ("LicPoolingIsEnabled", 1),
        ),
        utilization=(("AvLicUtilizationSubscribers", 40), ("AvLicUtilizationVMISubscribers", 2)),
    )
    assert server.endpoints == EndpointsSpec(http="error", snmp="down")
    assert server.pooling is False  # the directory copy keeps its own


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            {"live": {"licences": {}}},
            "servers[0].live: unknown key 'licences' (allowed: licenses, pooling, published)",
        ),
        (
            {"live": {"licenses": {"vm": -1}}},
            "servers[0].live.licenses.vm: expected an integer >= 0, got -1",
        ),
        (
            {"live": {"licenses": {"seats": 1}}},
            "servers[0].live.licenses: unknown key 'seats' "
            "(allowed: inbox, ports, secondary, um, vm)",
        ),
        (
            {"live": {"pooling": "yes"}},
            "servers[0].live.pooling: expected true or false, got 'yes'",
        ),
        (
            {"live": {"published": {"ports": 1}}},
            "servers[0].live.published: unknown key 'ports' (allowed: inbox, um, vm)",
        ),
        (
            {"live": {"published": {"vm": "4"}}},
            "servers[0].live.published.vm: expected an integer >= 0, got '4'",
        ),
        ({"live": []}, "servers[0].live: expected a mapping, got a list"),
        (
            {"endpoints": {"http": "off"}},
            "servers[0].endpoints.http: expected one of up, down, error, got 'off'",
        ),
        (
            {"endpoints": {"ldap": "up"}},
            "servers[0].endpoints: unknown key 'ldap' (allowed: http, snmp)",
        ),
    ],
)
def test_live_and_endpoints_mistakes(tmp_path: Path, server: dict[str, Any], message: str) -> None:
    assert topology_error(tmp_path, [{"name": "UNITY-A", **server}]) == message


@pytest.mark.parametrize("key", ["live", "endpoints"])
def test_a_secondary_serves_nothing(tmp_path: Path, key: str) -> None:
    assert topology_error(
        tmp_path, [{"name": "A"}, {"name": "A2", "failover_of": "A", key: {}}]
    ) == (
        f"servers[1].{key}: the lab serves no license page or SNMP agent for a failover "
        "secondary (failover_of: A); remove it"
    )


# -- what each server serves ------------------------------------------------------------


def test_the_test_topology_has_each_state() -> None:
    topology = load_topology(SERVERS)
    ok, new = topology.server("UNITY-OK"), topology.server("UNITY-NEW")
    stale, down = topology.server("UNITY-STALE"), topology.server("UNITY-DOWN")
    # In sync: the page is the Location's attachment, byte for byte.
    assert format_attachment(live_data(ok)) == attachment_text(ok)
    # Stale: the directory copy is older than what the server says now.
    assert directory_data(stale).licensed == Seats(40, 5, 0)
    assert directory_data(stale).published_used == Seats(3, 0, 0)
    assert live_data(stale).licensed == Seats(60, 5, 0)
    assert live_data(stale).published_used == Seats(4, 1, 0)
    # Never published: no attachment, but the server itself pools.
    assert attachment_text(new) is None
    assert live_data(new).pooling_enabled and live_data(new).published_used == Seats(3, 0, 0)
    assert down.endpoints == EndpointsSpec(http="down", snmp="down")


def test_live_data_of_a_server_licensed_by_files_keeps_every_parameter() -> None:
    topology = load_topology(REPO / "examples" / "licenses" / "lab.yaml")
    server = topology.server("UNITY-A")
    assert live_data(server) == directory_data(server)
    assert "LicTTSSessionsMax" in live_data(server).licenses
