"""Kerberos and NTLM binds over SASL, and the security layer that seals a plain session.

ldap3 2.9.1 binds with GSSAPI but "does not support any security layers" (its own
words), and its NTLM is Microsoft's Sicily bind, which Samba refuses. Both binds are
therefore done here, over ldap3's open connection, with the mechanisms every Active
Directory DC (and Samba) offers:

* **Kerberos**: SASL ``GSSAPI`` (RFC 4752) through the ``gssapi`` package. After the
  context is set up the DC offers its security layers; poolsync takes *none* over TLS
  (LDAPS or StartTLS: AD refuses to sign or seal inside TLS) and *confidentiality*
  (sealing, which also signs) on plain LDAP, where a DC that requires LDAP signing
  refuses a bind without it.
* **NTLM**: SASL ``GSS-SPNEGO`` carrying NTLMSSP (NTLMv2, through the ``pyspnego``
  package: its MD4 is its own, its RC4 cryptography's, see :func:`require_rc4`). On plain LDAP
  the NTLM session is sealed; over TLS it is neither signed nor sealed (as for
  Kerberos), and carries the TLS channel binding.

Over TLS both bind with the channel binding token ``tls-server-end-point`` (RFC 5929)
of the DC's certificate, which a DC enforcing "LDAP channel binding" requires.

A sealed session's traffic is SASL buffers (a 4-byte length, then a wrapped token):
:class:`SaslSocket` replaces the connection's socket and wraps and unwraps under ldap3
and poolsync's own readers (paged searches, change notifications), which see plain LDAP.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol

import ldap3
from ldap3.core import exceptions as lex
from ldap3.protocol.sasl.sasl import send_sasl_negotiation

from poolsync.errors import AuthError, ConfigError, DirectoryError

log = logging.getLogger(__name__)

#: RFC 4752 security layers, as the DC offers and the client chooses them.
LAYER_NONE = 1
LAYER_INTEGRITY = 2
LAYER_CONFIDENTIALITY = 4
#: The largest SASL buffer poolsync receives (3 bytes in the RFC 4752 reply).
CLIENT_MAX_BUFFER = 0xFFFFFF
#: A length prefix beyond this is not a SASL buffer: the stream is broken.
_MAX_FRAME = CLIENT_MAX_BUFFER + 64 * 1024

NTLM_HINT = (
    "bind.method: ntlm needs the pyspnego package: pip install 'poolsync[ntlm]' "
    "(pure Python, with cryptography for RC4)"
)


class Wrapper(Protocol):
    """What seals a session: a GSS-API context (Kerberos) or an NTLM one."""

    def wrap(self, data: bytes) -> bytes: ...

    def unwrap(self, data: bytes) -> bytes: ...


class SaslSocket:
    """A socket whose traffic is SASL buffers: ``sendall`` wraps, ``recv`` unwraps.

    Everything else (timeouts, shutdown, close, fileno) is the real socket's. A read cut
    by a timeout in the middle of a buffer keeps what arrived, so the next read goes on
    where it stopped.
    """

    def __init__(self, sock: socket.socket, wrapper: Wrapper, *, max_send: int) -> None:
        self._sock = sock
        self._wrapper = wrapper
        self._max_send = max_send
        self._raw = bytearray()
        self._plain = bytearray()
        self._send_lock = threading.Lock()

    def sendall(self, data: bytes) -> None:
        with self._send_lock:
            view = memoryview(bytes(data))
            for start in range(0, len(view), self._max_send):
                token = self._wrapper.wrap(bytes(view[start : start + self._max_send]))
                self._sock.sendall(struct.pack(">I", len(token)) + token)

    def recv(self, size: int) -> bytes:
        while not self._plain:
            if not self._next_buffer():
                return b""
        out = bytes(self._plain[:size])
        del self._plain[:size]
        return out

    def _next_buffer(self) -> bool:
        """Unwrap one whole SASL buffer into the plain bytes; False at end of stream."""
        while True:
            if len(self._raw) >= 4:
                (length,) = struct.unpack(">I", self._raw[:4])
                if length > _MAX_FRAME:
                    raise OSError(f"a SASL buffer of {length} bytes: the stream is broken")
                if len(self._raw) >= 4 + length:
                    token = bytes(self._raw[4 : 4 + length])
                    del self._raw[: 4 + length]
                    try:
                        self._plain += self._wrapper.unwrap(token)
                    except Exception as exc:  # a GSS or NTLM error: the stream is broken
                        raise OSError(f"a SASL buffer did not unwrap: {exc}") from exc
                    return True
            chunk = self._sock.recv(65536)
            if not chunk:
                return False
            self._raw += chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def tls_end_point(sock: object) -> bytes | None:
    """RFC 5929 ``tls-server-end-point`` channel binding data of a TLS socket's peer
    certificate, or None for a plain socket."""
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    der = getpeercert(True)
    if not der:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(der)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()  # RFC 5929 4.1
    digest = hashes.Hash(algorithm)
    digest.update(der)
    return b"tls-server-end-point:" + digest.finalize()


def _exchange(
    conn: ldap3.Connection, mechanism: str, first: bytes, step: Callable[[bytes], bytes | None]
) -> bytes:
    """Run a SASL bind: send ``first``, feed each challenge to ``step`` and send its
    answer, until the DC says success; returns the DC's last token (may be empty)."""
    conn.sasl_mechanism = mechanism
    token: bytes | None = first
    while True:
        result = send_sasl_negotiation(conn, None, token or b"")
        server = result.get("saslCreds") or b""
        if result["result"] == 0:
            return bytes(server)
        token = step(bytes(server))


