"""``poolsync lab up|down|status|replicate``: a real Samba AD lab to run poolsync against."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from poolsync.cli.output import CountProgress, print_json, stderr_console, stdout_console
from poolsync.lab import build
from poolsync.profile import load_profile
from topology.spec import load_topology

DEFAULT_DIR = Path(".lab")
DEFAULT_TOPOLOGY = Path("topology/lab.yaml")

dir_option = click.option(
    "--dir", "lab_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
    show_default=True, help="The lab's directory: DC files, certificates, secrets, config.")


@click.group()
def lab() -> None:
    """Run a real Samba 4 AD DC on a loopback address, built from a topology file.

    Needs root and the samba, ldb-tools and ldap-utils packages. Two labs in two
    directories run at once on different loopback addresses. Nothing here touches a
    directory other than the lab's own.
    """


@lab.command()
@click.option("--topology", "topology_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_TOPOLOGY, show_default=True, help="Topology file (docs/topology.md).")
@dir_option
@click.option("--profile", "profile_name", default="cisco-unity", show_default=True,
              help="Schema profile: a built-in name or a path.")
def up(topology_path: Path, lab_dir: Path, profile_name: str) -> None:
    """Provision, load and start the lab (or start it again if it exists).

    Writes DIR/poolsync.yaml, a config that reaches the lab over LDAPS with
    certificate validation against the lab's own CA.
    """
    topology = load_topology(topology_path)
    profile = load_profile(profile_name)
    err = stderr_console()
    started = time.monotonic()
    state, built = build.up(topology, profile, lab_dir,
                            step=lambda msg: err.print(f"[bold]lab:[/] {msg}"),
                            progress=CountProgress("subscribers"))
    if built:
        err.print(f"[bold]lab:[/] built and started in {time.monotonic() - started:.1f} s")
    else:
        err.print("[bold]lab:[/] already built from this topology; reusing it")
    click.echo(f"config: {state.config}")
    for dc in state.dcs:
        click.echo(f"{dc.name}: ldaps://{dc.address}:{dc.ldaps_port} "
                   f"(GC ldaps://{dc.address}:{dc.gcs_port})")


@lab.command()
@dir_option
def down(lab_dir: Path) -> None:
    """Stop the lab's DCs (only the processes it started) and remove DIR."""
    stopped = build.down(lab_dir)
    click.echo(f"lab in {lab_dir.resolve()} removed"
               + (f"; stopped {', '.join(stopped)}" if stopped else " (it was not running)"))


@lab.command()
@dir_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def status(lab_dir: Path, fmt: str) -> None:
    """Say what runs where, so ldapsearch and samba-tool can be pointed at the lab."""
    doc = build.status(lab_dir)
    if fmt == "json":
        print_json(doc)
        return
    table = Table(title=f"Lab {doc['forest']} in {doc['dir']}", title_justify="left")
    for col in ("DC", "site", "address", "LDAP", "LDAPS", "GC", "GC TLS", "state", "pid"):
        table.add_column(col)
    for dc in doc["dcs"]:
        table.add_row(dc["name"], dc["site"], dc["address"], str(dc["ldap_port"]),
                      str(dc["ldaps_port"]),
                      str(dc["gc_port"]), str(dc["gcs_port"]),
                      "running" if dc["running"] else "stopped", str(dc["pid"] or "-"))
    console = stdout_console()
    console.print(table)
    first = doc["dcs"][0]
    console.print(f"bind as {first['bind_user']} with the password in {first['password_file']}",
                  highlight=False)
    console.print(f"config: {doc['config']}", highlight=False)
    if len(doc["dcs"]) > 1:
        console.print(f"replication: {doc['replication']} (`poolsync lab replicate --dir "
                      f"{doc['dir']}` replicates now)", highlight=False)
    console.print(
        f"try: LDAPTLS_CACERT={first['ca_file']} ldapsearch -H ldaps://{first['address']} "
        f"-D {first['bind_user']} -y {first['password_file']} -b '' -s base", highlight=False)


@lab.command()
@dir_option
@click.option("--from", "source", metavar="DC", help="The DC to replicate from.")
@click.option("--to", "target", metavar="DC", help="The DC to replicate to.")
def replicate(lab_dir: Path, source: str | None, target: str | None) -> None:
    """Replicate between the lab's DCs now, as AD would.

    A lab with `replication: manual` moves nothing between DCs until this runs.
    Without options, every link that AD would use is replicated (the domain and
    configuration partitions), in as many rounds as it takes to cross the forest;
    links the lab's faults break are skipped and listed. With --from and --to, only
    that link, and an error when AD would not replicate along it (no enabled
    connection object, inbound or outbound replication disabled).
    """
    if (source is None) != (target is None):
        raise click.UsageError("give both --from and --to, or neither (every link)")
    err = stderr_console()
    results = build.replicate(lab_dir, source=source, target=target,
                              step=lambda msg: err.print(f"[bold]lab:[/] {msg}"))
    for src, dst, reason in results:
        click.echo(f"{src} -> {dst}: " + ("replicated" if reason is None
                                          else f"skipped: {reason}"))
