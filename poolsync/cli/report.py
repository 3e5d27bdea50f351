"""``poolsync report capacity``: where each pool is heading, and what a change would do."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import click

from poolsync.capacity.model import CapacityReport, LicenseChange, WhatIf
from poolsync.capacity.project import project
from poolsync.capacity.whatif import apply, load_scenario
from poolsync.cli.export import store_origin
from poolsync.cli.main import EXIT_NOT_COMPLIANT, Context
from poolsync.cli.output import emit, now, out_options, stderr_console
from poolsync.config import CapacityConfig, parse_duration
from poolsync.errors import StoreError, UserError
from poolsync.licensing import check_licenses, read_license_file, timeline
from poolsync.licensing.files import EffectiveXml
from poolsync.licensing.flexlm import LicenseFile
from poolsync.model import Seats
from poolsync.render.capacity import (
    capacity_csv,
    capacity_html,
    capacity_json,
    capacity_md,
    capacity_table,
)
from poolsync.store import Store

FORMATS = ("table", "md", "csv", "json", "html")
MAX_DAYS = 3650


@click.group()
def report() -> None:
    """Reports built from the store's usage history."""


def _days(text: str | None, default: int, option: str) -> int:
    if text is None:
        return default
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise click.BadParameter(
            f"expected a number of days such as 90d, got {text!r}", param_hint=option
        ) from None
    if seconds < 86400 or seconds % 86400 or seconds > MAX_DAYS * 86400:
        raise click.BadParameter(
            f"expected a whole number of days from 1d to {MAX_DAYS}d, got {text!r}",
            param_hint=option,
        )
    return int(seconds // 86400)


def license_changes(capacity: CapacityConfig, *, today: date, end: date) -> list[LicenseChange]:
    """The days up to ``end`` on which a server's license files change its seats (an
    expiry, a start), with the seats from that day on."""
    changes: list[LicenseChange] = []
    for entry in capacity.license_files:
        files: list[LicenseFile] = []
        for path in entry.files:
            read = read_license_file(path)
            if isinstance(read, EffectiveXml):
                raise UserError(
                    f"{path}: an effective-license XML, not a license file "
                    f"(capacity.license_files.{entry.server})"
                )
            files.append(read)
        # No MAC given: the host-ID check is skipped (as `license show` does), not
        # failed for every bound file.
        macs = [entry.mac] if entry.mac else None
        # Every change up to the horizon: the projection keeps those after each
        # server's latest snapshot (earlier ones are in its snapshots already).
        for moment in timeline(files):
            if moment.date <= end:
                values = check_licenses(files, at=moment.date, macs=macs).effective.values
                changes.append(
                    LicenseChange(
                        server=entry.server,
                        on=moment.date,
                        seats=Seats(
                            vm=values.get("LicSubscribersMax", 0),
                            um=values.get("LicUMSubscribersMax", 0),
                            inbox=values.get("LicVMISubscribersMax", 0),
                        ),
                    )
                )
    return changes


def render(result: CapacityReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(capacity_json(result), indent=2) + "\n"
    if fmt == "csv":
        return capacity_csv(result)
    if fmt == "md":
        return capacity_md(result)
    if fmt == "html":
        return capacity_html(result)
    return capacity_table(result)


@report.command("capacity")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table (terminal), md (tickets), csv, json, html (one file with charts).",
)
@out_options
@click.option(
    "--window",
    default=None,
    metavar="DAYS",
    help="History fitted for growth, e.g. 90d (default: capacity.window, 90d).",
)
@click.option(
    "--horizon",
    default=None,
    metavar="DAYS",
    help="How far to project, e.g. 365d (default: capacity.horizon, 365d).",
)
@click.option(
    "--what-if",
    "what_if",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A scenario file (docs/capacity.md): shown before/after.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Project from this day instead of today (to replay a past report).",
)
@click.pass_obj
def capacity(
    ctx: Context,
    fmt: str,
    out: Path | None,
    follow_symlinks: bool,
    mode: int | None,
    window: str | None,
    horizon: str | None,
    what_if: Path | None,
    today: datetime | None,
) -> None:
    """Where each pool and server is heading, when it runs out, and what to do.

    Per pool and seat class (vm, um, inbox), and per server: licensed, used,
    headroom, growth per day (Theil-Sen over the window: one bad snapshot does not
    swing it), the day projected use first exceeds the licensed seats within the
    horizon, days left, and the seats to buy (or, for per-server limits, subscribers
    to move) to stay compliant through the horizon; license files listed under
    capacity.license_files change the licensed seats on their start and expiry
    dates. Recommendations are ranked by urgency. The history is what every
    successful resync stored (and `history import` loaded).

    When the store was filled from an LDIF export, the report says so (a note) and
    projects from the day the export was taken unless --today says otherwise.

    Exits 3 when a pool runs out of a seat class within the horizon (before any
    what-if).
    """
    config = ctx.config()
    window_days = _days(window, config.capacity.window_days, "--window")
    horizon_days = _days(horizon, config.capacity.horizon_days, "--horizon")
    generated = now()
    with Store.open(config.store, create=False) as store:
        origin = store_origin(store)
        exported = origin is not None and origin.kind == "export"
        # An export is a snapshot of its own day: project from there, not from today.
        day = (
            today.date()
            if today is not None
            else origin.at.date()
            if origin is not None and exported
            else generated.date()
        )
        since = datetime.combine(day - timedelta(days=window_days), time(), tzinfo=UTC)
        snapshots = store.snapshots(since=since)
    if not [s for s in snapshots if s.taken_at.date() <= day]:
        raise StoreError(
            f"{config.store} holds no usage history in the {window_days} days "
            f"up to {day}: each successful `poolsync resync` stores a snapshot, "
            "and `poolsync history import` loads history kept elsewhere"
        )
    changes = license_changes(config.capacity, today=day, end=day + timedelta(days=horizon_days))
    result = project(
        snapshots,
        today=day,
        window_days=window_days,
        horizon_days=horizon_days,
        limits=config.compliance,
        generated=generated,
        license_changes=changes,
    )
    if what_if is not None:
        scenario = load_scenario(what_if)
        applied = apply(scenario, snapshots, changes, today=day)
        after = project(
            applied.snapshots,
            today=day,
            window_days=window_days,
            horizon_days=horizon_days,
            limits=config.compliance,
            generated=generated,
            license_changes=applied.license_changes,
            growth=applied.growth,
        )
        result = replace(
            result,
            what_if=WhatIf(
                scenario=str(what_if),
                pools=after.pools,
                recommendations=after.recommendations,
                applied=applied.sentences,
            ),
        )
    if origin is not None and exported:
        projected = "" if today is not None else f"; projected from its day, {day}"
        result = replace(result, notes=(*result.notes, origin.line()[:-1] + projected + "."))
    text = render(result, fmt)
    if emit(text, out, follow_symlinks=follow_symlinks, mode=mode):
        stderr_console().print(f"report: wrote {out} ({fmt})", highlight=False)
    # A server over its own license borrows from the pool: only the pools count here.
    running_out = any(
        c.exhausted_on is not None for pool in result.pools for c in pool.classes.values()
    )
    if running_out:
        click.get_current_context().exit(EXIT_NOT_COMPLIANT)
