"""Infer each profile role from sampled values (pure).

``schema discover`` reads a forest's schema and a sample of its Locations and
subscribers; this module decides, from the values alone, which attribute plays each
role, with the evidence and a confidence (``certain``, ``likely``, ``ambiguous``,
``missing``). Nothing here is guessed silently: a choice between candidates says which
were passed over and why. The rules are in docs/schema.md ("How discovery decides").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from poolsync.attachment import parse_attachment
from poolsync.errors import AttachmentError
from poolsync.model import Entry
from poolsync.objectid import reduce_id

__all__ = ["REQUIRED_ROLES", "Discovery", "HomeMatches", "RoleFinding", "infer_roles"]

Confidence = Literal["certain", "likely", "ambiguous", "missing"]
REQUIRED_ROLES: Final = (
    "location.name",
    "location.object_id",
    "location.pooling_data",
    "subscriber.home",
    "subscriber.dtmf_id",
)
ROLES: Final = (
    "location.name",
    "location.object_id",
    "location.version",
    "location.failover_of",
    "location.pooling_data",
    "subscriber.home",
    "subscriber.dtmf_id",
    "subscriber.license_class",
)
#: Attributes every entry carries that never play a role.
_BOOKKEEPING: Final = frozenset(
    {"objectguid", "usnchanged", "objectclass", "distinguishedname", "whencreated", "whenchanged"}
)
_VERSION: Final = re.compile(r"\s*\d+\.\d+(\.\d+)?\s*\(\s*\d+[A-Za-z0-9.]*\s*\)\s*")
_DIGITS: Final = re.compile(r"[0-9]+")
_LICENSE_WORDS: Final = frozenset({"UM", "VMI", "VM", "INBOX", "TTS"})


@dataclass(frozen=True, slots=True)
class RoleFinding:
    attribute: str | None
    evidence: str
    confidence: Confidence


@dataclass(frozen=True, slots=True)
class HomeMatches:
    sampled: int  # subscribers sampled that carry a home value
    matched: int
    unmatched: int
    matched_by: str | None  # object_id | objectGUID | None (nothing matched)


@dataclass(frozen=True, slots=True)
class Discovery:
    roles: Mapping[str, RoleFinding]
    homes: HomeMatches
    object_type_values: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        """Every required role certain or likely."""
        return all(self.roles[r].confidence in ("certain", "likely") for r in REQUIRED_ROLES)


def _values(entries: Sequence[Entry], name: str) -> list[list[bytes]]:
    return [entry.attributes.get(name, []) for entry in entries]


def _attribute_names(entries: Sequence[Entry]) -> list[str]:
    """Attributes present on any entry (lower-case keys), without bookkeeping ones."""
    names = {key.split(";", 1)[0] for entry in entries for key in entry.attributes}
    return sorted(names - _BOOKKEEPING)


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _Names:
    """Attribute names as the schema spells them (entries give lower-case keys)."""

    def __init__(self, spelled: Mapping[str, str]) -> None:
        self._spelled = {k.lower(): v for k, v in spelled.items()}

    def __call__(self, key: str) -> str:
        return self._spelled.get(key.lower(), key)


def _keys(entry: Entry, attribute: str) -> list[str]:
    """An entry's id keys in ``attribute`` (``objectguid``: its objectGUID)."""
    if attribute == "objectguid":
        try:
            return [entry.guid()]
        except ValueError:
            return []
    return [k for raw in entry.attributes.get(attribute, []) if (k := reduce_id(raw).key)]


