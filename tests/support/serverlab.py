"""Real lighttpd and snmpd processes for the server-client tests.

Each daemon runs in the foreground as a child of the test process (so it is waited
for, never left a zombie) with a config of its own in a temp directory, on a loopback
address of this test run and ports that were free a moment before: nothing of the
system's (``-C`` keeps /etc/snmp out, ``-I -smux`` keeps snmpd off tcp 0.0.0.0:199,
``MIBS=`` keeps it from loading MIB files). The tests that need them skip without
lighttpd/snmpd on a developer machine but fail under CI=true, like the Samba tests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from poolsync.attachment import LicenseData
from poolsync.lab.certs import issue_dc_certificate, make_ca
from poolsync.servers.snmp import LICENSE_OBJECTS
from tests.support.lab import skip_or_fail, tools_missing_reason, which

AGENT = Path(__file__).resolve().parent / "unity_agent.py"
TOOLS = {"lighttpd": "lighttpd lighttpd-mod-openssl", "snmpd": "snmpd snmp", "openssl": "openssl"}
MOD_OPENSSL = Path("/usr/lib/lighttpd/mod_openssl.so")


def daemons_missing_reason() -> str | None:
    reason = tools_missing_reason(TOOLS)
    if reason is None and not MOD_OPENSSL.exists():
        return "needs lighttpd's mod_openssl (apt-get install lighttpd-mod-openssl)"
    return reason


def require_daemons() -> None:
    """Skip without lighttpd and snmpd on a developer machine; fail under CI=true."""
    skip_or_fail(daemons_missing_reason())


def loopback_address() -> str:
    """A loopback address of this test run (any 127/8 address works on Linux), apart
    from the Samba lab's and the Unity lab's."""
    pid = os.getpid()
    return f"127.47.{pid // 250 % 250 + 1}.{pid % 250 + 1}"


def free_port(address: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 10
    while not check():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {_tail(log)}")
        if time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"{what} did not start: {_tail(log)}")
        time.sleep(0.01)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


# --- lighttpd ------------------------------------------------------------------------

LIGHTTPD_CONF = """\
server.modules = ( "mod_openssl", "mod_auth", "mod_authn_file", "mod_cgi" )
server.document-root = "{root}"
server.bind = "{address}"
server.port = {http_port}
server.errorlog = "{dir}/error.log"
server.max-fds = 64
server.max-connections = 32
mimetype.assign = ( ".asp" => "text/xml; charset=utf-8", ".html" => "text/html" )
static-file.etags = "disable"
server.stream-response-body = 2
# mod_auth waits before answering a wrong password: not what a test needs
server.feature-flags = ( "auth.delay-invalid-creds" => "disable" )
cgi.assign = ( ".cgi" => "" )
auth.backend = "plain"
auth.backend.plain.userfile = "{dir}/users"
auth.require = ( "/auth/" => ( "method" => "basic", "realm" => "unity",
                               "require" => "valid-user" ) )
