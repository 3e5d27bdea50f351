"""The config's ``servers:`` section: where each Unity server answers for itself.

A mapping from a server's Location name (matched case-insensitively, each listed once)
to its effective-license page (``http``) and/or its SNMP agent (``snmp``)::

    servers:
      UNITY-A:
        http: {url: "https://unity-a.example.com", ca_file: tls/ca.pem}
        snmp: {host: unity-a.example.com, version: "3", user: poolsync,
               auth: {protocol: SHA, password: {file: secrets/snmp-auth}},
               priv: {protocol: AES, password: {file: secrets/snmp-priv}}}

Parsed into frozen dataclasses with the same error style as the rest of the config
(file, key path, what was expected). Relative paths (``ca_file``, secret files) are
relative to the config file. Secrets stay :class:`~poolsync.secrets.SecretRef`
references: nothing is resolved or contacted here. docs/configuration.md describes
every key.

Entry points: :func:`parse_servers`, :data:`DEFAULT_PATH`, the dataclasses
:class:`ServerEndpoints`, :class:`HttpEndpoint`, :class:`SnmpEndpoint`,
:class:`SnmpAuth`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from poolsync.config import is_dns_name
from poolsync.secrets import SecretRef
from poolsync.servers.endpoints import HttpEndpoint, ServerEndpoints, SnmpAuth, SnmpEndpoint
from poolsync.yamlfile import Node

__all__ = [
    "AUTH_PROTOCOLS",
    "DEFAULT_PATH",
    "PRIV_PROTOCOLS",
    "SNMP_VERSIONS",
    "HttpEndpoint",
    "ServerEndpoints",
    "SnmpAuth",
    "SnmpEndpoint",
    "parse_servers",
]

#: The effective-license page of a Unity server; a URL without a path gets it.
DEFAULT_PATH: Final = "/avxml/effectivelicense.asp"
SNMP_VERSIONS: Final = ("2c", "3")
AUTH_PROTOCOLS: Final = ("SHA", "SHA256")
PRIV_PROTOCOLS: Final = ("AES", "AES256")
HTTP_TIMEOUT: Final = 10.0
SNMP_TIMEOUT: Final = 5.0
SNMP_PORT: Final = 161
#: The longest timeout accepted (seconds): a read that may hang for longer is a mistake.
MAX_TIMEOUT: Final = 3600.0
#: SNMP-FRAMEWORK-MIB's SnmpAdminString for a USM user name: 1 to 32 octets.
_MAX_SNMP_USER: Final = 32


def parse_servers(node: Node, *, base_dir: Path) -> tuple[ServerEndpoints, ...]:
    """The ``servers:`` mapping (``node``), in the order the file lists them.

    Raises the node's error type (a :class:`~poolsync.errors.ConfigError` for the
    config) naming the file, the key path and what was expected.
    """
    found: list[ServerEndpoints] = []
    seen: dict[str, str] = {}
    names = node.keys()
    for name in names:
        if not name.strip() or _has_control(name):
            raise node.expected("a server name (its Location's name)", name)
        if name.lower() in seen:
            raise node.error(
                f"{name!r} is listed twice (also as {seen[name.lower()]!r}; "
                "names are case-insensitive)",
                key=name,
            )
        seen[name.lower()] = name
        entry = node.child(name)
        entry.check_keys(("http", "snmp"))
        if "http" not in entry and "snmp" not in entry:
            raise entry.error("expected http and/or snmp, got neither")
        http = entry.optional_child("http")
        snmp = entry.optional_child("snmp")
        found.append(
            ServerEndpoints(
                name=name,
                http=None if http is None else _http(http, base_dir=base_dir),
                snmp=None if snmp is None else _snmp(snmp, base_dir=base_dir),
            )
        )
    return tuple(found)


def _has_control(text: str) -> bool:
    """Control characters: refused in names, URLs and paths (a newline would split
    every message that shows them; the OS refuses a NUL in a path)."""
    return any(ord(c) < 32 or c == "\x7f" for c in text)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return is_dns_name(host)
    return True


def _timeout(node: Node, default: float) -> float:
    return node.optional_number(
        "timeout", default=default, minimum=0, maximum=MAX_TIMEOUT, exclusive_min=True
    )


# -- http ---------------------------------------------------------------------------------


def _url(node: Node) -> tuple[str, str]:
    """The page's URL with its path (the default one when none is given) and its scheme."""
    text = node.required_str("url")
    what = "an http:// or https:// URL"
    if "@" in text.split("://", 1)[-1].split("/", 1)[0]:
        # The URL is not shown: what is before the @ may be a password.
        raise node.error(
            f"expected {what} without a user name or password (give them as "
            "auth: {user: ..., password: {file: ...}}), got a URL with "
            "credentials in it",
            key="url",
        )
    if _has_control(text) or any(c.isspace() for c in text):
        # urlsplit would silently drop a tab or newline; say so instead.
        raise node.expected(f"{what} without spaces or control characters", text, key="url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise node.expected(f"{what} with a port from 1 to 65535", text, key="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not text.lower().startswith(f"{scheme}://"):
        raise node.expected(what, text, key="url")
    if parts.query or parts.fragment:
        raise node.expected(f"{what} without a query or fragment", text, key="url")
    host = parts.hostname
    if not host or not _is_host(host):
        raise node.expected(f"{what} whose host is a DNS name or IP address", text, key="url")
    if port == 0:
        raise node.expected(f"{what} with a port from 1 to 65535", text, key="url")
    path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
    return urlunsplit((scheme, parts.netloc, path, "", "")), scheme


def _ca_file(node: Node, *, base_dir: Path) -> Path | None:
    name = node.optional_str("ca_file")
    if name is None:
        return None
    if _has_control(name):
        raise node.expected("a file path without control characters", name, key="ca_file")
    path = base_dir / name
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise node.error(
            f"cannot read CA file {path}: {exc.strerror or exc}", key="ca_file"
        ) from None
    if not path.is_file():
        raise node.error(f"cannot read CA file {path}: not a regular file", key="ca_file")
    return path


def _http(node: Node, *, base_dir: Path) -> HttpEndpoint:
    node.check_keys(("url", "ca_file", "validate", "insecure", "auth", "timeout"))
    url, scheme = _url(node)
    ca_file = _ca_file(node, base_dir=base_dir)
    if ca_file is not None and scheme == "http":
        raise node.error(
            "a CA file is only used with an https:// URL; remove it or use https://", key="ca_file"
        )
    validate = node.optional_bool("validate", default=True)
    insecure = node.optional_bool("insecure", default=False)
    if not validate and not insecure:
        raise node.error(
            "validate: false also needs insecure: true (without certificate validation "
            "anyone on the path can pose as the server and read its answers and the "
            "password)",
            key="validate",
        )
    user = password = None
    auth = node.optional_child("auth")
    if auth is not None:
        auth.check_keys(("user", "password"))
        user = auth.required_str("user")
        if ":" in user or _has_control(user):
            raise auth.expected(
                "a user name without ':' or control characters (HTTP basic auth)", user, key="user"
            )
        password = SecretRef.from_node(auth, "password", base_dir=base_dir)
        if scheme == "http" and not insecure:
            raise node.error(
                "an http:// URL sends the password unencrypted; use https:// or, if you "
                "mean it, set insecure: true",
                key="auth",
            )
    return HttpEndpoint(
        url=url,
        ca_file=ca_file,
        validate=validate,
        user=user,
        password=password,
        timeout=_timeout(node, HTTP_TIMEOUT),
    )


# -- snmp ---------------------------------------------------------------------------------


def _version(node: Node) -> str:
    value = node.raw("version")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise node.error(f'expected "2c" or "3" (quote it), got {value!r}', key="version")
    return node.choice("version", SNMP_VERSIONS)


def _snmp_auth(node: Node, key: str, protocols: tuple[str, ...], *, base_dir: Path) -> SnmpAuth:
    auth = node.child(key)
    auth.check_keys(("protocol", "password"))
    return SnmpAuth(
        protocol=auth.choice("protocol", protocols),
        password=SecretRef.from_node(auth, "password", base_dir=base_dir),
    )


def _snmp(node: Node, *, base_dir: Path) -> SnmpEndpoint:
    node.check_keys(("host", "port", "version", "community", "user", "auth", "priv", "timeout"))
    host = node.required_str("host")
    if not _is_host(host):
        raise node.expected("a DNS name or IP address", host, key="host")
    version = _version(node)
    community = user = auth = priv = None
    if version == "2c":
        for key in ("user", "auth", "priv"):
            if key in node:
                raise node.error('not used with version "2c" (a v3 setting); remove it', key=key)
        community = SecretRef.from_node(node, "community", base_dir=base_dir)
    else:
        if "community" in node:
            raise node.error('not used with version "3" (v3 has users); remove it', key="community")
        user = node.required_str("user")
        if len(user.encode()) > _MAX_SNMP_USER or _has_control(user):
            raise node.expected(
                f"a user name of 1 to {_MAX_SNMP_USER} bytes without control characters",
                user,
                key="user",
            )
        if "auth" not in node:
            raise node.error(
                'required with version "3" (poolsync does not use SNMPv3 '
                'without authentication; use version "2c" for that)',
                key="auth",
            )
        auth = _snmp_auth(node, "auth", AUTH_PROTOCOLS, base_dir=base_dir)
        if "priv" in node:
            priv = _snmp_auth(node, "priv", PRIV_PROTOCOLS, base_dir=base_dir)
    return SnmpEndpoint(
        host=host,
        port=node.optional_int("port", default=SNMP_PORT, minimum=1, maximum=65535),
        version=version,
        community=community,
        user=user,
        auth=auth,
        priv=priv,
        timeout=_timeout(node, SNMP_TIMEOUT),
    )
