"""``poolsync history``: the run history the store keeps, newest first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from poolsync.capacity.history import HistoryFileError, parse_history, to_csv, to_json
from poolsync.capacity.model import Snapshot
from poolsync.cli.main import Context
from poolsync.cli.output import (
    emit,
    meta,
    now,
    out_options,
    print_json,
    stderr_console,
    stdout_console,
)
from poolsync.errors import StoreError
from poolsync.records import RunDetail, RunRecord
from poolsync.store import Store
from poolsync.store.runs import detail_json


def _seconds(run: RunRecord) -> float | None:
    recorded = run.detail.seconds
    if isinstance(recorded, int | float):
        return float(recorded)
    if run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


def _iso(when: datetime | None) -> str | None:
    """A time as the run history keeps it (ISO 8601 to the second, with its offset)."""
    return None if when is None else when.isoformat(timespec="seconds")


def run_json(run: RunRecord) -> dict[str, Any]:
    detail = detail_json(run.detail)
    passes = run.detail.passes or {}
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "started": _iso(run.started_at),
        "finished": _iso(run.finished_at),
        "forced_total": {name: p.reason for name, p in passes.items() if p.reason},
        "changes": detail.get("changes"),
        "error": run.detail.error,
        "detail": detail,
    }


def _changes_text(detail: RunDetail) -> str:
    if detail.changes is None:
        return ""
    parts = [
        f"{kind}: +{c.added} ~{c.changed} -{c.removed}"
        for kind, c in detail.changes.items()
        if c.added or c.changed or c.removed
    ]
    return "; ".join(parts) or "none"


@click.group(invoke_without_command=True)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs to show, newest first.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
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
        print_json(
            {
                "meta": meta("run-history"),
                "store": str(config.store),
                "runs": [run_json(r) for r in runs],
            }
        )
        return
    console = stdout_console()
    if not runs:
        console.print(f"No runs recorded in {config.store} yet.")
        return
    table = Table(title=f"Runs in {config.store}", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("id", "started", "kind", "status", "time", "changes"):
        table.add_column(col, justify="right" if col in ("id", "time") else "left", no_wrap=True)
    styles = {
        "ok": "green",
        "findings": "yellow",
        "refused": "yellow",
        "failed": "red",
        "abandoned": "red",
        "cancelled": "yellow",
        "running": "cyan",
    }
    notes: list[tuple[int, str]] = []
    for run in runs:
        doc = run_json(run)
        seconds = _seconds(run)
        note = doc["error"] or "; ".join(f"{k}: {v}" for k, v in doc["forced_total"].items())
        if note:
            notes.append((run.id, note))
        table.add_row(
            str(run.id),
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            run.kind,
            f"[{styles.get(run.status, 'white')}]{run.status}[/]",
            f"{seconds:.1f} s" if seconds is not None else "",
            _changes_text(run.detail),
        )
    console.print(table)
    # Errors and reasons under the table, one line each and never wrapped: they hold
    # commands and DNs a person copies (a terminal folds them, a copy keeps them whole).
    for run_id, note in notes:
        console.print(f"run {run_id}: {note}", soft_wrap=True, highlight=False, markup=False)


@history.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="csv: date,pool,server,class,licensed,used,published.",
)
@out_options
@click.pass_obj
def export_history(
    ctx: Context, fmt: str, out: Path | None, follow_symlinks: bool, mode: int | None
) -> None:
    """Write the usage history (one row per snapshot, server and seat class).

    Every successful resync stores a snapshot of each pool member's licensed and used
    seats per class (vm, um, inbox) and what the server published. `history import`
    reads this file back (docs/capacity.md).
    """
    config = ctx.config()
    with Store.open(config.store, create=False) as store:
        rows = store.snapshots()
    text = (
        to_csv(rows)
        if fmt == "csv"
        else json.dumps(to_json(rows, generated=now()), indent=2) + "\n"
    )
    if emit(text, out, follow_symlinks=follow_symlinks, mode=mode):
        stderr_console().print(f"history: wrote {_rows(len(rows))} to {out}", highlight=False)


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


@history.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Import rows for another pool than the config's forest, or dated in the "
    "future, too (refused without it).",
)
@click.pass_obj
def import_history(ctx: Context, file: Path, force: bool) -> None:
    """Load usage history kept elsewhere (spreadsheets, older tools) into the store.

    FILE is CSV with the columns date,pool,server,class,licensed,used (and optionally
    published; more columns are ignored), or the JSON `history export --format json`
    writes. Every row is checked first: the first bad one is reported with its line,
    and nothing is imported from a file with errors. A row with the same date, pool,
    server and class as one held replaces it, so importing a file twice is harmless.
    Rows for another pool than the config's forest, or dated after now, are refused
    (nothing is imported) unless --force.
    """
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise HistoryFileError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFileError(f"{file}: cannot read it: {exc}") from None
    rows = parse_history(text, path=file)
    config = ctx.config()
    problems = _suspicious(rows, forest=config.forest, now=now())
    if problems and not force:
        raise HistoryFileError(
            f"{file}: {'; '.join(problems)}; nothing was imported (--force imports them anyway)"
        )
    for problem in problems:
        stderr_console().print(
            f"[yellow]warning:[/] {file}: {problem} (imported: --force)", highlight=False
        )
    with Store.open(config.store) as store:
        added, replaced = store.add_snapshots(rows, source="import")
    click.echo(f"imported {_rows(len(rows))} from {file}: {added} new, {replaced} replaced")


def _suspicious(rows: Sequence[Snapshot], *, forest: str, now: datetime) -> list[str]:
    """What an import would probably regret: another forest's pool, future dates."""
    found = []
    others = sorted({r.pool for r in rows if r.pool.lower() != forest.lower()})
    if others:
        count = sum(1 for r in rows if r.pool.lower() != forest.lower())
        found.append(
            f"{_rows(count)} {'is' if count == 1 else 'are'} for pool"
            f"{'' if len(others) == 1 else 's'} "
            f"{', '.join(others[:3])}{' ...' if len(others) > 3 else ''}, not this "
            f"config's forest {forest}"
        )
    future = [r for r in rows if r.taken_at > now]
    if future:
        first = min(r.taken_at for r in future)
        found.append(
            f"{_rows(len(future))} {'is' if len(future) == 1 else 'are'} dated in "
            "the future (from "
            f"{first.isoformat(timespec='seconds')})"
        )
    return found


