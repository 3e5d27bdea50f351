"""Security against the real Samba DC: TLS refused unless validated, no credential in
any output or file, private files whatever the umask, no write to the directory.

Every command runs as a process of its own (as a scheduled run does) with umask 022,
so what it logs reaches the stderr checked here and the files it creates get the
mode they would get from a login shell. Each test uses a copy of the lab's config with
a store of its own: the session's lab is shared with other tests.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml
from ldap3.core import exceptions as lex

from poolsync.config import load_config
from poolsync.directory.connection import INSECURE_WARNING
from poolsync.lab import certs
from tests.support.helpers import CLI, Ran, lab_config_copy, stop
from tests.support.live import live_connection

pytestmark = pytest.mark.integration


def poolsync(config: Path, *args: str | Path, timeout: float = 120) -> Ran:
    """``poolsync --config CONFIG ARGS`` in a process of its own, with umask 022."""
    argv = ("--config", str(config), *map(str, args))
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=config.parent,
    )
    return Ran(argv, proc.returncode, proc.stdout, proc.stderr)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def service_one_pass(
    config: Path, metrics: Path, *, during: Callable[[], None] | None = None
) -> Ran:
    """``poolsync service`` until its first pass wrote the metrics file and its watcher
    registered for change notifications on the DC, then SIGTERM (its documented stop).
    ``during`` runs while the service still holds the store."""
    argv = ("--config", str(config), "service", "--every", "1h", "--metrics-file", str(metrics))
    out, err = metrics.with_suffix(".stdout"), metrics.with_suffix(".stderr")
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *argv],
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=config.parent,
        )
    try:
        # "change watch 0 on URL: watching N container(s)": registered on the DC.
        wait_for(lambda: metrics.exists() and "change watch 0 on" in err.read_text(), 60)
        if during is not None:
            during()
    finally:
        stop(proc)
    return Ran(argv, proc.returncode, out.read_text(), err.read_text())


def variant(config: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of ``config`` beside it with its document changed by ``change``."""
    doc = yaml.safe_load(config.read_text())
    change(doc)
    path = config.with_name(f"{name}.yaml")
    path.write_text(yaml.safe_dump(doc))
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def own_config(lab: Path, where: Path) -> Path:
    """The lab's config, copied to ``where``, with its own store; retries kept short."""
    path = lab_config_copy(lab, where / "poolsync.yaml", store=where / "poolsync.db")
    return variant(
        path,
        "poolsync",
        lambda doc: doc["directory"].update(
            retries={"attempts": 2, "initial_wait": 0.1, "max_wait": 0.2}
        ),
    )


@pytest.fixture
def config(tiny_lab: Path, tmp_path: Path) -> Path:
    return own_config(tiny_lab, tmp_path)


def address(config: Path) -> str:
    url = yaml.safe_load(config.read_text())["directory"]["dc"]["url"]
    return str(url).split("//")[1].rsplit(":", 1)[0]


def starttls(doc: dict[str, Any], host: str) -> None:
    doc["directory"]["dc"]["url"] = f"ldap://{host}:389"
    doc["directory"]["gc"]["url"] = f"ldap://{host}:3268"
    doc["directory"]["tls"]["starttls"] = True


# -- TLS ---------------------------------------------------------------------------------
def test_starttls_to_the_lab_works_when_validated(config: Path) -> None:
    """The lab offers StartTLS on 389 and 3268: the refusals below are the certificate's."""
    host = address(config)
    ran = poolsync(
        variant(config, "starttls", lambda d: starttls(d, host)), "resync", "--format", "json"
    )
    assert ran.code == 0, ran.stderr
    assert [p["endpoint"] for p in json.loads(ran.stdout)["passes"]] == [
        f"ldap://{host}:389",
        f"ldap://{host}:3268",
    ]
    assert "WARNING" not in ran.stderr


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
@pytest.mark.parametrize("trust", ["system", "wrong-ca"])
def test_an_untrusted_certificate_is_refused_with_exit_5(
    config: Path, tmp_path: Path, transport: str, trust: str
) -> None:
    host = address(config)
    wrong_ca = certs.make_ca(tmp_path / "wrong-ca") if trust == "wrong-ca" else None

    def change(doc: dict[str, Any]) -> None:
        if transport == "starttls":
            starttls(doc, host)
        if wrong_ca is None:
            del doc["directory"]["tls"]["ca_file"]  # the system trust store
        else:
            doc["directory"]["tls"]["ca_file"] = str(wrong_ca)

    ran = poolsync(variant(config, f"{transport}-{trust}", change), "resync", "--total")
    assert ran.code == 5, ran.stderr  # the directory could not be read
    assert ran.stdout == ""
    port = 636 if transport == "ldaps" else 389
    scheme = "ldaps" if transport == "ldaps" else "ldap"
    # One line: no "retrying" warning before it either, since a TLS failure is final.
    # It names what was trusted, and (over LDAPS, where a second handshake can read
    # it) who issued the certificate.
    trusted = (
        "the system's trust store" if wrong_ca is None else f"directory.tls.ca_file ({wrong_ca}:"
    )
    issuer = "; its certificate was issued by CN=poolsync lab CA" if transport == "ldaps" else ""
    fix = (
        "set directory.tls.ca_file to the CA that issued it"
        if wrong_ca is None
        else "point directory.tls.ca_file at the file of the CA that issued it (or the chain "
        "up to it)"
    )
    reason = "unable to get local issuer certificate"
    assert ran.stderr.splitlines() == [
        f"poolsync: error: TLS certificate of {scheme}://{host}:{port} is not trusted by "
        + (f"{trusted} ({reason})" if wrong_ca is None else f"{trusted} {reason})")
        + f"{issuer}; {fix}"
    ]


