"""The schema report (JSON, text) and the profile discovery writes (pure).

:func:`build_report` puts a :class:`~poolsync.discovery.sample.ForestSample` and the
roles inferred from it together with where the objects live and what the config's
passes would miss; the rest only formats. The JSON shape is a contract (``meta.type``
``schema-report``, ``meta.version`` 1): keys may be added, never renamed or removed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import yaml

from poolsync.config import Config
from poolsync.directory.schema import SchemaAttribute
from poolsync.discovery.roles import REQUIRED_ROLES, Discovery, infer_roles
from poolsync.discovery.sample import PREFIX, ForestSample
from poolsync.dn import parent as parent_dn
from poolsync.model import Entry
from poolsync.profile import Profile

__all__ = [
    "JSON_TYPE",
    "SchemaReport",
    "build_report",
    "profile_text",
    "report_json",
    "report_table",
]

JSON_TYPE: Final = "schema-report"
JSON_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Placement:
    """Where objects of one kind live: per container, how many."""

    kind: str  # locations | subscribers
    containers: tuple[tuple[str, str, int], ...]  # (naming context, container, count)


@dataclass(frozen=True, slots=True)
class SchemaReport:
    forest: str
    generated: dt.datetime
    sample: ForestSample
    discovery: Discovery
    placements: tuple[Placement, ...]
    warnings: tuple[str, ...]
    unity_schema: bool  # the forest has ciscoEcsbu* attributes at all

    @property
    def exit_code(self) -> int:
        return 0 if self.unity_schema and self.discovery.complete else 3


def _context(dn: str, contexts: tuple[str, ...]) -> str:
    lowered = dn.lower()
    matches = [nc for nc in contexts if lowered.endswith("," + nc.lower())]
    return max(matches, key=len, default="")


def _placement(kind: str, entries: tuple[Entry, ...], contexts: tuple[str, ...]) -> Placement:
    counts = Counter((_context(e.dn, contexts), parent_dn(e.dn)) for e in entries)
    return Placement(
        kind,
        tuple(sorted(((nc, c, n) for (nc, c), n in counts.items()), key=lambda t: (-t[2], t[1]))),
    )


def _under(dn: str, base: str) -> bool:
    return not base or dn.lower() == base.lower() or dn.lower().endswith("," + base.lower())


def _warnings(config: Config, sample: ForestSample) -> list[str]:
    """Where the configured passes' base DNs would miss the objects found."""
    found: list[str] = []
    everything = [*sample.locations, *sample.subscribers]
    for label, endpoints in (
        ("domain pass (directory.dc)", config.directory.dcs),
        ("GC pass (directory.gc)", config.directory.gcs),
    ):
        base = endpoints[0].base_dn if endpoints else ""
        missed = [e.dn for e in everything if not _under(e.dn, base)]
        if missed:
            found.append(
                f"the {label} reads under {base!r}, which misses {len(missed)} of "
                f"the objects found, e.g. {missed[0]}"
            )
    outside = [e.dn for e in everything if not _under(e.dn, sample.domain_naming_context)]
    if outside:
        found.append(
            f"{len(outside)} of the objects found are outside the domain partition "
            f"({sample.domain_naming_context}), e.g. {outside[0]}: a Global Catalog "
            "holds only domain partitions, so the GC pass will not see them"
        )
    return found


