"""``poolsync lab up|down|status|replicate``: a real Samba AD lab to run poolsync against."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import yaml
from rich.console import Console
from rich.table import Table

from poolsync.cli.output import CountProgress, now, print_json, stderr_console, stdout_console
from poolsync.config import load_config
from poolsync.directory.source import LiveSource
from poolsync.lab import build, unity
from poolsync.lab import grow as grow_lab
from poolsync.lab import subscribers as subscriber_edits
from poolsync.profile import load_profile
from poolsync.sync.engine import run_sync

DEFAULT_DIR = Path(".lab")
DEFAULT_TOPOLOGY = Path("topology/lab.yaml")

dir_option = click.option(
    "--dir",
    "lab_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="The lab's directory: DC files, certificates, secrets, config.",
)


@click.group()
def lab() -> None:
    """Run a real Samba 4 AD DC on a loopback address, built from a topology file.

    Each Unity server also serves its own license: a web page (lighttpd) and an SNMP
    agent (snmpd) on a loopback address of its own. Needs root and the samba,
    ldb-tools, ldap-utils, lighttpd, lighttpd-mod-openssl and snmpd packages. Two labs
    in two directories run at once on different loopback addresses. Nothing here
    touches a directory other than the lab's own.
    """


@lab.command()
@click.option(
    "--topology",
    "topology_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_TOPOLOGY,
    show_default=True,
    help="Topology file (docs/topology.md).",
)
@dir_option
@click.option(
    "--profile",
    "profile_name",
    default="cisco-unity",
    show_default=True,
    help="Schema profile: a built-in name or a path.",
)
def up(topology_path: Path, lab_dir: Path, profile_name: str) -> None:
    """Provision, load and start the lab (or start it again if it exists).

    Writes DIR/poolsync.yaml, a config that reaches the lab over LDAPS with
    certificate validation against the lab's own CA.
    """
    topology = build.load_topology(topology_path)
    profile = load_profile(profile_name)
    err = stderr_console()
    started = time.monotonic()
    state, built = build.up(
        topology,
        profile,
        lab_dir,
        step=lambda msg: err.print(f"[bold]lab:[/] {msg}"),
        progress=CountProgress("subscribers"),
    )
    if built:
        err.print(f"[bold]lab:[/] built and started in {time.monotonic() - started:.1f} s")
    else:
        err.print("[bold]lab:[/] already built from this topology; reusing it")
    click.echo(f"config: {state.config}")
    kerberos = Path(state.dir) / build.KERBEROS_CONFIG_FILE
    if kerberos.exists():  # (a lab built before the service account has none)
        click.echo(f"kerberos config: {kerberos} (the service account, with its keytab)")
    for dc in state.dcs:
        click.echo(
            f"{dc.name}: ldaps://{dc.address}:{dc.ldaps_port} "
            f"(GC ldaps://{dc.address}:{dc.gcs_port})"
        )
    for server in state.servers:
        http = server.url if server.http == "up" else f"{server.url} ({server.http})"
        snmp = f"udp:{server.address}:{server.snmp_port}"
        click.echo(
            f"{server.name}: {http}, SNMP {snmp}"
            + ("" if server.snmp == "up" else f" ({server.snmp})")
        )


@lab.command()
@dir_option
def down(lab_dir: Path) -> None:
    """Stop the lab's DCs and its Unity servers' web servers and SNMP agents (only the
    processes it started) and remove DIR."""
    stopped = build.down(lab_dir)
    click.echo(
        f"lab in {lab_dir.resolve()} removed"
        + (f"; stopped {', '.join(stopped)}" if stopped else " (it was not running)")
    )


@lab.command()
@dir_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
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
        table.add_row(
            dc["name"],
            dc["site"],
            dc["address"],
            str(dc["ldap_port"]),
            str(dc["ldaps_port"]),
            str(dc["gc_port"]),
            str(dc["gcs_port"]),
            "running" if dc["running"] else "stopped",
            str(dc["pid"] or "-"),
        )
    console = stdout_console()
    console.print(table)
    first = doc["dcs"][0]
    console.print(
        f"bind as {first['bind_user']} with the password in {first['password_file']}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"config: {doc['config']}", highlight=False, soft_wrap=True)
    if doc.get("kerberos_config"):
        console.print(
            f"kerberos config: {doc['kerberos_config']} (poolsync-svc with its keytab "
            f"{doc['keytab']}, no password)",
            highlight=False,
            soft_wrap=True,
        )
    if len(doc["dcs"]) > 1:
        console.print(
            f"replication: {doc['replication']} (`poolsync lab replicate --dir "
            f"{doc['dir']}` replicates now)",
            highlight=False,
            soft_wrap=True,
        )
    # Commands and paths to copy: never wrapped (a terminal folds them; a copy is whole).
    console.print(
        f"try: LDAPTLS_CACERT={first['ca_file']} ldapsearch -H ldaps://{first['address']} "
        f"-D {first['bind_user']} -y {first['password_file']} -b '' -s base",
        highlight=False,
        soft_wrap=True,
    )
    if doc["servers"]:
        _print_servers(doc, console)


def _state(mode: str, pid: int | None) -> str:
    if mode == "down":
        return "down"
    return (mode if mode == "up" else "error") if pid is not None else "stopped"


def _print_servers(doc: dict[str, Any], console: Console) -> None:
    """The Unity servers' endpoints, and how to query the first by hand."""
    table = Table(title="Unity servers: license page and SNMP agent", title_justify="left")
    for col in ("server", "address", "HTTPS", "HTTP", "page", "SNMP", "agent"):
        table.add_column(col)
    for server in doc["servers"]:
        table.add_row(
            server["name"],
            server["address"],
            str(urlsplit(server["url"]).port),
            str(urlsplit(server["plain_url"]).port),
            _state(server["http"], server["http_pid"]),
            f"{server['snmp_port']}/udp",
            _state(server["snmp"], server["snmp_pid"]),
        )
    console.print(table)
    first = doc["servers"][0]
    lab = doc["dir"]
    console.print(
        f"page: {urlsplit(first['url']).path} (HTTPS with the lab CA, or HTTP); "
        f"SNMP: v2c with the community in {lab}/{unity.COMMUNITY_FILE}, or v3 as "
        f"{unity.V3_USER} (SHA/AES, {lab}/{unity.AUTH_FILE} and "
        f"{unity.PRIV_FILE.rsplit('/', 1)[1]})",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"try: curl --cacert {lab}/tls/ca.pem {first['url']}", highlight=False, soft_wrap=True
    )
    console.print(
        f'try: snmpget -v2c -c "$(cat {lab}/{unity.COMMUNITY_FILE})" -On '
        f"{first['snmp_host']}:{first['snmp_port']} {unity.CISCO_UNITY_MIB}.1.2.10.0",
        highlight=False,
        soft_wrap=True,
    )


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
    results = build.replicate(
        lab_dir, source=source, target=target, step=lambda msg: err.print(f"[bold]lab:[/] {msg}")
    )
    for src, dst, reason in results:
        click.echo(f"{src} -> {dst}: " + ("replicated" if reason is None else f"skipped: {reason}"))


