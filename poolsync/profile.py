"""Schema profiles: every AD class and attribute name poolsync reads.

A profile is a YAML file. The built-in ``cisco-unity`` profile lives in
``poolsync/profiles/``; a config may name it or give the path of another profile.
The profile's fingerprint is stored with the data, so a changed profile can force a
total resync.

Roles a real forest may not have are optional: ``location.version``,
``location.failover_of`` and ``subscriber.license_class``. What poolsync does without
them is in :class:`~poolsync.model.Roles` (the checks they feed are skipped, and say
so). A role may name a standard AD attribute (``displayName``, ``cn``, ``objectGUID``
...) without listing it under ``attributes``: the lab never creates those.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from poolsync.errors import ProfileError
from poolsync.model import Roles
from poolsync.trust import read_trusted
from poolsync.yamlfile import Node, load_yaml_bytes

BUILTIN_DIR = Path(__file__).parent / "profiles"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")  # always fullmatch: $ allows a "\n"
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
Syntax = Literal["integer", "string", "boolean", "binary"]
SYNTAXES: tuple[Syntax, ...] = ("integer", "string", "boolean", "binary")
#: Standard AD attributes a role may name without listing them: every forest has them.
STANDARD_ATTRIBUTES: Final = {
    name.lower(): name
    for name in (
        "cn",
        "name",
        "displayName",
        "description",
        "objectGUID",
        "distinguishedName",
        "dNSHostName",
        "serverName",
    )
}
#: Bumped when poolsync reads the same attributes into different values (the object-id
#: reduction of 0.5): part of the fingerprint, so a store read the old way is re-read.
_DECODER = b"poolsync-decode-2\n"


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute of the profile and how the lab defines it in the schema."""

    name: str
    syntax: Syntax
    multi: bool
    indexed: bool
    origin: Literal["confirmed", "poolsync", "discovered"]
    holds: str


@dataclass(frozen=True, slots=True)
class LocationNames:
    object_class: str
    name: str
    object_id: str
    version: str | None
    failover_of: str | None
    pooling_data: str


@dataclass(frozen=True, slots=True)
class SubscriberNames:
    object_class: str
    aux_class: str | None  # lab only: None = the Unity attributes are on the user class
    object_type: str
    object_type_values: tuple[int, ...]
    home: str
    dtmf_id: str
    license_class: str | None
    um_value: str = "UM"
    inbox_value: str = "VMI"


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
        """The Location attributes a pass reads (the roles the profile names)."""
        loc = self.location
        names = [loc.name, loc.object_id, loc.version, loc.failover_of, loc.pooling_data]
        return _unique(n for n in names if n is not None)

    def subscriber_attributes(self) -> list[str]:
        sub = self.subscriber
        return _unique(n for n in (sub.home, sub.dtmf_id, sub.license_class) if n is not None)

    def roles(self) -> Roles:
        """Which optional roles this profile reads (what the pool can check)."""
        return Roles(
            license_classes=self.subscriber.license_class is not None,
            versions=self.location.version is not None,
            failover=self.location.failover_of is not None,
        )

    def role_attributes(self) -> dict[str, str]:
        """Every role's attribute or class name, by role ("location.name" ...)."""
        loc, sub = self.location, self.subscriber
        roles = {
            "location.object_class": loc.object_class,
            "location.name": loc.name,
            "location.object_id": loc.object_id,
            "location.version": loc.version,
            "location.failover_of": loc.failover_of,
            "location.pooling_data": loc.pooling_data,
            "subscriber.object_class": sub.object_class,
            "subscriber.object_type": sub.object_type,
            "subscriber.home": sub.home,
            "subscriber.dtmf_id": sub.dtmf_id,
            "subscriber.license_class": sub.license_class,
        }
        return {role: name for role, name in roles.items() if name is not None}

    def schema_names(self) -> tuple[set[str], set[str]]:
        """The attribute and class names a forest's schema must hold for this profile
        (standard AD attributes left out)."""
        classes = {self.location.object_class, self.subscriber.object_class}
        attributes = {
            name
            for role, name in self.role_attributes().items()
            if not role.endswith("object_class") and name.lower() not in STANDARD_ATTRIBUTES
        }
        return attributes, classes

    def missing_from(self, attributes: set[str], classes: set[str]) -> list[str]:
        """The profile's names a schema holding ``attributes`` and ``classes`` lacks,
        each as ``name (role)``, in role order."""
        have_attrs = {a.lower() for a in attributes}
        have_classes = {c.lower() for c in classes}
        missing = []
        for role, name in self.role_attributes().items():
            if role.endswith("object_class"):
                if name.lower() not in have_classes:
                    missing.append(f"{name} ({role}, a class)")
            elif name.lower() not in STANDARD_ATTRIBUTES and name.lower() not in have_attrs:
                missing.append(f"{name} ({role})")
        return missing

    def syntax_of(self, name: str) -> Syntax | None:
        """The syntax the profile gives an attribute (None: a standard attribute)."""
        for attr in self.attributes:
            if attr.name.lower() == name.lower():
                return attr.syntax
        return None


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            result.append(name)
    return result


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
    if path.parent == BUILTIN_DIR:
        # Part of poolsync itself: whoever could change it could change the code too.
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    else:
        raw = read_trusted(path, error=ProfileError, kind="profile")
    return parse_profile_bytes(path, raw)


