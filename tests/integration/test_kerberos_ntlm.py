"""Kerberos (keytab) and NTLM binds against the lab's Samba DC and its KDC.

The lab (``poolsync lab up``) made a read-only service account, exported its keytab,
wrote a krb5.conf of its own and ``poolsync-kerberos.yaml``; the DC requires LDAP
signing (``allow_sasl_over_tls``), so a bind on plain LDAP works only sealed. Every
command runs as a process of its own, as a scheduled job does, with ``KRB5CCNAME``
pointing at a cache that must stay untouched: poolsync keeps its tickets to itself.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.lab.build import read_state
from poolsync.lab.edit import LabEditor, Replace
from tests.support.helpers import CLI, Ran, lab_config_copy, stop
from tests.support.lab import skip_or_fail, which

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the user's own credential cache would be: poolsync must never write it."""
    return tmp_path_factory.mktemp("user") / "krb5cc"


def poolsync(
    config: Path,
    *args: str | Path,
    cache: Path,
    prefix: tuple[str, ...] = (),
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Ran:
    argv = ("--config", str(config), *map(str, args))
    env = {**os.environ, "KRB5CCNAME": f"FILE:{cache}", **(env or {})}
    env.pop("KRB5_CONFIG", None)
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", CLI, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=config.parent,
        env=env,
    )
    return Ran(argv, proc.returncode, proc.stdout, proc.stderr)


def kerberos_config(
    lab: Path, where: Path, change: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """The lab's poolsync-kerberos.yaml, copied to ``where`` with a store of its own."""
    where.mkdir(exist_ok=True)
    path = lab_config_copy(
        lab, where / "poolsync.yaml", store=where / "poolsync.db", name="poolsync-kerberos.yaml"
    )
    doc = yaml.safe_load(path.read_text())
    doc["directory"]["retries"] = {"attempts": 2, "initial_wait": 0.1, "max_wait": 0.2}
    if change is not None:
        change(doc)
    path.write_text(yaml.safe_dump(doc))
    return path


def ntlm_config(lab: Path, where: Path, *, plain: bool) -> Path:
    """The lab as the service account over NTLM, sealed on plain LDAP or inside TLS."""
    state = read_state(lab)
    assert state is not None

    def ntlm(doc: dict[str, Any]) -> None:
        directory = doc["directory"]
        directory["bind"] = {
            "method": "ntlm",
            "user": f"{state.netbios}\\poolsync-svc",
            "password": {"file": str(lab / "secrets" / "poolsync-svc.password")},
        }
        if plain:
            dc = state.dcs[0]
            directory["dc"]["url"] = f"ldap://{dc.address}:{dc.ldap_port}"
            directory["gc"]["url"] = f"ldap://{dc.address}:{dc.gc_port}"

    return kerberos_config(lab, where, ntlm)


def keys_of(keytab: bytes) -> list[bytes]:
    """The key material of every entry of a keytab (version 0x0502)."""
    keys, at = [], 2
    while at < len(keytab):
        (size,) = struct.unpack(">i", keytab[at : at + 4])
        entry, at = keytab[at + 4 : at + 4 + abs(size)], at + 4 + abs(size)
        if size < 0:
            continue
        (count,) = struct.unpack(">H", entry[:2])
        pos = 2
        for _ in range(count + 1):  # the realm, then the components
            (length,) = struct.unpack(">H", entry[pos : pos + 2])
            pos += 2 + length
        pos += 4 + 4 + 1  # name type, timestamp, kvno
        _etype, length = struct.unpack(">HH", entry[pos : pos + 4])
        keys.append(entry[pos + 4 : pos + 4 + length])
    return keys


# -- what works: every command with a keytab, and with NTLM ----------------------------
@dataclass
class Evidence:
    runs: list[Ran]
    files: dict[str, bytes]
    config: Path


def service_one_pass(config: Path, metrics: Path, cache: Path) -> Ran:
    """``poolsync service`` until its first pass wrote the metrics file, then SIGTERM."""
    argv = ("--config", str(config), "service", "--every", "1h", "--metrics-file", str(metrics))
    env = {**os.environ, "KRB5CCNAME": f"FILE:{cache}"}
    err = metrics.with_suffix(".stderr")
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *argv],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=config.parent,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while not metrics.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        stop(proc)
    return Ran(argv, proc.returncode, "", err.read_text())


