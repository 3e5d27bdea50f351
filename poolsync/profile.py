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
from typing import Any, Literal

import yaml

from poolsync.errors import ProfileError

BUILTIN_DIR = Path(__file__).parent / "profiles"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


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
    if _NAME.match(name_or_path) and builtin.is_file():
        return builtin
    path = Path(name_or_path)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def load_profile(name_or_path: str, *, base_dir: Path | None = None) -> Profile:
    path = resolve_profile_path(name_or_path, base_dir=base_dir)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        builtins = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise ProfileError(
            f"{path}: cannot read schema profile: {exc.strerror} "
            f"(built-in profiles: {builtins})"
        ) from exc
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    return _parse(path, raw, doc)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, value: object) -> ProfileError:
        return ProfileError(f"{self.path}: {key}: expected {expected}, got {value!r}")

    def mapping(self, doc: Any, key: str) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise self.fail(key or "(top level)", "a mapping", doc)
        return doc

    def field(self, doc: dict[str, Any], key: str, prefix: str) -> Any:
        if key not in doc:
            raise ProfileError(f"{self.path}: {prefix}{key}: required key is missing")
        return doc[key]

    def name(self, doc: dict[str, Any], key: str, prefix: str) -> str:
        value = self.field(doc, key, prefix)
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.fail(prefix + key, "an LDAP name (letters, digits, '-')", value)
        return value


def _parse(path: Path, raw: bytes, doc: Any) -> Profile:
    r = _Reader(path)
    top = r.mapping(doc, "")
    attrs_doc = r.mapping(r.field(top, "attributes", ""), "attributes")
    attributes: list[AttributeDef] = []
    for attr_name, spec in attrs_doc.items():
        key = f"attributes.{attr_name}"
        if not isinstance(attr_name, str) or not _NAME.match(attr_name):
            raise r.fail("attributes", "attribute names (letters, digits, '-')", attr_name)
        spec = r.mapping(spec, key)
        syntax = spec.get("syntax", "string")
        if syntax not in ("integer", "string"):
            raise r.fail(f"{key}.syntax", "'integer' or 'string'", syntax)
        origin = spec.get("origin", "poolsync")
        if origin not in ("confirmed", "poolsync"):
            raise r.fail(f"{key}.origin", "'confirmed' or 'poolsync'", origin)
        attributes.append(
            AttributeDef(
                name=attr_name,
                syntax=syntax,
                multi=bool(spec.get("multi", False)),
                indexed=bool(spec.get("indexed", False)),
                origin=origin,
                holds=str(spec.get("holds", "")),
            )
        )
    known = {a.name for a in attributes}

    def attr(section: dict[str, Any], key: str, prefix: str) -> str:
        value = r.name(section, key, prefix)
        if value not in known:
            raise r.fail(prefix + key, "an attribute listed under 'attributes'", value)
        return value

    loc = r.mapping(r.field(top, "location", ""), "location")
    location = LocationNames(
        object_class=r.name(loc, "object_class", "location."),
        **{k: attr(loc, k, "location.") for k in
           ("name", "object_id", "version", "failover_of", "pooling_data")},
    )
    sub = r.mapping(r.field(top, "subscriber", ""), "subscriber")
    type_value = r.field(sub, "object_type_value", "subscriber.")
    if not isinstance(type_value, int) or isinstance(type_value, bool):
        raise r.fail("subscriber.object_type_value", "a whole number", type_value)
    values = r.mapping(r.field(sub, "license_class_values", "subscriber."),
                       "subscriber.license_class_values")
    class_values: dict[str, str] = {}
    for seat in ("um", "inbox"):
        value = values.get(seat)
        if not isinstance(value, str) or not value:
            raise r.fail(f"subscriber.license_class_values.{seat}", "a non-empty string", value)
        class_values[seat] = value
    subscriber = SubscriberNames(
        object_class=r.name(sub, "object_class", "subscriber."),
        aux_class=r.name(sub, "aux_class", "subscriber."),
        object_type=attr(sub, "object_type", "subscriber."),
        object_type_value=type_value,
        home=attr(sub, "home", "subscriber."),
        dtmf_id=attr(sub, "dtmf_id", "subscriber."),
        license_class=attr(sub, "license_class", "subscriber."),
        um_value=class_values["um"],
        inbox_value=class_values["inbox"],
    )
    arc = top.get("lab_oid_arc", "1.3.6.1.4.1.32473.7")
    if not isinstance(arc, str) or not _OID.match(arc):
        raise r.fail("lab_oid_arc", "a dotted OID", arc)
    name = top.get("name", path.stem)
    if not isinstance(name, str):
        raise r.fail("name", "a string", name)
    return Profile(
        name=name,
        source=path,
        fingerprint=hashlib.sha256(raw).hexdigest(),
        lab_oid_arc=arc,
        attributes=tuple(attributes),
        location=location,
        subscriber=subscriber,
    )
