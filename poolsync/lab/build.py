"""``poolsync lab up|down|status``: a real Samba AD lab built from a topology file.

``up`` provisions a DC on a loopback address of its own, issues the lab's CA and DC
certificate, extends the schema from the profile, loads the topology's Locations and
subscribers, starts samba, then each Unity server's own license page and SNMP agent
(:mod:`poolsync.lab.unity`), and writes ``DIR/poolsync.yaml``. A failed ``up`` stops
what it started and removes the directory it created, so nothing half-built is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import yaml

from poolsync.config import forest_base_dn
from poolsync.errors import LabError, TopologyError
from poolsync.forest import DEFAULT_SITE
from poolsync.lab import certs, ldif, replication, samba, service_account, unity
from poolsync.lab.replication import LabNet, Peer
from poolsync.outfile import write_atomic
from poolsync.profile import BUILTIN_DIR, Profile
from poolsync.trust import make_directories

if TYPE_CHECKING:  # types only: topology/ is loaded by build.load_topology alone
    from topology.spec import Topology

STATE_FILE = "lab.json"
CONFIG_FILE = "poolsync.yaml"
#: The same lab, read by the service account with its keytab: no password anywhere.
KERBEROS_CONFIG_FILE = "poolsync-kerberos.yaml"
PASSWORD_FILE = "secrets/admin.password"  # noqa: S105 (a path, not a secret)
USER_BATCH = 2000  # one ldbadd transaction each (see samba.ldb_add)

Step = Callable[[str], None]
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class LabDc:
    name: str
    address: str
    dir: str
    gc: bool
    site: str = DEFAULT_SITE
    ldap_port: int = 389
    ldaps_port: int = 636
    gc_port: int = 3268
    gcs_port: int = 3269

    @property
    def paths(self) -> samba.DcPaths:
        return samba.DcPaths(Path(self.dir))

    @property
    def peer(self) -> Peer:
        return Peer(name=self.name, address=self.address, site=self.site, paths=self.paths)


@dataclass(frozen=True, slots=True)
class LabState:
    dir: str
    forest: str
    netbios: str
    topology: str
    topology_fingerprint: str
    profile: str
    bind_user: str
    password_file: str
    ca_file: str
    config: str
    dcs: tuple[LabDc, ...]
    replication: str = "manual"
    #: The Unity servers' endpoints (none in a lab built before they existed).
    servers: tuple[unity.LabServer, ...] = ()

    @property
    def net(self) -> LabNet | None:
        """The lab's own names and Kerberos setup (None for a one-DC lab)."""
        if len(self.dcs) < 2:
            return None
        return LabNet(
            Path(self.dir), forest=self.forest, password_file=Path(self.password_file)
        ).credentials(user=self.bind_user.split("@", 1)[0], netbios=self.netbios)

    def dc(self, name: str) -> LabDc:
        for dc in self.dcs:
            if dc.name.lower() == name.lower():
                return dc
        raise LabError(
            f"the lab in {self.dir} has no DC named {name} "
            f"(DCs: {', '.join(d.name for d in self.dcs)})"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LabState:
        return cls(
            **{
                **doc,
                "dcs": tuple(LabDc(**dc) for dc in doc["dcs"]),
                "servers": tuple(unity.LabServer(**s) for s in doc.get("servers", ())),
            }
        )


def fingerprint(topology: Topology, profile: Profile) -> str:
    """What the lab's directory was built from: the topology, the profile, and for
    servers licensed by files, the files' contents and the date they were read at."""
    digest = hashlib.sha256(Path(topology.path).read_bytes() + profile.fingerprint.encode())
    for server in topology.servers:
        files = server.license_files
        if files is None:
            continue
        digest.update(f"{server.name}@{files.at.isoformat()}".encode())
        for path in files.paths:
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def read_state(lab_dir: Path) -> LabState | None:
    path = lab_dir / STATE_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: unreadable lab state: {exc}") from exc
    try:
        return LabState.from_json(doc)
    except (KeyError, TypeError) as exc:
        raise LabError(f"{path}: lab state written by another poolsync version: {exc}") from exc


def load_topology(path: Path) -> Topology:
    """The topology file at ``path`` (:func:`topology.spec.load_topology`).

    The one place poolsync imports the lab topology package, and only when a lab is
    built or edited: ``topology/`` lives at the top of the source tree and is not
    installed with the wheel (docs/architecture.md, "What may import what"), so every
    other command, and ``lab status|down|replicate``, runs without it.
    """
    try:
        from topology.spec import load_topology as load
    except ModuleNotFoundError as exc:
        if exc.name != "topology":
            raise
        raise TopologyError(
            "poolsync lab reads topology files with the topology/ package of poolsync's "
            "source tree, which the wheel does not install: run it from a checkout "
            "(`make venv`, then .venv/bin/poolsync)"
        ) from exc
    return load(path)


def require_state(lab_dir: Path) -> LabState:
    """The state of the lab in ``lab_dir``; a LabError saying how to make one if none."""
    state = read_state(lab_dir.resolve())
    if state is None:
        raise LabError(f"no poolsync lab in {lab_dir} (no {STATE_FILE}); run `poolsync lab up`")
    return state


def write_file(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text``, ``mode`` exactly: poolsync refuses a config that
    group or others can write, so the umask must not decide it
    (:func:`poolsync.outfile.write_atomic`)."""
    write_atomic(path, text, mode=mode, error=LabError)


def _address_in_use(address: str) -> bool:
    for port in (389, 636):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.3)
            if sock.connect_ex((address, port)) == 0:
                return True
    return False


def choose_address(lab_dir: Path, count: int = 1) -> str:
    """The first of ``count`` consecutive loopback addresses derived from the lab
    directory, none of them in use.

    Different directories land on different addresses, so two labs run at once.
    """
    digest = int.from_bytes(hashlib.sha256(str(lab_dir).encode()).digest()[:4], "big")
    span = 254 - count
    for step in range(64):
        n = (digest + step * 7919) % (254 * 256 * span)
        a, rest = divmod(n, 256 * span)
        b, c = divmod(rest, span)
        addresses = [f"127.{a + 1}.{b}.{c + 2 + i}" for i in range(count)]
        if not any(_address_in_use(address) for address in addresses):
            return addresses[0]
    raise LabError("no free loopback address found for the lab")


def _nth_address(first: str, n: int) -> str:
    head, last = first.rsplit(".", 1)
    return f"{head}.{int(last) + n}"


def is_running(state: LabState) -> bool:
    """Every DC runs, and every Unity server endpoint the topology does not leave down."""
    return all(samba.running_pid(dc.paths) is not None for dc in state.dcs) and all(
        unity.status(server)["running"] for server in state.servers
    )


def config_text(state: LabState, topology: Topology, *, kerberos: bool = False) -> str:
    """The lab's ready-to-use config: every DC (and its GC) in failover order, and what
    each Unity server's monitors use, for ``poolsync doctor``.

    ``kerberos``: bind as the service account with its keytab, through the lab's own
    krb5.conf (poolsync-kerberos.yaml), instead of as the administrator with a password.
    """
    dcs = [f"ldaps://{dc.address}:{dc.ldaps_port}" for dc in state.dcs]
    gcs = [f"ldaps://{dc.address}:{dc.gcs_port}" for dc in state.dcs]
    bind: dict[str, object] = {
        "method": "simple",
        "user": state.bind_user,
        "password": {"file": PASSWORD_FILE},
    }
    if kerberos:
        bind = {
            "method": "kerberos",
            "principal": service_account.principal(state.forest),
            "keytab": service_account.KEYTAB_FILE,
            "krb5_conf": service_account.KRB5_FILE,
        }
    doc = {
        "forest": state.forest,
        "directory": {
            "dc": {"url": dcs[0] if len(dcs) == 1 else dcs},
            "gc": {"url": gcs[0] if len(gcs) == 1 else gcs, "base_dn": ""},
            "bind": bind,
            "tls": {"ca_file": "tls/ca.pem", "validate": True},
            "page_size": 1000,
        },
        "profile": state.profile,
        "store": "poolsync.db",
        "doctor": {
            "servers": {s.name: {"dc": s.dc, "gc": s.gc} for s in topology.servers},
        },
    }
    if state.servers:
        doc["servers"] = unity.config_section(state.servers)
    return "# Written by `poolsync lab up`: a ready-to-use config for this lab.\n" + yaml.safe_dump(
        doc, sort_keys=False
    )


def up(
    topology: Topology, profile: Profile, lab_dir: Path, *, step: Step, progress: Progress
) -> tuple[LabState, bool]:
    """Bring the lab up; return its state and whether it was built just now."""
    check_fits(topology, profile)
    samba.check_tools()
    if unity.served(topology):
        unity.check_tools()
    lab_dir = lab_dir.resolve()
    state = read_state(lab_dir)
    if state is not None:
        if state.topology_fingerprint != fingerprint(topology, profile):
            raise LabError(
                f"the lab in {lab_dir} was built from another topology or profile "
                f"({state.topology}); run `poolsync lab down --dir {lab_dir}` first"
            )
        if not is_running(state):
            step("starting the existing lab")
            _start_all(state, step=step)
        return state, False
    if lab_dir.exists() and any(lab_dir.iterdir()):
        raise LabError(f"{lab_dir} exists and is not a poolsync lab; choose another --dir")
    check_socket_paths(lab_dir, [dc.name for dc in topology.dcs])
    created = not lab_dir.exists()
    # 0755 whatever the umask: the lab's store lives here, and poolsync refuses a store
    # under a directory others can write (mkdir(parents=True) makes 0777 under umask 000).
    make_directories(lab_dir, mode=0o755)
    try:
        state = _build(topology, profile, lab_dir, step=step, progress=progress)
    except BaseException:
        _teardown(lab_dir, remove=created)
        raise
    return state, True


def check_fits(topology: Topology, profile: Profile) -> None:
    """Refuse a topology that asks for what the profile cannot hold."""
    where = f"{topology.path} with profile {profile.name}"
    if topology.license_classes and profile.subscriber.license_class is None:
        raise LabError(
            f"{where}: license_classes: true needs a profile with "
            "subscriber.license_class (the older model)"
        )
    if (
        topology.attachment_encoding == "utf-16"
        and profile.syntax_of(profile.location.pooling_data) != "binary"
    ):
        raise LabError(
            f"{where}: attachment_encoding: utf-16 needs the profile's "
            f"{profile.location.pooling_data} to have syntax binary (an octet "
            "string); a Unicode-string attribute holds only UTF-8"
        )
    if (
        profile.syntax_of(profile.location.object_id) is None
        and profile.location.object_id.lower() != "objectguid"
    ):
        raise LabError(
            f"{where}: the lab cannot write location.object_id "
            f"{profile.location.object_id}, a standard attribute"
        )


# Samba's longest socket under a DC's directory, and the most a Unix socket path holds
# (sun_path is 108 bytes with its NUL). Past it samba dies at start-up with
# NT_STATUS_OBJECT_PATH_INVALID, after the whole build.
_LONGEST_SOCKET = "run/ncalrpc/np/protected_storage"
_SOCKET_PATH_MAX = 107


def check_socket_paths(lab_dir: Path, dc_names: list[str]) -> None:
    """Refuse, before building, a lab directory too deep for samba's sockets."""
    deepest = max(dc_names, key=lambda name: len(os.fsencode(name)))
    longest = lab_dir / deepest.lower() / _LONGEST_SOCKET
    excess = len(os.fsencode(longest)) - _SOCKET_PATH_MAX
    if excess > 0:
        raise LabError(
            f"{lab_dir} is too deep for samba's sockets ({longest} would be "
            f"{excess} bytes over the {_SOCKET_PATH_MAX}-byte limit of a Unix socket "
            "path); choose a shorter --dir"
        )


def _build(
    topology: Topology, profile: Profile, lab_dir: Path, *, step: Step, progress: Progress
) -> LabState:
    first_address = choose_address(lab_dir, len(topology.dcs))
    password = "Lab-" + secrets.token_urlsafe(18) + "-9a"
    secret_dir = lab_dir / "secrets"
    secret_dir.mkdir(mode=0o700)
    password_file = lab_dir / PASSWORD_FILE
    write_file(password_file, password, mode=0o600)
    state = LabState(
        dir=str(lab_dir),
        forest=topology.forest.lower(),
        netbios=topology.netbios,
        topology=str(Path(topology.path).resolve()),
        topology_fingerprint=fingerprint(topology, profile),
        # A built-in profile by name, so the config survives a reinstall elsewhere.
        profile=profile.source.stem
        if profile.source.parent == BUILTIN_DIR
        else str(profile.source),
        bind_user=f"Administrator@{topology.forest.lower()}",
        password_file=str(password_file),
        ca_file=str(lab_dir / "tls" / "ca.pem"),
        config=str(lab_dir / CONFIG_FILE),
        dcs=tuple(
            LabDc(
                name=spec.name,
                address=_nth_address(first_address, i),
                dir=str(lab_dir / spec.name.lower()),
                gc=spec.gc,
                site=spec.site,
            )
            for i, spec in enumerate(topology.dcs)
        ),
        replication=topology.replication,
        servers=unity.plan(
            topology,
            lab_dir,
            avoid={_nth_address(first_address, i) for i in range(len(topology.dcs))},
        ),
    )
    net = state.net
    if net is not None:
        net.write(
            [dc.peer for dc in state.dcs],
            user=state.bind_user.split("@", 1)[0],
            password=password,
            netbios=state.netbios,
        )
    extra = replication.MANUAL_REPLICATION if topology.replication == "manual" else ()
    first = state.dcs[0]
    paths = first.paths
    ca = certs.make_ca(lab_dir / "tls")

    def configure(dc: LabDc) -> None:
        host = replication.host_name(dc.name, state.forest)
        step(f"issuing a certificate for {host} ({dc.address})")
        cert = certs.issue_dc_certificate(
            lab_dir / "tls", dc_name=dc.name, dns_names=[host, state.forest], address=dc.address
        )
        samba.write_conf(
            dc.paths,
            realm=topology.forest,
            netbios_domain=topology.netbios,
            host_name=dc.name,
            address=dc.address,
            tls_cert=cert.cert,
            tls_key=cert.key,
            tls_ca=ca,
            extra=extra,
        )

    step(f"provisioning {first.name} for {topology.forest} on {first.address} (site {first.site})")
    samba.provision(
        paths,
        realm=topology.forest,
        netbios_domain=topology.netbios,
        host_name=first.name,
        address=first.address,
        site=None if first.site == DEFAULT_SITE else first.site,
    )
    configure(first)
    samba.set_admin_password(paths, base_dn=topology.base_dn, password=password)
    step(f"extending the schema from profile {profile.name}")
    for n, phase in enumerate(ldif.schema_phases(topology, profile), start=1):
        samba.ldb_modify(paths, phase, what=f"schema extension (phase {n})")
    other_sites = sorted({dc.site for dc in state.dcs[1:]} - {first.site})
    if other_sites:
        step(f"creating sites {', '.join(other_sites)}")
        samba.ldb_modify(
            paths, replication.site_records(topology.base_dn, other_sites), what="creating sites"
        )
    samba.ldb_add(
        paths, "\n".join(r.ldif() for r in ldif.containers(topology)), what="adding containers"
    )
    _load_servers(first, topology, profile, step=step, progress=progress, net=net)
    step(f"adding the service account {service_account.USER} and exporting its keytab")
    service_account.add_dc_spns(
        paths,
        dc_dn=f"CN={first.name},OU=Domain Controllers,{topology.base_dn}",
        spns=service_account.dc_spns(
            replication.host_name(first.name, state.forest),
            first.name,
            state.forest,
            state.netbios,
        ),
    )
    service_account.create(paths, lab_dir, forest=state.forest, base_dn=topology.base_dn)
    if net is None:  # a lab of several DCs has it already (LabNet.write)
        write_file(
            lab_dir / service_account.KRB5_FILE,
            service_account.krb5_conf_text(state.forest, [dc.address for dc in state.dcs]),
        )
    step(f"starting samba on {first.address}")
    _start_dc(state, first)
    if net is not None:
        _join_others(state, net, topology, profile, configure, step=step, progress=progress)
    unity.prepare(lab_dir, topology, state.servers, step=step)
    unity.start(lab_dir, state.servers, step=step)
    write_file(lab_dir / CONFIG_FILE, config_text(state, topology))
    write_file(lab_dir / KERBEROS_CONFIG_FILE, config_text(state, topology, kerberos=True))
    write_file(lab_dir / STATE_FILE, json.dumps(state.to_json(), indent=2) + "\n")
    return state


def _join_others(
    state: LabState,
    net: replication.LabNet,
    topology: Topology,
    profile: Profile,
    configure: Callable[[LabDc], None],
    *,
    step: Step,
    progress: Progress,
) -> None:
    """Join the other DCs, load the servers homed on each, connect every pair of DCs
    with connection objects (but those the faults remove or disable), run the KCC once
    on each when replication is automatic, then apply the DCs' replication switches."""
    first = state.dcs[0]
    base_dn = topology.base_dn
    samba.run(
        ["samba_spnupdate", "-s", str(first.paths.conf)],
        what=f"registering {first.name}'s SPNs",
        env=net.env(first.paths),
    )
    for dc in state.dcs[1:]:
        step(f"joining {dc.name} (site {dc.site}) on {dc.address}")
        replication.join(net, dc.peer, first.peer, forest=state.forest)
        configure(dc)
        _load_servers(dc, topology, profile, step=step, progress=progress, net=net)
        guids = [
            (d.address, f"{replication.ntds_guid(net, d.peer, base_dn)}._msdcs.{state.forest}")
            for d in (first, dc)
        ]
        net.add_hosts(guids)
        _start_dc(state, dc)
        samba.run(
            ["samba_spnupdate", "-s", str(dc.paths.conf)],
            what=f"registering {dc.name}'s SPNs",
            env=net.env(dc.paths),
        )
        replication.share_spns(net, dc.peer, first.peer, base_dn)
    # Each DC joined through the first, which therefore knows every DC; the others
    # learn of the DCs joined after them from its configuration partition (their join
    # made the first DC their replication partner).
    for dc in state.dcs[1:-1]:
        replication.replicate_pair(
            net,
            first.peer,
            dc.peer,
            forest=state.forest,
            naming_contexts=(f"CN=Configuration,{base_dn}",),
        )
    missing = {(f.source, f.target) for f in topology.faults if f.type == "connection-missing"}
    disabled = {(f.source, f.target) for f in topology.faults if f.type == "connection-disabled"}
    step("creating replication connections")
    for target in state.dcs:
        blocks = [
            replication.connection_ldif(
                source.peer,
                target.peer,
                base_dn,
                enabled=(source.name, target.name) not in disabled,
            )
            for source in state.dcs
            if source is not target and (source.name, target.name) not in missing
        ]
        if blocks:
            replication.modify_over_ldap(
                net, target.peer, "\n".join(blocks), what=f"creating {target.name}'s connections"
            )
    if topology.replication == "auto":
        # Samba's own replication works from replication partners, which the KCC
        # derives from the connection objects. With manual replication the KCC never
        # runs: it would add connections of its own between sites, past the faults;
        # `lab replicate` pulls along the connection objects as they are.
        for dc in state.dcs:
            replication.run_kcc(net, dc.peer, forest=state.forest)
    for fault in topology.faults:
        if fault.dc is None:
            continue
        option = (
            "+DISABLE_INBOUND_REPL"
            if fault.type == "inbound-replication-disabled"
            else "+DISABLE_OUTBOUND_REPL"
        )
        step(f"fault: {fault.type} on {fault.dc}")
        replication.set_dsa_option(net, state.dc(fault.dc).peer, option, forest=state.forest)


def _load_servers(
    dc: LabDc,
    topology: Topology,
    profile: Profile,
    *,
    step: Step,
    progress: Progress,
    net: replication.LabNet | None,
) -> None:
    """Create, in ``dc``'s stopped sam.ldb, the Locations and subscribers of the servers
    whose domain monitor uses it."""
    servers = [s for s in topology.servers if s.dc.lower() == dc.name.lower()]
    if not servers:
        return
    env = None if net is None else net.env(dc.paths)
    step(f"creating {len(servers)} Locations on {dc.name}")
    samba.ldb_add(
        dc.paths,
        "\n".join(ldif.location_record(topology, profile, s).ldif() for s in servers),
        what=f"adding Locations on {dc.name}",
        env=env,
    )
    _load_subscribers(
        dc.paths,
        topology,
        profile,
        step=step,
        progress=progress,
        only={s.name for s in servers},
        env=env,
    )


def _load_subscribers(
    paths: samba.DcPaths,
    topology: Topology,
    profile: Profile,
    *,
    step: Step,
    progress: Progress,
    only: set[str],
    env: dict[str, str] | None,
) -> None:
    total = sum(s.subscribers.vm for s in topology.servers if s.name in only)
    if total == 0:
        return
    step(f"creating {total} subscribers")
    done = 0
    progress(done, total)
    batch: list[str] = []
    for index, server in enumerate(topology.servers, start=1):
        if server.name not in only:
            continue
        for record in ldif.subscriber_records(topology, profile, index, server):
            batch.append(record.ldif())
            if len(batch) == USER_BATCH:
                samba.ldb_add(paths, "\n".join(batch), what="adding subscribers", env=env)
                done += len(batch)
                batch.clear()
                progress(done, total)
    if batch:
        samba.ldb_add(paths, "\n".join(batch), what="adding subscribers", env=env)
        done += len(batch)
        progress(done, total)


def _start_dc(state: LabState, dc: LabDc) -> None:
    net = state.net
    if samba.running_pid(dc.paths) is None:
        samba.start(dc.paths, env=None if net is None else net.env())
    samba.wait_ready(
        dc.paths,
        address=dc.address,
        ca_file=Path(state.ca_file),
        bind_user=state.bind_user,
        password_file=Path(state.password_file),
    )


def _start_all(state: LabState, *, step: Step) -> None:
    for dc in state.dcs:
        _start_dc(state, dc)
    unity.start(Path(state.dir), state.servers, step=step)


def _teardown(lab_dir: Path, *, remove: bool) -> None:
    unity.stop_all(lab_dir)
    for child in lab_dir.iterdir() if lab_dir.exists() else []:
        if (child / "etc" / "smb.conf").exists():
            samba.stop(samba.DcPaths(child))
    if remove:
        shutil.rmtree(lab_dir, ignore_errors=True)
    else:
        for child in list(lab_dir.iterdir()):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def down(lab_dir: Path) -> list[str]:
    """Stop the lab's Unity server endpoints and DCs (only the processes it started)
    and remove its directory; return what was stopped."""
    lab_dir = lab_dir.resolve()
    state = read_state(lab_dir)
    if state is None:
        raise LabError(f"no poolsync lab in {lab_dir} (no {STATE_FILE}); nothing to stop")
    endpoints = unity.stop_all(lab_dir, state.servers)
    stopped = [dc.name for dc in state.dcs if samba.stop(dc.paths)] + endpoints
    shutil.rmtree(lab_dir)
    return stopped


def status(lab_dir: Path) -> dict[str, Any]:
    """What runs where, for people and for other tools (JSON contract in docs/lab.md)."""
    state = require_state(lab_dir.resolve())
    dcs = []
    for dc in state.dcs:
        pid = samba.running_pid(dc.paths)
        dcs.append(
            {
                "name": dc.name,
                "address": dc.address,
                "ldap_port": dc.ldap_port,
                "ldaps_port": dc.ldaps_port,
                "gc_port": dc.gc_port,
                "gcs_port": dc.gcs_port,
                "gc": dc.gc,
                "site": dc.site,
                "bind_user": state.bind_user,
                "password_file": state.password_file,
                "ca_file": state.ca_file,
                "running": pid is not None,
                "pid": pid,
                "dir": dc.dir,
            }
        )
    servers = [unity.status(server) for server in state.servers]
    kerberos = Path(state.dir) / KERBEROS_CONFIG_FILE
    return {
        "dcs": dcs,
        "servers": servers,
        "config": state.config,
        # The service account's config and keytab ("" for a lab built before them).
        "kerberos_config": str(kerberos) if kerberos.exists() else "",
        "keytab": str(Path(state.dir) / service_account.KEYTAB_FILE) if kerberos.exists() else "",
        "forest": state.forest,
        "dir": state.dir,
        "topology": state.topology,
        "replication": state.replication,
        "running": all(d["running"] for d in (*dcs, *servers)),
    }


def replicate(
    lab_dir: Path, *, source: str | None = None, target: str | None = None, step: Step
) -> list[tuple[str, str, str | None]]:
    """Replicate the domain and configuration partitions as AD would, now.

    With ``source`` and ``target``, that one link (a LabError when AD would not use it:
    no enabled connection, inbound or outbound replication disabled). Without, every
    usable link, in rounds, so a change travels along chains of DCs too. Returns
    (source, target, None) for each link replicated and (source, target, reason) for
    each one skipped.
    """
    state = require_state(lab_dir)
    net = state.net
    if net is None:
        raise LabError(f"the lab in {state.dir} has one DC: there is nothing to replicate")
    if not is_running(state):
        raise LabError(f"the lab in {state.dir} is not running; run `poolsync lab up` first")
    base_dn = forest_base_dn(state.forest)
    ncs = (base_dn, f"CN=Configuration,{base_dn}")
    if (source is None) != (target is None):
        raise LabError("give both --from and --to, or neither (every link)")
    if source is not None and target is not None:
        src, dst = state.dc(source), state.dc(target)
        if src is dst:
            raise LabError(f"--from and --to name the same DC ({src.name})")
        reason = replication.live_link(net, src.peer, dst.peer, base_dn).blocked()
        if reason is not None:
            raise LabError(f"AD would not replicate {src.name} -> {dst.name}: {reason}")
        step(f"replicating {src.name} -> {dst.name}")
        replication.replicate_pair(
            net, src.peer, dst.peer, forest=state.forest, naming_contexts=ncs
        )
        return [(src.name, dst.name, None)]
    links = [(s, t) for t in state.dcs for s in state.dcs if s is not t]
    blocked = {
        (s.name, t.name): replication.live_link(net, s.peer, t.peer, base_dn).blocked()
        for s, t in links
    }
    done: list[tuple[str, str, str | None]] = []
    for _round in range(
        _rounds([(s.name, t.name) for s, t in links if blocked[(s.name, t.name)] is None])
    ):
        for s, t in links:
            if blocked[(s.name, t.name)] is None:
                step(f"replicating {s.name} -> {t.name}")
                replication.replicate_pair(
                    net, s.peer, t.peer, forest=state.forest, naming_contexts=ncs
                )
    for s, t in links:
        done.append((s.name, t.name, blocked[(s.name, t.name)]))
    return done


def _rounds(usable: list[tuple[str, str]]) -> int:
    """How many rounds over every usable link carry a change across the longest
    shortest path between two DCs (1 for a full mesh, 0 when nothing is usable)."""
    graph = nx.DiGraph(usable)
    return max((max(lengths.values()) for _, lengths in nx.shortest_path_length(graph)), default=0)


def set_connection(lab_dir: Path, source: str, target: str, *, enabled: bool) -> str:
    """Enable or disable the connection ``target`` pulls ``source`` through, as an
    administrator would in Sites and Services; enabling one that is missing creates it.
    Returns what was done, in words."""
    state = require_state(lab_dir)
    net = state.net
    if net is None:
        raise LabError(f"the lab in {state.dir} has one DC: it has no connections")
    src, dst = state.dc(source).peer, state.dc(target).peer
    if src.name == dst.name:
        raise LabError(f"--from and --to name the same DC ({src.name})")
    base_dn = forest_base_dn(state.forest)
    dn = replication.connection_dn(net, src, dst, base_dn)
    if dn is None:
        if not enabled:
            return f"{src.name} -> {dst.name}: no connection to disable"
        replication.modify_over_ldap(
            net,
            dst,
            replication.connection_ldif(src, dst, base_dn, enabled=True),
            what=f"creating {src.name} -> {dst.name}",
        )
        return f"{src.name} -> {dst.name}: connection created"
    value = "TRUE" if enabled else "FALSE"
    replication.modify_over_ldap(
        net,
        dst,
        f"dn: {dn}\nchangetype: modify\nreplace: enabledConnection\n"
        f"enabledConnection: {value}\n-\n",
        what=f"setting enabledConnection {value} on {dn}",
    )
    return f"{src.name} -> {dst.name}: connection {'enabled' if enabled else 'disabled'}"


def set_replication(
    lab_dir: Path, dc: str, *, inbound: bool | None = None, outbound: bool | None = None
) -> None:
    """Switch a running lab DC's inbound or outbound replication on (True) or off
    (False), as ``repadmin /options`` would: the faults of a topology, at run time."""
    state = require_state(lab_dir)
    net = state.net
    if net is None:
        raise LabError(f"the lab in {state.dir} has one DC: it has no replication to switch")
    peer = state.dc(dc).peer
    for flag, name in ((inbound, "DISABLE_INBOUND_REPL"), (outbound, "DISABLE_OUTBOUND_REPL")):
        if flag is not None:
            replication.set_dsa_option(
                net, peer, ("-" if flag else "+") + name, forest=state.forest
            )