def parse_profile_bytes(path: Path, raw: bytes) -> Profile:
    """A profile from bytes already read (``schema discover`` checks what it writes)."""
    return _parse(path, raw, load_yaml_bytes(path, raw, error=ProfileError))


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
        attributes.append(
            AttributeDef(
                name=attr_name,
                syntax=spec.choice("syntax", SYNTAXES, default="string"),
                multi=spec.optional_bool("multi", default=False),
                indexed=spec.optional_bool("indexed", default=False),
                origin=spec.choice(
                    "origin", ("confirmed", "poolsync", "discovered"), default="poolsync"
                ),
                holds=spec.optional_str("holds", default=""),
            )
        )
    return tuple(attributes)


def _type_values(node: Node) -> tuple[int, ...]:
    """``object_type_value``: one integer or a list of them."""
    raw = node.raw("object_type_value")
    items: list[object] = list(raw) if isinstance(raw, list) else [raw]
    values = [v for v in items if isinstance(v, int) and not isinstance(v, bool)]
    if not items or len(values) != len(items):
        raise node.expected("an integer or a list of integers", raw, key="object_type_value")
    return tuple(dict.fromkeys(values))


def _parse(path: Path, raw: bytes, root: Node) -> Profile:
    root.check_keys(("name", "version", "lab_oid_arc", "attributes", "location", "subscriber"))
    attributes = _attributes(root.child("attributes"))
    known = {a.name.lower() for a in attributes}

    def attr(node: Node, key: str, *, optional: bool = False) -> str | None:
        if optional and key not in node:
            return None
        value = _name(node, key)
        if value.lower() not in known and value.lower() not in STANDARD_ATTRIBUTES:
            raise node.expected(
                "an attribute listed under 'attributes' or a standard AD "
                "attribute (" + ", ".join(STANDARD_ATTRIBUTES.values()) + ")",
                value,
                key=key,
            )
        return value

    def required(node: Node, key: str) -> str:
        value = attr(node, key)
        assert value is not None
        return value

    loc = root.child("location")
    loc.check_keys(("object_class", "name", "object_id", "version", "failover_of", "pooling_data"))
    location = LocationNames(
        object_class=_name(loc, "object_class"),
        name=required(loc, "name"),
        object_id=required(loc, "object_id"),
        version=attr(loc, "version", optional=True),
        failover_of=attr(loc, "failover_of", optional=True),
        pooling_data=required(loc, "pooling_data"),
    )
    sub = root.child("subscriber")
    sub.check_keys(
        (
            "object_class",
            "aux_class",
            "object_type",
            "object_type_value",
            "home",
            "dtmf_id",
            "license_class",
            "license_class_values",
        )
    )
    license_class = attr(sub, "license_class", optional=True)
    um_value, inbox_value = "UM", "VMI"
    values = sub.optional_child("license_class_values")
    if values is not None:
        if license_class is None:
            raise sub.error(
                "license_class_values needs license_class (the attribute that holds them)",
                key="license_class_values",
            )
        values.check_keys(("um", "inbox"))
        um_value = values.optional_str("um", default=um_value)
        inbox_value = values.optional_str("inbox", default=inbox_value)
    subscriber = SubscriberNames(
        object_class=_name(sub, "object_class"),
        aux_class=_name(sub, "aux_class") if "aux_class" in sub else None,
        object_type=required(sub, "object_type"),
        object_type_values=_type_values(sub),
        home=required(sub, "home"),
        dtmf_id=required(sub, "dtmf_id"),
        license_class=license_class,
        um_value=um_value,
        inbox_value=inbox_value,
    )
    arc = root.optional_str("lab_oid_arc", default="1.3.6.1.4.1.32473.7")
    if not _OID.fullmatch(arc):
        raise root.expected("a dotted OID", arc, key="lab_oid_arc")
    root.optional_int("version", default=1, minimum=1, maximum=1)
    return Profile(
        name=root.optional_str("name", default=path.stem),
        source=path,
        fingerprint=hashlib.sha256(_DECODER + raw).hexdigest(),
        lab_oid_arc=arc,
        attributes=attributes,
        location=location,
        subscriber=subscriber,
    )
