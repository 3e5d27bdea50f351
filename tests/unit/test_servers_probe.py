"""The probe (parallel, bounded, retries of transient errors only, a stable order, each
server on its own), the reading's shape, and the servers edge's boundaries."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from poolsync.attachment import LicenseData, license_data
from poolsync.config import RetryPolicy
from poolsync.model import Seats
from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints, SnmpEndpoint
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerError,
    ServerNotFound,
    ServerTlsError,
    ServerUnavailable,
    one_line,
)
from poolsync.servers.memory import MemorySource
from poolsync.servers.model import ServerReading, failed_reading, reading_from_license
from poolsync.servers.probe import probe_servers
from poolsync.servers.source import read_server
from tests.support.servers_contract import GOOD, NOW, OTHER, clock

ROOT = Path(__file__).resolve().parents[2]
HTTP = HttpEndpoint(
    url="http://h/avxml/effectivelicense.asp",
    ca_file=None,
    validate=True,
    user=None,
    password=None,
    timeout=1.0,
)
SNMP = SnmpEndpoint(
    host="h", port=161, version="2c", community=None, user=None, auth=None, priv=None, timeout=1.0
)
THREE = RetryPolicy(attempts=3, initial_wait=0.5, max_wait=2.0)


def both(name: str) -> ServerEndpoints:
    return ServerEndpoints(name=name, http=HTTP, snmp=SNMP)


class Waits:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_readings_come_in_the_servers_order_http_before_snmp() -> None:
    servers = [
        both("C"),
        ServerEndpoints(name="A", http=None, snmp=SNMP),
        ServerEndpoints(name="B", http=HTTP, snmp=None),
        ServerEndpoints(name="NONE", http=None, snmp=None),
        both("D"),
    ]
    answers = {"A": GOOD, "B": GOOD, "C": GOOD, "D": OTHER}
    readings = probe_servers(
        servers,
        sources={"http": MemorySource("http", answers), "snmp": MemorySource("snmp", answers)},
        now=clock,
    )
    assert [(r.server, r.source) for r in readings] == [
        ("C", "http"),
        ("C", "snmp"),
        ("A", "snmp"),
        ("B", "http"),
        ("D", "http"),
        ("D", "snmp"),
    ]
    assert all(r.ok for r in readings)


def test_an_endpoint_without_a_source_is_not_read() -> None:
    readings = probe_servers(
        [both("A")], sources={"snmp": MemorySource("snmp", {"A": GOOD})}, now=clock
    )
    assert [(r.server, r.source) for r in readings] == [("A", "snmp")]
    assert probe_servers([], now=clock) == ()


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (ServerUnavailable("down"), 3),
        (ServerNotFound("no such host"), 1),
        (ServerTlsError("untrusted"), 1),
        (ServerAuthError("refused"), 1),
        (ServerDataError("bad page"), 1),
        (NotPublished("404"), 1),
        (ServerError("?"), 1),
    ],
)
def test_only_transient_errors_are_retried(error: ServerError, attempts: int) -> None:
    source = MemorySource("http", {"A": error})
    waits = Waits()
    (reading,) = probe_servers(
        [both("A")], sources={"http": source}, now=clock, retries=THREE, sleep=waits
    )
    assert len(source.calls) == attempts and len(waits.waits) == attempts - 1
    assert reading.error == str(error) and reading.reachable is error.reachable
    if attempts == 3:
        assert waits.waits == [0.5, 1.0]  # exponential, as the directory's


class Flaky:
    """Fails with a transient error the first ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    @property
    def source(self) -> str:
        return "snmp"

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        if self.failures:
            self.failures -= 1
            raise ServerUnavailable("timed out")
        return GOOD


def test_a_transient_failure_then_an_answer_is_a_good_reading() -> None:
    (reading,) = probe_servers(
        [both("A")],
        sources={"snmp": Flaky(2)},  # type: ignore[dict-item]
        now=clock,
        retries=THREE,
        sleep=Waits(),
    )
    assert reading.ok and reading.licensed == GOOD.licensed


class Broken:
    """A source with a bug for one server."""

    @property
    def source(self) -> str:
        return "http"

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        if server.name == "BUG":
            raise RuntimeError("unexpected\nmulti-line")
        return GOOD


