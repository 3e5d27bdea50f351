"""Certificate checks happen in the TLS handshake, host names and IP addresses alike.

A real TLS server on loopback (no LDAP behind it) with a certificate from a throwaway
CA: a certificate for another address must be refused even though the CA is trusted.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolsync.config import load_config
from poolsync.directory import connect
from poolsync.errors import DirectoryUnavailable, TlsError
from poolsync.lab import certs
from tests.unit.fakes import write_config


def tls_server(cert: certs.DcCertificate) -> Iterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert, cert.key)
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
                with context.wrap_socket(conn, server_side=True):
                    pass  # handshake, then hang up: no LDAP here
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    return certs.make_ca(tmp_path / "tls")


def config_for(tmp_path: Path, port: int, ca_file: Path) -> Path:
    return write_config(tmp_path, dc_url=f"ldaps://127.0.0.1:{port}", directory_extra=(
        f"  tls: {{ca_file: {ca_file}}}\n  timeouts: {{connect: 3, operation: 3}}\n"))


@pytest.mark.parametrize(("address", "names", "outcome"), [
    ("127.0.0.2", ["dc1.lab.example.com"], TlsError),      # right CA, wrong address
    ("127.0.0.1", ["dc1.lab.example.com"], DirectoryUnavailable),  # TLS ok, no LDAP
])
def test_certificate_must_name_the_address(tmp_path: Path, ca: Path, address: str,
                                           names: list[str], outcome: type[Exception]) -> None:
    cert = certs.issue_dc_certificate(ca.parent, dc_name="DC1", dns_names=names,
                                      address=address)
    for port in tls_server(cert):
        config = load_config(config_for(tmp_path, port, ca))
        with pytest.raises(outcome) as info:
            connect(config.directory.dc, config.directory, password="pw")
        if outcome is TlsError:
            assert str(info.value) == (
                f"TLS certificate of ldaps://127.0.0.1:{port} does not name 127.0.0.1 (IP "
                "address mismatch, certificate is not valid for '127.0.0.1'); connect with a "
                "host name or address the certificate carries")