def build_report(
    config: Config, profile: Profile, sample: ForestSample, *, now: dt.datetime
) -> SchemaReport:
    schema = sample.schema
    spelled = {a.name.lower(): a.name for a in schema.attributes}
    spelled.update({n.lower(): n for n in ("displayName", "cn", "name", "objectGUID")})
    text = frozenset(a.name.lower() for a in schema.attributes if a.syntax == "string")
    text |= {"displayname", "cn", "name"}
    discovery = infer_roles(
        sample.locations,
        sample.subscribers,
        spelled=spelled,
        text_attributes=text,
        preferred={
            "subscriber.home": profile.subscriber.home,
            "subscriber.dtmf_id": profile.subscriber.dtmf_id,
        },
        object_type=sample.object_type,
    )
    unity = any(a.name.lower().startswith(PREFIX.lower()) for a in schema.attributes)
    notes = list(discovery.notes)
    if not unity:
        notes.insert(
            0,
            f"the forest's schema has no {PREFIX}* attribute: Unity's schema "
            "extension is not installed in this forest",
        )
    if sample.subscribers_limited:
        notes.append(f"the subscriber sample stopped at {len(sample.subscribers)} (--sample)")
    discovery = Discovery(
        discovery.roles, discovery.homes, discovery.object_type_values, tuple(notes)
    )
    contexts = sample.naming_contexts
    return SchemaReport(
        forest=config.forest,
        generated=now,
        sample=sample,
        discovery=discovery,
        placements=(
            _placement("locations", sample.locations, contexts),
            _placement("subscribers", sample.subscribers, contexts),
        ),
        warnings=tuple(_warnings(config, sample)),
        unity_schema=unity,
    )


# --- JSON -----------------------------------------------------------------------------


def _attribute_json(attr: SchemaAttribute) -> dict[str, Any]:
    return {
        "name": attr.name,
        "syntax": attr.syntax,
        "syntax_oid": attr.syntax_oid,
        "single_valued": attr.single_valued,
        "in_gc": attr.in_gc,
        "indexed": attr.indexed,
    }


def report_json(report: SchemaReport) -> dict[str, Any]:
    sample, discovery = report.sample, report.discovery
    return {
        "meta": {
            "type": JSON_TYPE,
            "version": JSON_VERSION,
            "generated": report.generated.isoformat(timespec="seconds"),
        },
        "forest": report.forest,
        "dc": sample.dc_host,
        "unity_schema": report.unity_schema,
        "complete": discovery.complete,
        "attributes": [_attribute_json(a) for a in sample.schema.attributes],
        "classes": [
            {
                "name": c.name,
                "category": c.category,
                "may_contain": [
                    m
                    for m in c.may_contain
                    if m.lower().startswith(PREFIX.lower())
                    or c.name.lower().startswith(PREFIX.lower())
                ],
                "auxiliary": list(c.auxiliary),
            }
            for c in sample.schema.classes
        ],
        "user_may_contain": list(sample.user_may),
        "contact_may_contain": list(sample.contact_may),
        "roles": {
            role: {
                "attribute": f.attribute,
                "evidence": f.evidence,
                "confidence": f.confidence,
                "required": role in REQUIRED_ROLES,
            }
            for role, f in discovery.roles.items()
        },
        "homes": {
            "sampled": discovery.homes.sampled,
            "matched": discovery.homes.matched,
            "unmatched": discovery.homes.unmatched,
            "matched_by": discovery.homes.matched_by,
        },
        "object_type_values": list(discovery.object_type_values),
        "sampled": {
            "locations": len(sample.locations),
            "subscribers": len(sample.subscribers),
            "limited": sample.subscribers_limited,
        },
        "placement": {
            p.kind: [
                {"naming_context": nc, "container": c, "count": n} for nc, c, n in p.containers
            ]
            for p in report.placements
        },
        "warnings": list(report.warnings),
        "notes": list(discovery.notes),
    }


# --- text -----------------------------------------------------------------------------


