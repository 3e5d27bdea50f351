"""Where each Unity server answers: the endpoints of the config's ``servers:`` section.

These are the dataclasses of the issue-17 contract, exactly; the config parser
(``servers:`` in poolsync.yaml) builds them and the clients in this package read them.
Secrets stay :class:`~poolsync.secrets.SecretRef` references until a read resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from poolsync.secrets import SecretRef

__all__ = ["HttpEndpoint", "ServerEndpoints", "SnmpAuth", "SnmpEndpoint"]


@dataclass(frozen=True)
class HttpEndpoint:
    """The effective-license page: ``url`` (``/avxml/effectivelicense.asp``), optional
    basic auth, TLS validated against ``ca_file`` (or the system's trust store)."""

    url: str
    ca_file: Path | None
    validate: bool
    user: str | None
    password: SecretRef | None
    timeout: float


@dataclass(frozen=True)
class SnmpAuth:
    """A v3 authentication or privacy setting."""

    protocol: str  # "SHA" | "SHA256" | "AES" | "AES256"
    password: SecretRef


@dataclass(frozen=True)
class SnmpEndpoint:
    """CISCO-UNITY-MIB over SNMP: v2c with ``community``, or v3 with ``user`` and
    ``auth`` (and ``priv``)."""

    host: str
    port: int
    version: str  # "2c" | "3"
    community: SecretRef | None
    user: str | None
    auth: SnmpAuth | None
    priv: SnmpAuth | None
    timeout: float


@dataclass(frozen=True)
class ServerEndpoints:
    """One configured Unity server: its Location's name and either or both endpoints."""

    name: str
    http: HttpEndpoint | None
    snmp: SnmpEndpoint | None
