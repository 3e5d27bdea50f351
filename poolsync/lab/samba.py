"""Run Samba AD DC processes for the lab: provision, configure, load, start, stop.

Only this module runs samba, samba-tool and the ldb tools. Every DC lives in its own
directory with its own smb.conf, so several labs (or several DCs) run side by side on
different loopback addresses.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import LabError
from poolsync.lab import process

SERVER_SERVICES = "rpc, ldap, cldap, kdc, drepl, kcc"
REQUIRED_TOOLS = {
    "samba": "samba",
    "samba-tool": "samba",
    "ldbadd": "ldb-tools",
    "ldbmodify": "ldb-tools",
    "ldapsearch": "ldap-utils",
    "openssl": "openssl",
}


@dataclass(frozen=True, slots=True)
class DcPaths:
    """Where one DC's files live."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    @property
    def sam(self) -> Path:
        return self.root / "private" / "sam.ldb"

    @property
    def pid_file(self) -> Path:
        # Our own record of the PID we started (samba also writes run/samba.pid).
        return self.root / "poolsync-samba.pid"

    @property
    def log(self) -> Path:
        return self.root / "samba.out"


def check_tools() -> None:
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if not shutil.which(tool)})
    if missing:
        raise LabError(
            f"the lab needs Samba and LDAP tools; missing packages: {', '.join(missing)} "
            f"(apt-get install {' '.join(missing)})"
        )
    if os.geteuid() != 0:
        raise LabError("the lab runs a Samba AD DC, which needs root (ports below 1024)")


