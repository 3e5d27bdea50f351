"""What the Unity servers of the doctor's test forest (tests/support/doctor_forest.py)
say about their own license: readings over HTTP or SNMP, failed ones, and endpoints."""

from __future__ import annotations

from datetime import datetime

from poolsync.attachment import format_attachment, license_data
from poolsync.model import Seats
from poolsync.secrets import SecretRef
from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints, SnmpEndpoint
from poolsync.servers.model import ServerReading, Source, failed_reading, reading_from_license
from tests.support.doctor_forest import LATE

LICENSED = Seats(500, 100, 50)
#: Published utilization in the copies; none by default (the store's copies have no
#: subscribers, so any published count would be published-stale).
PUBLISHED: Seats | None = None


def data_text(
    *,
    licensed: Seats = LICENSED,
    pooling: bool = True,
    secondary: bool = True,
    published: Seats | None = PUBLISHED,
) -> str:
    return format_attachment(
        license_data(
            licensed=licensed, pooling=pooling, secondary=secondary, ports=24, published=published
        )
    )


def reading(
    name: str, source: Source = "http", *, at: datetime = LATE, **values: object
) -> ServerReading:
    """A good reading of ``name``: by default exactly its directory copy's data."""
    from poolsync.attachment import parse_attachment

    text = data_text(**values)  # type: ignore[arg-type]
    return reading_from_license(name, source, parse_attachment(text), read_at=at)


def failed(
    name: str, source: Source, error: str, *, reachable: bool = False, at: datetime = LATE
) -> ServerReading:
    return failed_reading(name, source, error, reachable=reachable, read_at=at)


def endpoints(name: str, *, http: bool = True, snmp: bool = True) -> ServerEndpoints:
    host = f"{name.lower()}.lab.example.com"
    return ServerEndpoints(
        name=name,
        http=HttpEndpoint(
            url=f"https://{host}/avxml/effectivelicense.asp",
            ca_file=None,
            validate=True,
            user=None,
            password=None,
            timeout=5.0,
        )
        if http
        else None,
        snmp=SnmpEndpoint(
            host=host,
            port=161,
            version="2c",
            community=SecretRef("env", "COMMUNITY"),
            user=None,
            auth=None,
            priv=None,
            timeout=2.0,
        )
        if snmp
        else None,
    )
