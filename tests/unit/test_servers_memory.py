"""The LicenseSource contract against the in-memory source, and what is its own."""

from __future__ import annotations

import pytest

from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints, SnmpEndpoint
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerUnavailable,
)
from poolsync.servers.memory import MemorySource
from poolsync.servers.model import Source
from tests.support.servers_contract import GOOD, OTHER, ContractLab, LicenseSourceContract

HTTP = HttpEndpoint(
    url="http://unity.invalid/avxml/effectivelicense.asp",
    ca_file=None,
    validate=True,
    user=None,
    password=None,
    timeout=1.0,
)
SNMP = SnmpEndpoint(
    host="unity.invalid",
    port=161,
    version="2c",
    community=None,
    user=None,
    auth=None,
    priv=None,
    timeout=1.0,
)


def server(name: str) -> ServerEndpoints:
    return ServerEndpoints(name=name, http=HTTP, snmp=SNMP)


def memory_lab(kind: Source) -> ContractLab:
    source = MemorySource(
        kind,
        {
            "UNITY-GOOD": GOOD,
            "unity-other": OTHER,
            "UNITY-REFUSED": ServerAuthError("refused the user"),
            "UNITY-BAD": ServerDataError("root element is 'html'"),
            "UNITY-UNPUBLISHED": NotPublished("HTTP 404"),
        },
    )
    names = {
        "good": "UNITY-GOOD",
        "other": "UNITY-OTHER",
        "unreachable": "UNITY-GONE",
        "refused": "UNITY-REFUSED",
        "bad": "UNITY-BAD",
        "unpublished": "UNITY-UNPUBLISHED",
    }
    return ContractLab(source=source, servers={k: server(n) for k, n in names.items()})


class TestMemoryHttp(LicenseSourceContract):
    @pytest.fixture
    def lab(self) -> ContractLab:
        return memory_lab("http")


class TestMemorySnmp(LicenseSourceContract):
    @pytest.fixture
    def lab(self) -> ContractLab:
        return memory_lab("snmp")


def test_names_match_case_insensitively_and_answers_can_change() -> None:
    source = MemorySource("http")
    with pytest.raises(ServerUnavailable):
        source.fetch(server("Unity-A"))
    source.set("UNITY-A", GOOD)
    assert source.fetch(server("unity-a")) == GOOD
    source.set("unity-a", ServerUnavailable("down"))
    with pytest.raises(ServerUnavailable, match="down"):
        source.fetch(server("UNITY-A"))
    assert source.calls == ["Unity-A", "unity-a", "UNITY-A"]


def test_an_error_is_raised_afresh_each_time() -> None:
    source = MemorySource("snmp", {"A": ServerDataError("bad")})
    first = second = None
    for _ in range(2):
        try:
            source.fetch(server("A"))
        except ServerDataError as exc:
            first, second = second, exc
    assert first is not None and second is not None and first is not second


def test_the_memory_source_needs_the_endpoint_of_its_protocol() -> None:
    only_http = ServerEndpoints(name="A", http=HTTP, snmp=None)
    MemorySource("http", {"A": GOOD}).fetch(only_http)
    with pytest.raises(ValueError, match="no snmp endpoint"):
        MemorySource("snmp", {"A": GOOD}).fetch(only_http)
