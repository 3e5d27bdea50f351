"""The lab's Unity servers answering for themselves: a web server and an SNMP agent each.

Every lab Unity server with a license of its own (a failover secondary has none to
serve) gets a loopback address of its own, on which

- lighttpd serves its effective-license page, the ``AvXmlLicData`` document at
  ``/avxml/effectivelicense.asp`` (``text/xml``), over HTTPS (port 8443, a certificate
  from the lab CA) and plain HTTP (8080);
- snmpd answers the CISCO-UNITY-MIB license scalars on udp 1161, v2c with the lab's
  community and v3 as user ``poolsync`` (SHA/AES, authPriv), through the
  ``pass_persist`` handler :mod:`poolsync.lab.pass_persist`.

Both serve the server's live license (:func:`poolsync.lab.ldif.live_data`): what its
Location's attachment holds, unless the topology's ``live`` says otherwise; its
``endpoints`` leave either one unstarted (``down``) or answering errors (``error``).
The daemons run in the foreground in sessions of their own, only their own config is
read (``lighttpd -D -f``; ``snmpd -f -C -c``, ``-I -smux``, ``MIBS=``), and
:mod:`poolsync.lab.process` records and stops exactly them.

Entry points: :class:`LabServer`, :func:`plan`, :func:`prepare`, :func:`start`,
:func:`stop_all`, :func:`status`, :func:`config_section`, :func:`check_tools`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from poolsync.attachment import format_attachment
from poolsync.config import is_dns_name
from poolsync.errors import LabError
from poolsync.lab import certs, process
from poolsync.lab.ldif import live_data
from poolsync.servers.config import DEFAULT_PATH

if TYPE_CHECKING:  # types only: topology/ is loaded by build.load_topology alone
    from topology.spec import ServerSpec, Topology

HTTPS_PORT: Final = 8443
HTTP_PORT: Final = 8080
SNMP_PORT: Final = 1161
V3_USER: Final = "poolsync"
COMMUNITY_FILE: Final = "secrets/snmp-community"
AUTH_FILE: Final = "secrets/snmp-auth.password"
PRIV_FILE: Final = "secrets/snmp-priv.password"
SERVERS_DIR: Final = "unity"
CISCO_UNITY_MIB: Final = ".1.3.6.1.4.1.9.9.385"
HANDLER: Final = Path(__file__).with_name("pass_persist.py")
#: The most servers one lab serves endpoints for: their addresses share one /24.
MAX_SERVERS: Final = 250
REQUIRED_TOOLS: Final = {"lighttpd": "lighttpd lighttpd-mod-openssl", "snmpd": "snmpd"}
#: What the page answers with ``endpoints.http: error``: a CGI that fails as an ASP
#: page does when the license service is down.
ERROR_PAGE: Final = (
    "#!/bin/sh\n"
    "printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/html\\r\\n\\r\\n'\n"
    "printf '<html><body><h1>500 Internal Server Error</h1>"
    "<p>The license service did not answer.</p></body></html>\\r\\n'\n"
)

Step = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class LabServer:
    """One lab Unity server's endpoints: where they listen and whether they answer
    (``http``/``snmp``: ``up``, ``down`` or ``error``, as the topology's endpoints)."""

    name: str
    address: str
    dir: str
    http: str = "up"
    snmp: str = "up"
    https_port: int = HTTPS_PORT
    http_port: int = HTTP_PORT
    snmp_port: int = SNMP_PORT

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.https_port}{DEFAULT_PATH}"

    @property
    def plain_url(self) -> str:
        return f"http://{self.address}:{self.http_port}{DEFAULT_PATH}"

    @property
    def root(self) -> Path:
        return Path(self.dir)

    @property
    def page(self) -> Path:
        return self.root / "docroot" / DEFAULT_PATH.lstrip("/")

    @property
    def agent_data(self) -> Path:
        return self.root / "agent.json"

    @property
    def lighttpd(self) -> process.Daemon:
        return process.Daemon("lighttpd", self.root / "lighttpd.pid", self.root / "lighttpd.out")

    @property
    def snmpd(self) -> process.Daemon:
        return process.Daemon("snmpd", self.root / "snmpd.pid", self.root / "snmpd.out")

    def daemons(self) -> list[tuple[str, process.Daemon]]:
        """The daemons this server runs: (``http`` | ``snmp``, daemon), not the down ones."""
        wanted = [("http", self.http, self.lighttpd), ("snmp", self.snmp, self.snmpd)]
        return [(kind, daemon) for kind, mode, daemon in wanted if mode != "down"]


