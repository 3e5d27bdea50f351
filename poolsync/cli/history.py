"""``poolsync history``: the run history the store keeps, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich import box
from rich.table import Table

from poolsync.cli.main import Context
from poolsync.cli.output import meta, print_json, stdout_console
from poolsync.store import RunRecord, Store


def _seconds(run: RunRecord) -> float | None:
    recorded = run.detail.get("seconds")
    if isinstance(recorded, int | float):
        return float(recorded)
    if not run.finished_at:
        return None
    try:
        return (datetime.fromisoformat(run.finished_at)
                - datetime.fromisoformat(run.started_at)).total_seconds()
    except ValueError:
        return None


def run_json(run: RunRecord) -> dict[str, Any]:
    detail = dict(run.detail)
    passes = detail.get("passes") or {}
    return {
        "id": run.id, "kind": run.kind, "status": run.status, "started": run.started_at,
        "finished": run.finished_at,
        "forced_total": {name: p.get("reason") for name, p in passes.items()
                         if isinstance(p, dict) and p.get("reason")},
        "changes": detail.get("changes"), "error": detail.get("error"),
        "detail": detail,
    }


def _changes_text(changes: object) -> str:
    if not isinstance(changes, dict):
        return ""
    parts = []
    for kind, c in changes.items():
        if isinstance(c, dict) and any(c.values()):
            parts.append(f"{kind}: +{c.get('insert', 0)} ~{c.get('update', 0)} "
                         f"-{c.get('delete', 0)}")
    return "; ".join(parts) or "none"


@click.group(invoke_without_command=True)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many runs to show, newest first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_context
def history(click_ctx: click.Context, limit: int, fmt: str) -> None:
    """The sync runs recorded in the store: when, what kind, the outcome and why.

    Every `resync` (and every pass of `service`) records a run: its start and end,
    total or incremental, the passes forced to a total resync and why, the changes
    applied, and the outcome: ok, findings (synced; a pool is out of compliance),
    refused (a guard stopped it; nothing written), failed (with the error),
    cancelled (a service stopped while it read; nothing written), or abandoned (the
    process died before its commit; nothing written). Dry runs are not recorded.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Context = click_ctx.obj
    config = ctx.config()
    with Store.open(config.store, create=False) as store:
        runs = store.runs(limit=limit)
    if fmt == "json":
        print_json({"meta": meta("run-history"), "store": str(config.store),
                    "runs": [run_json(r) for r in runs]})
        return
    console = stdout_console()
    if not runs:
        console.print(f"No runs recorded in {config.store} yet.")
        return
    table = Table(title=f"Runs in {config.store}", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("id", "started", "kind", "status", "time", "changes", "why total / error"):
        table.add_column(col, justify="right" if col in ("id", "time") else "left",
                         overflow="fold")
    styles = {"ok": "green", "findings": "yellow", "refused": "yellow", "failed": "red",
              "abandoned": "red", "cancelled": "yellow", "running": "cyan"}
    for run in runs:
        doc = run_json(run)
        seconds = _seconds(run)
        note = doc["error"] or "; ".join(f"{k}: {v}" for k, v in doc["forced_total"].items())
        table.add_row(str(run.id), run.started_at.replace("T", " ")[:19], run.kind,
                      f"[{styles.get(run.status, 'white')}]{run.status}[/]",
                      f"{seconds:.1f} s" if seconds is not None else "",
                      _changes_text(doc["changes"]), note or "")
    console.print(table)