@history.command("delete")
@click.option("--pool", help="Only this pool's rows (case-insensitive).")
@click.option("--server", help="Only this server's rows (case-insensitive).")
@click.option(
    "--before",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only rows taken before this day (YYYY-MM-DD, UTC).",
)
@click.option(
    "--after",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only rows taken after this day (YYYY-MM-DD, UTC).",
)
@click.option("--dry-run", is_flag=True, help="Say how many rows would go; delete nothing.")
@click.pass_obj
def delete_history(
    ctx: Context,
    pool: str | None,
    server: str | None,
    before: datetime | None,
    after: datetime | None,
    dry_run: bool,
) -> None:
    """Delete usage-history rows (e.g. a wrong import): those matching every option
    given. At least one option is needed; `history export` first keeps a copy."""
    if pool is None and server is None and before is None and after is None:
        raise click.UsageError("give at least one of --pool, --server, --before, --after")
    config = ctx.config()
    start = None if after is None else after.replace(tzinfo=UTC) + timedelta(days=1)
    end = None if before is None else before.replace(tzinfo=UTC)
    if not config.store.exists():
        raise StoreError(f"no store at {config.store}: nothing to delete")
    with Store.open(config.store) as store:
        count = store.delete_snapshots(
            pool=pool, server=server, since=start, until=end, dry_run=dry_run
        )
    click.echo(f"{'would delete' if dry_run else 'deleted'} {_rows(count)}")