@pytest.fixture(scope="module")
def evidence(
    tiny_lab: Path, tmp_path_factory: pytest.TempPathFactory, user_cache: Path
) -> Iterator[Evidence]:
    where = tmp_path_factory.mktemp("kerberos")
    config = kerberos_config(tiny_lab, where)
    runs = [
        poolsync(config, "--debug", "resync", "--total", cache=user_cache),
        poolsync(config, "--debug", "resync", cache=user_cache),
        poolsync(config, "--debug", "doctor", "--format", "json", cache=user_cache),
        poolsync(config, "--debug", "schema", "discover", cache=user_cache),
        service_one_pass(config, where / "service.prom", user_cache),
        poolsync(config, "pool", "--format", "json", cache=user_cache),
    ]
    files = {p.name: p.read_bytes() for p in where.iterdir() if p.is_file()}
    yield Evidence(runs, files, config)


def test_every_command_runs_with_a_keytab_and_no_password(evidence: Evidence) -> None:
    directory = yaml.safe_dump(yaml.safe_load(evidence.config.read_text())["directory"])
    assert "password" not in directory and "method: kerberos" in directory
    for ran in evidence.runs:
        assert ran.code in (0, 3), (ran.args, ran.stderr[-2000:])
    total, incremental, doctor, discover, service, pool = evidence.runs
    assert "bound to ldaps://" in total.stderr and "with Kerberos as poolsync-svc@" in total.stderr
    assert "service ldap/dc1.tiny.example.org, inside TLS" in total.stderr
    assert "total" in total.stdout
    assert "incremental" in incremental.stdout  # Deleted Objects readable: no full read
    assert json.loads(doctor.stdout)["servers"]
    assert "Every required role found" in discover.stdout
    assert "with Kerberos as" in service.stderr and "Traceback" not in service.stderr
    assert json.loads(pool.stdout)["pools"], "the service account reads the Locations"


def test_no_key_or_ticket_leaves_the_process(
    evidence: Evidence, tiny_lab: Path, user_cache: Path
) -> None:
    """Neither the keytab's keys nor a ticket is in any output or file; the user's own
    credential cache (KRB5CCNAME) was never written: the tickets stayed in memory."""
    keytab = (tiny_lab / "secrets" / "poolsync-svc.keytab").read_bytes()
    keys = keys_of(keytab)
    assert keys and all(len(k) >= 16 for k in keys)
    for key in keys:
        for form in (key, key.hex().encode(), base64.b64encode(key)):
            for ran in evidence.runs:
                assert form.decode("latin-1") not in ran.stdout + ran.stderr
            for name, data in evidence.files.items():
                assert form not in data, name
    assert not user_cache.exists()
    # A ticket in a file would begin with the ccache format's magic (0x0504).
    for name, data in evidence.files.items():
        assert not data.startswith(b"\x05\x04"), name


@pytest.mark.parametrize("plain", [True, False], ids=["sealed-ldap", "inside-ldaps"])
def test_ntlm_binds_sealed_on_plain_ldap_and_inside_tls(
    tiny_lab: Path, tmp_path: Path, user_cache: Path, plain: bool
) -> None:
    """The DC requires signing: a plain-LDAP bind works only because poolsync seals."""
    config = ntlm_config(tiny_lab, tmp_path, plain=plain)
    total = poolsync(config, "--debug", "resync", "--total", cache=user_cache)
    assert total.code in (0, 3), total.stderr[-2000:]
    assert ("(sealed)" if plain else "(inside TLS)") in total.stderr
    again = poolsync(config, "resync", cache=user_cache)
    assert again.code in (0, 3), again.stderr
    assert "incremental" in again.stdout
    password = (tiny_lab / "secrets" / "poolsync-svc.password").read_text()
    for ran in (total, again):
        assert password not in ran.stdout + ran.stderr
    if plain:
        assert "whoever captures the NTLM exchange" in total.stderr


def test_kerberos_seals_a_plain_ldap_session(
    tiny_lab: Path, tmp_path: Path, user_cache: Path
) -> None:
    state = read_state(tiny_lab)
    assert state is not None
    dc = state.dcs[0]

    def plain(doc: dict[str, Any]) -> None:
        doc["directory"]["dc"]["url"] = f"ldap://{dc.address}:{dc.ldap_port}"
        doc["directory"]["gc"]["url"] = f"ldap://{dc.address}:{dc.gc_port}"

    config = kerberos_config(tiny_lab, tmp_path, plain)
    ran = poolsync(config, "--debug", "resync", "--total", cache=user_cache)
    assert ran.code in (0, 3), ran.stderr[-2000:]
    assert ", sealed)" in ran.stderr and "in clear" not in ran.stderr