def infer_roles(
    locations: Sequence[Entry],
    subscribers: Sequence[Entry],
    *,
    spelled: Mapping[str, str],
    text_attributes: frozenset[str],
    preferred: Mapping[str, str] | None = None,
    object_type: str | None = None,
) -> Discovery:
    """Which attribute plays each role, from sampled Location and subscriber entries.

    ``spelled`` maps lower-case attribute names to the schema's spelling;
    ``text_attributes`` are (lower-case) the string-syntax ones; ``preferred`` maps a
    role to the current profile's attribute (used only to break ties, and said so).
    """
    name = _Names(spelled)
    preferred = {k: v.lower() for k, v in (preferred or {}).items()}
    roles: dict[str, RoleFinding] = {}
    notes: list[str] = []
    if not locations:
        notes.append("no Location was found (objectClass ciscoEcsbuUMLocation)")
    if not subscribers:
        notes.append("no subscriber was found")
    loc_attrs = _attribute_names(locations)
    sub_attrs = [a for a in _attribute_names(subscribers) if a != (object_type or "").lower()]

    roles["location.pooling_data"] = _pooling_data(locations, loc_attrs, name)
    roles["location.version"] = _version(locations, loc_attrs, name)
    home, object_id, homes = _homes(locations, subscribers, loc_attrs, sub_attrs, name, preferred)
    roles["subscriber.home"] = home
    roles["location.object_id"] = object_id
    taken = {a.lower() for f in roles.values() if (a := f.attribute)}
    roles["location.name"] = _location_name(locations, loc_attrs, name, text_attributes, taken)
    roles["location.failover_of"] = _failover(locations, loc_attrs, name, object_id, taken)
    used = {home.attribute.lower()} if home.attribute else set()
    roles["subscriber.dtmf_id"] = _dtmf(
        subscribers, [a for a in sub_attrs if a not in used], name, text_attributes, preferred
    )
    roles["subscriber.license_class"] = _license_class(
        subscribers, [a for a in sub_attrs if a not in used], name
    )
    types = sorted(
        {
            int(t)
            for e in subscribers
            for raw in e.attributes.get((object_type or "").lower(), [])
            if (t := (_text(raw) or "").strip()).isdigit()
        }
    )
    return Discovery(
        roles={r: roles[r] for r in ROLES},
        homes=homes,
        object_type_values=tuple(types),
        notes=tuple(notes),
    )


def _pooling_data(locations: Sequence[Entry], attrs: list[str], name: _Names) -> RoleFinding:
    found: dict[str, tuple[int, int, Counter[str]]] = {}
    for attr in attrs:
        parsed = carried = 0
        encodings: Counter[str] = Counter()
        for values in _values(locations, attr):
            if not values:
                continue
            carried += 1
            try:
                parse_attachment(values[0])
            except AttachmentError:
                continue
            parsed += 1
            encodings[_encoding(values[0])] += 1
        if parsed:
            found[attr] = (parsed, carried, encodings)
    if not found:
        return RoleFinding(None, "no Location attribute holds an AvXmlLicData document", "missing")
    ranked = sorted(found, key=lambda a: -found[a][0])
    best = ranked[0]
    parsed, carried, encodings = found[best]
    kinds = ", ".join(f"{n} {e}" for e, n in sorted(encodings.items()))
    evidence = (
        f"{name(best)} parses as AvXmlLicData on {parsed} of the {carried} "
        f"Locations that carry it ({kinds})"
    )
    if len(ranked) > 1:
        others = ", ".join(name(a) for a in ranked[1:])
        return RoleFinding(name(best), evidence + f"; {others} also parse", "ambiguous")
    return RoleFinding(name(best), evidence, "certain")