_ON_OFF = click.Choice(["on", "off"])


@lab.group()
def subscribers() -> None:
    """Add, move or remove subscribers in a running lab, as an administrator would in
    Unity; `poolsync resync` then reads the change."""


@subscribers.command("add")
@dir_option
@click.option("--server", required=True, help="The server the new subscribers are homed on.")
@click.option("--count", type=click.IntRange(min=1, max=100_000), required=True)
@click.option(
    "--um",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="How many of them have UM (only with a license-class profile).",
)
@click.option(
    "--inbox",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="How many of them have Inbox (only with a license-class profile).",
)
def subscribers_add(lab_dir: Path, server: str, count: int, um: int, inbox: int) -> None:
    """Create COUNT subscribers homed on SERVER."""
    added = subscriber_edits.add(lab_dir, server, count, um=um, inbox=inbox)
    click.echo(f"added {len(added)} subscriber{'' if len(added) == 1 else 's'} homed on {server}")


@subscribers.command("move")
@dir_option
@click.option("--from", "source", required=True, help="The server they are homed on now.")
@click.option("--to", "target", required=True, help="The server to home them on.")
@click.option("--count", type=click.IntRange(min=1), required=True)
def subscribers_move(lab_dir: Path, source: str, target: str, count: int) -> None:
    """Rehome COUNT of --from's subscribers on --to (their home attribute changes)."""
    moved = subscriber_edits.move(lab_dir, source, target, count)
    click.echo(
        f"moved {len(moved)} subscriber{'' if len(moved) == 1 else 's'} from {source} to {target}"
    )


@subscribers.command("remove")
@dir_option
@click.option("--server", required=True, help="The server whose subscribers go.")
@click.option("--count", type=click.IntRange(min=1), required=True)
def subscribers_remove(lab_dir: Path, server: str, count: int) -> None:
    """Delete COUNT of SERVER's subscribers (tombstones, as a deletion in AD)."""
    gone = subscriber_edits.remove(lab_dir, server, count)
    click.echo(f"removed {len(gone)} subscriber{'' if len(gone) == 1 else 's'} of {server}")


