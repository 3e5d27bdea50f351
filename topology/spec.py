"""The lab topology file: which forest, which DC, which Unity servers with what licenses.

``poolsync lab`` builds a Samba AD domain from it: each server becomes one Location
object with its pooling attachment, and ``subscribers.vm`` users homed on it.
``docs/topology.md`` describes the format.

Entry points: :func:`load_topology`, :func:`normalize_mac`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from poolsync.config import forest_base_dn, is_dns_name
from poolsync.errors import TopologyError
from poolsync.model import Seats
from poolsync.yamlfile import Node, load_yaml_mapping

Attachment = Literal["ok", "missing", "corrupt"]
ATTACHMENTS: tuple[Attachment, ...] = ("ok", "missing", "corrupt")
DEFAULT_VERSION = "4.0(5)"
NETBIOS_MAX = 15

_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DC_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?")
_HEX = frozenset("0123456789abcdefABCDEF")
_MAC_SEPARATORS = frozenset("-:.")
_MAC_FORMS = (
    re.compile(r"[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}"),
    re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}"),
    re.compile(r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}"),
    re.compile(r"[0-9A-Fa-f]{12}"),
)
_TOP_KEYS = ("forest", "dcs", "servers")
_DC_KEYS = ("name", "gc")
_SERVER_KEYS = (
    "name", "version", "mac", "pooling", "licenses", "subscribers", "published",
    "attachment", "failover_of",
)  # fmt: skip
_OWN_DATA_KEYS = ("licenses", "subscribers", "published")


def normalize_mac(text: str) -> str:
    """A MAC address in any accepted form -> 12 upper-case hex digits.

    Accepted: ``00-0B-CD-12-34-56``, ``00:0b:cd:12:34:56``, ``000B.CD12.3456``,
    ``000bcd123456`` (any case). Raises ValueError saying what is wrong.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("a MAC address cannot be empty")
    for char in stripped:
        if char not in _HEX and char not in _MAC_SEPARATORS:
            raise ValueError(
                f"{text!r} contains {char!r}, which is neither a hex digit nor a separator (- : .)"
            )
    digits = "".join(c for c in stripped if c in _HEX)
    if len(digits) != 12:
        raise ValueError(f"{text!r} has {len(digits)} hex digits, expected 12")
    if not any(form.fullmatch(stripped) for form in _MAC_FORMS):
        raise ValueError(
            f"{text!r} is not written in an accepted form (00-0B-CD-12-34-56, "
            "00:0b:cd:12:34:56, 000B.CD12.3456 or 000bcd123456)"
        )
    return digits.upper()


@dataclass(frozen=True)
class DcSpec:
    name: str
    gc: bool


@dataclass(frozen=True)
class LicenseSpec:
    """What the server's license file grants (pooled seat classes, ports, flags)."""

    vm: int = 0
    um: int = 0
    inbox: int = 0
    ports: int = 0
    secondary: bool = False

    @property
    def seats(self) -> Seats:
        return Seats(vm=self.vm, um=self.um, inbox=self.inbox)


@dataclass(frozen=True)
class ServerSpec:
    """One Unity server: one Location object in the lab directory.

    ``subscribers`` is the truth (users homed here); ``published`` is what the server's
    pooling attachment claims, already merged with the truth for classes not given,
    or None when the topology does not say (then it publishes the truth).
    """

    name: str
    version: str
    mac: str | None
    pooling: bool
    licenses: LicenseSpec
    subscribers: Seats
    published: Seats | None
    attachment: Attachment
    failover_of: str | None

    @property
    def is_secondary(self) -> bool:
        return self.failover_of is not None


@dataclass(frozen=True)
class Topology:
    path: Path
    forest: str
    netbios: str
    dcs: tuple[DcSpec, ...]
    servers: tuple[ServerSpec, ...]

    @property
    def base_dn(self) -> str:
        return forest_base_dn(self.forest)

    @property
    def total_subscribers(self) -> int:
        """How many subscriber users the lab creates (every one uses a VM seat)."""
        return sum(server.subscribers.vm for server in self.servers)

    def server(self, name: str) -> ServerSpec:
        """The server called ``name`` (case-insensitive); KeyError when there is none."""
        for server in self.servers:
            if server.name.lower() == name.lower():
                return server
        raise KeyError(name)


def load_topology(path: Path) -> Topology:
    """Read and validate a lab topology file; raises :class:`TopologyError`."""
    root = load_yaml_mapping(path, error=TopologyError)
    root.check_keys(_TOP_KEYS)
    forest, netbios = _forest(root)
    dcs = _dcs(root)
    servers = _servers(root)
    return Topology(path=path, forest=forest, netbios=netbios, dcs=dcs, servers=servers)


def _forest(root: Node) -> tuple[str, str]:
    forest = root.required_str("forest")
    if not is_dns_name(forest, min_labels=2):
        raise root.expected(
            "a DNS name with at least two labels, such as lab.example.com", forest, key="forest"
        )
    forest = forest.lower()
    first = forest.split(".", 1)[0]
    if len(first) > NETBIOS_MAX:
        raise root.error(
            f"the first label {first!r} is {len(first)} characters, but it becomes the "
            f"NetBIOS domain name, which has at most {NETBIOS_MAX}",
            key="forest",
        )
    return forest, first.upper()


