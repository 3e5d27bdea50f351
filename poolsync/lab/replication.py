"""Several DCs in one lab: sites, joins, connection objects, faults, on-demand replication.

The DCs run on loopback addresses of their own. Samba contacts its replication partners
by DNS name (``dcN.<forest>`` and ``<NTDS-Settings-GUID>._msdcs.<forest>``), so every
samba and samba-tool process of a multi-DC lab runs with nss_wrapper and a hosts file of
the lab's own, and with a krb5.conf that names the lab's KDCs: the machine's /etc/hosts
and Kerberos setup are never touched.

Replication is *manual* by default: Samba's periodic pulls, change notifications and
KCC runs are pushed out to a day, so nothing moves between DCs until
``poolsync lab replicate``, which replicates like AD would: along enabled connection
objects only, into DCs that accept inbound replication, from DCs that send.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import LabError
from poolsync.lab import samba, service_account

NSS_WRAPPER = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
HOSTS_FILE = "hosts"
KRB5_FILE = service_account.KRB5_FILE
AUTH_FILE = "secrets/samba-auth"

#: smb.conf options that make replication happen only when asked for.
MANUAL_REPLICATION = (
    ("dreplsrv:periodic_interval", "86400"),
    ("dreplsrv:periodic_startup_interval", "86400"),
    ("dreplsrv:notify_interval", "86400"),
    ("kccsrv:periodic_interval", "86400"),
    ("kccsrv:periodic_startup_interval", "86400"),
)


@dataclass(frozen=True, slots=True)
class Peer:
    """One DC of the lab as the replication tooling needs it."""

    name: str
    address: str
    site: str
    paths: samba.DcPaths


def sites_dn(base_dn: str) -> str:
    return f"CN=Sites,CN=Configuration,{base_dn}"


def dsa_dn(peer: Peer, base_dn: str) -> str:
    return f"CN=NTDS Settings,CN={peer.name},CN=Servers,CN={peer.site},{sites_dn(base_dn)}"


def host_name(name: str, forest: str) -> str:
    return f"{name.lower()}.{forest.lower()}"


class LabNet:
    """The lab's own name resolution and Kerberos setup, and the credentials file the
    samba tools read (0600; the password never appears on a command line)."""

    def __init__(self, lab_dir: Path, *, forest: str, password_file: Path) -> None:
        self.dir = lab_dir
        self.forest = forest.lower()
        self.hosts = lab_dir / HOSTS_FILE
        self.krb5 = lab_dir / KRB5_FILE
        self.auth = lab_dir / AUTH_FILE
        self.password_file = password_file
        self.principal = ""

    def credentials(self, *, user: str, netbios: str) -> LabNet:
        self.principal = f"{netbios}\\{user}"
        return self

    def write(self, peers: Sequence[Peer], *, user: str, password: str, netbios: str) -> None:
        if not Path(NSS_WRAPPER).exists():
            raise LabError(
                f"a lab with several DCs needs nss_wrapper ({NSS_WRAPPER}); "
                "apt-get install libnss-wrapper"
            )
        lines = ["127.0.0.1 localhost"]
        lines += [f"{p.address} {host_name(p.name, self.forest)} {p.name.lower()}" for p in peers]
        self.hosts.write_text("\n".join(lines) + "\n")
        self.krb5.write_text(
            service_account.krb5_conf_text(self.forest, [p.address for p in peers])
        )
        fd = os.open(self.auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        with os.fdopen(fd, "w") as out:
            out.write(f"username = {user}\npassword = {password}\ndomain = {netbios}\n")

    def add_hosts(self, entries: Iterable[tuple[str, str]]) -> None:
        """Add (address, name) lines not there yet."""
        text = self.hosts.read_text()
        known = set(text.split())
        extra = [f"{address} {name}" for address, name in entries if name not in known]
        if extra:
            self.hosts.write_text(text + "\n".join(extra) + "\n")

    def env(self, paths: samba.DcPaths | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "LD_PRELOAD": NSS_WRAPPER,
            "NSS_WRAPPER_HOSTS": str(self.hosts),
            "KRB5_CONFIG": str(self.krb5),
        }
        if paths is not None:
            env["SMB_CONF_PATH"] = str(paths.conf)
        return env

    def tool(
        self,
        args: list[str],
        *,
        what: str,
        paths: samba.DcPaths | None = None,
        timeout: float = 120,
    ) -> str:
        """Run samba-tool with the lab's names, Kerberos setup and credentials (the
        password from the 0600 file through PASSWD_FILE, never on the command line)."""
        env = {**self.env(paths), "PASSWD_FILE": str(self.password_file)}
        return samba.run([*args, "-U", self.principal], what=what, env=env, timeout=timeout)


def site_records(base_dn: str, sites: Sequence[str]) -> str:
    """LDIF that creates ``sites`` (with their Servers and NTDS Site Settings children)
    and puts them on the default site link, for the first DC's offline sam.ldb."""
    blocks = []
    root = sites_dn(base_dn)
    for site in sites:
        blocks += [
            f"dn: CN={site},{root}\nchangetype: add\nobjectClass: site\n",
            f"dn: CN=NTDS Site Settings,CN={site},{root}\nchangetype: add\n"
            "objectClass: nTDSSiteSettings\n",
            f"dn: CN=Servers,CN={site},{root}\nchangetype: add\nobjectClass: serversContainer\n",
            f"dn: CN=DEFAULTIPSITELINK,CN=IP,CN=Inter-Site Transports,{root}\n"
            f"changetype: modify\nadd: siteList\nsiteList: CN={site},{root}\n-\n",
        ]
    return "\n".join(blocks)