class _GssWrapper:
    def __init__(self, context: Any, *, seal: bool) -> None:
        self._context = context
        self._seal = seal

    def wrap(self, data: bytes) -> bytes:
        return bytes(self._context.wrap(data, self._seal).message)

    def unwrap(self, data: bytes) -> bytes:
        return bytes(self._context.unwrap(data).message)


def bind_kerberos(conn: ldap3.Connection, credentials: Any, *, host: str, tls: bool) -> str | None:
    """SASL GSSAPI bind with ``credentials`` to the service ``ldap/<host>``; seals the
    session on plain LDAP. Returns what the session is protected by, for the log
    ("sealed", or None over TLS). GSS errors propagate (the caller explains them)."""
    import gssapi
    from gssapi.raw import ChannelBindings

    flags = (
        gssapi.RequirementFlag.mutual_authentication
        | gssapi.RequirementFlag.integrity
        | gssapi.RequirementFlag.confidentiality
        | gssapi.RequirementFlag.out_of_sequence_detection
    )
    binding = tls_end_point(conn.socket)
    context = gssapi.SecurityContext(
        name=gssapi.Name(f"ldap@{host}", gssapi.NameType.hostbased_service),
        mech=gssapi.MechType.kerberos,
        creds=credentials,
        flags=flags,
        usage="initiate",
        channel_bindings=ChannelBindings(application_data=binding) if binding else None,
    )
    conn.sasl_mechanism = "GSSAPI"
    token = context.step(None)
    while True:
        result = send_sasl_negotiation(conn, None, token or b"")
        server = bytes(result.get("saslCreds") or b"")
        if context.complete:
            break
        token = context.step(server)
    offer = context.unwrap(server).message
    if len(offer) != 4:
        raise AuthError(f"the DC's SASL GSSAPI offer has {len(offer)} bytes, not 4")
    layers, server_max = offer[0], int.from_bytes(offer[1:4], "big")
    layer = _choose_layer(layers, tls=tls)
    reply = bytes([layer]) + (0 if layer == LAYER_NONE else CLIENT_MAX_BUFFER).to_bytes(3, "big")
    send_sasl_negotiation(conn, None, context.wrap(reply, False).message)
    if layer == LAYER_NONE:
        return None
    seal = layer == LAYER_CONFIDENTIALITY
    max_send = context.get_wrap_size_limit(server_max or 65536, encrypted=seal)
    conn.socket = SaslSocket(conn.socket, _GssWrapper(context, seal=seal), max_send=max_send)
    return "sealed" if seal else "signed"


def _choose_layer(offered: int, *, tls: bool) -> int:
    if tls:
        if offered & LAYER_NONE:
            return LAYER_NONE
        raise AuthError("the DC offers no SASL bind without signing over TLS; use ldap://")
    for layer in (LAYER_CONFIDENTIALITY, LAYER_INTEGRITY):
        if offered & layer:
            return layer
    log.warning("the DC offers no SASL signing or sealing: the session is not encrypted")
    return LAYER_NONE


