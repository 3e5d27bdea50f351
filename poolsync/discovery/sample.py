"""Read what discovery needs from a forest: its schema and a sample of Unity objects.

Read-only, with the bind of the config's domain pass (the same rights as a resync). The
first DC of ``directory.dc.url`` that answers is asked; every naming context it holds
(but the schema) is searched, since Unity's Location container is not public and may
lie outside the domain partition.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from itertools import islice

from poolsync.config import Config
from poolsync.directory import retrying
from poolsync.directory.filters import and_filter, equality
from poolsync.directory.schema import SchemaRead, read_schema
from poolsync.directory.source import DirectoryReader, DirectorySource
from poolsync.errors import DirectoryUnavailable
from poolsync.model import Entry
from poolsync.profile import STANDARD_ATTRIBUTES, Profile

__all__ = ["PREFIX", "ForestSample", "sample_forest"]

#: Every Unity attribute and class name starts so (Cisco's "ECS BU" schema extension).
PREFIX = "ciscoEcsbu"
LOCATION_CLASS = "ciscoEcsbuUMLocation"  # confirmed (Cisco's permission wizard)
OBJECT_TYPE = "ciscoEcsbuObjectType"  # confirmed (real subscriber dumps)
_NAME_CANDIDATES = ("displayName", "cn", "name")


@dataclass(frozen=True, slots=True)
class ForestSample:
    dc_host: str
    endpoint: str
    naming_contexts: tuple[str, ...]  # searched (all but the schema's)
    domain_naming_context: str
    schema: SchemaRead
    user_may: tuple[str, ...]  # Unity attributes a user may carry
    contact_may: tuple[str, ...]  # ... and a contact
    location_class: str
    object_type: str | None
    locations: tuple[Entry, ...]
    subscribers: tuple[Entry, ...]
    subscribers_limited: bool  # the sample stopped at its limit


def _unity_may(schema: SchemaRead, extra: SchemaRead, class_name: str) -> tuple[str, ...]:
    klass = schema.klass(class_name) or extra.klass(class_name)
    if klass is None:
        return ()
    names = set(klass.may_contain)
    for aux in klass.auxiliary:
        found = schema.klass(aux) or extra.klass(aux)
        if found is not None:
            names |= set(found.may_contain)
    return tuple(sorted((n for n in names if n.lower().startswith(PREFIX.lower())), key=str.lower))


def _search_all(
    conn: DirectoryReader, contexts: Iterable[str], ldap_filter: str, attributes: list[str]
) -> Generator[Entry, None, None]:
    seen: set[bytes] = set()
    for nc in contexts:
        for entry in conn.search(nc, ldap_filter, attributes):
            key = entry.first("objectGUID") or entry.dn.encode()
            if key not in seen:
                seen.add(key)
                yield entry


def _sample(conn: DirectoryReader, config: Config, profile: Profile, *, limit: int) -> ForestSample:
    root = conn.root_dse()
    contexts = [
        nc for nc in conn.naming_contexts() if nc.lower() != root.schema_naming_context.lower()
    ]
    roles = profile.role_attributes()
    wanted = {*roles.values(), "user", "contact", LOCATION_CLASS, *_NAME_CANDIDATES}
    schema = read_schema(conn, root.schema_naming_context, names=wanted, prefix=PREFIX)
    classes = [c for n in ("user", "contact") if (c := schema.klass(n)) is not None]
    aux = {a for c in classes for a in c.auxiliary} - {c.name for c in schema.classes}
    extra = read_schema(conn, root.schema_naming_context, names=aux)
    unity = [a.name for a in schema.attributes if a.name.lower().startswith(PREFIX.lower())]
    location_class = (
        LOCATION_CLASS
        if schema.klass(LOCATION_CLASS) is not None
        else profile.location.object_class
    )
    location_attributes = sorted(
        {"objectGUID", *_NAME_CANDIDATES, *unity, *profile.location_attributes()}, key=str.lower
    )
    locations = tuple(
        _search_all(conn, contexts, equality("objectClass", location_class), location_attributes)
    )
    object_type = next(
        (
            n
            for n in (profile.subscriber.object_type, OBJECT_TYPE)
            if schema.attribute(n) is not None
        ),
        None,
    )
    subscribers: tuple[Entry, ...] = ()
    limited = False
    if object_type is not None:
        subscriber_attributes = sorted(
            {
                "objectGUID",
                object_type,
                *unity,
                *(
                    a
                    for a in profile.subscriber_attributes()
                    if a.lower() not in STANDARD_ATTRIBUTES
                ),
            },
            key=str.lower,
        )
        found = _search_all(
            conn,
            contexts,
            and_filter(
                equality("objectClass", profile.subscriber.object_class), f"({object_type}=*)"
            ),
            subscriber_attributes,
        )
        try:
            subscribers = tuple(islice(found, limit + 1))
        finally:
            found.close()  # stops the paged search early; the page in flight is drained
        limited = len(subscribers) > limit
        subscribers = subscribers[:limit]
    return ForestSample(
        dc_host=root.dns_host_name,
        endpoint=conn.endpoint.url,
        naming_contexts=tuple(contexts),
        domain_naming_context=root.default_naming_context,
        schema=SchemaRead(schema.naming_context, schema.attributes, schema.classes + extra.classes),
        user_may=_unity_may(schema, extra, "user"),
        contact_may=_unity_may(schema, extra, "contact"),
        location_class=location_class,
        object_type=object_type,
        locations=locations,
        subscribers=subscribers,
        subscribers_limited=limited,
    )


def sample_forest(
    source: DirectorySource, config: Config, profile: Profile, *, limit: int
) -> ForestSample:
    """Sample the forest through the source's first DC that answers (failover, retries)."""
    failures: list[str] = []
    for endpoint in source.dcs:
        try:
            for attempt in retrying(source.retries, what=f"reading {endpoint.url}"):
                with attempt, source.open(endpoint) as conn:
                    conn.limit_to(source.pass_timeout)
                    return _sample(conn, config, profile, limit=limit)
        except DirectoryUnavailable as exc:
            failures.append(str(exc))
    raise DirectoryUnavailable("no DC answered: " + "; ".join(failures))