def report_table(report: SchemaReport) -> str:
    sample, discovery = report.sample, report.discovery
    lines = [
        f"Schema discovery: forest {report.forest}, read on {sample.dc_host}, "
        f"{report.generated.isoformat(timespec='seconds')}",
        f"Sampled {len(sample.locations)} Locations and {len(sample.subscribers)} subscribers.",
        "",
        "Roles:",
    ]
    for role, finding in discovery.roles.items():
        mark = "" if role in REQUIRED_ROLES else " (optional)"
        lines.append(f"  {role:<26} {finding.attribute or '-':<32} {finding.confidence}{mark}")
        lines.append(f"  {'':<26} {finding.evidence}")
    homes = discovery.homes
    lines += [
        "",
        f"Homes: {homes.matched} of {homes.sampled} sampled subscribers' homes match "
        f"a Location" + (f" (by {homes.matched_by})" if homes.matched_by else ""),
    ]
    if discovery.object_type_values:
        lines.append(
            "Subscriber object types seen: " + ", ".join(map(str, discovery.object_type_values))
        )
    lines += ["", "Unity attributes in the schema:"]
    for attr in sample.schema.attributes:
        if attr.name.lower().startswith(PREFIX.lower()):
            lines.append(
                f"  {attr.name:<36} {attr.syntax:<8} "
                f"{'single' if attr.single_valued else 'multi':<7}"
                f"{'GC' if attr.in_gc else 'not in GC':<10}"
                f"{'indexed' if attr.indexed else ''}".rstrip()
            )
    lines.append("A user may carry: " + (", ".join(sample.user_may) or "none"))
    lines.append("A contact may carry: " + (", ".join(sample.contact_may) or "none"))
    for placement in report.placements:
        lines += ["", f"Where the {placement.kind} live:"]
        lines += [f"  {n:>6}  {c}" for _nc, c, n in placement.containers] or ["  none found"]
    for title, items in (("Warnings:", report.warnings), ("Notes:", discovery.notes)):
        if items:
            lines += ["", title, *(f"  - {item}" for item in items)]
    lines += [
        "",
        "Every required role found."
        if discovery.complete
        else "Not every required role was found: see the evidence above.",
    ]
    return "\n".join(lines) + "\n"


# --- the profile ------------------------------------------------------------------------


def profile_text(report: SchemaReport, *, name: str) -> str:
    """A profile that ``resync`` accepts as it is, with the roles discovered.

    Call only when :attr:`Discovery.complete`. Optional roles left out when not found.
    """
    roles = {
        r: f.attribute
        for r, f in report.discovery.roles.items()
        if f.attribute and f.confidence in ("certain", "likely")
    }
    schema = report.sample.schema
    attributes: dict[str, dict[str, Any]] = {}
    names = [a for a in roles.values() if a]
    if report.sample.object_type:
        names.append(report.sample.object_type)
    for attribute in dict.fromkeys(names):
        found = schema.attribute(attribute)
        if found is None:
            continue
        syntax = (
            found.syntax if found.syntax in ("integer", "string", "boolean", "binary") else "string"
        )
        attributes[found.name] = {
            "syntax": syntax,
            "multi": not found.single_valued,
            "indexed": found.indexed,
            "origin": "discovered",
        }
    location = {
        "object_class": report.sample.location_class,
        **{
            k: roles[f"location.{k}"]
            for k in ("name", "object_id", "version", "failover_of", "pooling_data")
            if f"location.{k}" in roles
        },
    }
    values = report.discovery.object_type_values or (1,)
    subscriber: dict[str, Any] = {
        "object_class": "user",
        "object_type": report.sample.object_type,
        "object_type_value": values[0] if len(values) == 1 else list(values),
        **{
            k: roles[f"subscriber.{k}"]
            for k in ("home", "dtmf_id", "license_class")
            if f"subscriber.{k}" in roles
        },
    }
    doc = {
        "name": name,
        "version": 1,
        "attributes": dict(sorted(attributes.items(), key=lambda kv: kv[0].lower())),
        "location": location,
        "subscriber": subscriber,
    }
    head = (
        f"# Written by `poolsync schema discover` for forest {report.forest}\n"
        f"# from {report.sample.dc_host} on {report.generated.date().isoformat()}.\n"
        '# Check it before use: docs/schema.md, "Before you use a discovered '
        'profile".\n'
    )
    return head + yaml.safe_dump(doc, sort_keys=False, width=100)