def test_validation_off_warns_in_one_line_in_every_run_that_connects(
    config: Path, tmp_path: Path
) -> None:
    def insecure(doc: dict[str, Any]) -> None:
        doc["directory"]["tls"] = {"validate": False, "insecure": True}

    unsafe = variant(config, "insecure", insecure)
    runs = [
        poolsync(unsafe, "resync", "--total", "--format", "json"),
        poolsync(unsafe, "resync"),  # every run, not the first only
        poolsync(unsafe, "doctor", "--format", "json"),
        poolsync(unsafe, "graph", "--format", "json", "--out", tmp_path / "graph.json"),
        service_one_pass(unsafe, tmp_path / "insecure.prom"),
    ]
    for ran in runs:
        assert ran.code in (0, 3), (ran.args, ran.stderr)  # 3: a finding, not a failure
        lines = [line for line in ran.stderr.splitlines() if "validation is off" in line]
        # The service stamps its lines with the time (no journald here).
        unstamped = [re.sub(r"^\S+T\S+ (?=poolsync:)", "", line) for line in lines]
        assert unstamped == [f"poolsync: WARNING: {INSECURE_WARNING}"], (ran.args, ran.stderr)
    # Validated, the same commands say nothing of the kind.
    for ran in (poolsync(config, "resync"), poolsync(config, "doctor", "--format", "json")):
        assert "WARNING" not in ran.stderr, ran.stderr


# -- credentials and files -----------------------------------------------------------
@dataclass
class Evidence:
    runs: list[Ran]
    files: dict[str, bytes]  # every file in the run directory, some seen mid-run
    modes: dict[str, int]


@pytest.fixture(scope="module")
def evidence(tiny_lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    """Every command that touches the lab's password or the store, run with umask 022:
    their output, the files they leave (and those only there while the service runs)."""
    tmp_path = tmp_path_factory.mktemp("evidence")
    config = own_config(tiny_lab, tmp_path)
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}

    def look() -> None:
        for path in tmp_path.iterdir():
            if path.is_file():
                files[f"{path.name}@{len(files)}"] = path.read_bytes()
                modes[path.name] = mode(path)

    wrong = tmp_path / "wrong.password"
    wrong.write_text("Wr0ng-but-secret-too\n")
    wrong.chmod(0o600)
    bad = variant(
        config,
        "wrong-password",
        lambda doc: doc["directory"]["bind"].update(password={"file": str(wrong)}),
    )
    metrics = tmp_path / "poolsync.prom"
    runs = [
        poolsync(config, "resync", "--total", "--format", "json", "--metrics-file", metrics),
        poolsync(config, "--debug", "resync"),
        poolsync(config, "--debug", "resync", "--total", "--dry-run", "-v"),
        poolsync(config, "pool", "--format", "json"),
        poolsync(config, "--debug", "doctor", "--format", "json"),
        poolsync(config, "graph", "--format", "json", "--out", tmp_path / "graph.json"),
        poolsync(config, "history", "--format", "json"),
        poolsync(config, "history", "export", "--out", tmp_path / "history.csv"),
        poolsync(
            config, "report", "capacity", "--format", "json", "--out", tmp_path / "capacity.json"
        ),
        service_one_pass(config, tmp_path / "service.prom", during=look),
        poolsync(bad, "--debug", "resync", "--metrics-file", tmp_path / "failed.prom"),
        poolsync(bad, "--debug", "doctor"),
    ]
    look()
    return Evidence(runs, files, modes)


def test_the_runs_did_what_they_were_asked(evidence: Evidence) -> None:
    """The evidence is worth something only if the commands really ran."""
    codes = [r.code for r in evidence.runs]
    assert all(code in (0, 3) for code in codes[:-2]), [(r.args, r.stderr) for r in evidence.runs]
    assert codes[-2:] == [5, 5]  # the wrong password: bind refused
    assert "invalid credentials" in evidence.runs[-2].stderr
    service = evidence.runs[-3]
    assert "watching" in service.stderr and "refused to send" not in service.stderr
    # --debug: the failed bind's traceback, with ldap3's exception chained in.
    assert "Traceback" in evidence.runs[-2].stderr
    assert "LDAPInvalidCredentialsResult" in evidence.runs[-2].stderr
    names = {key.split("@")[0] for key in evidence.files}
    assert {
        "poolsync.db",
        "poolsync.db-wal",
        "poolsync.db-shm",
        "poolsync.db.lock",
        "poolsync.prom",
        "service.prom",
        "failed.prom",
        "graph.json",
        "history.csv",
        "capacity.json",
    } <= names


