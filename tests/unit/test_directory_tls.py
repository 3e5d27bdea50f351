"""Certificate checks happen in the TLS handshake, host names and IP addresses alike,
for LDAPS and for StartTLS; turning them off is warned about once in every run.

A real TLS server on loopback (no LDAP behind it, or just enough LDAP to answer a
StartTLS request) with a certificate from a throwaway CA: a certificate for another
address, a self-signed certificate and one from another CA must all be refused with
validation on (the default). Against a real Samba DC: tests/integration/test_security.py.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.config import load_config
from poolsync.directory import connection
from poolsync.errors import DirectoryUnavailable, TlsError
from poolsync.lab import certs
from tests.support.fakes import write_config
from tests.support.live import live_connection

STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"


def _starttls_reply(request: bytes) -> bytes:
    """A successful ExtendedResponse to the StartTLS request ``request`` (short BER
    lengths: both messages are a few dozen bytes)."""
    assert request[0] == 0x30 and request[2] == 0x02, request
    message_id = request[2 : 4 + request[3]]  # INTEGER tag, length, value
    body = b"\x0a\x01\x00" + b"\x04\x00" + b"\x04\x00" + b"\x8a" + bytes([len(STARTTLS_OID)])
    body += STARTTLS_OID
    message = message_id + b"\x78" + bytes([len(body)]) + body
    return b"\x30" + bytes([len(message)]) + message


def tls_server(cert: Path, key: Path, *, starttls: bool = False) -> Iterator[int]:
    """Serve TLS on a loopback port: handshake, then hang up. With ``starttls`` the
    client first sends an LDAP StartTLS request, which is answered with success."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                conn.settimeout(5)
                if starttls:
                    request = conn.recv(4096)
                    assert STARTTLS_OID in request, request
                    conn.sendall(_starttls_reply(request))
                with context.wrap_socket(conn, server_side=True):
                    pass  # handshake, then hang up: no LDAP here
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a run of its own: no warning given yet."""
    monkeypatch.setattr(connection, "_warned", set())


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return certs.make_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return certs.make_ca(tmp_path_factory.mktemp("other-tls"))


def config_for(
    tmp_path: Path, port: int, ca_file: Path | None, *, starttls: bool = False, tls_extra: str = ""
) -> Path:
    tls = [f"ca_file: {ca_file}"] if ca_file is not None else []
    if starttls:
        tls.append("starttls: true")
    if tls_extra:
        tls.append(tls_extra)
    scheme = "ldap" if starttls else "ldaps"
    return write_config(
        tmp_path,
        dc_url=f"{scheme}://127.0.0.1:{port}",
        directory_extra=(
            f"  tls: {{{', '.join(tls)}}}\n  timeouts: {{connect: 3, operation: 3}}\n"
        ),
    )


@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
@pytest.mark.parametrize(
    ("address", "names", "outcome"),
    [
        ("127.0.0.2", ["dc1.lab.example.com"], TlsError),  # right CA, wrong address
        ("127.0.0.1", ["dc1.lab.example.com"], DirectoryUnavailable),  # TLS ok, no LDAP
    ],
)
def test_certificate_must_name_the_address(
    tmp_path: Path,
    ca: Path,
    address: str,
    names: list[str],
    outcome: type[Exception],
    starttls: bool,
) -> None:
    cert = certs.issue_dc_certificate(ca.parent, dc_name="DC1", dns_names=names, address=address)
    for port in tls_server(cert.cert, cert.key, starttls=starttls):
        config = load_config(config_for(tmp_path, port, ca, starttls=starttls))
        with pytest.raises(outcome) as info:
            live_connection(config.directory, config.directory.dc, password="pw")
        scheme = "ldap" if starttls else "ldaps"
        if outcome is TlsError:
            assert str(info.value) == (
                f"TLS certificate of {scheme}://127.0.0.1:{port} does not name 127.0.0.1 (IP "
                "address mismatch, certificate is not valid for '127.0.0.1'); connect with a "
                "host name or address the certificate carries"
            )


@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
@pytest.mark.parametrize("trust", ["system", "other-ca"])
def test_self_signed_certificate_is_refused_by_default(
    tmp_path: Path, ca: Path, other_ca: Path, trust: str, starttls: bool
) -> None:
    """The lab CA's own (self-signed) certificate on the server: neither the system
    trust store nor another CA's file lets it through."""
    for port in tls_server(ca, ca.parent / "ca.key", starttls=starttls):
        config = load_config(
            config_for(tmp_path, port, other_ca if trust == "other-ca" else None, starttls=starttls)
        )
        assert config.directory.tls.validate  # the default
        with pytest.raises(TlsError) as info:
            live_connection(config.directory, config.directory.dc, password="pw")
        message = str(info.value)
        assert "is not trusted" in message
        assert "self-signed certificate" in message or "self signed" in message
        if trust == "other-ca":  # set already: named, with what to point it at
            assert f"not trusted by directory.tls.ca_file ({other_ca}:" in message
            assert "point directory.tls.ca_file at the file of the CA" in message
        else:
            assert "set directory.tls.ca_file" in message
        if not starttls:  # read with a second, non-validating handshake
            assert "its certificate was issued by CN=poolsync lab CA" in message


