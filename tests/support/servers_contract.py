"""The contract every LicenseSource keeps: one test class, run against each.

A subclass provides the ``lab`` fixture: a source and the servers below, set up its
own way (in memory, a real lighttpd, a real snmpd). The same servers must give the same
readings whatever the source (vdirsyncer's ``StorageTests`` pattern).

- ``good``: answers :data:`GOOD` (licensed 500/200/50, pooling and secondary on,
  utilization published, a UM counter included that no source may report);
- ``other``: answers :data:`OTHER` (no pooling, no secondary, no utilization);
- ``unreachable``: nobody answers;
- ``refused``: refuses the credentials it is given;
- ``bad``: answers something that is not a usable license;
- ``unpublished``: answers, but publishes no license there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from poolsync.attachment import license_data
from poolsync.model import Seats
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.errors import (
    NotPublished,
    ServerAuthError,
    ServerDataError,
    ServerError,
    ServerUnavailable,
)
from poolsync.servers.model import ServerReading
from poolsync.servers.probe import probe_servers
from poolsync.servers.source import NO_RETRIES, LicenseSource, read_server

GOOD = license_data(
    licensed=Seats(vm=500, um=200, inbox=50),
    pooling=True,
    secondary=True,
    ports=24,
    published=Seats(vm=412, um=9, inbox=37),
)
OTHER = license_data(
    licensed=Seats(vm=100, um=0, inbox=10), pooling=False, secondary=False, ports=8, published=None
)
KINDS = ("good", "other", "unreachable", "refused", "bad", "unpublished")
FAILING = {
    "unreachable": ServerUnavailable,
    "refused": ServerAuthError,
    "bad": ServerDataError,
    "unpublished": NotPublished,
}
NOW = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


@dataclass
class ContractLab:
    source: LicenseSource
    servers: dict[str, ServerEndpoints]
    #: Every secret the servers' endpoints refer to: no error may contain one.
    secrets: tuple[str, ...] = field(default=())


def clock() -> dt.datetime:
    return NOW


class LicenseSourceContract:
    """Subclasses define a ``lab`` fixture returning a :class:`ContractLab`."""

    def read(self, lab: ContractLab, kind: str) -> ServerReading:
        return read_server(lab.source, lab.servers[kind], now=clock, retries=NO_RETRIES)

    def test_the_lab_has_every_kind_of_server(self, lab: ContractLab) -> None:
        assert set(lab.servers) == set(KINDS)
        assert lab.source.source in ("http", "snmp")

    def test_a_good_server_reads_its_license(self, lab: ContractLab) -> None:
        reading = self.read(lab, "good")
        assert reading == ServerReading(
            server=lab.servers["good"].name,
            source=lab.source.source,
            read_at=NOW.astimezone(dt.UTC),
            reachable=True,
            licensed=Seats(vm=500, um=200, inbox=50),
            published_used=Seats(vm=412, um=0, inbox=37),  # no UM counter is a Unity field
            pooling_enabled=True,
            secondary_licensed=True,
            error=None,
        )
        assert reading.read_at.tzinfo == dt.UTC and reading.ok

    def test_fetch_gives_the_license_data(self, lab: ContractLab) -> None:
        data = lab.source.fetch(lab.servers["good"])
        assert data.licensed == GOOD.licensed
        assert data.pooling_enabled and data.secondary_licensed
        assert data.utilization["AvLicUtilizationSubscribers"] == 412
        assert data.utilization["AvLicUtilizationVMISubscribers"] == 37
        assert data.licenses["LicVoicePortsMax"] == 24

    def test_a_server_that_publishes_no_use_reads_none(self, lab: ContractLab) -> None:
        reading = self.read(lab, "other")
        assert reading.ok and reading.reachable
        assert reading.licensed == Seats(vm=100, um=0, inbox=10)
        assert reading.published_used is None
        assert reading.pooling_enabled is False and reading.secondary_licensed is False

    @pytest.mark.parametrize("kind", sorted(FAILING))
    def test_a_failing_server_is_a_reading_with_one_line_of_error(
        self, lab: ContractLab, kind: str
    ) -> None:
        reading = self.read(lab, kind)
        assert reading.error and "\n" not in reading.error and len(reading.error) <= 400
        assert reading.server == lab.servers[kind].name and reading.source == lab.source.source
        assert reading.read_at == NOW
        assert reading.licensed is None and reading.published_used is None
        assert reading.pooling_enabled is None and reading.secondary_licensed is None
        assert reading.reachable is (kind != "unreachable")
        assert "Traceback" not in reading.error

    @pytest.mark.parametrize("kind", sorted(FAILING))
    def test_fetch_raises_the_typed_error(self, lab: ContractLab, kind: str) -> None:
        with pytest.raises(FAILING[kind]) as caught:
            lab.source.fetch(lab.servers[kind])
        assert isinstance(caught.value, ServerError)
        assert caught.value.reachable is (kind != "unreachable")

    def test_no_error_shows_a_secret(self, lab: ContractLab) -> None:
        errors = [self.read(lab, kind).error or "" for kind in FAILING]
        for secret in lab.secrets:
            assert all(secret not in error for error in errors), (secret, errors)

    def test_a_server_without_this_endpoint_is_a_callers_mistake(self, lab: ContractLab) -> None:
        with pytest.raises(ValueError, match=r"no (http|snmp) endpoint"):
            lab.source.fetch(ServerEndpoints(name="NONE", http=None, snmp=None))

    def test_the_probe_reads_every_server_in_order_each_on_its_own(self, lab: ContractLab) -> None:
        order = ["bad", "good", "unreachable", "other", "refused", "unpublished"]
        readings = probe_servers(
            [lab.servers[k] for k in order],
            sources={lab.source.source: lab.source},
            now=clock,
            retries=NO_RETRIES,
        )
        assert [r.server for r in readings] == [lab.servers[k].name for k in order]
        by_kind = dict(zip(order, readings, strict=True))
        assert by_kind["good"] == self.read(lab, "good")
        assert by_kind["other"] == self.read(lab, "other")
        assert [k for k in order if by_kind[k].ok] == ["good", "other"]
