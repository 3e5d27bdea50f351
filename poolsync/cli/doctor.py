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
from poolsync.config import Config, load_config
from poolsync.directory.source import DirectorySource, LiveSource
from poolsync.doctor.causes import diagnose
from poolsync.doctor.model import DoctorInput, ForeignSighting, Monitor, ServerReadings, StoreView
from poolsync.doctor.probe import ForestProbe, probe_forest, probe_other_forest, store_view
from poolsync.errors import DirectoryUnavailable
from poolsync.profile import Profile, load_profile
from poolsync.render.doctor import doctor_report_json, doctor_report_lines
from poolsync.servers.model import ServerReading
from poolsync.store import Store


def gather(config: Config, profile: Profile, source: DirectorySource, *, quiet: bool = False
           ) -> tuple[DoctorInput, list[str]]:
    """Ask the directory (and the other forests, and the store) everything the
    classifier needs; return it with notes about what could not be read."""
    err = stderr_console()
    at = now()

    def step(message: str) -> None:
        if not quiet:
            err.print(f"[bold]doctor:[/] {message}", highlight=False)

    forest = probe_forest(source, profile, now=at, step=step)
    if all(p.error is not None for p in forest.probes):
        raise DirectoryUnavailable("no DC or Global Catalog could be read: " + "; ".join(
            f"{p.url}: {p.error}" for p in forest.probes))
    store, readings = _store(config, forest, profile)
    present = {c.location.name.lower() for p in forest.probes for c in p.copies}
    missing = [n for n in config.doctor.expected if n.lower() not in present]
    foreign: list[ForeignSighting] = []
    searched: list[str] = []
    notes: list[str] = []
    for path in config.doctor.other_forests if missing else ():
        other = load_config(path)
        searched.append(other.forest)
        step(f"looking for {', '.join(missing)} in forest {other.forest}")
        # Its password is read when its first GC is opened (a failure is a note).
        other_source = LiveSource(other.directory, password=other.directory.bind.resolve_password)
        found, error = probe_other_forest(
            other.forest, other_source, load_profile(other.profile, base_dir=other.base_dir),
            missing, now=at)
        foreign += found
        if error is not None:
            notes.append(error)
    # Unity servers without a configured GC monitor: the first GC of the config that
    # answers, as a failover list is read.
    readable = {p.url: p.dc for p in forest.probes if p.error is None and p.gc}
    default_gc = next((readable[e.url] for e in source.gcs if e.url in readable), None)
    origin = source.origin
    if origin.kind == "export":
        taken = origin.taken_at.isoformat(timespec="seconds") if origin.taken_at else "?"
        notes.append(f"read from an LDIF export ({origin.label}) taken {taken}: one "
                     "snapshot of one DC's view, standing in for every DC and Global "
                     "Catalog; what other DCs hold, replication between them and changes "
                     "since are not in it (docs/offline.md)")
    inp = DoctorInput(
        forest=config.forest,
        topology=forest.topology,
        probes=forest.probes,
        monitors=tuple(Monitor(server=m.server, dc=m.dc, gc=m.gc)
                       for m in config.doctor.servers),
        default_gc=default_gc,
        store=store,
        expected=config.doctor.expected,
        foreign=tuple(foreign),
        other_forests=tuple(searched),
        live=ServerReadings(servers=config.servers, readings=readings) if config.servers else None,
        now=at,
    )
    return inp, notes


def _store(config: Config, forest: ForestProbe, profile: Profile
           ) -> tuple[StoreView | None, tuple[ServerReading, ...]]:
    """The store's view, and the servers' latest readings (kept by `servers probe`,
    which may have run before any sync)."""
    if not config.store.exists():
        return None, ()
    with Store.open(config.store, create=False) as store:
        view = store_view(store, forest.topology, profile.roles())
        return view, store.latest_readings() if config.servers else ()


@click.command()
@click.argument("server", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="table for people; json for machines (docs/doctor.md).")
@ldif_options(more=False)
@click.pass_obj
def doctor(ctx: Context, server: str | None, fmt: str, from_ldif: tuple[Path, ...],
           taken_at: datetime | None) -> None:
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
    inp, notes = gather(config, ctx.profile(), source, quiet=fmt == "json")
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
        stderr_console().print("doctor: not every DC and Global Catalog could be read, so "
                               "problems may be missing; see the notes", highlight=False)
        click.get_current_context().exit(EXIT_DIRECTORY)
