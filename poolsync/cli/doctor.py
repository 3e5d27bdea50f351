"""``poolsync doctor [SERVER]``: why a server is missing from the pool, with evidence."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from poolsync.cli.export import ldif_files, ldif_options
from poolsync.cli.main import EXIT_DIRECTORY, EXIT_NOT_COMPLIANT, Context
from poolsync.cli.output import now, print_json, stderr_console
from poolsync.doctor.causes import diagnose
from poolsync.doctor.gather import gather
from poolsync.render.doctor import doctor_report_json, doctor_report_lines


@click.command()
@click.argument("server", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people; json for machines (docs/doctor.md).",
)
@ldif_options(more=False)
@click.pass_obj
def doctor(
    ctx: Context,
    server: str | None,
    fmt: str,
    from_ldif: tuple[Path, ...],
    taken_at: datetime | None,
) -> None:
    """Say why Unity servers are missing from the pool, with evidence and the fix.

    Asks every DC and Global Catalog in the config (directory.dc.url and
    directory.gc.url) which Locations it holds, and at which version, and reads the
    forest's sites, DCs and replication connections. For every Unity server and
    every server it should see (each with the GC it monitors: doctor.servers in the
    config), it decides whether the server can see it, and for every problem gives
    a cause code (replication-pending, no-replication-path, stale-mirror,
    pooling-disabled, ...), the evidence and the command that fixes it. Where the
    config has servers: and `servers probe` stored readings, it compares what each
    server says about its own license with its Location's copy
    (attachment-not-published, attachment-differs, server-unreachable). With SERVER,
    only that server. Reads the directory only; never writes to it. With
    --from-ldif (or directory.ldif in the config) it reads an LDIF export instead,
    as one DC and Global Catalog (docs/offline.md says what that can tell).

    Exits 0 when every server is healthy, 3 when something was found, 5 when
    nothing was found but not every DC and GC could be read (or none at all).
    """
    config = ctx.config()
    files = ldif_files(from_ldif, taken_at=taken_at)
    source = ctx.source(ldif=files, taken_at=taken_at, require_locations=False)
    err = stderr_console()
    inp, notes = gather(
        config,
        ctx.profile(),
        source,
        now=now(),
        step=None
        if fmt == "json"
        else lambda message: err.print(f"[bold]doctor:[/] {message}", highlight=False),
    )
    report = diagnose(inp, only=server)
    if notes:
        report = replace(report, notes=(*report.notes, *notes))
    if fmt == "json":
        print_json(doctor_report_json(report))  # streamed, as it is encoded
    else:
        for line in doctor_report_lines(report):
            sys.stdout.write(line + "\n")
    if not report.healthy:
        click.get_current_context().exit(EXIT_NOT_COMPLIANT)
    if not report.complete:
        err.print(
            "doctor: not every DC and Global Catalog could be read, so problems "
            "may be missing; see the notes",
            highlight=False,
        )
        click.get_current_context().exit(EXIT_DIRECTORY)