@lab.command()
@click.argument("dc")
@dir_option
@click.option("--inbound", type=_ON_OFF, help="Switch the DC's inbound replication.")
@click.option("--outbound", type=_ON_OFF, help="Switch the DC's outbound replication.")
def replication(dc: str, lab_dir: Path, inbound: str | None, outbound: str | None) -> None:
    """Switch a lab DC's inbound or outbound replication on or off, as
    `repadmin /options DC [+|-]DISABLE_INBOUND_REPL` does (the DSA options of its
    NTDS Settings). The doctor's fixes name this for a lab."""
    if inbound is None and outbound is None:
        raise click.UsageError("give --inbound on|off and/or --outbound on|off")
    build.set_replication(
        lab_dir,
        dc,
        inbound=None if inbound is None else inbound == "on",
        outbound=None if outbound is None else outbound == "on",
    )
    for name, value in (("inbound", inbound), ("outbound", outbound)):
        if value is not None:
            click.echo(f"{dc}: {name} replication {value}")


@lab.command()
@dir_option
@click.option(
    "--from", "source", metavar="DC", required=True, help="The DC the connection pulls from."
)
@click.option(
    "--to", "target", metavar="DC", required=True, help="The DC that holds the connection (pulls)."
)
@click.option(
    "--enable/--disable",
    "enabled",
    required=True,
    help="Enable (creating it when missing) or disable the connection.",
)
def connection(lab_dir: Path, source: str, target: str, enabled: bool) -> None:
    """Enable or disable the replication connection DC --to pulls DC --from through
    (enabledConnection on its nTDSConnection object), as Sites and Services does."""
    click.echo(build.set_connection(lab_dir, source, target, enabled=enabled))


@lab.command()
@dir_option
# 84: the first step stays inside the report's default 90-day window (a snapshot taken
# exactly 90 days back is outside it), 14 days apart with the default 7 steps.
@click.option(
    "--days",
    type=click.IntRange(min=1, max=3650),
    default=84,
    show_default=True,
    help="How far back the first step is.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=2, max=100),
    default=7,
    show_default=True,
    help="How many resyncs, spread evenly up to today.",
)
@click.option(
    "--add",
    "per_step",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Subscribers added before each step after the first.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the added subscribers in the lab (default: remove them at the end, "
    "so the lab is as `lab up` built it).",
)
def grow(lab_dir: Path, days: int, steps: int, per_step: int, keep: bool) -> None:
    """Replay growth into a usage history, for the capacity report demo.

    Adds --add subscribers to the lab's pooled servers before each step (in proportion
    to the subscribers each has, every fourth with UM) and after each step runs a real
    resync whose clock is set back, so the steps spread over the last --days days. The
    snapshots go to a store of their own, DIR/capacity-demo.db, with the config
    DIR/capacity-demo.yaml, so the lab's own store is not touched. The added users
    are removed again at the end (unless --keep), and users an earlier `grow --keep`
    left are removed first: growing twice gives the same history.
    Then: poolsync -c DIR/capacity-demo.yaml report capacity --format html --out FILE
    """
    state = build.require_state(lab_dir)
    topology = build.load_topology(Path(state.topology))
    config_path = Path(state.dir) / "capacity-demo.yaml"
    store_path = Path(state.dir) / "capacity-demo.db"
    doc = yaml.safe_load(Path(state.config).read_text())
    doc["store"] = store_path.name
    build.write_file(
        config_path,
        "# Written by `poolsync lab grow`: the lab's config with a "
        "store of its own.\n" + yaml.safe_dump(doc, sort_keys=False),
    )
    for leftover in (store_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm")):
        leftover.unlink(missing_ok=True)
    config = load_config(config_path)
    profile = load_profile(config.profile, base_dir=config.base_dir)
    grower_ = grow_lab.Grower(lab_dir=Path(state.dir), topology=topology, profile=profile)
    err = stderr_console()
    removed = grower_.reset()
    if removed:
        err.print(f"[bold]lab:[/] removed {removed} subscribers an earlier grow added")
    today = now()
    source = LiveSource(config.directory, password=config.directory.bind.resolve_password())
    for step in range(steps):
        at = today - timedelta(days=days * (steps - 1 - step) / (steps - 1))
        added = grower_.add(step, per_step) if step else []
        result = run_sync(config, profile, source=source, total=step == 0, now=_clock(at))
        err.print(
            f"[bold]lab:[/] step {step + 1}/{steps} at {at.date().isoformat()}: "
            f"+{len(added)} subscribers; {result.subscribers} subscribers in the store",
            highlight=False,
        )
    if not keep:
        err.print(f"[bold]lab:[/] removed the {grower_.reset()} subscribers it added")
    click.echo(
        f"history: {config_path} (store {store_path}); try: poolsync -c {config_path} "
        "report capacity"
    )


def _clock(at: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``at``: the resync of a replayed step runs "then"."""
    return lambda: at