@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
def test_certificate_from_another_ca_is_refused(
    tmp_path: Path, ca: Path, other_ca: Path, starttls: bool
) -> None:
    cert = certs.issue_dc_certificate(
        ca.parent, dc_name="DC1", dns_names=["dc1.lab.example.com"], address="127.0.0.1"
    )
    for port in tls_server(cert.cert, cert.key, starttls=starttls):
        config = load_config(config_for(tmp_path, port, other_ca, starttls=starttls))
        with pytest.raises(TlsError, match=r"is not trusted .*unable to get local issuer"):
            live_connection(config.directory, config.directory.dc, password="pw")


@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
def test_validation_off_connects_to_anything_and_warns_once(
    tmp_path: Path, ca: Path, starttls: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poolsync")
    for port in tls_server(ca, ca.parent / "ca.key", starttls=starttls):
        config = load_config(
            config_for(
                tmp_path, port, None, starttls=starttls, tls_extra="validate: false, insecure: true"
            )
        )
        for _ in range(3):  # three connections in one run (passes, retries, endpoints)
            with pytest.raises(DirectoryUnavailable):  # past TLS: no LDAP behind it
                live_connection(config.directory, config.directory.dc, password="pw")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [connection.INSECURE_WARNING]
    assert "validate: false" in warnings[0] and "\n" not in warnings[0]


def test_plain_ldap_warns_once_before_connecting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poolsync")
    config = load_config(write_config(tmp_path, dc_url="ldap://127.0.0.1:1"))
    for _ in range(2):
        with pytest.raises(DirectoryUnavailable):
            live_connection(config.directory, config.directory.dc, password="pw")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [connection.PLAINTEXT_WARNING.format(url="ldap://127.0.0.1:1")]


def test_validated_tls_gives_no_warning(
    tmp_path: Path, ca: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poolsync")
    for starttls in (False, True):
        config = load_config(config_for(tmp_path, 1, ca, starttls=starttls))
        with pytest.raises(DirectoryUnavailable):
            live_connection(config.directory, config.directory.dc, password="pw")
    assert not caplog.records


@pytest.mark.parametrize("args", [["resync", "--format", "json"], ["doctor"]])
def test_every_run_of_a_connecting_command_warns_in_one_line(
    tmp_path: Path, args: list[str]
) -> None:
    """The CLI as installed, in a process of its own (as every run is): one line on
    stderr, however many endpoints the command tries (doctor: the DC and the GC)."""
    config = config_for(tmp_path, 1, None, tls_extra="validate: false, insecure: true")
    config.write_text(config.read_text().replace("attempts: 3", "attempts: 1"))
    for _ in range(2):  # every run, not only the first
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from poolsync.cli.main import main; main()",
                "--config",
                str(config),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "400"},
        )
        assert proc.returncode == 5, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if "validation is off" in line]
        assert lines == [f"poolsync: WARNING: {connection.INSECURE_WARNING}"], proc.stderr
