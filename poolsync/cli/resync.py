"""``poolsync resync``: mirror the directory into the store."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from poolsync.cli.export import ldif_files, ldif_options, store_holds_locations
from poolsync.cli.main import EXIT_NOT_COMPLIANT, EXIT_REFUSED, Context
from poolsync.cli.output import (
    BarProgress,
    display_path,
    meta,
    now,
    print_json,
    stderr_console,
    stdout_console,
    warn_absent_servers,
)
from poolsync.cli.runmetrics import write_run_metrics
from poolsync.errors import PoolsyncError
from poolsync.sync.engine import SyncResult, run_sync


def result_json(result: SyncResult) -> dict[str, Any]:
    return {
        "meta": meta("resync-summary", version=2),
        "kind": result.kind,
        "dry_run": result.dry_run,
        "refused": result.refusal,
        "run_id": result.run_id,
        "store": result.store,
        "started": result.started_at.isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 3),
        "servers": result.servers,
        "subscribers": result.subscribers,
        "compliant": result.compliant,
        "passes": [{**asdict(p), "seconds": round(p.seconds, 3)} for p in result.passes],
        "changes": {
            kind: {"insert": c.added, "update": c.changed, "delete": c.removed}
            for kind, c in result.plan.counts.items()
        },
        "planned": [
            {"kind": c.kind, "pass": c.pass_name, "op": c.op, "dn": c.dn, "label": c.label}
            for c in result.planned
        ],
    }


def render_result(result: SyncResult) -> None:
    from rich import box
    from rich.table import Table

    console = stdout_console()
    what = (
        "Dry run (nothing written)"
        if result.dry_run
        else ("Total resync" if result.kind == "total" else "Resync")
    )
    table = Table(
        title=f"{what} finished in {result.seconds:.1f} s",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("pass", "mode", "DC", "USN", "Locations", "subscribers", "removed", "time"):
        numeric = col in {"USN", "Locations", "subscribers", "removed", "time"}
        # Fold long endpoints and host names rather than cut them: they are the evidence.
        table.add_column(
            col, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold"
        )
    for p in result.passes:
        # The DC's short name fits 80 columns; the full host is in --format json.
        table.add_row(
            p.name,
            p.mode,
            p.dc_host.split(".", 1)[0],
            str(p.usn),
            f"{p.locations:,}",
            f"{p.subscribers:,}",
            f"{p.removals:,}",
            f"{p.seconds:.1f} s",
        )
    console.print(table)
    for p in result.passes:
        if p.reason and p.reason != "requested":
            console.print(f"[yellow]{p.name} pass was a total resync:[/] {p.why}", highlight=False)
    loc, sub = result.plan.counts["locations"], result.plan.counts["subscribers"]
    verb = "Would change" if result.dry_run else "Changed"
    console.print(
        f"{verb}: Locations +{loc.added} ~{loc.changed} -{loc.removed}; "
        f"subscribers +{sub.added} ~{sub.changed} -{sub.removed}.",
        highlight=False,
    )
    if result.planned:
        marks = {"insert": "+", "update": "~", "delete": "-"}
        for change in result.planned:
            label = f" ({change.label})" if change.label and change.label != change.dn else ""
            console.print(
                f"  {marks[change.op]} {change.kind[:-1]} [{change.pass_name}] {change.dn}{label}",
                highlight=False,
                markup=False,
            )
    if not result.dry_run:
        console.print(
            f"Store {display_path(result.store)}: {result.servers} servers, "
            f"{result.subscribers:,} subscribers.",
            highlight=False,
        )
        if not result.compliant:
            console.print(
                "[yellow]A pool or server is not compliant: see `poolsync pool` (exit code 3).[/]"
            )
    skipped = sum(p.skipped for p in result.passes)
    if skipped:
        console.print(
            f"[yellow]Skipped {skipped} object{'' if skipped == 1 else 's'} that "
            "could not be read "
            "(no usable objectGUID); run with --debug to see which.[/]"
        )


@click.command()
@click.option(
    "--total",
    is_flag=True,
    help="Total resync: ignore the watermarks and re-read everything (the "
    "DOHPropTest 'Total Resync'). Without it each pass reads only what "
    "changed, unless a rule forces a total (the run says why).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read and plan, print what would change, write nothing (exit 4 if a "
    "real run would be refused).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="List every planned change (insert +, update ~, delete -).",
)
@click.option(
    "--allow-deletes",
    type=click.IntRange(min=0),
    metavar="N",
    default=None,
    help="Commit a run that deletes up to N objects even above the deletion "
    "guard's threshold (sync.deletions in the config; default 500).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Commit even when a total pass finds no Locations although the store "
    "holds some (otherwise the run stops, changes nothing and exits 4).",
)
@click.option(
    "--allow-growth",
    is_flag=True,
    help="Read a search through even when it returns more than twice the "
    "objects the store holds (plus 10,000); otherwise such a search is "
    "stopped as a runaway (exit 5). directory.max_entries still applies.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Summary format.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write Prometheus text-format metrics to this file (atomically), "
    "for node_exporter's textfile collector; also when the run fails with "
    "exit 4, 5 or 6. Not for --dry-run.",
)
@ldif_options()
@click.pass_obj
def resync(
    ctx: Context,
    total: bool,
    dry_run: bool,
    verbose: bool,
    allow_deletes: int | None,
    allow_empty: bool,
    allow_growth: bool,
    fmt: str,
    metrics_file: Path | None,
    from_ldif: tuple[Path, ...],
    taken_at: datetime | None,
    more_ldif: tuple[Path, ...],
) -> None:
    """Mirror Unity Locations and subscribers from the DC and the GC into the store.

    A domain pass reads the domain naming context on a DC, then a GC pass reads the
    whole forest on a Global Catalog. Each pass reads only the objects changed since
    its watermark (and the tombstones of those deleted), or everything when a total
    resync is asked for or forced: no watermark yet, another DC answering, the DC
    restored from backup, a watermark older than sync.max_age, a changed schema profile.
    The run plans its inserts, updates and deletes, stops (exit 4) if it would delete
    more than the deletion guard allows, and commits both passes in one transaction:
    a failed run leaves the previous state intact.

    With --from-ldif (or directory.ldif in the config) both passes read an LDIF export
    instead (docs/offline.md), always in full, and the store's data is dated when the
    export was taken. The export is checked first: a file cut short, not LDIF, a Unity
    object without objectGUID, an object twice or no Location at all stops the run
    (exit 2) before the store is touched.

    \b
    Exit codes: 0 synced; 3 synced, but a pool is out of compliance; 4 refused an
    unsafe change (nothing written); 5 the directory could not be read; 6 another run
    holds the store; 2 configuration error or a bad export; 1 other errors.
    """
    files = ldif_files(from_ldif, more_ldif, taken_at)
    if files and not total:
        raise click.UsageError(
            "--from-ldif needs --total: an export holds no change "
            "history, so it is always read in full"
        )
    config = ctx.config()
    profile = ctx.profile()
    # An export without Locations is the wrong export (exit 2), unless the store holds
    # some: then the run's own guard refuses to empty it (exit 4, or --allow-empty).
    exported = files or config.directory.ldif
    source = ctx.source(
        ldif=files,
        taken_at=taken_at,
        require_locations=not (exported and store_holds_locations(config)),
    )
    # No TLS, or TLS without validation, is warned about where connections open
    # (poolsync.directory.connection), once in each run of every command that connects.
    started = now()
    try:
        result = run_sync(
            config,
            profile,
            source=source,
            total=total,
            dry_run=dry_run,
            list_changes=verbose,
            allow_deletes=allow_deletes,
            allow_empty=allow_empty,
            allow_growth=allow_growth,
            progress=BarProgress(),
            now=now,
        )
    except PoolsyncError as exc:
        if metrics_file is not None and not dry_run:
            write_run_metrics(
                metrics_file,
                config,
                started=started,
                error=exc,
                mode="total" if total else "incremental",
            )
        raise
    if metrics_file is not None and not dry_run:
        write_run_metrics(metrics_file, config, started=started, result=result)
    origin = source.origin
    if fmt == "json":
        doc = result_json(result)
        doc["origin"] = {
            "kind": origin.kind,
            "label": origin.label,
            "taken_at": origin.taken_at.isoformat(timespec="seconds")
            if origin.taken_at is not None
            else None,
        }
        print_json(doc)
    else:
        render_result(result)
        if origin.kind == "export" and origin.taken_at is not None:
            stdout_console().print(
                f"Read from an LDIF export ({origin.label}) taken "
                f"{origin.taken_at.isoformat(timespec='seconds')}: the store's data is "
                "dated then.",
                highlight=False,
                markup=False,
            )
    warn_absent_servers(config.doctor.names(), result.server_names)
    if result.refusal is not None:
        from rich.markup import escape

        stderr_console().print(
            f"[yellow]A real run would be refused (exit 4):[/] {escape(result.refusal)}",
            highlight=False,
        )
        raise click.exceptions.Exit(EXIT_REFUSED)
    if not result.compliant:
        raise click.exceptions.Exit(EXIT_NOT_COMPLIANT)
