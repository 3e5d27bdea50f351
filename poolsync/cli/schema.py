"""``poolsync schema discover``: find a forest's Unity names, and write a profile."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from poolsync.cli.export import ldif_files, ldif_options
from poolsync.cli.main import EXIT_NOT_COMPLIANT, Context
from poolsync.cli.output import now, print_json, stderr_console
from poolsync.discovery.report import build_report, profile_text, report_json, report_table
from poolsync.discovery.sample import sample_forest
from poolsync.errors import UserError
from poolsync.outfile import write_atomic
from poolsync.profile import parse_profile_bytes


@click.group()
def schema() -> None:
    """The forest's schema, as poolsync reads it."""


@schema.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people; json for machines (docs/schema.md).",
)
@click.option(
    "--write-profile",
    "write_profile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a schema profile with the roles found to FILE (0644), for the "
    "config's `profile:`. Only when every required role is found.",
)
@click.option(
    "--sample",
    "limit",
    type=click.IntRange(min=1, max=100_000),
    default=2000,
    show_default=True,
    help="How many subscribers to read at most.",
)
@ldif_options(taken_at=False)
@click.pass_obj
def discover(
    ctx: Context,
    fmt: str,
    write_profile: Path | None,
    limit: int,
    from_ldif: tuple[Path, ...],
    more_ldif: tuple[Path, ...],
) -> None:
    """Find which attributes of this forest play each profile role, from the values.

    Reads (never writes) the schema naming context: every ciscoEcsbu* attribute and
    class, with its syntax, whether it is single-valued, in the Global Catalog and
    indexed; and which of them the user and contact classes may carry. Then samples
    the Locations (objectClass ciscoEcsbuUMLocation) and up to --sample subscribers
    and decides each role from the values: the Location's name, its object id (what
    the subscribers' homes match, else objectGUID), the pooling attachment (values
    that parse as AvXmlLicData), the version and failover partner, and the
    subscriber's home, extension and license class. Each role comes with its evidence
    and a confidence (certain, likely, ambiguous, missing). Also says where the
    objects live, and warns when the config's base DNs would miss them.

    Uses the config's domain pass (directory.dc) and bind: the same rights as a
    resync. With --from-ldif (or directory.ldif in the config), reads an LDIF export
    that holds the schema partition (docs/offline.md) instead. Exits 0 when every
    required role is certain or likely, 3 when one is ambiguous or missing (or the
    forest has no Unity schema), 5 when the directory cannot be read.
    """
    config = ctx.config()
    profile = ctx.profile()
    quiet = fmt == "json"
    source = ctx.source(ldif=ldif_files(from_ldif, more_ldif), require_locations=False)
    origin = source.origin
    if not quiet:
        what = f"the LDIF export {origin.label}" if origin.kind == "export" else source.dcs[0].url
        stderr_console().print(f"[bold]schema:[/] reading {what}", highlight=False, markup=False)
    sample = sample_forest(source, config, profile, limit=limit)
    report = build_report(config, profile, sample, now=now())
    if fmt == "json":
        doc = report_json(report)
        doc["origin"] = {
            "kind": origin.kind,
            "label": origin.label,
            "taken_at": origin.taken_at.isoformat(timespec="seconds")
            if origin.taken_at is not None
            else None,
        }
        print_json(doc)
    else:
        sys.stdout.write(report_table(report))
        if origin.kind == "export" and origin.taken_at is not None:
            sys.stdout.write(
                f"From an LDIF export ({origin.label}) taken "
                f"{origin.taken_at.isoformat(timespec='seconds')}.\n"
            )
    if write_profile is not None:
        if report.exit_code != 0:
            raise UserError(
                f"{write_profile}: not written: not every required role was "
                "found (see the evidence); a profile with a guess in it would "
                "give a silently wrong pool"
            )
        text = profile_text(report, name=write_profile.stem)
        parse_profile_bytes(write_profile, text.encode())  # what resync will read
        write_atomic(write_profile, text, mode=0o644)
        stderr_console().print(
            f"[bold]schema:[/] wrote {write_profile}; set `profile: "
            f"{write_profile}` in the config, then `poolsync resync "
            "--total`",
            highlight=False,
        )
    if report.exit_code:
        click.get_current_context().exit(EXIT_NOT_COMPLIANT)