def check_tools() -> None:
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if _tool(tool) == tool})
    if missing:
        raise LabError(
            "the lab's Unity servers need lighttpd and snmpd; missing packages: "
            f"{', '.join(missing)} (apt-get install {' '.join(missing)})"
        )


def served(topology: Topology) -> list[ServerSpec]:
    """The servers that get endpoints: every one with a license of its own."""
    return [s for s in topology.servers if not s.is_secondary]


# -- addresses ----------------------------------------------------------------------------


def _free(address: str) -> bool:
    """Nothing listens on this address's ports (a bind test; SO_REUSEADDR so that a
    connection of a former lab in TIME_WAIT does not count)."""
    probes = [
        (socket.SOCK_STREAM, HTTPS_PORT),
        (socket.SOCK_STREAM, HTTP_PORT),
        (socket.SOCK_DGRAM, SNMP_PORT),
    ]
    for kind, port in probes:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def choose_addresses(lab_dir: Path, count: int, *, avoid: set[str]) -> list[str]:
    """``count`` consecutive loopback addresses derived from the lab directory, none in
    ``avoid`` (the lab's DCs) and none whose ports are taken."""
    if count == 0:
        return []
    if count > MAX_SERVERS:
        raise LabError(
            f"the lab serves endpoints for at most {MAX_SERVERS} servers "
            f"(the topology has {count} with a license of their own)"
        )
    digest = int.from_bytes(hashlib.sha256(f"{lab_dir}#unity".encode()).digest()[:4], "big")
    span = 254 - count
    for step in range(64):
        n = (digest + step * 7919) % (254 * 256 * span)
        a, rest = divmod(n, 256 * span)
        b, c = divmod(rest, span)
        addresses = [f"127.{a + 1}.{b}.{c + 2 + i}" for i in range(count)]
        if not avoid.intersection(addresses) and all(_free(x) for x in addresses):
            return addresses
    raise LabError("no free loopback addresses found for the lab's Unity servers")


def plan(topology: Topology, lab_dir: Path, *, avoid: set[str]) -> tuple[LabServer, ...]:
    """Where each served server's endpoints will listen, and how they answer."""
    specs = served(topology)
    addresses = choose_addresses(lab_dir, len(specs), avoid=avoid)
    return tuple(
        LabServer(
            name=spec.name,
            address=address,
            dir=str(lab_dir / SERVERS_DIR / spec.name.lower()),
            http=spec.endpoints.http,
            snmp=spec.endpoints.snmp,
        )
        for spec, address in zip(specs, addresses, strict=True)
    )


# -- files --------------------------------------------------------------------------------


