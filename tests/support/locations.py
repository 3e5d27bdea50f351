"""A Location as a real forest's reader returns it, with only the fields a test names."""

from __future__ import annotations

from poolsync.attachment import format_attachment, license_data
from poolsync.model import Location, Seats


def attachment(vm: int, um: int, inbox: int, published: Seats | None) -> str:
    return format_attachment(
        license_data(
            licensed=Seats(vm, um, inbox),
            pooling=True,
            secondary=False,
            ports=24,
            published=published,
        )
    )


def location(
    name: str,
    guid: str,
    object_id: str,
    *,
    published: Seats | None = None,
    version: str | None = "4.0(5)",
    failover_of: str | None = None,
) -> Location:
    return Location(
        guid=guid,
        dn=f"CN={name},OU=Locations,DC=real",
        name=name,
        object_id=object_id,
        version=version,
        failover_of=failover_of,
        attachment=None if failover_of else attachment(500, 100, 50, published),
    )
