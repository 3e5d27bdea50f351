"""The poolsync configuration file: one YAML file validated into frozen dataclasses.

Every error names the file, the key path and what was expected (see
:mod:`poolsync.yamlfile`). Relative paths in the file are relative to the file's own
directory. Secrets are references (:class:`poolsync.secrets.SecretRef`), resolved only
when the directory layer binds. ``examples/poolsync.yaml`` shows every key and
``docs/configuration.md`` describes them.

Entry points: :func:`load_config`, :func:`default_config_path`, :func:`forest_base_dn`,
:func:`is_dns_name`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from poolsync.compliance import Limits
from poolsync.errors import ConfigError
from poolsync.licensing.mac import normalize_mac
from poolsync.secrets import SecretRef
from poolsync.trust import read_trusted
from poolsync.yamlfile import Node, load_yaml_bytes

if TYPE_CHECKING:
    from poolsync.servers.config import ServerEndpoints

CONFIG_ENV = "POOLSYNC_CONFIG"
DEFAULT_CONFIG_NAME = "poolsync.yaml"
DEFAULT_PROFILE = "cisco-unity"
DEFAULT_STORE = "poolsync.db"

BindMethod = Literal["simple", "anonymous", "kerberos", "ntlm"]
BIND_METHODS: tuple[BindMethod, ...] = ("simple", "anonymous", "kerberos", "ntlm")

# Patterns are used with fullmatch (``$`` would accept a trailing newline) and ASCII
# only (IGNORECASE alone lets the Kelvin sign match [a-z]).
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE | re.ASCII)
_PROFILE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
# One RDN: attribute type, '=', a value in which ',' only appears escaped.
_RDN = re.compile(r"\s*[A-Za-z][A-Za-z0-9-]*\s*=(\\.|[^,\\])+", re.DOTALL)
_RDN_SPLIT = re.compile(r"(?<!\\),")

_PORTS = {("dc", False): 389, ("dc", True): 636, ("gc", False): 3268, ("gc", True): 3269}


def is_dns_name(text: str, *, min_labels: int = 1) -> bool:
    """A host name of letters, digits and inner hyphens (no trailing dot, no '_')."""
    if not text or len(text) > 253:
        return False
    labels = text.split(".")
    if len(labels) < min_labels or labels[-1].isdigit():
        return False  # an all-digit last label is an IPv4 address, not a name
    return all(_LABEL.fullmatch(label) for label in labels)


def forest_base_dn(forest: str) -> str:
    """``"lab.example.com"`` -> ``"DC=lab,DC=example,DC=com"``."""
    return ",".join(f"DC={label}" for label in forest.split("."))


def default_config_path() -> Path:
    """``$POOLSYNC_CONFIG`` when set (and not empty), else ``./poolsync.yaml``."""
    configured = os.environ.get(CONFIG_ENV)
    return Path(configured) if configured else Path(DEFAULT_CONFIG_NAME)


@dataclass(frozen=True)
class Endpoint:
    """An LDAP server to read from: the DC (domain pass) or a Global Catalog."""

    url: str
    scheme: str
    host: str
    port: int
    use_ssl: bool
    base_dn: str


@dataclass(frozen=True)
class KerberosConfig:
    """``bind.method: kerberos``: where the credentials come from (docs/configuration.md).

    Exactly one of ``keytab`` (with ``principal``) and ``ccache`` is set. ``ccache`` is
    ``"default"`` (``$KRB5CCNAME`` or the user's default cache) or a cache name such as
    ``FILE:/tmp/krb5cc_1000``. ``spn_host`` names the DCs' host for the service
    principal ``ldap/<host>`` (default: the URL's host, or the DC's ``dnsHostName``
    when the URL holds an address). ``krb5_conf`` replaces the machine's krb5.conf.
    """

    principal: str | None
    keytab: Path | None
    ccache: str | None
    spn_host: str | None = None
    krb5_conf: Path | None = None
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class BindConfig:
    """``user`` is a DN or ``user@domain`` (simple) or ``DOMAIN\\user`` (ntlm);
    ``kerberos`` is set for ``method: kerberos`` only."""

    method: BindMethod
    user: str | None
    password: SecretRef | None
    kerberos: KerberosConfig | None = None

    @property
    def sasl(self) -> bool:
        """Kerberos and NTLM bind through SASL (and may seal the session)."""
        return self.method in ("kerberos", "ntlm")

    @property
    def who(self) -> str | None:
        """Who binds, for messages: the user, or the Kerberos principal."""
        if self.kerberos is not None:
            return self.kerberos.principal or f"the principal in {self.kerberos.ccache}"
        return self.user

    def resolve_password(self) -> str | None:
        """The password, read now from its reference (None for an anonymous bind)."""
        return self.password.resolve() if self.password is not None else None


@dataclass(frozen=True)
class TlsConfig:
    """``ca_file`` None means the system trust store; ``validate`` False is insecure."""

    ca_file: Path | None
    validate: bool
    starttls: bool


@dataclass(frozen=True)
class Timeouts:
    connect: float
    operation: float
    pass_: float = 3600.0  # one whole pass (YAML key "pass")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient directory errors (exponential wait, capped)."""

    attempts: int
    initial_wait: float
    max_wait: float


@dataclass(frozen=True)
class DirectoryConfig:
    """``dcs`` and ``gcs`` are in failover order: the first that answers is used.

    ``ldif``: an export's files (``directory.ldif``), read instead of a live forest
    (docs/offline.md); ``dcs`` and ``gcs`` may then be empty, and are not read.
    """

    dcs: tuple[Endpoint, ...]
    gcs: tuple[Endpoint, ...]
    bind: BindConfig
    tls: TlsConfig
    page_size: int
    timeouts: Timeouts
    retries: RetryPolicy
    max_entries: int = 1_000_000  # one search returning more is stopped (RunawaySearch)
    ldif: tuple[Path, ...] = ()

    @property
    def dc(self) -> Endpoint:
        """The preferred DC (the first listed)."""
        return self.dcs[0]

    @property
    def gc(self) -> Endpoint:
        """The preferred Global Catalog (the first listed)."""
        return self.gcs[0]

    @property
    def plaintext(self) -> bool:
        """True when some traffic (the bind included) would cross the network unencrypted."""
        if self.tls.starttls:
            return False
        return not all(e.use_ssl for e in (*self.dcs, *self.gcs))


SyncMethod = Literal["usn", "dirsync"]
SYNC_METHODS: tuple[SyncMethod, ...] = ("usn", "dirsync")


@dataclass(frozen=True)
class DeletionGuard:
    """A run that would delete more than this stops without committing."""

    max_objects: int
    max_percent: float | None

    def limit(self, held: int) -> int:
        """The most deletions allowed when the store holds ``held`` objects."""
        if self.max_percent is None:
            return self.max_objects
        return min(self.max_objects, int(held * self.max_percent / 100))


@dataclass(frozen=True)
class SyncConfig:
    method: SyncMethod
    max_age: float  # seconds; an older watermark forces a total resync
    deletions: DeletionGuard


DEFAULT_MAX_AGE = 7 * 86400.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"24h"``, ``"7d"``, ``"2w"`` (or plain seconds) -> seconds.

    Raises ValueError with the accepted forms for anything else (zero, or too many
    digits for a float).
    """
    match = _DURATION.fullmatch(text.strip())
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"] if match else 0.0
    if not 0 < seconds < math.inf:
        raise ValueError(f"expected a duration such as 90s, 5m, 24h or 7d, got {text!r}")
    return seconds


@dataclass(frozen=True)
class ServerMonitors:
    """The DC a Unity server's domain monitor uses and the DC whose Global Catalog its
    GC monitor uses (DC names or DNS host names; None when not given)."""

    server: str
    dc: str | None
    gc: str | None


@dataclass(frozen=True)
class DoctorConfig:
    """``doctor:``: what each Unity server monitors, servers expected in the pool, and
    other forests' poolsync configs to look for missing servers in."""

    servers: tuple[ServerMonitors, ...] = ()
    expected: tuple[str, ...] = ()
    other_forests: tuple[Path, ...] = ()

    def names(self) -> tuple[str, ...]:
        """Every server name this section mentions (monitors and expected)."""
        return (*(m.server for m in self.servers), *self.expected)


@dataclass(frozen=True)
class ServerLicenseFiles:
    """A server's Unity license files (and the MAC they are bound to), whose expiry
    and start dates change its licensed seats in capacity projections."""

    server: str
    files: tuple[Path, ...]
    mac: str | None


@dataclass(frozen=True)
class CapacityConfig:
    """``capacity:``: the default window and horizon of ``report capacity``, and license
    files per server."""

    window_days: int = 90
    horizon_days: int = 365
    license_files: tuple[ServerLicenseFiles, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path
    forest: str
    directory: DirectoryConfig
    profile: str
    store: Path
    sync: SyncConfig
    compliance: Limits
    doctor: DoctorConfig = DoctorConfig()
    capacity: CapacityConfig = CapacityConfig()
    #: ``servers:``: where each Unity server serves its own license (HTTP, SNMP).
    servers: tuple[ServerEndpoints, ...] = ()

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the config are relative to."""
        return self.path.absolute().parent

    @property
    def plaintext(self) -> bool:
        """True for an ldap:// endpoint without StartTLS: the CLI warns about it."""
        return self.directory.plaintext


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``; raises :class:`ConfigError`,
    also when another user owns it or can write it (:mod:`poolsync.trust`)."""
    root = load_yaml_bytes(
        path, read_trusted(path, error=ConfigError, kind="config"), error=ConfigError
    )
    # Imported here: the servers section builds on this module's helpers.
    from poolsync.servers.config import parse_servers

    root.check_keys(
        (
            "forest",
            "directory",
            "profile",
            "store",
            "sync",
            "compliance",
            "doctor",
            "capacity",
            "servers",
        )
    )
    base_dir = path.absolute().parent
    forest = _forest(root)
    directory = _directory(root.child("directory"), forest=forest, base_dir=base_dir)
    return Config(
        path=path,
        forest=forest,
        directory=directory,
        profile=_profile(root, base_dir=base_dir),
        store=base_dir
        / _path_text(root, "store", root.optional_str("store", default=DEFAULT_STORE)),
        sync=_sync(root.child_or_empty("sync")),
        compliance=_compliance(root.child_or_empty("compliance")),
        doctor=_doctor(root.child_or_empty("doctor"), base_dir=base_dir),
        capacity=_capacity(root.child_or_empty("capacity"), base_dir=base_dir),
        servers=parse_servers(root.child_or_empty("servers"), base_dir=base_dir),
    )


def _days(node: Node, key: str, default: int) -> int:
    if key not in node:
        return default
    raw = node.raw(key)
    try:
        seconds = (
            parse_duration(str(raw))
            if isinstance(raw, str | int) and not isinstance(raw, bool)
            else parse_duration("")
        )
    except ValueError:
        raise node.expected("a number of days such as 90d", raw, key=key) from None
    days = round(seconds / 86400)
    if days < 1 or days > 3650 or seconds % 86400:
        raise node.expected("a whole number of days from 1d to 3650d", raw, key=key)
    return days


def _capacity(node: Node, *, base_dir: Path) -> CapacityConfig:
    node.check_keys(("window", "horizon", "license_files"))
    servers = node.child_or_empty("license_files")
    found: list[ServerLicenseFiles] = []
    names = servers.keys()
    for name in names:
        if not isinstance(name, str):
            raise servers.expected("a server name", name)
        entry = servers.child(name)
        entry.check_keys(("files", "mac"))
        files = _str_list(entry, "files")
        if not files:
            raise entry.error(
                "expected at least one license file path, got an empty list (or none)", key="files"
            )
        paths = [base_dir / _path_text(entry, f"files[{i}]", f) for i, f in enumerate(files)]
        if len({p.resolve() for p in paths}) != len(paths):
            raise entry.error("a license file is listed twice; each counts once", key="files")
        mac = entry.optional_str("mac")
        if mac is not None:
            try:
                mac = normalize_mac(mac)
            except ValueError as exc:
                raise entry.error(str(exc), key="mac") from None
        found.append(ServerLicenseFiles(server=name, files=tuple(paths), mac=mac))
    return CapacityConfig(
        window_days=_days(node, "window", 90),
        horizon_days=_days(node, "horizon", 365),
        license_files=tuple(found),
    )


def _doctor(node: Node, *, base_dir: Path) -> DoctorConfig:
    node.check_keys(("servers", "expected", "other_forests"))
    monitors: list[ServerMonitors] = []
    servers = node.child_or_empty("servers")
    seen: set[str] = set()
    names = servers.keys()
    for name in names:
        if not isinstance(name, str):
            raise servers.expected("a server name", name)
        if name.lower() in seen:
            raise servers.error(f"{name!r} is listed twice (names are case-insensitive)", key=name)
        seen.add(name.lower())
        entry = servers.child(name)
        entry.check_keys(("dc", "gc"))
        monitors.append(
            ServerMonitors(server=name, dc=entry.optional_str("dc"), gc=entry.optional_str("gc"))
        )
    return DoctorConfig(
        servers=tuple(monitors),
        expected=tuple(_str_list(node, "expected")),
        other_forests=tuple(
            base_dir / _path_text(node, f"other_forests[{i}]", item)
            for i, item in enumerate(_str_list(node, "other_forests"))
        ),
    )


def _path_text(node: Node, key: str, value: str) -> str:
    """A file path from the config, without control characters: the OS refuses a NUL
    in a path (Python raises ValueError wherever it is used), and a newline would split
    every message that names the file."""
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise node.expected("a file path without control characters", value, key=key)
    return value


def _str_list(node: Node, key: str) -> list[str]:
    if key not in node:
        return []
    value = node.raw(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise node.expected("a list of non-empty strings", value, key=key)
    return [str(v) for v in value]


def _compliance(node: Node) -> Limits:
    node.check_keys(("max_voice_ports", "max_subscribers_per_server", "grace_days"))

    def optional_limit(key: str, default: int | None) -> int | None:
        if key in node and node.data[key] is None:
            return None
        if key not in node:
            return default
        return node.optional_int(key, default=0, minimum=1)

    return Limits(
        max_voice_ports=optional_limit("max_voice_ports", 72),
        max_subscribers=optional_limit("max_subscribers_per_server", None),
        grace_days=node.optional_int("grace_days", default=28, minimum=1, maximum=3650),
    )


def _sync(node: Node) -> SyncConfig:
    node.check_keys(("method", "max_age", "deletions"))
    max_age = DEFAULT_MAX_AGE
    if "max_age" in node:
        raw = node.raw("max_age")
        try:
            max_age = (
                parse_duration(str(raw))
                if isinstance(raw, str | int) and not isinstance(raw, bool)
                else parse_duration("")
            )
        except ValueError:
            raise node.expected("a duration such as 12h or 7d", raw, key="max_age") from None
    deletions = node.child_or_empty("deletions")
    deletions.check_keys(("max_objects", "max_percent"))
    percent = None
    if deletions.data.get("max_percent") is not None:
        percent = deletions.optional_number("max_percent", default=100.0, minimum=0, maximum=100)
    return SyncConfig(
        method=node.choice("method", SYNC_METHODS, default="usn"),
        max_age=max_age,
        deletions=DeletionGuard(
            max_objects=deletions.optional_int("max_objects", default=500, minimum=0),
            max_percent=percent,
        ),
    )


def _forest(root: Node) -> str:
    forest = root.required_str("forest")
    if not is_dns_name(forest):
        raise root.expected("a DNS name such as lab.example.com", forest, key="forest")
    # The forest name is the pool's id; AD treats it case-insensitively, so do we.
    return forest.lower()


def _directory(node: Node, *, forest: str, base_dir: Path) -> DirectoryConfig:
    node.check_keys(
        ("dc", "gc", "bind", "tls", "page_size", "max_entries", "timeouts", "retries", "ldif")
    )
    ldif = _ldif_files(node, base_dir=base_dir)
    if ldif and "dc" not in node:
        # An export needs no DC: nothing connects, binds or negotiates TLS.
        for key in ("gc", "bind", "tls"):
            if key in node:
                raise node.error(
                    "not used with ldif and no dc (an export is read from its files); remove it",
                    key=key,
                )
        dcs: tuple[Endpoint, ...] = ()
        gcs: tuple[Endpoint, ...] = ()
        bind = BindConfig(method="anonymous", user=None, password=None)
    else:
        dcs = _endpoints(node.child("dc"), role="dc", default_base_dn=forest_base_dn(forest))
        gc_node = node.optional_child("gc")
        if gc_node is None:
            # No gc section: each DC's host, which is a GC in a single-DC forest.
            gcs = tuple(_default_gc(dc) for dc in dcs)
        else:
            gcs = _endpoints(gc_node, role="gc", default_base_dn="")
        bind = _bind(node.child("bind"), base_dir=base_dir)
    return DirectoryConfig(
        dcs=dcs,
        gcs=gcs,
        bind=bind,
        tls=_tls(node.child_or_empty("tls"), base_dir=base_dir),
        page_size=node.optional_int("page_size", default=1000, minimum=1, maximum=1000),
        timeouts=_timeouts(node.child_or_empty("timeouts")),
        retries=_retries(node.child_or_empty("retries")),
        max_entries=node.optional_int("max_entries", default=1_000_000, minimum=1),
        ldif=ldif,
    )


def _ldif_files(node: Node, *, base_dir: Path) -> tuple[Path, ...]:
    """``directory.ldif``: a non-empty list of readable LDIF files, each once."""
    if "ldif" not in node:
        return ()
    raw = node.raw("ldif")
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) and v for v in raw):
        raise node.expected("a non-empty list of LDIF file paths", raw, key="ldif")
    paths = [base_dir / _path_text(node, f"ldif[{i}]", str(v)) for i, v in enumerate(raw)]
    for i, path in enumerate(paths):
        problem = _unreadable(path)
        if problem:
            raise node.error(f"cannot read LDIF file {path}: {problem}", key=f"ldif[{i}]")
    if len({p.resolve() for p in paths}) != len(paths):
        raise node.error("an LDIF file is listed twice; each is read once", key="ldif")
    return tuple(paths)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _default_gc(dc: Endpoint) -> Endpoint:
    port = _PORTS["gc", dc.use_ssl]
    return Endpoint(
        url=f"{dc.scheme}://{_url_host(dc.host)}:{port}",
        scheme=dc.scheme,
        host=dc.host,
        port=port,
        use_ssl=dc.use_ssl,
        base_dn="",
    )


def _endpoints(
    node: Node, *, role: Literal["dc", "gc"], default_base_dn: str
) -> tuple[Endpoint, ...]:
    """``url`` is one URL or a list of them (failover order), all sharing ``base_dn``."""
    node.check_keys(("url", "base_dn"))
    if "url" not in node:
        raise node.missing("url")
    raw = node.raw("url")
    if isinstance(raw, list):
        if not raw:
            raise node.error(
                "expected a URL or a non-empty list of URLs, got an empty list", key="url"
            )
        keys = [f"url[{i}]" for i in range(len(raw))]
        urls = raw
    else:
        keys, urls = ["url"], [raw]
    endpoints = []
    for key, url in zip(keys, urls, strict=True):
        if not isinstance(url, str) or not url:
            raise node.expected("an ldap:// or ldaps:// URL", url, key=key)
        endpoints.append(_endpoint(node, url, key=key, role=role, default_base_dn=default_base_dn))
    return tuple(endpoints)


def _endpoint(
    node: Node, url: str, *, key: str, role: Literal["dc", "gc"], default_base_dn: str
) -> Endpoint:
    what = "an ldap:// or ldaps:// URL"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise node.expected(f"{what} with a port from 1 to 65535", url, key=key) from None
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps") or not url.lower().startswith(f"{scheme}://"):
        raise node.expected(what, url, key=key)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise node.expected(f"{what} without a path, query or user name", url, key=key)
    host = parts.hostname
    if not host:
        raise node.expected(f"{what} with a host", url, key=key)
    if not _is_host(host):
        raise node.expected(f"{what} whose host is a DNS name or IP address", url, key=key)
    if port == 0:
        raise node.expected(f"{what} with a port from 1 to 65535", url, key=key)
    use_ssl = scheme == "ldaps"
    base_dn = node.optional_str("base_dn", default=default_base_dn, allow_empty=True)
    # The domain pass needs a naming context; only the GC pass may search from the root.
    if (base_dn or role == "dc") and not _is_dn(base_dn):
        what_dn = "a DN such as DC=lab,DC=example,DC=com"
        if role == "gc":
            what_dn += ' or "" for the whole forest'
        raise node.expected(what_dn, base_dn, key="base_dn")
    return Endpoint(
        url=url,
        scheme=scheme,
        host=host,
        port=port if port is not None else _PORTS[role, use_ssl],
        use_ssl=use_ssl,
        base_dn=base_dn,
    )


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return is_dns_name(host)
    return True


def _is_dn(text: str) -> bool:
    return bool(text) and all(_RDN.fullmatch(rdn) for rdn in _RDN_SPLIT.split(text))


def _bind(node: Node, *, base_dir: Path) -> BindConfig:
    node.check_keys(("method", "user", "password", *KERBEROS_KEYS))
    method = node.choice("method", BIND_METHODS, default="simple")
    if method == "anonymous":
        _refuse(node, ("user", "password", *KERBEROS_KEYS), "method: anonymous")
        return BindConfig(method="anonymous", user=None, password=None)
    if method == "kerberos":
        return BindConfig(
            method="kerberos", user=None, password=None, kerberos=_kerberos(node, base_dir)
        )
    _refuse(node, KERBEROS_KEYS, f"method: {method}")
    user = node.required_str("user")
    if method == "ntlm" and not _NTLM_USER.fullmatch(user):
        raise node.expected(
            "DOMAIN\\user (the NetBIOS domain, a backslash, the account)", user, key="user"
        )
    password = SecretRef.from_node(node, "password", base_dir=base_dir)
    return BindConfig(method=method, user=user, password=password)


KERBEROS_KEYS = ("principal", "keytab", "ccache", "spn_host", "krb5_conf")
_NTLM_USER = re.compile(r"[^\\/\s]+\\[^\\\s]+")
_PRINCIPAL = re.compile(r"[^@\s]+@[^@\s]+")


def _refuse(node: Node, keys: Sequence[str], why: str) -> None:
    for key in keys:
        if key in node:
            raise node.error(f"not used with {why}; remove it", key=key)


def _kerberos(node: Node, base_dir: Path) -> KerberosConfig:
    """``method: kerberos``: a keytab with its principal, or a credential cache."""
    for key in ("user", "password"):
        if key in node:
            raise node.error(
                "not used with method: kerberos, which binds with a keytab or a "
                "credential cache, never a password; remove it",
                key=key,
            )
    if ("keytab" in node) == ("ccache" in node):
        raise node.error(
            "method: kerberos needs exactly one of keytab (with principal) or ccache "
            "(default, or a cache name such as FILE:/tmp/krb5cc_1000)"
        )
    principal = node.optional_str("principal") if "principal" in node else None
    if principal is not None and not _PRINCIPAL.fullmatch(principal):
        raise node.expected(
            "a principal such as svc-poolsync@CORP.EXAMPLE.COM", principal, key="principal"
        )
    keytab = None
    if "keytab" in node:
        if principal is None:
            raise node.error(
                "a keytab needs the principal to use from it "
                "(principal: svc-poolsync@CORP.EXAMPLE.COM)",
                key="keytab",
            )
        keytab = base_dir / _path_text(node, "keytab", node.required_str("keytab"))
    ccache = node.required_str("ccache") if "ccache" in node else None
    spn_host = node.optional_str("spn_host") if "spn_host" in node else None
    if spn_host is not None and not is_dns_name(spn_host):
        raise node.expected(
            "the DCs' DNS host name, such as dc1.corp.example.com", spn_host, key="spn_host"
        )
    krb5_conf = None
    if "krb5_conf" in node:
        krb5_conf = base_dir / _path_text(node, "krb5_conf", node.required_str("krb5_conf"))
        problem = _unreadable(krb5_conf)
        if problem:
            raise node.error(f"cannot read krb5.conf {krb5_conf}: {problem}", key="krb5_conf")
    return KerberosConfig(
        principal=principal,
        keytab=keytab,
        ccache=ccache,
        spn_host=spn_host.lower() if spn_host else None,
        krb5_conf=krb5_conf,
        origin=f"{node.file}: {node.path_of()}",
    )


def _tls(node: Node, *, base_dir: Path) -> TlsConfig:
    node.check_keys(("ca_file", "validate", "insecure", "starttls"))
    ca_name = node.optional_str("ca_file")
    ca_file = None
    if ca_name is not None:
        ca_file = base_dir / _path_text(node, "ca_file", ca_name)
        problem = _unreadable(ca_file)
        if problem:
            raise node.error(f"cannot read CA file {ca_file}: {problem}", key="ca_file")
    validate = node.optional_bool("validate", default=True)
    insecure = node.optional_bool("insecure", default=False)
    if not validate and not insecure:
        raise node.error(
            "validate: false also needs insecure: true (without certificate validation "
            "anyone on the path can impersonate the DC and read the bind password)",
            key="validate",
        )
    return TlsConfig(
        ca_file=ca_file,
        validate=validate,
        starttls=node.optional_bool("starttls", default=False),
    )


def _unreadable(path: Path) -> str | None:
    """Why ``path`` is not a readable regular file, or None when it is."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError:  # an embedded NUL byte
        return "not a valid path"
    if not path.is_file():
        return "not a regular file"
    return None


def _timeouts(node: Node) -> Timeouts:
    node.check_keys(("connect", "operation", "pass"))
    return Timeouts(
        connect=node.optional_number("connect", default=10.0, minimum=0, exclusive_min=True),
        operation=node.optional_number("operation", default=120.0, minimum=0, exclusive_min=True),
        pass_=node.optional_number("pass", default=3600.0, minimum=0, exclusive_min=True),
    )


def _retries(node: Node) -> RetryPolicy:
    node.check_keys(("attempts", "initial_wait", "max_wait"))
    attempts = node.optional_int("attempts", default=4, minimum=1, maximum=100)
    initial = node.optional_number("initial_wait", default=0.5, minimum=0)
    maximum = node.optional_number("max_wait", default=max(10.0, initial), minimum=0)
    if maximum < initial:
        raise node.error(
            f"expected a number >= initial_wait ({initial:g}), got {maximum:g}", key="max_wait"
        )
    return RetryPolicy(attempts=attempts, initial_wait=initial, max_wait=maximum)


def _profile(root: Node, *, base_dir: Path) -> str:
    value = root.optional_str("profile", default=DEFAULT_PROFILE)
    if _PROFILE_NAME.fullmatch(value) and not value.lower().endswith((".yaml", ".yml")):
        return value  # a built-in profile's name; the profile loader knows the list
    if "/" not in value and "\\" not in value and not value.lower().endswith((".yaml", ".yml")):
        raise root.expected(
            "a built-in profile name such as cisco-unity or the path of a profile YAML file",
            value,
            key="profile",
        )
    path = base_dir / _path_text(root, "profile", value)
    problem = _unreadable(path)
    if problem:
        raise root.error(f"cannot read profile {path}: {problem}", key="profile")
    return str(path)
