"""``poolsync resync``: mirror the directory into the store."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click
from rich import box
from rich.table import Table

from poolsync.cli.main import Context
from poolsync.cli.output import BarProgress, meta, now, print_json, stderr_console, stdout_console
from poolsync.sync.engine import ResyncSummary, total_resync


def summary_json(summary: ResyncSummary) -> dict[str, Any]:
    return {
        "meta": meta("resync-summary"),
        "kind": summary.kind,
        "run_id": summary.run_id,
        "store": summary.store,
        "started": summary.started_at,
        "seconds": round(summary.seconds, 3),
        "servers": summary.servers,
        "subscribers": summary.subscribers,
        "passes": [{**asdict(p), "seconds": round(p.seconds, 3)} for p in summary.passes],
        "changes": {kind: asdict(c) for kind, c in summary.changes.items()},
    }


def render_summary(summary: ResyncSummary) -> None:
    console = stdout_console()
    table = Table(title=f"Total resync finished in {summary.seconds:.1f} s", title_justify="left",
                  box=box.SIMPLE_HEAD)
    for col in ("pass", "read from", "DC", "USN", "Locations", "subscribers", "time"):
        numeric = col in {"USN", "Locations", "subscribers", "time"}
        # Fold long endpoints and host names rather than cut them: they are the evidence.
        table.add_column(col, justify="right" if numeric else "left",
                         no_wrap=numeric, overflow="fold")
    for p in summary.passes:
        table.add_row(p.name, p.endpoint, p.dc_host, str(p.usn), f"{p.locations:,}",
                      f"{p.subscribers:,}", f"{p.seconds:.1f} s")
    console.print(table)
    loc, sub = summary.changes["locations"], summary.changes["subscribers"]
    console.print(
        f"Store {summary.store}: {summary.servers} servers, {summary.subscribers:,} "
        f"subscribers.\nChanged since the last run: Locations +{loc.added} ~{loc.changed} "
        f"-{loc.removed}; subscribers +{sub.added} ~{sub.changed} -{sub.removed}.",
        highlight=False,
    )
    skipped = sum(p.skipped for p in summary.passes)
    if skipped:
        console.print(f"[yellow]Skipped {skipped} objects that could not be read "
                      "(no usable objectGUID); run with --debug to see which.[/]")


@click.command()
@click.option("--total", is_flag=True, required=True,
              help="Total resync: throw every watermark away and re-read everything "
                   "(the DOHPropTest 'Total Resync'). Required for now.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Summary format.")
@click.option("--allow-empty", is_flag=True,
              help="Commit even when a pass finds no Locations although the store holds "
                   "some (otherwise the run stops, changes nothing and exits 4).")
@click.pass_obj
def resync(ctx: Context, total: bool, fmt: str, allow_empty: bool) -> None:
    """Mirror Unity Locations and subscribers from the DC and the GC into the store.

    A domain pass reads the domain naming context on the DC, then a GC pass reads the
    whole forest on the Global Catalog; both are committed to the store in one
    transaction, so a failed run leaves the previous state intact.
    """
    config = ctx.config()
    profile = ctx.profile()
    password = config.directory.bind.password.resolve() if config.directory.bind.password \
        else None
    if config.plaintext:
        stderr_console().print(
            "[yellow]warning:[/] the directory URLs are plain ldap:// without StartTLS; "
            "the password crosses the network in clear")
    summary = total_resync(config, profile, password=password, progress=BarProgress(),
                           now=now, allow_empty=allow_empty)
    if fmt == "json":
        print_json(summary_json(summary))
    else:
        render_summary(summary)