def _encoding(raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or raw[1:2] == b"\x00" or raw[:1] == b"\x00":
        return "UTF-16"
    return "UTF-8"


def _version(locations: Sequence[Entry], attrs: list[str], name: _Names) -> RoleFinding:
    found = []
    for attr in attrs:
        texts = [_text(v[0]) for v in _values(locations, attr) if v]
        if texts and all(t is not None and _VERSION.fullmatch(t) for t in texts):
            found.append((attr, texts))
    if not found:
        return RoleFinding(
            None,
            "no Location attribute holds versions shaped like 4.0(5); "
            "the version check will be skipped",
            "missing",
        )
    attr, texts = found[0]
    sample = ", ".join(sorted(set(t or "" for t in texts))[:4])
    evidence = f"{name(attr)} holds {sample} on {len(texts)} of {len(locations)} Locations"
    if len(found) > 1:
        return RoleFinding(
            name(attr),
            evidence + "; also shaped so: " + ", ".join(name(a) for a, _ in found[1:]),
            "ambiguous",
        )
    return RoleFinding(name(attr), evidence, "certain")


def _homes(
    locations: Sequence[Entry],
    subscribers: Sequence[Entry],
    loc_attrs: list[str],
    sub_attrs: list[str],
    name: _Names,
    preferred: Mapping[str, str],
) -> tuple[RoleFinding, RoleFinding, HomeMatches]:
    """The subscriber attribute naming each one's home, and the Location attribute (or
    objectGUID) it names: the pair under which the most sampled homes match."""
    location_keys: dict[str, set[str]] = {}
    for attr in [*loc_attrs, "objectguid"]:
        keys = {k for entry in locations for k in _keys(entry, attr)}
        if keys:
            location_keys[attr] = keys
    best: tuple[int, str, str] | None = None
    ties: list[tuple[str, str]] = []
    for home in sub_attrs:
        homes = [k for entry in subscribers for k in _keys(entry, home)[:1]]
        if not homes:
            continue
        for attr, keys in location_keys.items():
            matched = sum(1 for k in homes if k in keys)
            if not matched:
                continue
            score = (matched, home, attr)
            if best is None or matched > best[0]:
                best, ties = score, []
            elif matched == best[0]:
                ties.append((home, attr))
    if best is None:
        guids = {
            a: sum(
                1
                for e in subscribers
                for k in _keys(e, a)[:1]
                if reduce_id(e.attributes[a][0]).how == "guid"
            )
            for a in sub_attrs
        }
        candidate = max(guids, key=lambda a: guids[a], default=None)
        sampled = guids.get(candidate or "", 0)
        unmatched = (
            RoleFinding(
                name(candidate),
                f"{name(candidate)} holds a GUID on "
                f"{sampled} of {len(subscribers)} sampled subscribers, but "
                "none names a Location",
                "likely",
            )
            if candidate and sampled
            else RoleFinding(None, "no subscriber attribute holds ids", "missing")
        )
        missing = RoleFinding(
            None,
            "no Location attribute nor objectGUID matches any sampled subscriber's home",
            "missing",
        )
        return unmatched, missing, HomeMatches(sampled, 0, sampled, None)
    matched, home, attr = best
    carried = sum(1 for e in subscribers if _keys(e, home))
    by = "objectGUID" if attr == "objectguid" else "object_id"
    share = matched / carried if carried else 0.0
    confidence: Confidence = "certain" if share >= 0.9 else "likely"
    sample = next((e.attributes[home][0] for e in subscribers if e.attributes.get(home)), b"")
    shape = reduce_id(sample)
    layout = (
        (
            f" (as {shape.encoding or 'bytes'}"
            + (
                ", after a header"
                if sample[:1] not in (b"{", b"0") and shape.encoding == "utf-16le"
                else ""
            )
            + ")"
        )
        if shape.how == "guid"
        else ""
    )
    home_evidence = (
        f"{name(home)} names a Location on {matched} of {carried} sampled subscribers{layout}"
    )
    id_evidence = (
        f"{matched} of {carried} sampled homes match the Locations' "
        f"{name(attr) if attr != 'objectguid' else 'objectGUID'}"
    )
    if ties:
        # The current profile's choice wins a tie, and says so.
        pick = next(
            ((h, a) for h, a in [(home, attr), *ties] if preferred.get("subscriber.home") == h),
            None,
        )
        others = ", ".join(f"{name(h)}->{name(a)}" for h, a in ties)
        if pick is None:
            return (
                RoleFinding(
                    name(home), home_evidence + f"; as many match via {others}", "ambiguous"
                ),
                RoleFinding(
                    name(attr) if attr != "objectguid" else "objectGUID", id_evidence, "ambiguous"
                ),
                HomeMatches(carried, matched, carried - matched, by),
            )
        confidence = "likely"
        home_evidence += f"; as many match via {others} (kept the current profile's)"
    return (
        RoleFinding(name(home), home_evidence, confidence),
        RoleFinding(name(attr) if attr != "objectguid" else "objectGUID", id_evidence, confidence),
        HomeMatches(carried, matched, carried - matched, by),
    )


def _location_name(
    locations: Sequence[Entry],
    attrs: list[str],
    name: _Names,
    text_attributes: frozenset[str],
    taken: set[str],
) -> RoleFinding:
    """displayName first, then a ciscoEcsbu* text attribute, then cn: the first present
    and distinct on every Location whose values are names (not ids, versions, XML)."""
    passed: list[str] = []

    def qualifies(attr: str) -> bool:
        values = [v[0] for v in _values(locations, attr) if v]
        if len(values) < len(locations) or not locations:
            passed.append(f"{name(attr)} (not on every Location)")
            return False
        texts = [_text(v) for v in values]
        if any(t is None or not t.strip() for t in texts):
            passed.append(f"{name(attr)} (not text)")
            return False
        if any(
            reduce_id(v).how == "guid"
            or _VERSION.fullmatch(t or "")
            or (t or "").lstrip().startswith("<")
            for v, t in zip(values, texts, strict=True)
        ):
            passed.append(f"{name(attr)} (ids, versions or XML, not names)")
            return False
        if len(set(texts)) < len(texts):
            passed.append(f"{name(attr)} (not distinct)")
            return False
        return True

    order = (
        (["displayname"] if "displayname" in attrs else [])
        + [
            a
            for a in attrs
            if a.startswith("ciscoecsbu") and a in text_attributes and a not in taken
        ]
        + (["cn"] if "cn" in attrs else [])
    )
    chosen = [a for a in order if qualifies(a)]
    skipped = f"; passed over: {', '.join(passed)}" if passed else ""
    if not chosen:
        return RoleFinding(
            None, f"no text attribute is present and distinct on every Location{skipped}", "missing"
        )
    first = chosen[0]
    evidence = f"{name(first)} is present and distinct on all {len(locations)} Locations"
    cisco = [a for a in chosen if a.startswith("ciscoecsbu")]
    if first == "displayname" or first == "cn":
        rest = [a for a in chosen[1:] if a != "cn"]
        also = f"; also qualify: {', '.join(name(a) for a in rest)}" if rest else ""
        return RoleFinding(
            name(first), evidence + also + skipped, "likely" if first == "cn" else "certain"
        )
    if len(cisco) > 1:
        named = [a for a in cisco if "name" in a]
        if len(named) == 1:
            others = ", ".join(name(a) for a in cisco if a != named[0])
            return RoleFinding(
                name(named[0]),
                f"{name(named[0])} is present and distinct on "
                f"all {len(locations)} Locations; {others} also qualify (chose "
                f"the one called a name){skipped}",
                "likely",
            )
        return RoleFinding(
            name(first),
            evidence + "; also qualify: " + ", ".join(name(a) for a in cisco[1:]) + skipped,
            "ambiguous",
        )
    return RoleFinding(name(first), evidence + skipped, "certain")


def _failover(
    locations: Sequence[Entry],
    attrs: list[str],
    name: _Names,
    object_id: RoleFinding,
    taken: set[str],
) -> RoleFinding:
    id_attr = (object_id.attribute or "").lower()
    ids: dict[str, int] = {}
    for index, entry in enumerate(locations):
        for key in [*_keys(entry, id_attr), *_keys(entry, "objectguid")] if id_attr else []:
            ids.setdefault(key, index)
    found = []
    for attr in attrs:
        if attr in taken:
            continue
        pairs = [(i, ids.get(k)) for i, e in enumerate(locations) for k in _keys(e, attr)[:1]]
        if pairs and all(j is not None and j != i for i, j in pairs):
            found.append((attr, len(pairs)))
    if not found:
        return RoleFinding(
            None,
            "no Location attribute names another Location (no failover "
            "pair in the forest, or no such attribute)",
            "missing",
        )
    attr, count = found[0]
    evidence = f"{name(attr)} names another Location's id on {count} Location(s)"
    if len(found) > 1:
        return RoleFinding(
            name(attr),
            evidence + "; also: " + ", ".join(name(a) for a, _ in found[1:]),
            "ambiguous",
        )
    return RoleFinding(name(attr), evidence, "certain")


def _dtmf(
    subscribers: Sequence[Entry],
    attrs: list[str],
    name: _Names,
    text_attributes: frozenset[str],
    preferred: Mapping[str, str],
) -> RoleFinding:
    found = []
    for attr in attrs:
        if attr not in text_attributes:
            continue
        texts = [_text(v[0]) for v in _values(subscribers, attr) if v]
        if texts and all(t is not None and _DIGITS.fullmatch(t.strip()) for t in texts):
            found.append((attr, len(texts)))
    if not found:
        return RoleFinding(
            None, "no subscriber text attribute holds extensions (digits)", "missing"
        )
    evidence = {
        a: f"{name(a)} holds digits on {n} of {len(subscribers)} sampled subscribers"
        for a, n in found
    }
    if len(found) == 1:
        return RoleFinding(name(found[0][0]), evidence[found[0][0]], "certain")
    others = [a for a, _ in found]
    pick = preferred.get("subscriber.dtmf_id")
    how = "kept the current profile's"
    if pick not in others:
        dtmf = [a for a in others if "dtmf" in a]
        pick, how = (dtmf[0], "chose the one called DTMF") if len(dtmf) == 1 else (None, "")
    if pick is None:
        return RoleFinding(name(others[0]), "; ".join(evidence.values()), "ambiguous")
    rest = ", ".join(name(a) for a in others if a != pick)
    return RoleFinding(name(pick), f"{evidence[pick]}; {rest} too ({how})", "likely")


def _license_class(subscribers: Sequence[Entry], attrs: list[str], name: _Names) -> RoleFinding:
    for attr in attrs:
        words = {(_text(v) or "").strip().upper() for vs in _values(subscribers, attr) for v in vs}
        if words and words <= _LICENSE_WORDS and words & {"UM", "VMI"}:
            return RoleFinding(
                name(attr), f"{name(attr)} holds {', '.join(sorted(words))}", "certain"
            )
    return RoleFinding(
        None,
        "no subscriber attribute holds license classes (UM, VMI), as in "
        "real forests: UM and Inbox use will come from each server's published "
        "utilization",
        "missing",
    )
