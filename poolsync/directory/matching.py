"""LDAP filters and DNs evaluated locally, as Active Directory would, for offline sources.

The memory and LDIF sources answer searches without a server, so they need what a DC
does with a filter: :func:`compile_filter` turns RFC 4515 text into a predicate over
:class:`~poolsync.model.Entry`. The text is parsed by ldap3's own parser (the one that
encodes the filters the live source sends), so a filter that the live source would
refuse is refused here too, and an escaped value means the same bytes on both paths.

The semantics are AD's, as far as poolsync's filters need them: attribute names are
case-blind; equality holds when the bytes are equal or both sides are UTF-8 text equal
ignoring case; ``>=`` and ``<=`` compare numbers when both sides are integers; the
bitwise matching rules ``1.2.840.113556.1.4.803`` (AND) and ``.804`` (OR) work on
integers; ``(objectCategory=person)`` matches the category's DN by its first RDN.

:func:`dn_key` is the DN comparison the offline readers use: escapes undone, case
folded, so ``CN=a\\2Cb`` and ``cn=A\\,B`` are the same entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from ldap3.core.exceptions import LDAPException
from ldap3.operation.search import (
    AND,
    MATCH_APPROX,
    MATCH_EQUAL,
    MATCH_EXTENSIBLE,
    MATCH_GREATER_OR_EQUAL,
    MATCH_LESS_OR_EQUAL,
    MATCH_PRESENT,
    MATCH_SUBSTRING,
    NOT,
    OR,
    parse_filter,
)
from ldap3.protocol.convert import prepare_filter_for_sending

from poolsync.dn import DnKey
from poolsync.dn import key as dn_key
from poolsync.errors import QueryError
from poolsync.model import Entry

__all__ = ["BIT_AND", "BIT_OR", "Predicate", "compile_filter"]

Predicate = Callable[[Entry], bool]
BIT_AND: Final = "1.2.840.113556.1.4.803"  # LDAP_MATCHING_RULE_BIT_AND
BIT_OR: Final = "1.2.840.113556.1.4.804"  # LDAP_MATCHING_RULE_BIT_OR
# RFC 4512 descr or numericoid, with ";option"s (RFC 4515 attr): ldap3's parser takes
# any text left of the "=", and a DC refuses what is not an attribute description.
_ATTRIBUTE: Final = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*")
_INTEGER: Final = re.compile(rb"-?[0-9]+")


def compile_filter(text: str) -> Predicate:
    """The predicate ``text`` (RFC 4515) stands for; QueryError when it is malformed or
    asks for what AD would refuse (an unknown matching rule, a ``:dn:`` match)."""
    try:
        # As ldap3's Connection.search parses it: auto_escape and auto_encode on, no
        # schema, so the values keep their \xx escapes until prepare_filter_for_sending.
        root = parse_filter(text, None, True, True, None, False)
        return _compile(root.elements[0], text)
    except LDAPException as exc:
        raise QueryError(f"bad filter {text!r}: {exc}") from exc
    except (ValueError, TypeError, IndexError) as exc:
        raise QueryError(f"bad filter {text!r}: {exc}") from exc


def _compile(node: Any, text: str) -> Predicate:
    tag = node.tag
    if tag in (AND, OR, NOT):
        parts = [_compile(child, text) for child in node.elements]
        if tag == AND:
            return lambda e: all(p(e) for p in parts)
        if tag == OR:
            return lambda e: any(p(e) for p in parts)
        if len(parts) != 1:
            raise QueryError(f"bad filter {text!r}: a NOT (!) holds exactly one filter")
        inner = parts[0]
        return lambda e: not inner(e)
    assertion: dict[str, Any] = node.assertion
    name = _attribute(assertion.get("attr"), text, required=tag != MATCH_EXTENSIBLE)
    if tag == MATCH_PRESENT:
        if name == "objectclass":  # every AD object has one: the universal filter
            return lambda e: True
        return lambda e: bool(e.attributes.get(name))
    if tag in (MATCH_EQUAL, MATCH_APPROX):  # AD treats ~= as equality
        return _values(name, _equality(name, _value(assertion["value"])))
    if tag in (MATCH_GREATER_OR_EQUAL, MATCH_LESS_OR_EQUAL):
        return _values(
            name, _ordering(_value(assertion["value"]), at_least=tag == MATCH_GREATER_OR_EQUAL)
        )
    if tag == MATCH_SUBSTRING:
        return _values(name, _substrings(assertion))
    if tag == MATCH_EXTENSIBLE:
        return _extensible(name, assertion, text)
    raise QueryError(f"bad filter {text!r}: unknown filter item")


def _attribute(name: object, text: str, *, required: bool) -> str:
    if not name and not required:
        return ""
    if not isinstance(name, str) or not _ATTRIBUTE.fullmatch(name):
        raise QueryError(f"bad filter {text!r}: {name!r} is not an attribute description")
    return name.lower()


def _value(escaped: bytes | str) -> bytes:
    """An assertion value's bytes as the wire carries them (its \\xx escapes undone)."""
    return bytes(prepare_filter_for_sending(escaped))