def _write(path: Path, text: str, *, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _secret(lab_dir: Path, name: str) -> str:
    """The lab's SNMP secret ``name``, made (random, mode 0600) when missing."""
    path = lab_dir / name
    if not path.exists():
        _write(path, secrets.token_urlsafe(18), mode=0o600)
    return path.read_text().strip()


def agent_document(spec: ServerSpec, server: LabServer) -> dict[str, Any]:
    """What the SNMP agent serves (pass_persist's DATA.json): the live license by
    parameter name, or nothing of it with ``endpoints.snmp: error``."""
    data = live_data(spec)
    answering = server.snmp != "error"
    return {
        "server": spec.name,
        "version": spec.version,
        "licenses": dict(data.licenses) if answering else {},
        "utilization": dict(data.utilization) if answering else {},
    }


def prepare(
    lab_dir: Path, topology: Topology, servers: tuple[LabServer, ...], *, step: Step
) -> None:
    """Write each server's certificate, page and agent data, and the lab's SNMP
    secrets: everything :func:`start` serves."""
    if not servers:
        return
    for path in (lab_dir, HANDLER, Path(sys.executable)):
        if any(c.isspace() for c in str(path)):
            raise LabError(
                f"{path}: snmpd cannot run its handler from a path with spaces; "
                "choose a --dir without them"
            )
    for name in (COMMUNITY_FILE, AUTH_FILE, PRIV_FILE):
        _secret(lab_dir, name)
    step(f"issuing certificates for {len(servers)} Unity servers' web servers")
    for server in servers:
        spec = topology.server(server.name)
        server.page.parent.mkdir(parents=True, exist_ok=True)
        host = server.name.lower()
        names = [f"{host}.{topology.forest}"] if is_dns_name(host) else []
        certs.issue_server_certificate(
            lab_dir / "tls",
            server.root,
            common_name=names[0] if names else server.address,
            dns_names=names,
            address=server.address,
        )
        if server.http == "error":
            _write(server.page, ERROR_PAGE, mode=0o755)
        else:
            _write(server.page, format_attachment(live_data(spec)))
        _write(server.agent_data, json.dumps(agent_document(spec, server), indent=2) + "\n")


def _quoted(path: Path) -> str:
    """A path as a lighttpd config string."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def lighttpd_conf(server: LabServer) -> str:
    root = server.root
    modules = ["mod_openssl", "mod_accesslog", *(["mod_cgi"] if server.http == "error" else [])]
    lines = [
        f"# Written by `poolsync lab up`: {server.name}'s effective-license page.",
        "server.modules = (" + ", ".join(f'"{m}"' for m in modules) + ")",
        f"server.document-root = {_quoted(root / 'docroot')}",
        f'server.bind = "{server.address}"',
        f"server.port = {server.http_port}",
        f"server.errorlog = {_quoted(root / 'lighttpd-error.log')}",
        f"accesslog.filename = {_quoted(root / 'lighttpd-access.log')}",
        'server.tag = "poolsync-lab"',
        "server.max-connections = 32",
        'mimetype.assign = (".asp" => "text/xml; charset=utf-8")',
        'static-file.etags = "disable"',
        f'$SERVER["socket"] == "{server.address}:{server.https_port}" {{',
        '    ssl.engine = "enable"',
        f"    ssl.pemfile = {_quoted(root / 'server.pem')}",
        f"    ssl.privkey = {_quoted(root / 'server.key')}",
        "}",
    ]
    if server.http == "error":
        lines.append('cgi.assign = (".asp" => "/bin/sh")')
    return "\n".join(lines) + "\n"


def snmpd_conf(server: LabServer, lab_dir: Path) -> str:
    community = _secret(lab_dir, COMMUNITY_FILE)
    auth, priv = _secret(lab_dir, AUTH_FILE), _secret(lab_dir, PRIV_FILE)
    return (
        "\n".join(
            [
                f"# Written by `poolsync lab up`: {server.name}'s SNMP agent. "
                "Only this file is read",
                "# (snmpd -C -c); it holds the lab's SNMP secrets, so it is mode 0600.",
                f"agentAddress udp:{server.address}:{server.snmp_port}",
                # A fixed engine ID: v3 keys are localized to it, the same on every start.
                f"engineID poolsync-lab-{server.name.lower()}",
                f"sysName {server.name}",
                f"sysDescr poolsync lab: Cisco Unity server {server.name}",
                "sysLocation poolsync lab",
                "sysContact nobody",
                "dontLogTCPWrappersConnects yes",  # no log line per request
                f"rocommunity {community} 127.0.0.0/8",
                f'createUser {V3_USER} SHA "{auth}" AES "{priv}"',
                f"rouser {V3_USER} priv",
                f"pass_persist {CISCO_UNITY_MIB} {sys.executable} -I -S {HANDLER} "
                f"{server.agent_data}",
            ]
        )
        + "\n"
    )


# -- running ------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """The daemon's executable by its full path (/usr/sbin may be missing from PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin") or name


def _listening(address: str, port: int) -> Callable[[], bool]:
    def ready() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.2):
            return True
        return False

    return ready


def _logged(log: Path, line: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return line in log.read_text(errors="replace")
        except OSError:
            return False

    return ready


def _start_lighttpd(server: LabServer) -> float:
    conf = server.root / "lighttpd.conf"
    _write(conf, lighttpd_conf(server))
    _, seconds = process.start(
        server.lighttpd,
        [_tool("lighttpd"), "-D", "-f", str(conf)],
        ready=_listening(server.address, server.https_port),
    )
    return seconds


def _start_snmpd(server: LabServer, lab_dir: Path) -> float:
    conf, log = server.root / "snmpd.conf", server.root / "snmpd.log"
    _write(conf, snmpd_conf(server, lab_dir), mode=0o600)
    persist = server.root / "snmp-persist"
    persist.mkdir(mode=0o700, exist_ok=True)
    log.unlink(missing_ok=True)  # readiness is its first line
    # -C: only our config (not /etc/snmp/snmpd.conf); -I -smux: no SMUX listener on
    # every interface (port 199); MIBS=: the agent needs no MIB files (and would log
    # hundreds of lines about the ones Debian does not ship); the persistent dir is
    # our own, apart from the config (snmpd writes it even under -C).
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(persist)}
    _, seconds = process.start(
        server.snmpd,
        [_tool("snmpd"), "-f", "-C", "-c", str(conf), "-Lf", str(log), "-I", "-smux"],
        env=env,
        ready=_logged(log, "NET-SNMP version"),
    )
    return seconds


