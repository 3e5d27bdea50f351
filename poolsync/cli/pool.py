"""``poolsync pool``: the pool report, from the store only."""

from __future__ import annotations

import logging
import sys

import click

from poolsync.allocation import build_pool_report
from poolsync.cli.export import store_origin
from poolsync.cli.main import EXIT_NOT_COMPLIANT, Context
from poolsync.cli.output import now, print_json, stdout_console, warn_absent_servers
from poolsync.cli.stored import require_synced
from poolsync.compliance import assess
from poolsync.errors import StoreError
from poolsync.live import best_readings, compare, live_locations
from poolsync.render.pool import pool_report_csv, pool_report_json, pool_report_table
from poolsync.store import Store

log = logging.getLogger(__name__)


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json and csv for machines.",
)
@click.option(
    "--source",
    type=click.Choice(["directory", "servers"]),
    default="directory",
    show_default=True,
    help="Where each server's license comes from: its Location's attachment in "
    "the directory, or what the server said itself at the last `poolsync "
    "servers probe` (for a forest whose attachment attribute was not found; "
    "VM use is still the directory's count of homed subscribers).",
)
@click.pass_obj
def pool(ctx: Context, fmt: str, source: str) -> None:
    """Which servers pool their licenses, and the VM/UM/Inbox seats of each pool.

    Reads the store only (run `poolsync resync --total` first). Shows each pool's
    and server's compliance state (compliant, grace, restart-every-48h,
    four-hour-shutdown), since when, and what would end it. Where `poolsync servers
    probe` read a server, its own numbers are shown beside the directory's copy, and
    flagged when they differ. Exits 3 when a pool uses more seats of a class than it
    has licensed, or a server breaks a per-server limit (compliance.* in the config).
    When the store was filled from an LDIF export, the report says so and when the
    export was taken (JSON: "origin").
    """
    config = ctx.config()
    with Store.open(config.store, create=False) as store:
        require_synced(store)
        with store.reading():  # one committed state, never half of the next commit
            locations, homed = store.locations(), store.homed_seats()
            first_seen = store.violations()
            readings = best_readings(store.latest_readings())
            origin = store_origin(store)
        warn_absent_servers(config.doctor.names(), (loc.name for loc in locations))
        live = {
            loc.guid: compare(loc, readings[loc.name.lower()])
            for loc in locations
            if loc.name.lower() in readings
        }
        if source == "servers":
            if not readings:
                raise StoreError(
                    f"{store.path} holds no server readings: run `poolsync servers probe` first"
                )
            locations, unread = live_locations(locations, readings)
            if unread:
                log.warning(
                    "no reading from %s: their licenses come from the directory", ", ".join(unread)
                )
        report = build_pool_report(config.forest, locations, homed, roles=ctx.profile().roles())
        # An export's pool is assessed as of when it was taken (grace periods too).
        as_of = origin.at if origin is not None and origin.kind == "export" else now()
        states = assess(
            report, locations, homed, limits=config.compliance, first_seen=first_seen, now=as_of
        )
    if fmt == "json":
        doc = pool_report_json(report, generated=now(), states=states, live=live, source=source)
        doc["origin"] = origin.as_json() if origin is not None else None
        print_json(doc)
    elif fmt == "csv":
        sys.stdout.write(pool_report_csv(report, states))
        if origin is not None and origin.kind == "export":
            log.warning("%s", origin.line())  # CSV has no place for it: stderr
    else:
        console = stdout_console()
        pool_report_table(report, console, states, live)
        if origin is not None and origin.kind == "export":
            console.print(origin.line(), style="yellow", highlight=False, markup=False)
    if not (report.compliant and states.compliant):
        click.get_current_context().exit(EXIT_NOT_COMPLIANT)
