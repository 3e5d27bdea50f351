"""Kerberos and NTLM binds without a DC: the config keys, the keytab reader and its
checks, the errors in words, and the SASL security layer's framing. What needs a KDC
and a DC is in tests/integration/test_kerberos_ntlm.py, against the lab's Samba."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolsync.config import KerberosConfig, load_config
from poolsync.directory import kerberos, sasl
from poolsync.directory.connection import NTLM_PLAINTEXT_WARNING, transport_warnings
from poolsync.directory.keytab import KeytabError, principals
from poolsync.errors import AuthError, ConfigError, DirectoryUnavailable, SecretError


def keytab_bytes(*names: str, version: int = 0x0502) -> bytes:
    """A keytab holding one AES key for each principal ``name/instance@REALM``."""
    out = struct.pack(">H", version)
    for full in names:
        name, realm = full.rsplit("@", 1)
        parts = name.split("/")
        count = len(parts) + (1 if version == 0x0501 else 0)
        entry = struct.pack(">H", count) + struct.pack(">H", len(realm)) + realm.encode()
        for part in parts:
            entry += struct.pack(">H", len(part)) + part.encode()
        entry += struct.pack(">IIBHH", 1, 0, 2, 18, 32) + b"K" * 32
        out += struct.pack(">i", len(entry)) + entry
    return out


def write_config(tmp_path: Path, bind: dict[str, Any]) -> Path:
    path = tmp_path / "poolsync.yaml"
    doc = {
        "forest": "corp.example.com",
        "directory": {"dc": {"url": "ldap://dc1.corp.example.com"}, "bind": bind},
        "store": "poolsync.db",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


# -- config ---------------------------------------------------------------------------
def test_kerberos_config_with_a_keytab(tmp_path: Path) -> None:
    (tmp_path / "krb5.conf").write_text("[libdefaults]\n")
    config = load_config(
        write_config(
            tmp_path,
            {
                "method": "kerberos",
                "principal": "svc@CORP.EXAMPLE.COM",
                "keytab": "svc.keytab",
                "spn_host": "DC1.corp.example.com",
                "krb5_conf": "krb5.conf",
            },
        )
    )
    bind = config.directory.bind
    assert bind.method == "kerberos" and bind.sasl and bind.password is None
    assert bind.kerberos == KerberosConfig(
        principal="svc@CORP.EXAMPLE.COM",
        keytab=tmp_path / "svc.keytab",
        ccache=None,
        spn_host="dc1.corp.example.com",
        krb5_conf=tmp_path / "krb5.conf",
    )
    assert bind.who == "svc@CORP.EXAMPLE.COM"


@pytest.mark.parametrize(
    ("bind", "message"),
    [
        ({"method": "kerberos"}, "exactly one of keytab (with principal) or ccache"),
        (
            {"method": "kerberos", "keytab": "k", "ccache": "default", "principal": "a@B"},
            "exactly one of keytab",
        ),
        ({"method": "kerberos", "keytab": "k"}, "a keytab needs the principal"),
        ({"method": "kerberos", "keytab": "k", "principal": "svc"}, "a principal such as"),
        (
            {"method": "kerberos", "ccache": "default", "password": {"env": "X"}},
            "never a password",
        ),
        ({"method": "kerberos", "ccache": "default", "spn_host": "a b"}, "DNS host name"),
        ({"method": "kerberos", "ccache": "default", "krb5_conf": "nope"}, "cannot read krb5"),
        ({"method": "ntlm", "user": "svc", "password": {"env": "X"}}, "DOMAIN\\user"),
        ({"method": "simple", "user": "u", "password": {"env": "X"}, "keytab": "k"}, "remove"),
        ({"method": "anonymous", "principal": "a@B"}, "not used with method: anonymous"),
    ],
)
def test_bad_bind_configs(tmp_path: Path, bind: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"directory\.bind") as caught:
        load_config(write_config(tmp_path, bind))
    assert message in str(caught.value)


def test_ntlm_config(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path, {"method": "ntlm", "user": "CORP\\svc", "password": {"env": "P"}})
    )
    assert config.directory.bind.user == "CORP\\svc" and config.directory.bind.sasl
    warnings = transport_warnings(config.directory.dc, config.directory)
    assert warnings == {
        "ntlm-plaintext": NTLM_PLAINTEXT_WARNING.format(url=config.directory.dc.url)
    }


def test_kerberos_on_plain_ldap_gives_no_plaintext_warning(tmp_path: Path) -> None:
    """Kerberos seals a plain session (sasl.py): nothing crosses in clear."""
    config = load_config(write_config(tmp_path, {"method": "kerberos", "ccache": "default"}))
    assert transport_warnings(config.directory.dc, config.directory) == {}


# -- the keytab -----------------------------------------------------------------------
def test_principals_of_a_keytab() -> None:
    data = keytab_bytes("svc@CORP.EXAMPLE.COM", "HTTP/web.corp.example.com@CORP.EXAMPLE.COM")
    assert principals(data) == [
        "svc@CORP.EXAMPLE.COM",
        "HTTP/web.corp.example.com@CORP.EXAMPLE.COM",
    ]
    assert principals(keytab_bytes("svc@R", version=0x0501)) == ["svc@R"]
    # a hole left by a deleted entry, then the same principal again (another kvno)
    holed = data[:2] + struct.pack(">i", -5) + b"\0" * 5 + data[2:] + data[2:]
    assert principals(holed) == principals(data)


@pytest.mark.parametrize("data", [b"", b"\x05", b"hello", keytab_bytes("a@B")[:-3]])
def test_not_a_keytab(data: bytes) -> None:
    with pytest.raises(KeytabError):
        principals(data)


def kerberos_config(keytab: Path, principal: str = "svc@CORP.EXAMPLE.COM") -> KerberosConfig:
    return KerberosConfig(
        principal=principal, keytab=keytab, ccache=None, origin="poolsync.yaml: directory.bind"
    )


def test_check_keytab(tmp_path: Path) -> None:
    keytab = tmp_path / "svc.keytab"
    keytab.write_bytes(keytab_bytes("svc@CORP.EXAMPLE.COM"))
    keytab.chmod(0o600)
    kerberos.check_keytab(kerberos_config(keytab))  # fine
    with pytest.raises(SecretError, match=r"case-sensitive; use svc@CORP.EXAMPLE.COM"):
        kerberos.check_keytab(kerberos_config(keytab, "svc@corp.example.com"))
    with pytest.raises(SecretError, match=r"other@CORP.EXAMPLE.COM is not in keytab .* holds svc@"):
        kerberos.check_keytab(kerberos_config(keytab, "other@CORP.EXAMPLE.COM"))
    keytab.chmod(0o644)
    with pytest.raises(SecretError, match=r"keytab .* has mode 0644; make it 0600"):
        kerberos.check_keytab(kerberos_config(keytab))
    with pytest.raises(SecretError, match=r"keytab .*missing.keytab: No such file"):
        kerberos.check_keytab(kerberos_config(tmp_path / "missing.keytab"))
    keytab.write_bytes(b"not a keytab")
    keytab.chmod(0o600)
    with pytest.raises(SecretError, match="is not a keytab"):
        kerberos.check_keytab(kerberos_config(keytab))


# -- errors in words ------------------------------------------------------------------
class FakeGssError(Exception):
    def __init__(self, minor: int) -> None:
        self.min_code = minor

    def gen_message(self) -> str:
        return "Major (1): some\nMinor (2): thing"


@pytest.mark.parametrize(
    ("minor", "kind", "words"),
    [
        (kerberos.KDC_UNREACH, DirectoryUnavailable, "no KDC for realm CORP.EXAMPLE.COM answers"),
        (kerberos.REALM_UNKNOWN, ConfigError, "no KDC is known for realm"),
        (kerberos.AP_ERR_SKEW, AuthError, "clock skew"),
        (kerberos.KDC_ERR_S_PRINCIPAL_UNKNOWN, AuthError, "bind.spn_host"),
        (kerberos.KDC_ERR_PREAUTH_FAILED, AuthError, "export a new keytab"),
        (kerberos.FCC_NOFILE, AuthError, "run kinit"),
        (12345, AuthError, "failed: Major (1): some Minor (2): thing"),
    ],
)
def test_explain(minor: int, kind: type[Exception], words: str) -> None:
    error = kerberos.explain(
        FakeGssError(minor), kerberos_config(Path("k")), what="getting a ticket"
    )
    assert type(error) is kind
    assert words in str(error) and "\n" not in str(error)


def test_missing_packages_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_gss(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("gssapi", "spnego"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gss)
    with pytest.raises(ConfigError, match=r"pip install 'poolsync\[kerberos\]'"):
        kerberos.gssapi_module()
    with pytest.raises(ConfigError, match=r"pip install 'poolsync\[ntlm\]'"):
        sasl.spnego_module()


# -- the security layer ---------------------------------------------------------------
class XorWrapper:
    """Stands for a GSS context: a reversible change with a 4-byte header."""

    def wrap(self, data: bytes) -> bytes:
        return b"HDR!" + bytes(b ^ 0x5A for b in data)

    def unwrap(self, data: bytes) -> bytes:
        assert data[:4] == b"HDR!"
        return bytes(b ^ 0x5A for b in data[4:])


def test_sasl_socket_round_trip() -> None:
    """What is sent is wrapped in length-prefixed buffers no bigger than the DC takes;
    what arrives, in any pieces, unwraps to the plain stream; a cut read resumes."""
    mine, theirs = socket.socketpair()
    with mine, theirs:
        sealed = sasl.SaslSocket(mine, XorWrapper(), max_send=1000)
        payload = bytes(range(256)) * 20  # 5120 bytes: six buffers
        sealed.sendall(payload)
        received = b""
        buffers = 0
        theirs.settimeout(2)
        while len(received) < len(payload):
            (length,) = struct.unpack(">I", theirs.recv(4, socket.MSG_WAITALL))
            token = theirs.recv(length, socket.MSG_WAITALL)
            assert length <= 1004
            received += XorWrapper().unwrap(token)
            buffers += 1
        assert received == payload and buffers == 6
        # Their buffers reach us a few bytes at a time, with a timeout in the middle.
        wire = b"".join(
            struct.pack(">I", len(t)) + t
            for t in (XorWrapper().wrap(b"hello "), XorWrapper().wrap(b"world"))
        )
        mine.settimeout(0.2)
        theirs.sendall(wire[:7])
        with pytest.raises(TimeoutError):
            sealed.recv(100)
        theirs.sendall(wire[7:])
        assert sealed.recv(3) == b"hel"
        assert sealed.recv(100) == b"lo "
        assert sealed.recv(100) == b"world"
        assert sealed.gettimeout() == 0.2  # everything else is the real socket's
        theirs.close()
        assert sealed.recv(10) == b""


def test_sasl_socket_refuses_a_broken_stream() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        sealed = sasl.SaslSocket(mine, XorWrapper(), max_send=100)
        theirs.sendall(struct.pack(">I", 0x7FFFFFFF))
        with pytest.raises(OSError, match="stream is broken"):
            sealed.recv(10)
        sealed2 = sasl.SaslSocket(theirs, XorWrapper(), max_send=100)
        mine.sendall(struct.pack(">I", 3) + b"bad")
        with pytest.raises(OSError, match="did not unwrap"):
            sealed2.recv(10)


def test_sasl_socket_sends_from_threads_whole() -> None:
    """Two threads sending at once never interleave inside a buffer."""
    mine, theirs = socket.socketpair()
    with mine, theirs:
        sealed = sasl.SaslSocket(mine, XorWrapper(), max_send=10_000)
        threads = [
            threading.Thread(target=sealed.sendall, args=(bytes([n]) * 5000,)) for n in (1, 2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        theirs.settimeout(2)
        seen = []
        for _ in range(2):
            (length,) = struct.unpack(">I", theirs.recv(4, socket.MSG_WAITALL))
            plain = XorWrapper().unwrap(theirs.recv(length, socket.MSG_WAITALL))
            assert len(set(plain)) == 1
            seen.append(plain[0])
        assert sorted(seen) == [1, 2]


def test_layer_choice() -> None:
    assert sasl._choose_layer(7, tls=True) == sasl.LAYER_NONE
    assert sasl._choose_layer(7, tls=False) == sasl.LAYER_CONFIDENTIALITY
    assert sasl._choose_layer(3, tls=False) == sasl.LAYER_INTEGRITY
    assert sasl._choose_layer(1, tls=False) == sasl.LAYER_NONE
    with pytest.raises(AuthError, match="without signing over TLS"):
        sasl._choose_layer(6, tls=True)