$SERVER["socket"] == "{address}:{https_port}" {{
    ssl.engine = "enable"
    ssl.pemfile = "{cert}"
    ssl.privkey = "{key}"
}}
"""


class Lighttpd:
    """lighttpd serving files and CGI scripts over HTTP and HTTPS (the lab CA's cert)."""

    def __init__(self, directory: Path, *, address: str | None = None) -> None:
        self.dir = directory
        self.address = address or loopback_address()
        self.root = directory / "docroot"
        self.tls = directory / "tls"
        self.http_port = 0
        self.https_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> Path:
        return self.tls / "ca.pem"

    def url(self, path: str, *, https: bool = False) -> str:
        if https:
            return f"https://{self.address}:{self.https_port}{path}"
        return f"http://{self.address}:{self.http_port}{path}"

    def page(self, path: str, body: bytes | str) -> None:
        """Serve ``body`` at ``path`` (a static file)."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body.encode() if isinstance(body, str) else body)

    def cgi(self, path: str, script: str) -> None:
        """Serve the output of a /bin/sh ``script`` at ``path`` (ending .cgi)."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\n" + script)
        target.chmod(0o755)

    def user(self, name: str, password: str) -> None:
        with (self.dir / "users").open("a") as f:
            f.write(f"{name}:{password}\n")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.dir / "users").touch()
        make_ca(self.tls)
        cert = issue_dc_certificate(
            self.tls, dc_name="unity", dns_names=["unity.lab.example"], address=self.address
        )
        self.http_port = free_port(self.address)
        self.https_port = free_port(self.address)
        conf = self.dir / "lighttpd.conf"
        conf.write_text(
            LIGHTTPD_CONF.format(
                root=self.root,
                address=self.address,
                http_port=self.http_port,
                https_port=self.https_port,
                dir=self.dir,
                cert=cert.cert,
                key=cert.key,
            )
        )
        lighttpd = which("lighttpd")
        assert lighttpd
        subprocess.run([lighttpd, "-tt", "-f", str(conf)], check=True, capture_output=True)
        log = self.dir / "error.log"
        self._proc = subprocess.Popen(
            [lighttpd, "-D", "-f", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(
            lambda: (
                _accepts(self.address, self.http_port) and _accepts(self.address, self.https_port)
            ),
            self._proc,
            "lighttpd",
            log,
        )

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


# --- snmpd ---------------------------------------------------------------------------

SNMPD_CONF = """\
agentAddress udp:{address}:{port}
engineID poolsync-test-{port}
sysName UNITY-TEST
rocommunity {community} 127.0.0.0/8
{users}
pass_persist .1.3.6.1.4.1.9.9.385 {python} {agent} {data}
"""


def agent_data(data: LicenseData) -> dict[str, tuple[str, int]]:
    """The CISCO-UNITY-MIB scalars a Unity server with ``data`` serves, as the MIB types
    them: Unsigned32 as gauge, TruthValue as integer 1/2."""
    served: dict[str, tuple[str, int]] = {}
    for obj in LICENSE_OBJECTS:
        section = data.licenses if obj.section == "Licenses" else data.utilization
        if obj.parameter not in section:
            continue
        value = section[obj.parameter]
        if obj.kind == "truth":
            served[obj.oid] = ("integer", 1 if value else 2)
        else:
            served[obj.oid] = ("gauge", value)
    return served


def _python() -> str:
    """The handler is stdlib only: the system's python3 if there is one."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


class Snmpd:
    """snmpd answering CISCO-UNITY-MIB from ``served`` (OID -> (type, value)), with a v2c
    community and v3 users ``(name, auth, auth password, priv, priv password)``."""

    def __init__(
        self,
        directory: Path,
        served: Mapping[str, tuple[str, int | str]],
        *,
        community: str,
        users: tuple[tuple[str, str, str, str, str], ...] = (),
        address: str | None = None,
    ) -> None:
        self.dir = directory
        self.address = address or loopback_address()
        self.served = served
        self.community = community
        self.users = users
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = self.dir / "served.json"
        data.write_text(json.dumps(self.served))
        users = "\n".join(
            f'createUser {name} {auth} "{auth_pw}" {priv} "{priv_pw}"\nrouser {name} priv'
            for name, auth, auth_pw, priv, priv_pw in self.users
        )
        self.port = free_port(self.address, socket.SOCK_DGRAM)
        conf = self.dir / "snmpd.conf"
        conf.write_text(
            SNMPD_CONF.format(
                address=self.address,
                port=self.port,
                community=self.community,
                users=users,
                python=_python(),
                agent=AGENT,
                data=data,
            )
        )
        conf.chmod(0o600)
        (self.dir / "persist").mkdir(mode=0o700, exist_ok=True)
        log = self.dir / "snmpd.log"
        snmpd = which("snmpd")
        assert snmpd
        env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(self.dir / "persist")}
        self._proc = subprocess.Popen(
            [
                snmpd,
                "-f",
                "-C",
                "-c",
                str(conf),
                "-Lf",
                str(log),
                "-p",
                str(self.dir / "snmpd.pid"),
                "-I",
                "-smux",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        # The log line comes once the socket is open: a request sent before is lost.
        _wait(lambda: "NET-SNMP version" in _tail(log), self._proc, "snmpd", log)

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None
