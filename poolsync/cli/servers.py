"""``poolsync servers probe``: what each Unity server says about its own license."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from poolsync.cli.main import EXIT_NOT_COMPLIANT, Context
from poolsync.cli.output import now, print_json, shown, stdout_console
from poolsync.errors import ConfigError
from poolsync.model import SEAT_CLASSES, Seats
from poolsync.servers.endpoints import ServerEndpoints
from poolsync.servers.model import ServerReading
from poolsync.store import Store

JSON_TYPE = "server-probe"
JSON_VERSION = 1
#: Nothing could be read from any server (as when the directory cannot be read).
EXIT_NOTHING_READ = 5


@click.group()
def servers() -> None:
    """The Unity servers' own view of their licenses (over HTTP and SNMP)."""


def _chosen(
    configured: Sequence[ServerEndpoints], names: Sequence[str]
) -> tuple[ServerEndpoints, ...]:
    if not configured:
        raise ConfigError(
            "the config has no servers: section: name each Unity server's "
            "HTTP and/or SNMP endpoint there (docs/servers.md)"
        )
    if not names:
        return tuple(configured)
    by_name = {s.name.lower(): s for s in configured}
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(map(shown, unknown))} not in the config's servers: section "
            f"(configured: {', '.join(s.name for s in configured)})",
            param_hint="--server",
        )
    return tuple(dict.fromkeys(by_name[n.lower()] for n in names))


def _seats(seats: Seats | None) -> dict[str, int] | None:
    return None if seats is None else {c.value: seats.get(c) for c in SEAT_CLASSES}


def reading_json(reading: ServerReading) -> dict[str, Any]:
    """One reading as `servers probe --format json` gives it (docs/servers.md)."""
    return {
        "name": reading.server,
        "source": reading.source,
        "reachable": reading.reachable,
        "read_at": reading.read_at.isoformat(timespec="seconds"),
        "licensed": _seats(reading.licensed),
        "published_used": _seats(reading.published_used),
        "pooling_enabled": reading.pooling_enabled,
        "secondary_licensed": reading.secondary_licensed,
        "error": reading.error,
    }


def _probe_json(readings: Sequence[ServerReading], generated: datetime) -> dict[str, Any]:
    return {
        "meta": {
            "type": JSON_TYPE,
            "version": JSON_VERSION,
            "generated": generated.isoformat(timespec="seconds"),
        },
        "servers": [reading_json(r) for r in readings],
    }


def _cell(seats: Seats | None) -> str:
    return "-" if seats is None else f"{seats.vm}/{seats.um}/{seats.inbox}"


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _table(readings: Sequence[ServerReading]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="What each server says (licensed and published: VM/UM/Inbox; UM is never published)",
        title_justify="left",
    )
    for column in (
        "server",
        "via",
        "licensed",
        "published",
        "pooling",
        "secondary",
        "read at / error",
    ):
        table.add_column(column)
    for r in readings:
        last = (
            Text(r.read_at.isoformat(timespec="seconds"))
            if r.ok
            else Text(f"{'unreachable' if not r.reachable else 'error'}: {r.error}", style="red")
        )
        table.add_row(
            Text(r.server),
            r.source,
            _cell(r.licensed),
            _cell(r.published_used),
            _flag(r.pooling_enabled),
            _flag(r.secondary_licensed),
            last,
        )
    stdout_console().print(table)


@servers.command()
@click.option(
    "--server",
    "names",
    multiple=True,
    metavar="NAME",
    help="Probe only this server (a name in the config's servers: section); "
    "repeat for more. Default: every configured server.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people; json for machines.",
)
@click.pass_obj
def probe(ctx: Context, names: tuple[str, ...], fmt: str) -> None:
    """Read each server's effective license and utilization, from the server itself.

    Over HTTP (the AvXmlLicData page at /avxml/effectivelicense.asp) and/or SNMP
    (CISCO-UNITY-MIB), as the config's servers: section says, eight reads at a time,
    transient failures retried. Every reading, failed ones included, is kept in the
    store with its time; `pool` and `doctor` compare the latest with the directory's
    copy. Exit codes: 0 every endpoint read; 3 some could not be read (each says why);
    5 none could be read; 2 configuration error.
    """
    from poolsync.servers.probe import probe_servers

    config = ctx.config()
    chosen = _chosen(config.servers, names)
    readings = probe_servers(chosen, now=now)
    with Store.open(config.store) as store:
        store.add_readings(readings)
    if fmt == "json":
        print_json(_probe_json(readings, now()))
    else:
        _table(readings)
    if not any(r.ok for r in readings):
        click.get_current_context().exit(EXIT_NOTHING_READ)
    if not all(r.ok for r in readings):
        click.get_current_context().exit(EXIT_NOT_COMPLIANT)