def run(
    args: list[str],
    *,
    what: str,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
    timeout: float = 300,
) -> str:
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            input=input_text,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        raise LabError(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def provision(
    paths: DcPaths,
    *,
    realm: str,
    netbios_domain: str,
    host_name: str,
    address: str,
    site: str | None = None,
) -> None:
    """Provision a DC. samba-tool picks a random admin password; set_admin_password()
    then sets ours through stdin, so it never shows on a command line."""
    paths.root.mkdir(parents=True, exist_ok=True)
    run(
        [
            "samba-tool",
            "domain",
            "provision",
            f"--targetdir={paths.root}",
            f"--realm={realm.upper()}",
            f"--domain={netbios_domain}",
            "--server-role=dc",
            "--dns-backend=NONE",
            f"--host-name={host_name}",
            "--backend-store=mdb",
            f"--option=interfaces={address}/8",
            "--option=bind interfaces only=yes",
            *([f"--site={site}"] if site else []),
        ],
        what="samba-tool domain provision",
        timeout=300,
    )


def set_admin_password(paths: DcPaths, *, base_dn: str, password: str) -> None:
    """Set Administrator's password in the stopped DC's sam.ldb."""
    set_password(
        paths,
        dn=f"CN=Administrator,CN=Users,{base_dn}",
        password=password,
        what="setting the lab administrator's password",
    )


def set_password(paths: DcPaths, *, dn: str, password: str, what: str) -> None:
    """Set an account's password in the stopped DC's sam.ldb (LDIF on stdin, never on
    a command line)."""
    value = base64.b64encode(f'"{password}"'.encode("utf-16-le")).decode("ascii")
    ldb_modify(
        paths,
        f"dn: {dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {value}\n-\n",
        what=what,
    )


def write_conf(
    paths: DcPaths,
    *,
    realm: str,
    netbios_domain: str,
    host_name: str,
    address: str,
    tls_cert: Path,
    tls_key: Path,
    tls_ca: Path,
    extra: Sequence[tuple[str, str]] = (),
) -> None:
    """Replace the provisioned (or joined) smb.conf with a self-contained one for the
    lab; ``extra`` adds (option, value) pairs to [global]."""
    r = paths.root
    options = "".join(f"\t{name} = {value}\n" for name, value in extra)
    (r / "run").mkdir(exist_ok=True)
    (r / "log").mkdir(exist_ok=True)
    paths.conf.write_text(f"""# written by poolsync lab
[global]
\tnetbios name = {host_name.upper()}
\trealm = {realm.upper()}
\tworkgroup = {netbios_domain}
\tserver role = active directory domain controller
\tserver services = {SERVER_SERVICES}
\tinterfaces = {address}/8
\tbind interfaces only = yes
\tprivate dir = {r}/private
\tstate directory = {r}/state
\tcache directory = {r}/cache
\tlock directory = {r}
\tbinddns dir = {r}/bind-dns
\tpid directory = {r}/run
\tncalrpc dir = {r}/run/ncalrpc
\twinbindd socket directory = {r}/run/winbindd
\tntp signd socket directory = {r}/run/ntp_signd
\tlog file = {r}/log/log.%m
\tlogging = file
\tmax log size = 10000
\tlog level = 1
\tdsdb:schema update allowed = true
\t# As an AD DC that requires LDAP signing: no simple bind on plain LDAP, and SASL
\t# (Kerberos, NTLM) either inside TLS or signed or sealed (docs/security.md).
\tldap server require strong auth = allow_sasl_over_tls
\ttls enabled = yes
\ttls certfile = {tls_cert}
\ttls keyfile = {tls_key}
\ttls cafile = {tls_ca}
{options}
[sysvol]
\tpath = {r}/state/sysvol
\tread only = No

[netlogon]
\tpath = {r}/state/sysvol/{realm.lower()}/scripts
\tread only = No
""")


def _ldb_env(paths: DcPaths) -> dict[str, str]:
    # ldbmodify has no --option: the schema-update switch comes from this smb.conf.
    return {**os.environ, "SMB_CONF_PATH": str(paths.conf)}


def ldb_modify(paths: DcPaths, ldif: str, *, what: str, show_deleted: bool = False) -> None:
    """Apply a modify/add LDIF to the stopped DC's sam.ldb in one transaction
    (``show_deleted``: also to deleted objects, the Deleted Objects container too)."""
    args = ["ldbmodify", "-H", str(paths.sam), *(["--show-deleted"] if show_deleted else [])]
    run(args, what=what, env=_ldb_env(paths), input_text=ldif)


def ldb_search(
    paths: DcPaths, base: str, attribute: str, *, what: str, show_deleted: bool = False
) -> str:
    """``attribute`` of the object ``base`` in the DC's sam.ldb, as unfolded LDIF."""
    args = ["ldbsearch", "-H", str(paths.sam), "-b", base, "-s", "base", attribute]
    if show_deleted:
        args.insert(3, "--show-deleted")
    return unfold(run(args, what=what, env=_ldb_env(paths)))


def unfold(ldif: str) -> str:
    """LDIF with its folded lines (continued by a leading space) joined."""
    return ldif.replace("\n ", "")


def ldb_add(paths: DcPaths, ldif: str, *, what: str, env: dict[str, str] | None = None) -> None:
    """Add the LDIF's records to the stopped DC's sam.ldb in one transaction.

    ``batch_mode`` is ldb's bulk path (what provision and join use): the records are not
    each wrapped in a nested transaction, so any failure aborts the whole batch. Without
    it every add copies the growing index lists (objectClass=user and the like) into the
    outer transaction, and adds slow down with the directory's size: 95 users/s at 5k
    users against 650/s, flat, with it.
    """
    run(
        ["ldbadd", "-o", "batch_mode", "-H", str(paths.sam)],
        what=what,
        env={**(env or {}), **_ldb_env(paths)},
        input_text=ldif,
    )


def _daemon(paths: DcPaths) -> process.Daemon:
    # samba rewrites its command line: it is known again by its PID, start time and name.
    return process.Daemon("samba", paths.pid_file, paths.log)


def running_pid(paths: DcPaths) -> int | None:
    """The PID of the samba we started for this DC while it still runs, else None."""
    return process.running_pid(_daemon(paths))


def start(paths: DcPaths, *, env: dict[str, str] | None = None) -> int:
    if running_pid(paths) is not None:
        raise LabError(f"samba for {paths.root} is already running")
    with paths.log.open("ab") as log:
        # A new session makes samba the leader of a process group holding only the
        # processes it forks, so stop() can end exactly those.
        proc = subprocess.Popen(
            ["samba", "-s", str(paths.conf), "-F", "--debug-stdout", "-M", "single"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    started = process.start_time(proc.pid)
    if started is None:
        raise LabError(f"samba for {paths.root} exited at once; see {paths.log}")
    paths.pid_file.write_text(f"{proc.pid} {started}\n")
    return proc.pid


def wait_ready(
    paths: DcPaths,
    *,
    address: str,
    ca_file: Path,
    bind_user: str,
    password_file: Path,
    timeout: float = 60,
) -> float:
    """Wait until an LDAPS bind and rootDSE read succeed; return the seconds waited."""
    started = time.monotonic()
    env = {**os.environ, "LDAPTLS_CACERT": str(ca_file), "LDAPTLS_REQCERT": "demand"}
    last = ""
    while time.monotonic() - started < timeout:
        if running_pid(paths) is None:
            tail = paths.log.read_text(errors="replace")[-800:] if paths.log.exists() else ""
            raise LabError(f"samba for {paths.root} exited during start-up: {tail.strip()}")
        proc = subprocess.run(
            [
                "ldapsearch",
                "-LLL",
                "-o",
                "nettimeout=2",
                "-x",
                "-H",
                f"ldaps://{address}",
                "-D",
                bind_user,
                "-y",
                str(password_file),
                "-b",
                "",
                "-s",
                "base",
                "dsServiceName",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        if proc.returncode == 0 and "dsServiceName" in proc.stdout:
            return time.monotonic() - started
        last = proc.stderr.strip()
        time.sleep(0.3)
    raise LabError(f"samba at {address} did not answer LDAPS within {timeout:.0f} s: {last}")


def stop(paths: DcPaths, *, timeout: float = 15) -> bool:
    """Stop the samba we started for this DC (its process group); return whether one
    was running."""
    return process.stop(_daemon(paths), timeout=timeout) is not None
