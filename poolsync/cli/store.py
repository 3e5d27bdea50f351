"""``poolsync store check``: is the store readable and whole, and what it holds."""

from __future__ import annotations

import click

from poolsync.cli.main import EXIT_NOT_COMPLIANT, Context
from poolsync.cli.output import meta, print_json
from poolsync.store import check_store
from poolsync.store.health import advice


@click.group()
def store() -> None:
    """The local store (docs/operations.md, "The store")."""


@store.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def check(ctx: Context, fmt: str) -> None:
    """Check the store read-only: a poolsync store, its schema version, SQLite's
    integrity check, and the rows of each table. Exits 0 when it is whole, 3 when it
    is damaged (with what to do), 1 when there is no store."""
    path = ctx.config().store
    result = check_store(path)
    if fmt == "json":
        print_json(
            {
                "meta": meta("store-check"),
                "path": result.path,
                "ok": result.ok,
                "readable": result.readable,
                "poolsync_store": result.poolsync_store,
                "schema_version": result.schema_version,
                "integrity": list(result.integrity),
                "rows": result.rows,
                "problem": result.problem,
            }
        )
    else:
        click.echo(f"store {result.path}: " + ("whole" if result.ok else "DAMAGED"))
        if result.problem:
            click.echo(f"  cannot be read: {result.problem}")
        else:
            click.echo(
                f"  poolsync store: {'yes' if result.poolsync_store else 'no'}, "
                f"schema version {result.schema_version}"
            )
            click.echo("  integrity: " + "; ".join(result.integrity))
            for table, count in result.rows.items():
                click.echo(f"  {table}: " + ("unreadable" if count is None else f"{count:,} rows"))
        if not result.ok:
            click.echo(f"To recover: {advice(path, check_hint=False)}.")
    if not result.ok:
        click.get_current_context().exit(EXIT_NOT_COMPLIANT)