def test_no_credential_appears_in_any_output_or_file(evidence: Evidence, tiny_lab: Path) -> None:
    secrets = {
        "lab password": (tiny_lab / "secrets" / "admin.password").read_text().strip(),
        "wrong password": "Wr0ng-but-secret-too",
    }
    for what, secret in secrets.items():
        assert len(secret) >= 8
        for ran in evidence.runs:
            assert secret not in ran.stdout, (what, ran.args, "stdout")
            assert secret not in ran.stderr, (what, ran.args, "stderr")
        for name, data in evidence.files.items():
            if name.startswith(("wrong.password", "poolsync.yaml", "wrong-password.yaml")):
                continue  # the secret file itself; configs hold references only
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                assert encoded not in data, (what, name)


def test_files_are_private_under_umask_022(evidence: Evidence) -> None:
    private = {
        name: m
        for name, m in evidence.modes.items()
        if name.startswith("poolsync.db") or name in {"graph.json", "history.csv", "capacity.json"}
    }
    assert len(private) >= 7, evidence.modes
    assert private == dict.fromkeys(private, 0o600)
    # The metrics file is read by node_exporter, another user: 0644 by design.
    metrics = {name: m for name, m in evidence.modes.items() if name.endswith(".prom")}
    assert metrics == dict.fromkeys(["poolsync.prom", "service.prom", "failed.prom"], 0o644)


# -- no writes to the directory ------------------------------------------------------
def test_a_write_through_a_real_connection_is_refused(config: Path) -> None:
    cfg = load_config(config)
    password = cfg.directory.bind.resolve_password()
    base = cfg.directory.dc.base_dn
    dn = f"CN=svc-never-written,{base}"
    with live_connection(cfg.directory, cfg.directory.dc, password=password) as conn:
        ldap = conn._conn
        attempts: list[Callable[[], object]] = [
            lambda: ldap.add(dn, ["top", "contact"], {"description": "written"}),
            lambda: ldap.modify(base, {"description": [(ldap3.MODIFY_REPLACE, ["written"])]}),
            lambda: ldap.delete(f"CN=Users,{base}"),
            lambda: ldap.modify_dn(f"CN=Users,{base}", "CN=Moved"),
            lambda: ldap.extend.standard.modify_password(cfg.directory.bind.user, None, "x"),
        ]
        for attempt in attempts:
            with pytest.raises(lex.LDAPException, match=r"read-only|only reads the directory"):
                attempt()
        # The connection still reads, and the directory is as it was.
        assert not list(conn.search(base, "(cn=svc-never-written)", ["cn"]))
        users, _ = conn.request(f"CN=Users,{base}", "(objectClass=*)", ["cn"], scope="base")
        assert len(users) == 1
        domain, _ = conn.request(base, "(objectClass=*)", ["description"], scope="base")
        assert domain[0].text("description") != "written"


# -- no password in a core dump or in the connection ------------------------------------
def test_a_run_holding_the_password_cannot_dump_core(config: Path, tmp_path: Path) -> None:
    """The secret command runs as poolsync's child: by then poolsync's own core-file
    limit is 0, hard and soft (it reads them from /proc/PPID/limits)."""
    doc = yaml.safe_load(config.read_text())
    password_file = doc["directory"]["bind"]["password"]["file"]
    limits = tmp_path / "limits"
    command = f"sh -c 'cat /proc/$PPID/limits > {limits}; cat {password_file}'"
    ran = poolsync(
        variant(
            config, "core", lambda d: d["directory"]["bind"].update(password={"command": command})
        ),
        "resync",
        "--format",
        "json",
    )
    assert ran.code == 0, ran.stderr
    core = next(
        line for line in limits.read_text().splitlines() if line.startswith("Max core file size")
    )
    assert core.split()[4:6] == ["0", "0"], core


def test_a_protected_process_is_not_dumpable() -> None:
    script = (
        "from poolsync.hardening import dumpable, protect_process; "
        "print(dumpable()); protect_process(); print(dumpable())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["1", "0"]


def _strings(obj: object, seen: set[int], depth: int = 0) -> Iterator[str]:
    """Every string reachable from ``obj``'s attributes, dicts and sequences (bounded)."""
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, bytes):
        yield obj.decode("latin-1")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(key, seen, depth + 1)
            yield from _strings(value, seen, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in obj:
            yield from _strings(item, seen, depth + 1)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from _strings(vars(obj), seen, depth + 1)


def test_the_connection_forgets_the_password_after_the_bind(config: Path) -> None:
    cfg = load_config(config)
    password = cfg.directory.bind.resolve_password()
    assert password
    with live_connection(cfg.directory, cfg.directory.gc, password=password) as conn:
        found, _ = conn.request(cfg.directory.gc.base_dn, "(objectClass=*)", ["dc"], scope="base")
        assert len(found) == 1
        held = [s for s in _strings(conn._conn, set()) if password in s]
    assert held == []