class _NtlmWrapper:
    def __init__(self, context: Any) -> None:
        self._context = context

    def wrap(self, data: bytes) -> bytes:
        return bytes(self._context.wrap(data, encrypt=True).data)

    def unwrap(self, data: bytes) -> bytes:
        return bytes(self._context.unwrap(data).data)


def spnego_module() -> Any:
    """The ``spnego`` package (pyspnego), or a ConfigError that says how to install it."""
    try:
        import spnego
    except ImportError:
        raise ConfigError(NTLM_HINT) from None
    return spnego


RC4_HINT = (
    "bind.method: ntlm needs RC4 (NTLM's session keys; pyspnego sets them up for every "
    "NTLM session), which OpenSSL 3 keeps in its legacy provider, and this process cannot "
    "use it (CRYPTOGRAPHY_OPENSSL_NO_LEGACY set, or a cryptography built without the "
    "legacy provider): unset it, or install cryptography's wheel from PyPI, which bundles "
    "the provider; or use bind.method: kerberos"
)


def require_rc4() -> None:
    """NTLM's session keys are RC4 (pyspnego's MD4 is its own, but not its RC4): a
    ConfigError that says what to do when this process's OpenSSL refuses it."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
    from cryptography.hazmat.primitives.ciphers import Cipher

    try:
        Cipher(ARC4(bytes(16)), mode=None).encryptor()
    except UnsupportedAlgorithm:
        raise ConfigError(RC4_HINT) from None


def bind_ntlm(
    conn: ldap3.Connection, user: str, password: str, *, host: str, tls: bool
) -> str | None:
    """SASL GSS-SPNEGO bind carrying NTLMSSP as ``user`` (``DOMAIN\\user``); seals the
    session on plain LDAP. Returns "sealed", or None over TLS."""
    spnego = spnego_module()
    from spnego._ntlm_raw.messages import NegotiateFlags
    from spnego.channel_bindings import GssChannelBindings

    binding = tls_end_point(conn.socket)
    if tls:
        wanted = spnego.ContextReq.none
    else:
        wanted = (
            spnego.ContextReq.integrity
            | spnego.ContextReq.confidentiality
            | spnego.ContextReq.sequence_detect
            | spnego.ContextReq.replay_detect
        )
    context = spnego.client(
        user,
        password,
        hostname=host,
        service="ldap",
        protocol="ntlm",
        context_req=wanted,
        channel_bindings=GssChannelBindings(application_data=binding) if binding else None,
    )
    if tls:
        # Unsigned NTLM: pyspnego (0.12) still asks for a key exchange and then sends a
        # one-byte session key, which Samba refuses as malformed. Without a signed or
        # sealed session there is no key to exchange: do not ask for one.
        context._context_req &= ~NegotiateFlags.key_exch
    last = _exchange(conn, "GSS-SPNEGO", context.step(), context.step)
    if last and not context.complete:
        context.step(last)
    if tls:
        return None
    conn.socket = SaslSocket(conn.socket, _NtlmWrapper(context), max_send=64 * 1024)
    return "sealed"


def refused(exc: lex.LDAPException, *, where: str, who: str, method: str) -> DirectoryError:
    """The DC's refusal of a SASL bind, in words."""
    message = getattr(exc, "message", "") or str(exc)
    if isinstance(exc, lex.LDAPInvalidCredentialsResult):
        if method == "ntlm":
            return AuthError(
                f"{where} refused the NTLM bind as {who}: invalid credentials, or NTLM is "
                "not allowed for this account or DC (check bind.user and the password "
                "reference; a DC that restricts NTLM needs bind.method: kerberos)"
            )
        return AuthError(f"{where} refused the Kerberos bind as {who}: {message}")
    if isinstance(exc, lex.LDAPStrongerAuthRequiredResult):
        return AuthError(
            f"{where} refuses SASL binds without signing, and signing inside TLS "
            "(Samba's 'ldap server require strong auth = yes'): use ldap:// (poolsync "
            "seals the session), or allow SASL over TLS on the DC (allow_sasl_over_tls)"
        )
    if isinstance(exc, lex.LDAPAuthMethodNotSupportedResult):
        mechanism = "GSSAPI" if method == "kerberos" else "GSS-SPNEGO"
        return AuthError(f"{where} does not accept SASL {mechanism} binds ({message})")
    return AuthError(f"{where} refused the {method} bind as {who}: {message}")
