"""The pure core at scale: a synthetic store of S servers and N subscribers (no Samba),
then the pool report, compliance and the graph over it, timed.

The store is written through poolsync's own staging and commit, as a total resync
would write it (both passes, so the GC's copies are merged with the domain's); the
timed part is what `poolsync pool` and `poolsync graph` do after reading the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from poolsync.allocation import build_pool_report
from poolsync.attachment import format_attachment, license_data
from poolsync.compliance import Limits, assess
from poolsync.forest import DomainController, ForestConfig
from poolsync.graph.pooling import build_graph
from poolsync.model import Location, SeatClass, Seats, Subscriber
from poolsync.store import PassRecord, Store

FOREST = "scale.example.com"


def _locations(servers: int) -> Iterator[tuple[Location, int | None]]:
    per = Seats(vm=1500, um=500, inbox=100)
    for i in range(servers):
        text = format_attachment(
            license_data(licensed=per, pooling=True, secondary=False, ports=48, published=per)
        )
        yield (
            Location(
                guid=str(uuid.UUID(int=i + 1)),
                dn=f"CN=U{i},OU=L,DC=scale",
                name=f"UNITY-{i:04d}",
                object_id=f"oid-{i}",
                version="4.0(5)",
                attachment=text,
            ),
            None,
        )


def _subscribers(servers: int, count: int) -> Iterator[tuple[Subscriber, int | None]]:
    for n in range(count):
        classes = frozenset({SeatClass.UM}) if n % 4 == 0 else frozenset()
        yield (
            Subscriber(
                guid=str(uuid.UUID(int=10**9 + n)),
                dn=f"CN=S{n},OU=S,DC=scale",
                home=f"oid-{n % servers}",
                classes=classes,
            ),
            None,
        )


def build_store(path: Path, *, servers: int, subscribers: int) -> float:
    started = time.monotonic()
    with Store.open(path) as store, store.sync_writer() as writer:
        # Both passes hold every object, as after a total resync of a one-domain forest.
        for name in ("domain", "gc"):
            writer.begin_pass(name, "total")
            writer.stage_locations(name, _locations(servers))
            writer.stage_subscribers(name, _subscribers(servers, subscribers))
            writer.record_pass(
                PassRecord(
                    name, "ldaps://scale", "dc1", "inv", "DC=scale", 1, datetime.now(UTC), "bench"
                )
            )
        writer.plan()
        writer.commit()
    return time.monotonic() - started


def run_core(path: Path, *, servers: int, subscribers: int) -> dict[str, Any]:
    build_s = build_store(path, servers=servers, subscribers=subscribers)
    started = time.monotonic()
    with Store.open(path, create=False) as store:
        locations, homed = store.locations(), store.homed_seats()
    read_s = time.monotonic() - started
    started = time.monotonic()
    report = build_pool_report(FOREST, locations, homed)
    assess(report, locations, homed, limits=Limits(), first_seen={}, now=datetime.now(UTC))
    allocation_s = time.monotonic() - started
    started = time.monotonic()
    forest = ForestConfig(dcs=(DomainController(name="DC1", site="S", dsa_dn="dsa", gc=True),))
    graph = build_graph(FOREST, forest, report, locations)
    graph_s = time.monotonic() - started
    return {
        "servers": servers,
        "subscribers": subscribers,
        "store_build_s": round(build_s, 2),
        "store_read_s": round(read_s, 3),
        "allocation_s": round(allocation_s, 3),
        "graph_s": round(graph_s, 3),
        "graph_nodes": graph.number_of_nodes(),
        "total_s": round(read_s + allocation_s + graph_s, 3),
        "members": len(report.pools[0].members) if report.pools else 0,
    }