def start(lab_dir: Path, servers: tuple[LabServer, ...], *, step: Step) -> list[float]:
    """Start every endpoint that should run and does not; return the seconds each took
    to be ready (a page: HTTPS accepts connections; an agent: snmpd has opened its
    socket, which it logs)."""
    todo = [
        (server, kind)
        for server in servers
        for kind, daemon in server.daemons()
        if process.running_pid(daemon) is None
    ]
    if not todo:
        return []
    pages = sum(1 for _, kind in todo if kind == "http")
    step(f"starting {pages} license pages (lighttpd) and {len(todo) - pages} SNMP agents (snmpd)")
    took = []
    try:
        for server, kind in todo:
            took.append(
                _start_lighttpd(server) if kind == "http" else _start_snmpd(server, lab_dir)
            )
    except BaseException:
        stop_all(lab_dir)
        raise
    step(f"{len(took)} endpoints ready in {sum(took):.2f} s (slowest {max(took):.3f} s)")
    return took


def stop_all(lab_dir: Path, servers: tuple[LabServer, ...] = ()) -> list[str]:
    """Stop every endpoint daemon the lab in ``lab_dir`` started (also without its
    lab.json, as a failed build leaves it), ``servers`` first in their order; return
    what was stopped, e.g. ``UNITY-A (web server, SNMP agent)``."""
    stopped = []
    root = lab_dir / SERVERS_DIR
    known = [Path(server.dir) for server in servers]
    others = sorted(d for d in root.iterdir() if d not in known) if root.is_dir() else []
    for server_dir in [d for d in known if d.is_dir()] + others:
        server = LabServer(name=_name_of(server_dir), address="", dir=str(server_dir))
        what = [
            label
            for label, daemon in (("web server", server.lighttpd), ("SNMP agent", server.snmpd))
            if process.stop(daemon) is not None
        ]
        if what:
            stopped.append(f"{server.name} ({', '.join(what)})")
    return stopped


def _name_of(server_dir: Path) -> str:
    """A server's name as the topology spells it (its agent data says), else its
    directory's name."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        name = json.loads((server_dir / "agent.json").read_text()).get("server")
        if isinstance(name, str) and name:
            return name
    return server_dir.name


def status(server: LabServer) -> dict[str, Any]:
    """What runs for one server (JSON contract in docs/lab.md)."""
    doc: dict[str, Any] = {
        "name": server.name,
        "address": server.address,
        "url": server.url,
        "plain_url": server.plain_url,
        "snmp_host": server.address,
        "snmp_port": server.snmp_port,
    }
    running = True
    for kind, mode, daemon in (
        ("http", server.http, server.lighttpd),
        ("snmp", server.snmp, server.snmpd),
    ):
        pid = None if mode == "down" else process.running_pid(daemon)
        doc[kind] = mode
        doc[f"{kind}_pid"] = pid
        running = running and (mode == "down" or pid is not None)
    doc["running"] = running
    doc["dir"] = server.dir
    return doc


def config_section(servers: tuple[LabServer, ...]) -> dict[str, Any]:
    """The lab config's ``servers:`` section: each server's HTTPS page (validated
    against the lab CA) and its SNMP agent as the v3 user (authPriv)."""
    return {
        server.name: {
            "http": {"url": server.url, "ca_file": "tls/ca.pem"},
            "snmp": {
                "host": server.address,
                "port": server.snmp_port,
                "version": "3",
                "user": V3_USER,
                "auth": {"protocol": "SHA", "password": {"file": AUTH_FILE}},
                "priv": {"protocol": "AES", "password": {"file": PRIV_FILE}},
            },
        }
        for server in servers
    }