def join(net: LabNet, peer: Peer, first: Peer, *, forest: str) -> None:
    """Join ``peer`` to the domain as an additional DC (and GC), replicating from
    ``first``; provision-time options keep it on its own address."""
    peer.paths.root.mkdir(parents=True, exist_ok=True)
    net.tool(
        [
            "samba-tool",
            "domain",
            "join",
            forest.lower(),
            "DC",
            f"--server={host_name(first.name, forest)}",
            f"--targetdir={peer.paths.root}",
            "--dns-backend=NONE",
            "--use-kerberos=off",
            f"--site={peer.site}",
            "--backend-store=mdb",
            f"--option=netbios name={peer.name.upper()}",
            f"--option=interfaces={peer.address}/8",
            "--option=bind interfaces only=yes",
        ],
        what=f"joining {peer.name} to {forest}",
        timeout=300,
    )


_GUID_LINE = re.compile(
    r"^objectGUID: ([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$", re.MULTILINE
)


def ntds_guid(net: LabNet, peer: Peer, base_dn: str) -> str:
    """The objectGUID of ``peer``'s NTDS Settings, read from its own sam.ldb (a DC
    just joined and not started yet, or the running first DC)."""
    out = samba.run(
        [
            "ldbsearch",
            "-H",
            str(peer.paths.sam),
            "-b",
            dsa_dn(peer, base_dn),
            "-s",
            "base",
            "objectGUID",
        ],
        what=f"reading {peer.name}'s NTDS Settings",
        env=net.env(peer.paths),
    )
    match = _GUID_LINE.search(out)
    if match is None:
        raise LabError(f"{peer.name}: no NTDS Settings objectGUID in its sam.ldb")
    return str(uuid.UUID(match.group(1)))


def connection_ldif(source: Peer, target: Peer, base_dn: str, *, enabled: bool) -> str:
    """A replication connection under ``target``'s NTDS Settings, pulling from
    ``source`` (a manual connection, as an administrator makes one: the KCC keeps it)."""
    transport = f"CN=IP,CN=Inter-Site Transports,{sites_dn(base_dn)}"
    return (
        f"dn: CN=from {source.name},{dsa_dn(target, base_dn)}\nchangetype: add\n"
        f"objectClass: nTDSConnection\nfromServer: {dsa_dn(source, base_dn)}\n"
        f"enabledConnection: {'TRUE' if enabled else 'FALSE'}\noptions: 0\n"
        f"transportType: {transport}\n"
    )


def modify_over_ldap(net: LabNet, peer: Peer, ldif: str, *, what: str) -> None:
    samba.run(
        ["ldbmodify", "-H", f"ldap://{peer.address}", "-A", str(net.auth)],
        what=what,
        env=net.env(peer.paths),
        input_text=ldif,
        timeout=120,
    )


def share_spns(net: LabNet, peer: Peer, first: Peer, base_dn: str) -> None:
    """Copy ``peer``'s service principal names (which samba_spnupdate wrote on
    ``peer`` itself) to its computer object on ``first``, the lab's first KDC.

    Replication is manual, so without this the first DC would not know the GC/ and
    replication SPNs of a DC joined after another one, and every pull from that DC
    would fail (WERR_INVALID_PARAMETER: no ticket for ``GC/<host>/<domain>``).
    """
    dn = f"CN={peer.name},OU=Domain Controllers,{base_dn}"
    out = samba.run(
        [
            "ldbsearch",
            "-H",
            f"ldap://{peer.address}",
            "-A",
            str(net.auth),
            "-b",
            dn,
            "-s",
            "base",
            "servicePrincipalName",
        ],
        what=f"reading {peer.name}'s SPNs",
        env=net.env(peer.paths),
    )
    spns = [
        line.split(": ", 1)[1]
        for line in samba.unfold(out).splitlines()
        if line.startswith("servicePrincipalName: ")
    ]
    if not spns:
        raise LabError(f"{peer.name} has no service principal names after samba_spnupdate")
    ldif = (
        f"dn: {dn}\nchangetype: modify\nreplace: servicePrincipalName\n"
        + "".join(f"servicePrincipalName: {spn}\n" for spn in spns)
        + "-\n"
    )
    modify_over_ldap(net, first, ldif, what=f"registering {peer.name}'s SPNs on {first.name}")


def run_kcc(net: LabNet, peer: Peer, *, forest: str) -> None:
    """One KCC run on ``peer``: turns its connection objects into replication partners
    (without it, ``drs replicate`` reports success and copies nothing)."""
    net.tool(
        ["samba-tool", "drs", "kcc", host_name(peer.name, forest)],
        what=f"running the KCC on {peer.name}",
    )


