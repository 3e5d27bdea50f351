"""Read the forest's schema: attributeSchema and classSchema entries by name.

Read-only, with the same bind rights as a resync (every authenticated user may read the
schema naming context). Used by ``resync`` to refuse a profile that names attributes
the forest lacks before reading anything, and by ``schema discover``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from poolsync.directory.filters import and_filter, equality, or_filter, starts_with
from poolsync.directory.source import DirectoryReader
from poolsync.model import Entry

__all__ = ["SchemaAttribute", "SchemaClass", "SchemaRead", "read_schema"]

#: The syntaxes a profile knows, by attributeSyntax OID (MS-ADTS 3.1.1.2.2.2).
SYNTAX_NAMES = {
    "2.5.5.9": "integer",
    "2.5.5.16": "integer",
    "2.5.5.12": "string",
    "2.5.5.4": "string",
    "2.5.5.5": "string",
    "2.5.5.6": "string",
    "2.5.5.8": "boolean",
    "2.5.5.10": "binary",
    "2.5.5.17": "binary",
    "2.5.5.1": "dn",
    "2.5.5.7": "dn",
    "2.5.5.14": "dn",
}
_CATEGORIES = {"0": "88", "1": "structural", "2": "abstract", "3": "auxiliary"}


@dataclass(frozen=True, slots=True)
class SchemaAttribute:
    name: str
    syntax: str  # integer | string | boolean | binary | dn | other
    syntax_oid: str
    single_valued: bool
    in_gc: bool  # isMemberOfPartialAttributeSet
    indexed: bool  # searchFlags bit 0


@dataclass(frozen=True, slots=True)
class SchemaClass:
    name: str
    category: str  # structural | auxiliary | abstract | 88
    may_contain: tuple[str, ...]  # mayContain and systemMayContain
    auxiliary: tuple[str, ...]  # auxiliaryClass and systemAuxiliaryClass


@dataclass(frozen=True, slots=True)
class SchemaRead:
    naming_context: str
    attributes: tuple[SchemaAttribute, ...]
    classes: tuple[SchemaClass, ...]

    def attribute(self, name: str) -> SchemaAttribute | None:
        return next((a for a in self.attributes if a.name.lower() == name.lower()), None)

    def klass(self, name: str) -> SchemaClass | None:
        return next((c for c in self.classes if c.name.lower() == name.lower()), None)


def _attribute(entry: Entry) -> SchemaAttribute:
    oid = entry.text("attributeSyntax") or ""
    flags = entry.text("searchFlags") or "0"
    return SchemaAttribute(
        name=entry.text("lDAPDisplayName") or "",
        syntax=SYNTAX_NAMES.get(oid, "other"),
        syntax_oid=oid,
        single_valued=(entry.text("isSingleValued") or "").upper() == "TRUE",
        in_gc=(entry.text("isMemberOfPartialAttributeSet") or "").upper() == "TRUE",
        indexed=flags.lstrip("-").isdigit() and bool(int(flags) & 1),
    )


def _class(entry: Entry) -> SchemaClass:
    return SchemaClass(
        name=entry.text("lDAPDisplayName") or "",
        category=_CATEGORIES.get(entry.text("objectClassCategory") or "", "other"),
        may_contain=tuple(
            sorted({*entry.texts("mayContain"), *entry.texts("systemMayContain")}, key=str.lower)
        ),
        auxiliary=tuple(
            sorted(
                {*entry.texts("auxiliaryClass"), *entry.texts("systemAuxiliaryClass")},
                key=str.lower,
            )
        ),
    )


ATTRIBUTE_FIELDS = [
    "lDAPDisplayName",
    "attributeSyntax",
    "isSingleValued",
    "isMemberOfPartialAttributeSet",
    "searchFlags",
]
CLASS_FIELDS = [
    "lDAPDisplayName",
    "objectClassCategory",
    "mayContain",
    "systemMayContain",
    "auxiliaryClass",
    "systemAuxiliaryClass",
]


def read_schema(
    conn: DirectoryReader,
    naming_context: str,
    *,
    names: Iterable[str] = (),
    prefix: str | None = None,
) -> SchemaRead:
    """The attributes and classes called ``names`` or starting with ``prefix``."""
    wanted = [equality("lDAPDisplayName", n) for n in sorted(set(names), key=str.lower)]
    if prefix:
        wanted.append(starts_with("lDAPDisplayName", prefix))
    if not wanted:
        return SchemaRead(naming_context, (), ())
    by_name = or_filter(*wanted)
    attributes = [
        _attribute(e)
        for e in conn.search(
            naming_context,
            and_filter(equality("objectClass", "attributeSchema"), by_name),
            ATTRIBUTE_FIELDS,
        )
    ]
    classes = [
        _class(e)
        for e in conn.search(
            naming_context,
            and_filter(equality("objectClass", "classSchema"), by_name),
            CLASS_FIELDS,
        )
    ]
    return SchemaRead(
        naming_context,
        tuple(sorted(attributes, key=lambda a: a.name.lower())),
        tuple(sorted(classes, key=lambda c: c.name.lower())),
    )