# -- what fails: one line, the right exit code, the store untouched --------------------
def mirrored(store: Path) -> tuple[int, int]:
    """How many Locations and subscribers the store holds (0, 0 without a store)."""
    if not store.exists():
        return (0, 0)
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        return (
            conn.execute("SELECT COUNT(*) FROM locations").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0],
        )


def refused(
    config: Path,
    cache: Path,
    *,
    prefix: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Ran:
    """A total resync that must fail before it reads; its store must stay as it was."""
    store = config.parent / "poolsync.db"
    before = mirrored(store)
    ran = poolsync(config, "resync", "--total", cache=cache, prefix=prefix, env=env)
    assert mirrored(store) == before  # (the failed run itself is in the history)
    assert ran.stderr.count("\n") <= 2, ran.stderr  # a line (and a warning at most)
    assert "Traceback" not in ran.stderr
    return ran


def with_bind(lab: Path, where: Path, **keys: str) -> Path:
    """The Kerberos config with ``keys`` of its bind section set."""
    return kerberos_config(lab, where, lambda doc: doc["directory"]["bind"].update(keys))


def test_missing_or_loose_keytab(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    keytab = tmp_path / "svc.keytab"
    config = with_bind(tiny_lab, tmp_path, keytab=str(keytab))
    ran = refused(config, user_cache)
    assert ran.code == 2 and "keytab" in ran.stderr and "No such file" in ran.stderr
    shutil.copy(tiny_lab / "secrets" / "poolsync-svc.keytab", keytab)
    keytab.chmod(0o644)
    ran = refused(config, user_cache)
    assert ran.code == 2 and "has mode 0644; make it 0600" in ran.stderr


def test_principal_not_in_the_keytab(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    config = with_bind(tiny_lab, tmp_path, principal="nobody@TINY.EXAMPLE.ORG")
    ran = refused(config, user_cache)
    assert ran.code == 2
    assert "nobody@TINY.EXAMPLE.ORG is not in keytab" in ran.stderr
    assert "poolsync-svc@TINY.EXAMPLE.ORG" in ran.stderr  # what it holds


def with_krb5_conf(lab: Path, where: Path, edit: Callable[[str], str]) -> Path:
    """The Kerberos config, with the lab's krb5.conf changed by ``edit``."""
    conf = where / "krb5.conf"
    conf.write_text(edit((lab / "krb5.conf").read_text()))
    return kerberos_config(
        lab, where, lambda doc: doc["directory"]["bind"].update(krb5_conf=str(conf))
    )


def test_wrong_realm(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    """The principal's realm is one this machine knows no KDC for (no DNS to ask)."""
    config = with_krb5_conf(
        tiny_lab, tmp_path, lambda text: text.replace("TINY.EXAMPLE.ORG = {", "ELSEWHERE = {")
    )
    ran = refused(config, user_cache)
    assert ran.code == 2, ran.stderr
    assert "no KDC is known for realm TINY.EXAMPLE.ORG" in ran.stderr


def test_unreachable_kdc(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    state = read_state(tiny_lab)
    assert state is not None
    config = with_krb5_conf(
        tiny_lab, tmp_path, lambda text: text.replace(state.dcs[0].address, "127.0.0.254")
    )
    ran = refused(config, user_cache)
    assert ran.code == 5, ran.stderr
    assert "no KDC for realm TINY.EXAMPLE.ORG answers" in ran.stderr


def test_spn_the_dc_does_not_have(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    config = with_bind(tiny_lab, tmp_path, spn_host="nosuch.tiny.example.org")
    ran = refused(config, user_cache)
    assert ran.code == 5, ran.stderr
    assert "knows no service principal" in ran.stderr and "bind.spn_host" in ran.stderr


def test_clock_skew(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    """This machine's clock an hour ahead of the KDC's (faketime), and no correction from
    the KDC's time (kdc_timesync = 0): the KDC refuses the ticket request."""
    faketime = which("faketime")
    if faketime is None:
        skip_or_fail("needs faketime (apt-get install faketime)")
    assert faketime is not None
    config = with_krb5_conf(
        tiny_lab,
        tmp_path,
        lambda text: text.replace("[libdefaults]\n", "[libdefaults]\n    kdc_timesync = 0\n"),
    )
    ran = refused(config, user_cache, prefix=(faketime, "-f", "+1h"))
    assert ran.code == 5, ran.stderr
    assert "clock skew too great" in ran.stderr and "synchronize the clock" in ran.stderr


def test_ntlm_refused(tiny_lab: Path, tmp_path: Path, user_cache: Path) -> None:
    """A wrong password, then the DC refusing NTLM for the account (it may log on from
    one named workstation only): one line each, exit 5."""
    config = ntlm_config(tiny_lab, tmp_path, plain=True)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("Wr0ng-but-secret-too\n")
    wrong.chmod(0o600)
    doc = yaml.safe_load(config.read_text())
    right = doc["directory"]["bind"]["password"]
    doc["directory"]["bind"]["password"] = {"file": str(wrong)}
    config.write_text(yaml.safe_dump(doc))
    ran = refused(config, user_cache)
    assert ran.code == 5 and "refused the NTLM bind as" in ran.stderr
    assert "Wr0ng-but-secret-too" not in ran.stderr
    doc["directory"]["bind"]["password"] = right
    config.write_text(yaml.safe_dump(doc))
    state = read_state(tiny_lab)
    assert state is not None
    account = f"CN=poolsync-svc,CN=Users,{','.join('DC=' + p for p in state.forest.split('.'))}"
    editor = LabEditor(tiny_lab)
    editor.apply([Replace(account, "userWorkstations", ("NOWHERE",))])
    try:
        ran = refused(config, user_cache)
    finally:
        editor.apply([Replace(account, "userWorkstations", ())])
    assert ran.code == 5 and "refused the NTLM bind as" in ran.stderr


# -- the tickets: renewed from the keytab, or borrowed from the user's cache ----------
def test_a_ticket_is_renewed_before_it_would_run_out(
    tiny_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service keeps one login: the ticket is reused while it has more than the
    margin left (a pass's time), and got anew from the keytab once it has not."""
    from poolsync.config import load_config
    from poolsync.directory.kerberos import KerberosLogin

    config = load_config(kerberos_config(tiny_lab, tmp_path)).directory.bind.kerberos
    assert config is not None and config.krb5_conf is not None
    monkeypatch.setenv("KRB5_CONFIG", str(config.krb5_conf))  # restored after the test
    login = KerberosLogin(config, renew_margin=3600 + 60)
    first = login.credentials()
    assert login.credentials() is first and login.acquired == 1
    assert first.lifetime > 3600 + 60
    cache = login.cache
    login.renew_margin = first.lifetime + 3600  # as if the ticket were about to run out
    renewed = login.credentials()
    assert renewed is not first and login.acquired == 2 and login.cache != cache
    assert renewed.lifetime > 3600


def test_a_user_cache_is_borrowed_never_written(
    tiny_lab: Path, tmp_path: Path, user_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ccache:``: the ticket of a kinit is used, and the service tickets poolsync gets
    land in its private cache, not in the user's file (byte for byte unchanged)."""
    import gssapi

    keytab = tiny_lab / "secrets" / "poolsync-svc.keytab"
    monkeypatch.setenv("KRB5_CONFIG", str(tiny_lab / "krb5.conf"))
    theirs = tmp_path / "krb5cc_user"
    gssapi.Credentials(  # what `kinit -kt KEYTAB PRINCIPAL` leaves
        name=gssapi.Name("poolsync-svc@TINY.EXAMPLE.ORG", gssapi.NameType.kerberos_principal),
        usage="initiate",
        store={"client_keytab": str(keytab), "ccache": f"FILE:{theirs}"},
    )
    before = theirs.read_bytes()

    def from_cache(doc: dict[str, Any]) -> None:
        bind = doc["directory"]["bind"]
        del bind["keytab"], bind["principal"]
        bind["ccache"] = f"FILE:{theirs}"

    config = kerberos_config(tiny_lab, tmp_path, from_cache)
    ran = poolsync(config, "--debug", "resync", "--total", cache=user_cache)
    assert ran.code in (0, 3), ran.stderr[-2000:]
    assert "with Kerberos as the principal in FILE:" in ran.stderr
    assert theirs.read_bytes() == before

    def no_cache(doc: dict[str, Any]) -> None:
        from_cache(doc)
        doc["directory"]["bind"]["ccache"] = f"FILE:{tmp_path}/none"

    missing = kerberos_config(tiny_lab, tmp_path / "missing", no_cache)
    ran = refused(missing, user_cache)
    assert ran.code == 5 and "no Kerberos ticket in FILE:" in ran.stderr and "kinit" in ran.stderr


def test_ntlm_without_openssl_legacy_provider(
    tiny_lab: Path, tmp_path: Path, user_cache: Path
) -> None:
    """Where OpenSSL 3 gives this process no RC4 (NTLM's session keys; MD4 is pyspnego's
    own): one line that says what to install or use instead, before anything is sent."""
    legacy_off = {"CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1"}
    for plain in (True, False):
        config = ntlm_config(tiny_lab, tmp_path / str(plain), plain=plain)
        ran = refused(config, user_cache, env=legacy_off)
        assert ran.code == 2 and "bind.method: ntlm needs RC4" in ran.stderr
        assert "install cryptography's wheel" in ran.stderr and "kerberos" in ran.stderr


# -- the same binds in this process (what the subprocess runs above cannot measure) ---
@pytest.mark.parametrize(
    ("method", "plain", "protected"),
    [
        ("kerberos", False, "inside TLS"),
        ("kerberos", True, "sealed"),
        ("ntlm", False, "inside TLS"),
        ("ntlm", True, "sealed"),
    ],
)
def test_binds_in_process(
    tiny_lab: Path,
    tmp_path: Path,
    user_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
    plain: bool,
    protected: str,
) -> None:
    """A total and an incremental resync per bind and transport, in-process: the log
    says how the session is protected, and the paged and incremental reads run through
    the sealing socket when there is one."""
    import logging

    from tests.support.helpers import run

    monkeypatch.setenv("KRB5CCNAME", f"FILE:{user_cache}")
    monkeypatch.setenv("KRB5_CONFIG", str(tiny_lab / "krb5.conf"))  # restored afterwards
    state = read_state(tiny_lab)
    assert state is not None
    dc = state.dcs[0]
    if method == "ntlm":
        config = ntlm_config(tiny_lab, tmp_path, plain=plain)
    else:

        def transport(doc: dict[str, Any]) -> None:
            if plain:
                doc["directory"]["dc"]["url"] = f"ldap://{dc.address}:{dc.ldap_port}"
                doc["directory"]["gc"]["url"] = f"ldap://{dc.address}:{dc.gc_port}"

        config = kerberos_config(tiny_lab, tmp_path, transport)
    caplog.set_level(logging.INFO, logger="poolsync.directory.connection")
    total = run("--config", config, "resync", "--total")
    assert total.exit_code in (0, 3), total.stderr
    again = run("--config", config, "resync")
    assert again.exit_code in (0, 3), again.stderr
    assert "incremental" in again.stdout
    bound = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bound to")]
    assert bound and all(protected in line for line in bound), bound
    assert not user_cache.exists()


def test_refusals_in_process(
    tiny_lab: Path, tmp_path: Path, user_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SPN the DC lacks and a wrong NTLM password, in-process: exit 5, one line."""
    from tests.support.helpers import run

    monkeypatch.setenv("KRB5CCNAME", f"FILE:{user_cache}")
    monkeypatch.setenv("KRB5_CONFIG", str(tiny_lab / "krb5.conf"))
    config = with_bind(tiny_lab, tmp_path / "spn", spn_host="nosuch.tiny.example.org")
    ran = run("--config", config, "resync", "--total")
    assert ran.exit_code == 5 and "knows no service principal" in ran.stderr
    ntlm = ntlm_config(tiny_lab, tmp_path / "ntlm", plain=True)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("Wr0ng-but-secret-too\n")
    wrong.chmod(0o600)
    doc = yaml.safe_load(ntlm.read_text())
    doc["directory"]["bind"]["password"] = {"file": str(wrong)}
    ntlm.write_text(yaml.safe_dump(doc))
    ran = run("--config", ntlm, "resync", "--total")
    assert ran.exit_code == 5 and "refused the NTLM bind as" in ran.stderr
    assert ran.stderr.strip().count("\n") <= 1
