"""The lab's own certificate authority and the certificates it issues.

Samba's self-generated certificate names only the DC's host name, so a client that
connects to the lab by address could not validate it. The lab therefore issues a CA
and, per DC, a certificate whose subjectAltName carries the DC's DNS names and its
loopback address; poolsync's config trusts that CA with validation on. Each lab Unity
server's web server gets one the same way (:func:`issue_server_certificate`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from poolsync.errors import LabError


@dataclass(frozen=True, slots=True)
class DcCertificate:
    """A certificate and its private key (a DC's, or a lab Unity server's)."""

    cert: Path
    key: Path


def _openssl(args: list[str], *, cwd: Path) -> None:
    try:
        proc = subprocess.run(
            ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError as exc:
        raise LabError("openssl not found: install it (apt-get install openssl)") from exc
    if proc.returncode != 0:
        raise LabError(f"openssl {args[0]} failed: {proc.stderr.strip()[-400:]}")


def make_ca(tls_dir: Path) -> Path:
    """Create the lab CA in ``tls_dir``; return the CA certificate's path."""
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _openssl(
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=poolsync lab CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        cwd=tls_dir,
    )
    (tls_dir / "ca.key").chmod(0o600)
    return tls_dir / "ca.pem"


def issue_dc_certificate(
    tls_dir: Path, *, dc_name: str, dns_names: list[str], address: str
) -> DcCertificate:
    """Issue a server certificate for one DC, signed by the lab CA in ``tls_dir``."""
    stem = dc_name.lower()
    san = ",".join([*(f"DNS:{n}" for n in dns_names), f"IP:{address}"])
    ext = tls_dir / f"{stem}.ext"
    ext.write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{stem}.key",
            "-out",
            f"{stem}.csr",
            "-subj",
            f"/CN={dns_names[0]}",
        ],
        cwd=tls_dir,
    )
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            f"{stem}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{stem}.pem",
            "-days",
            "825",
            "-extfile",
            ext.name,
        ],
        cwd=tls_dir,
    )
    # samba refuses a key file that others can read.
    (tls_dir / f"{stem}.key").chmod(0o600)
    return DcCertificate(cert=tls_dir / f"{stem}.pem", key=tls_dir / f"{stem}.key")


def issue_server_certificate(
    tls_dir: Path, out_dir: Path, *, common_name: str, dns_names: list[str], address: str
) -> DcCertificate:
    """Issue ``out_dir/server.pem`` (and its key) for a lab Unity server's web server,
    signed by the lab CA in ``tls_dir``: subjectAltName its loopback address (how the
    lab's config reaches it) and ``dns_names``.

    A P-256 key rather than RSA: it takes milliseconds, and a lab has one per server.
    """
    san = ",".join([*(f"DNS:{n}" for n in dns_names), f"IP:{address}"])
    (out_dir / "server.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    key, cert = out_dir / "server.key", out_dir / "server.pem"
    _openssl(
        [
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            "server.csr",
            "-subj",
            f"/CN={common_name}",
        ],
        cwd=out_dir,
    )
    key.chmod(0o600)
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            str(tls_dir / "ca.pem"),
            "-CAkey",
            str(tls_dir / "ca.key"),
            "-CAcreateserial",
            "-CAserial",
            str(out_dir / "ca.srl"),
            "-out",
            str(cert),
            "-days",
            "825",
            "-extfile",
            "server.ext",
        ],
        cwd=out_dir,
    )
    for leftover in ("server.csr", "server.ext", "ca.srl"):
        (out_dir / leftover).unlink(missing_ok=True)
    return DcCertificate(cert=cert, key=key)