def test_a_bug_in_one_read_costs_only_that_reading() -> None:
    readings = probe_servers(
        [both("A"), both("BUG"), both("B")],
        sources={"http": Broken()},  # type: ignore[dict-item]
        now=clock,
    )
    assert [r.ok for r in readings] == [True, False, True]
    assert readings[1].error == "internal error: RuntimeError: unexpected multi-line"
    assert readings[1].reachable is False


class Slow:
    """Answers once ``together`` reads are running at once (a barrier, not a timer:
    reads one after another would break it), counting how many run at once."""

    def __init__(self, together: int) -> None:
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.barrier = threading.Barrier(together)

    @property
    def source(self) -> str:
        return "http"

    def fetch(self, server: ServerEndpoints) -> LicenseData:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.barrier.wait(timeout=10)  # only a hang's bound: it passes as soon as 4 wait
        with self.lock:
            self.running -= 1
        return GOOD


def test_reads_run_in_parallel_within_the_bound() -> None:
    source = Slow(together=4)
    servers = [ServerEndpoints(name=f"S{i}", http=HTTP, snmp=None) for i in range(12)]
    readings = probe_servers(
        servers,
        sources={"http": source},  # type: ignore[dict-item]
        now=clock,
        workers=4,
    )
    assert len(readings) == 12 and all(r.ok for r in readings)
    assert source.most == 4


def test_read_at_is_when_each_read_ended() -> None:
    times = iter([NOW, NOW + dt.timedelta(seconds=3)])
    source = MemorySource("http", {"A": GOOD})
    first = read_server(source, both("A"), now=lambda: next(times))
    second = read_server(source, both("B"), now=lambda: next(times))
    assert first.read_at == NOW and second.read_at == NOW + dt.timedelta(seconds=3)
    assert first.read_at.tzinfo == dt.UTC


# --- the reading --------------------------------------------------------------------


def test_a_reading_never_reports_a_um_counter() -> None:
    with_um = license_data(
        licensed=Seats(5, 4, 3), pooling=True, secondary=False, ports=2, published=Seats(2, 9, 1)
    )
    assert with_um.published_used == Seats(2, 9, 1)
    reading = reading_from_license("A", "http", with_um, read_at=NOW)
    assert reading.published_used == Seats(vm=2, um=0, inbox=1)
    only_um = LicenseData(
        licenses={"LicSubscribersMax": 5}, utilization={"AvLicUtilizationUMSubscribers": 9}
    )
    assert reading_from_license("A", "http", only_um, read_at=NOW).published_used is None


def test_a_reading_is_consistent() -> None:
    with pytest.raises(ValueError, match="aware"):
        failed_reading("A", "http", "x", reachable=False, read_at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="one line"):
        failed_reading("A", "http", "two\nlines", reachable=False, read_at=NOW)
    with pytest.raises(ValueError, match="no values"):
        ServerReading("A", "http", NOW, True, Seats(), None, None, None, "error")
    with pytest.raises(ValueError, match="licensed seats"):
        ServerReading("A", "http", NOW, False, Seats(), None, None, None, None)


def test_one_line_makes_server_text_safe() -> None:
    assert one_line("a\r\n  b\tc") == "a b c"
    assert one_line("x\x1b[2J\x07\x9b") == "x\\x1b[2J\\x07\\x9b"
    assert len(one_line("y" * 1000)) == 400 and one_line("y" * 1000).endswith("...")


# --- the edge's boundaries ----------------------------------------------------------


def test_only_the_servers_package_imports_httpx_and_pysnmp() -> None:
    importing = re.compile(r"^\s*(import|from)\s+(httpx|pysnmp)\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "poolsync").rglob("*.py")
        if importing.search(p.read_text()) and p.parent != ROOT / "poolsync" / "servers"
    ]
    assert offenders == []


def test_the_config_and_the_http_probe_load_no_snmp_library() -> None:
    code = (
        "import sys; import poolsync.config, poolsync.servers.endpoints;"
        "assert 'httpx' not in sys.modules and 'pysnmp' not in sys.modules;"
        "from poolsync.servers.probe import default_sources;"
        "default_sources({'http'}); assert 'pysnmp' not in sys.modules;"
        "default_sources({'snmp'}); assert 'pysnmp' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