def set_dsa_option(net: LabNet, peer: Peer, option: str, *, forest: str) -> None:
    """``option`` is e.g. ``+DISABLE_INBOUND_REPL`` or ``-DISABLE_OUTBOUND_REPL``."""
    net.tool(
        ["samba-tool", "drs", "options", host_name(peer.name, forest), f"--dsa-option={option}"],
        what=f"setting {option} on {peer.name}",
    )


@dataclass(frozen=True, slots=True)
class LiveLink:
    """What ``target`` holds about pulling from ``source``: whether a connection object
    exists and is enabled, and the two DCs' replication switches."""

    source: str
    target: str
    connection: bool
    enabled: bool
    inbound_disabled: bool
    outbound_disabled: bool

    def blocked(self) -> str | None:
        """Why AD would not replicate ``source`` -> ``target``, or None."""
        if self.inbound_disabled:
            return f"{self.target} has inbound replication disabled (DISABLE_INBOUND_REPL)"
        if self.outbound_disabled:
            return f"{self.source} has outbound replication disabled (DISABLE_OUTBOUND_REPL)"
        if not self.connection:
            return f"{self.target} has no connection object pulling from {self.source}"
        if not self.enabled:
            return f"the connection {self.source} -> {self.target} is disabled"
        return None


_OPTIONS_LINE = re.compile(r"^options: (.*)$", re.MULTILINE)
_INT32 = re.compile(r"-?[0-9]{1,10}")  # ASCII digits: \d and int() take any script's


def _dsa_options(net: LabNet, peer: Peer, about: Peer, base_dn: str) -> int:
    out = samba.run(
        [
            "ldbsearch",
            "-H",
            f"ldap://{peer.address}",
            "-A",
            str(net.auth),
            "-b",
            dsa_dn(about, base_dn),
            "-s",
            "base",
            "options",
        ],
        what=f"reading {about.name}'s options on {peer.name}",
        env=net.env(peer.paths),
    )
    match = _OPTIONS_LINE.search(samba.unfold(out))
    if match is None:
        return 0
    if not _INT32.fullmatch(match.group(1)):
        raise LabError(
            f"{about.name}'s NTDS Settings on {peer.name}: expected an integer "
            f"option flags value, got {match.group(1)[:40]!r}"
        )
    return int(match.group(1))


def _connections_from(
    net: LabNet, source: Peer, target: Peer, base_dn: str
) -> list[dict[str, str]]:
    """``target``'s own connection objects that pull from ``source`` (dn, fromServer,
    enabledConnection), as the target holds them."""
    out = samba.run(
        [
            "ldbsearch",
            "-H",
            f"ldap://{target.address}",
            "-A",
            str(net.auth),
            "-b",
            dsa_dn(target, base_dn),
            "-s",
            "one",
            "(objectClass=nTDSConnection)",
            "fromServer",
            "enabledConnection",
        ],
        what=f"reading {target.name}'s connection objects",
        env=net.env(target.paths),
    )
    wanted = dsa_dn(source, base_dn).lower()
    found = []
    for block in samba.unfold(out).split("\n\n"):
        values = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if values.get("fromServer", "").lower() == wanted:
            found.append(values)
    return found


def connection_dn(net: LabNet, source: Peer, target: Peer, base_dn: str) -> str | None:
    """The DN of ``target``'s connection object pulling from ``source``, if it has one."""
    return next(
        (c["dn"] for c in _connections_from(net, source, target, base_dn) if "dn" in c), None
    )


def live_link(net: LabNet, source: Peer, target: Peer, base_dn: str) -> LiveLink:
    """Read the link from the DCs themselves: the target's own connection objects and
    options, and the source's own options."""
    connections = _connections_from(net, source, target, base_dn)
    connection = bool(connections)
    enabled = any(c.get("enabledConnection", "TRUE").upper() != "FALSE" for c in connections)
    return LiveLink(
        source=source.name,
        target=target.name,
        connection=connection,
        enabled=enabled,
        inbound_disabled=bool(_dsa_options(net, target, target, base_dn) & 0x2),
        outbound_disabled=bool(_dsa_options(net, source, source, base_dn) & 0x4),
    )


def replicate_pair(
    net: LabNet, source: Peer, target: Peer, *, forest: str, naming_contexts: Sequence[str]
) -> None:
    """Pull ``naming_contexts`` from ``source`` into ``target`` now.

    ``--local``: samba-tool, run with the target's smb.conf, pulls over DRSUAPI with the
    lab administrator's credentials and applies the changes to the target's database
    (with its up-to-dateness vector), as the target's own replication would. Asking
    the target DC to pull by itself instead needs DC-to-DC Kerberos between every
    pair, which a lab of more than two DCs built with replication off does not have.
    """
    for nc in naming_contexts:
        net.tool(
            [
                "samba-tool",
                "drs",
                "replicate",
                host_name(target.name, forest),
                host_name(source.name, forest),
                nc,
                "--local",
                "-s",
                str(target.paths.conf),
            ],
            what=f"replicating {nc} from {source.name} to {target.name}",
            paths=target.paths,
        )