def _values(name: str, test: Callable[[bytes], bool]) -> Predicate:
    """True when any value of ``name`` passes ``test`` (multi-valued attributes)."""
    return lambda e: any(test(v) for v in e.attributes.get(name, ()))


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8").casefold()
    except UnicodeDecodeError:
        return None


def _equality(name: str, wanted: bytes) -> Callable[[bytes], bool]:
    wanted_text = _text(wanted)
    category = name == "objectcategory" and wanted_text is not None and "=" not in wanted_text
    wanted_dn = _dn_or_none(wanted_text) if wanted_text and "=" in wanted_text else None

    def test(value: bytes) -> bool:
        if value == wanted:
            return True
        text = _text(value)
        if text is None or wanted_text is None:
            return False
        if text == wanted_text:
            return True
        if category:  # (objectCategory=person) names CN=Person,CN=Schema,...
            key = _dn_or_none(text)
            return bool(key) and key is not None and wanted_text in {v for _, v in key[0]}
        return wanted_dn is not None and _dn_or_none(text) == wanted_dn

    return test


def _dn_or_none(text: str) -> DnKey | None:
    try:
        return dn_key(text)
    except ValueError:
        return None


def _integer(value: bytes) -> int | None:
    return int(value) if _INTEGER.fullmatch(value) else None


def _ordering(bound: bytes, *, at_least: bool) -> Callable[[bytes], bool]:
    number = _integer(bound)
    bound_text = _text(bound)

    def test(value: bytes) -> bool:
        own = _integer(value)
        if number is not None and own is not None:
            return own >= number if at_least else own <= number
        text = _text(value)
        if text is not None and bound_text is not None:
            return text >= bound_text if at_least else text <= bound_text
        return value >= bound if at_least else value <= bound

    return test


def _substrings(assertion: dict[str, Any]) -> Callable[[bytes], bool]:
    initial = _value(assertion["initial"]) if assertion.get("initial") else b""
    middle = [_value(a) for a in assertion.get("any") or ()]
    final = _value(assertion["final"]) if assertion.get("final") else b""

    def fold(raw: bytes) -> bytes:
        text = _text(raw)
        return raw if text is None else text.encode("utf-8")

    parts = [fold(initial), *map(fold, middle), fold(final)]

    def test(value: bytes) -> bool:
        own = fold(value)
        head, *inner, tail = parts
        if not own.startswith(head) or len(own) < len(head) + len(tail):
            return False
        pos, end = len(head), len(own) - len(tail)
        for piece in inner:
            found = own.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return own.endswith(tail)

    return test


def _extensible(name: str, assertion: dict[str, Any], text: str) -> Predicate:
    rule = assertion.get("matchingRule") or ""
    if assertion.get("dnAttributes"):
        raise QueryError(f"bad filter {text!r}: :dn: matches are not supported")
    wanted = _value(assertion["value"])
    if not rule:
        return _values(name, _equality(name, wanted))
    if not name:
        raise QueryError(f"bad filter {text!r}: a matching rule without an attribute")
    if rule not in (BIT_AND, BIT_OR):
        raise QueryError(
            f"bad filter {text!r}: matching rule {rule} is not supported "
            f"(only {BIT_AND} and {BIT_OR})"
        )
    mask = _integer(wanted)
    if mask is None:
        raise QueryError(f"bad filter {text!r}: {rule} needs an integer, not {wanted!r}")

    def test(value: bytes) -> bool:
        own = _integer(value)
        if own is None:
            return False
        return (own & mask) == mask if rule == BIT_AND else (own & mask) != 0

    return _values(name, test)
