"""Schema profiles: every AD class and attribute name poolsync reads.

A profile is a YAML file. The built-in ``cisco-unity`` profile lives in
``poolsync/profiles/``; a config may name it or give the path of another profile.
The profile's fingerprint is stored with the data, so a changed profile can force a
total resync.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from poolsync.errors import ProfileError
from poolsync.yamlfile import Node, load_yaml_mapping

BUILTIN_DIR = Path(__file__).parent / "profiles"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")  # always fullmatch: $ allows a "\n"
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute of the profile and how the lab defines it in the schema."""

    name: str
    syntax: Literal["integer", "string"]
    multi: bool
    indexed: bool
    origin: Literal["confirmed", "poolsync"]
    holds: str


@dataclass(frozen=True, slots=True)
class LocationNames:
    object_class: str
    name: str
    object_id: str
    version: str
    failover_of: str
    pooling_data: str


@dataclass(frozen=True, slots=True)
class SubscriberNames:
    object_class: str
    aux_class: str
    object_type: str
    object_type_value: int
    home: str
    dtmf_id: str
    license_class: str
    um_value: str
    inbox_value: str


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    source: Path
    fingerprint: str  # sha256 of the file's bytes
    lab_oid_arc: str
    attributes: tuple[AttributeDef, ...]
    location: LocationNames
    subscriber: SubscriberNames

    def location_attributes(self) -> list[str]:
        loc = self.location
        return [loc.name, loc.object_id, loc.version, loc.failover_of, loc.pooling_data]

    def subscriber_attributes(self) -> list[str]:
        sub = self.subscriber
        return [sub.home, sub.dtmf_id, sub.license_class]


def resolve_profile_path(name_or_path: str, *, base_dir: Path | None = None) -> Path:
    """A built-in profile name, or a path (relative to ``base_dir``)."""
    builtin = BUILTIN_DIR / f"{name_or_path}.yaml"
    if _NAME.fullmatch(name_or_path) and builtin.is_file():
        return builtin
    path = Path(name_or_path)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def load_profile(name_or_path: str, *, base_dir: Path | None = None) -> Profile:
    path = resolve_profile_path(name_or_path, base_dir=base_dir)
    try:
        found = path.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not found:
        builtins = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise ProfileError(f"{path}: no such schema profile (built-in profiles: {builtins})")
    root = load_yaml_mapping(path, error=ProfileError)
    return _parse(path, path.read_bytes(), root)


def _name(node: Node, key: str) -> str:
    value = node.required_str(key)
    if not _NAME.fullmatch(value):
        raise node.expected("an LDAP name (letters, digits, '-')", value, key=key)
    return value


def _attributes(node: Node) -> tuple[AttributeDef, ...]:
    attributes = []
    for attr_name in node.data:
        if not _NAME.fullmatch(attr_name):
            raise node.expected("attribute names (letters, digits, '-')", attr_name)
        spec = node.child(attr_name)
        spec.check_keys(("syntax", "multi", "indexed", "origin", "holds"))
        attributes.append(AttributeDef(
            name=attr_name,
            syntax=spec.choice("syntax", ("integer", "string"), default="string"),
            multi=spec.optional_bool("multi", default=False),
            indexed=spec.optional_bool("indexed", default=False),
            origin=spec.choice("origin", ("confirmed", "poolsync"), default="poolsync"),
            holds=spec.optional_str("holds", default=""),
        ))
    return tuple(attributes)


def _parse(path: Path, raw: bytes, root: Node) -> Profile:
    root.check_keys(("name", "version", "lab_oid_arc", "attributes", "location", "subscriber"))
    attributes = _attributes(root.child("attributes"))
    known = {a.name for a in attributes}

    def attr(node: Node, key: str) -> str:
        value = _name(node, key)
        if value not in known:
            raise node.expected("an attribute listed under 'attributes'", value, key=key)
        return value

    loc = root.child("location")
    loc.check_keys(("object_class", "name", "object_id", "version", "failover_of",
                    "pooling_data"))
    location = LocationNames(
        object_class=_name(loc, "object_class"),
        name=attr(loc, "name"),
        object_id=attr(loc, "object_id"),
        version=attr(loc, "version"),
        failover_of=attr(loc, "failover_of"),
        pooling_data=attr(loc, "pooling_data"),
    )
    sub = root.child("subscriber")
    sub.check_keys(("object_class", "aux_class", "object_type", "object_type_value", "home",
                    "dtmf_id", "license_class", "license_class_values"))
    values = sub.child("license_class_values")
    values.check_keys(("um", "inbox"))
    subscriber = SubscriberNames(
        object_class=_name(sub, "object_class"),
        aux_class=_name(sub, "aux_class"),
        object_type=attr(sub, "object_type"),
        object_type_value=sub.required_int("object_type_value"),
        home=attr(sub, "home"),
        dtmf_id=attr(sub, "dtmf_id"),
        license_class=attr(sub, "license_class"),
        um_value=values.required_str("um"),
        inbox_value=values.required_str("inbox"),
    )
    arc = root.optional_str("lab_oid_arc", default="1.3.6.1.4.1.32473.7")
    if not _OID.fullmatch(arc):
        raise root.expected("a dotted OID", arc, key="lab_oid_arc")
    root.optional_int("version", default=1, minimum=1, maximum=1)
    return Profile(
        name=root.optional_str("name", default=path.stem),
        source=path,
        fingerprint=hashlib.sha256(raw).hexdigest(),
        lab_oid_arc=arc,
        attributes=attributes,
        location=location,
        subscriber=subscriber,
    )