def _dcs(root: Node) -> tuple[DcSpec, ...]:
    if "dcs" not in root:
        return (DcSpec(name="DC1", gc=True),)
    dcs: list[DcSpec] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(root.mapping_list("dcs", min_items=1)):
        node.check_keys(_DC_KEYS)
        name = node.required_str("name")
        if not _DC_NAME.fullmatch(name):
            raise node.expected(
                "a computer name of 1 to 15 letters, digits and inner '-'", name, key="name"
            )
        if name.upper() in seen:
            raise node.error(
                f"duplicate DC name {name!r} (also dcs[{seen[name.upper()]}])", key="name"
            )
        seen[name.upper()] = index
        gc = node.optional_bool("gc", default=True)
        if index == 0 and not gc:
            raise node.error("the forest's first DC is always a Global Catalog in AD; "
                             "gc: false is not possible for it", key="gc")
        dcs.append(DcSpec(name=name, gc=gc))
    if len(dcs) > 1:
        raise root.error(f"only one DC is supported so far (got {len(dcs)})", key="dcs")
    return tuple(dcs)


def _servers(root: Node) -> tuple[ServerSpec, ...]:
    nodes = root.mapping_list("servers")
    # First pass: names, so failover_of can point forwards.
    by_name: dict[str, int] = {}
    names: list[str] = []
    for index, node in enumerate(nodes):
        node.check_keys(_SERVER_KEYS)
        name = node.required_str("name")
        if not _SERVER_NAME.fullmatch(name):
            raise node.expected(
                "a server name of 1 to 64 letters, digits, '-' and '_'", name, key="name"
            )
        if name.lower() in by_name:
            raise node.error(
                f"duplicate server name {name!r} (also servers[{by_name[name.lower()]}]; "
                "names are compared case-insensitively)",
                key="name",
            )
        by_name[name.lower()] = index
        names.append(name)

    primaries = [_failover_target(node, by_name) for node in nodes]
    secondary_of: dict[int, int] = {}
    for index, (node, target) in enumerate(zip(nodes, primaries, strict=True)):
        if target is None:
            continue
        if target == index:
            raise node.error("a server cannot be its own failover secondary", key="failover_of")
        grand = primaries[target]
        if grand is not None:
            raise node.error(
                f"{names[target]} is itself a failover secondary (of {names[grand]}); "
                "point failover_of at a primary",
                key="failover_of",
            )
        if target in secondary_of:
            raise node.error(
                f"{names[target]} already has a failover secondary "
                f"({names[secondary_of[target]]}); a failover pair has one secondary",
                key="failover_of",
            )
        secondary_of[target] = index

    return tuple(
        _server(node, name, None if target is None else names[target])
        for node, name, target in zip(nodes, names, primaries, strict=True)
    )


def _failover_target(node: Node, by_name: dict[str, int]) -> int | None:
    target = node.optional_str("failover_of")
    if target is None:
        return None
    if target.lower() not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise node.error(
            f"names no server in this topology: {target!r} (servers: {known})",
            key="failover_of",
        )
    return by_name[target.lower()]


def _server(node: Node, name: str, failover_of: str | None) -> ServerSpec:
    if failover_of is not None:
        for key in _OWN_DATA_KEYS:
            if key in node:
                raise node.error(
                    f"a failover secondary (failover_of: {failover_of}) has no {key} "
                    f"of its own; remove it",
                    key=key,
                )
    mac_text = node.optional_str("mac")
    mac = None
    if mac_text is not None:
        try:
            mac = normalize_mac(mac_text)
        except ValueError as exc:
            raise node.error(str(exc), key="mac") from exc
    subscribers = _subscribers(node.child_or_empty("subscribers"))
    published_node = node.optional_child("published")
    return ServerSpec(
        name=name,
        version=node.optional_str("version", default=DEFAULT_VERSION),
        mac=mac,
        pooling=node.optional_bool("pooling", default=True),
        licenses=_licenses(node.child_or_empty("licenses")),
        subscribers=subscribers,
        published=None if published_node is None else _published(published_node, subscribers),
        attachment=node.choice("attachment", ATTACHMENTS, default="ok"),
        failover_of=failover_of,
    )


def _licenses(node: Node) -> LicenseSpec:
    node.check_keys(("vm", "um", "inbox", "ports", "secondary"))
    return LicenseSpec(
        vm=node.optional_int("vm", default=0, minimum=0),
        um=node.optional_int("um", default=0, minimum=0),
        inbox=node.optional_int("inbox", default=0, minimum=0),
        ports=node.optional_int("ports", default=0, minimum=0),
        secondary=node.optional_bool("secondary", default=False),
    )


def _subscribers(node: Node) -> Seats:
    node.check_keys(("vm", "um", "inbox"))
    vm = node.optional_int("vm", default=0, minimum=0)
    seats = {"vm": vm}
    for key in ("um", "inbox"):
        count = node.optional_int(key, default=0, minimum=0)
        if count > vm:
            # UM and Inbox subscribers are some of the vm subscribers, not extra ones.
            raise node.error(f"expected an integer <= vm ({vm}), got {count}", key=key)
        seats[key] = count
    return Seats(**seats)


def _published(node: Node, truth: Seats) -> Seats:
    node.check_keys(("vm", "um", "inbox"))
    return Seats(
        vm=node.optional_int("vm", default=truth.vm, minimum=0),
        um=node.optional_int("um", default=truth.um, minimum=0),
        inbox=node.optional_int("inbox", default=truth.inbox, minimum=0),
    )
