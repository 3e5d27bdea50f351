"""``poolsync lab up|down|status``: a real Samba AD lab built from a topology file.

``up`` provisions a DC on a loopback address of its own, issues the lab's CA and DC
certificate, extends the schema from the profile, loads the topology's Locations and
subscribers, starts samba and writes ``DIR/poolsync.yaml``. A failed ``up`` stops what
it started and removes the directory it created, so nothing half-built is left.
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
from typing import Any

import yaml

from poolsync.errors import LabError
from poolsync.lab import certs, ldif, samba
from poolsync.profile import BUILTIN_DIR, Profile
from topology.spec import Topology

STATE_FILE = "lab.json"
CONFIG_FILE = "poolsync.yaml"
PASSWORD_FILE = "secrets/admin.password"  # noqa: S105 (a path, not a secret)
USER_BATCH = 250

Step = Callable[[str], None]
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class LabDc:
    name: str
    address: str
    dir: str
    gc: bool
    ldap_port: int = 389
    ldaps_port: int = 636
    gc_port: int = 3268
    gcs_port: int = 3269

    @property
    def paths(self) -> samba.DcPaths:
        return samba.DcPaths(Path(self.dir))


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LabState:
        return cls(**{**doc, "dcs": tuple(LabDc(**dc) for dc in doc["dcs"])})


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


def _write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)


def _address_in_use(address: str) -> bool:
    for port in (389, 636):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.3)
            if sock.connect_ex((address, port)) == 0:
                return True
    return False


def choose_address(lab_dir: Path) -> str:
    """A loopback address derived from the lab directory, skipping ones in use.

    Different directories land on different addresses, so two labs run at once.
    """
    digest = int.from_bytes(hashlib.sha256(str(lab_dir).encode()).digest()[:4], "big")
    for step in range(64):
        n = (digest + step * 7919) % (254 * 256 * 252)
        a, rest = divmod(n, 256 * 252)
        b, c = divmod(rest, 252)
        address = f"127.{a + 1}.{b}.{c + 2}"
        if not _address_in_use(address):
            return address
    raise LabError("no free loopback address found for the lab")


def is_running(state: LabState) -> bool:
    return all(samba.running_pid(dc.paths) is not None for dc in state.dcs)


def config_text(state: LabState, dc: LabDc) -> str:
    doc = {
        "forest": state.forest,
        "directory": {
            "dc": {"url": f"ldaps://{dc.address}:{dc.ldaps_port}"},
            "gc": {"url": f"ldaps://{dc.address}:{dc.gcs_port}", "base_dn": ""},
            "bind": {"method": "simple", "user": state.bind_user,
                     "password": {"file": PASSWORD_FILE}},
            "tls": {"ca_file": "tls/ca.pem", "validate": True},
            "page_size": 1000,
        },
        "profile": state.profile,
        "store": "poolsync.db",
    }
    return ("# Written by `poolsync lab up`: a ready-to-use config for this lab.\n"
            + yaml.safe_dump(doc, sort_keys=False))


def up(topology: Topology, profile: Profile, lab_dir: Path, *, step: Step,
       progress: Progress) -> tuple[LabState, bool]:
    """Bring the lab up; return its state and whether it was built just now."""
    samba.check_tools()
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
            _start_all(state)
        return state, False
    if lab_dir.exists() and any(lab_dir.iterdir()):
        raise LabError(f"{lab_dir} exists and is not a poolsync lab; choose another --dir")
    created = not lab_dir.exists()
    lab_dir.mkdir(parents=True, exist_ok=True)
    try:
        state = _build(topology, profile, lab_dir, step=step, progress=progress)
    except BaseException:
        _teardown(lab_dir, remove=created)
        raise
    return state, True


def _build(topology: Topology, profile: Profile, lab_dir: Path, *, step: Step,
           progress: Progress) -> LabState:
    dc_spec = topology.dcs[0]
    address = choose_address(lab_dir)
    dc_dir = lab_dir / dc_spec.name.lower()
    host = f"{dc_spec.name.lower()}.{topology.forest.lower()}"
    password = "Lab-" + secrets.token_urlsafe(18) + "-9a"
    secret_dir = lab_dir / "secrets"
    secret_dir.mkdir(mode=0o700)
    password_file = lab_dir / PASSWORD_FILE
    _write_atomic(password_file, password, mode=0o600)
    state = LabState(
        dir=str(lab_dir),
        forest=topology.forest.lower(),
        netbios=topology.netbios,
        topology=str(Path(topology.path).resolve()),
        topology_fingerprint=fingerprint(topology, profile),
        # A built-in profile by name, so the config survives a reinstall elsewhere.
        profile=profile.source.stem if profile.source.parent == BUILTIN_DIR else str(
            profile.source),
        bind_user=f"Administrator@{topology.forest.lower()}",
        password_file=str(password_file),
        ca_file=str(lab_dir / "tls" / "ca.pem"),
        config=str(lab_dir / CONFIG_FILE),
        dcs=(LabDc(name=dc_spec.name, address=address, dir=str(dc_dir), gc=dc_spec.gc),),
    )
    paths = samba.DcPaths(dc_dir)

    step(f"issuing the lab CA and a certificate for {host} ({address})")
    ca = certs.make_ca(lab_dir / "tls")
    cert = certs.issue_dc_certificate(lab_dir / "tls", dc_name=dc_spec.name,
                                      dns_names=[host, topology.forest.lower()],
                                      address=address)
    step(f"provisioning {dc_spec.name} for {topology.forest} on {address}")
    samba.provision(paths, realm=topology.forest, netbios_domain=topology.netbios,
                    host_name=dc_spec.name, address=address)
    samba.write_conf(paths, realm=topology.forest, netbios_domain=topology.netbios,
                     host_name=dc_spec.name, address=address, tls_cert=cert.cert,
                     tls_key=cert.key, tls_ca=ca)
    samba.set_admin_password(paths, base_dn=topology.base_dn, password=password)
    step(f"extending the schema from profile {profile.name}")
    for n, phase in enumerate(ldif.schema_phases(topology, profile), start=1):
        samba.ldb_modify(paths, phase, what=f"schema extension (phase {n})")
    step(f"creating {len(topology.servers)} Locations")
    records = [*ldif.containers(topology),
               *(ldif.location_record(topology, profile, s) for s in topology.servers)]
    samba.ldb_add(paths, "\n".join(r.ldif() for r in records), what="adding Locations")
    _load_subscribers(paths, topology, profile, step=step, progress=progress)
    step(f"starting samba on {address}")
    _write_atomic(lab_dir / CONFIG_FILE, config_text(state, state.dcs[0]))
    _start_all(state)
    _write_atomic(lab_dir / STATE_FILE, json.dumps(state.to_json(), indent=2) + "\n")
    return state


def _load_subscribers(paths: samba.DcPaths, topology: Topology, profile: Profile, *,
                      step: Step, progress: Progress) -> None:
    total = topology.total_subscribers
    step(f"creating {total} subscribers")
    done = 0
    progress(done, total)
    batch: list[str] = []
    for index, server in enumerate(topology.servers, start=1):
        for record in ldif.subscriber_records(topology, profile, index, server):
            batch.append(record.ldif())
            if len(batch) == USER_BATCH:
                samba.ldb_add(paths, "\n".join(batch), what="adding subscribers")
                done += len(batch)
                batch.clear()
                progress(done, total)
    if batch:
        samba.ldb_add(paths, "\n".join(batch), what="adding subscribers")
        done += len(batch)
        progress(done, total)


def _start_all(state: LabState) -> None:
    for dc in state.dcs:
        if samba.running_pid(dc.paths) is None:
            samba.start(dc.paths)
        samba.wait_ready(dc.paths, address=dc.address, ca_file=Path(state.ca_file),
                         bind_user=state.bind_user, password_file=Path(state.password_file))


def _teardown(lab_dir: Path, *, remove: bool) -> None:
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
    """Stop the lab's DCs (only the processes it started) and remove its directory."""
    lab_dir = lab_dir.resolve()
    state = read_state(lab_dir)
    if state is None:
        raise LabError(f"no poolsync lab in {lab_dir} (no {STATE_FILE}); nothing to stop")
    stopped = [dc.name for dc in state.dcs if samba.stop(dc.paths)]
    shutil.rmtree(lab_dir)
    return stopped


def status(lab_dir: Path) -> dict[str, Any]:
    """What runs where, for people and for other tools (JSON contract in docs/lab.md)."""
    lab_dir = lab_dir.resolve()
    state = read_state(lab_dir)
    if state is None:
        raise LabError(f"no poolsync lab in {lab_dir} (no {STATE_FILE}); run `poolsync lab up`")
    dcs = []
    for dc in state.dcs:
        pid = samba.running_pid(dc.paths)
        dcs.append({
            "name": dc.name,
            "address": dc.address,
            "ldap_port": dc.ldap_port,
            "ldaps_port": dc.ldaps_port,
            "gc_port": dc.gc_port,
            "gcs_port": dc.gcs_port,
            "gc": dc.gc,
            "bind_user": state.bind_user,
            "password_file": state.password_file,
            "ca_file": state.ca_file,
            "running": pid is not None,
            "pid": pid,
            "dir": dc.dir,
        })
    return {
        "dcs": dcs,
        "config": state.config,
        "forest": state.forest,
        "dir": state.dir,
        "topology": state.topology,
        "running": all(d["running"] for d in dcs),
    }


