"""Directories for engine, service and CLI tests: a checked MemorySource, and faults.

The test forest is a :class:`~poolsync.directory.memory.MemorySource` (real filter
matching, USNs and tombstones; held to the live reader by ``tests/contract``) holding
what a DC holds for poolsync: the Unity schema extension, the OUs, Locations and
subscribers with their objectClass values. :func:`memory_for` serves it on a config's
endpoints. What a memory source does not do (drop a connection, be interrupted, read
slowly, hide Deleted Objects) is :class:`FaultySource`, a wrapper around its readers,
as httpx tests wrap a MockTransport rather than write a second transport.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, Literal

from poolsync.config import Config, Endpoint, RetryPolicy
from poolsync.directory.memory import MemorySource
from poolsync.directory.offline import OfflineReader
from poolsync.directory.source import Bound, ChangeRead, Origin, RootDse
from poolsync.errors import DirectoryUnavailable
from poolsync.model import Entry
from poolsync.profile import load_profile
from tests.support.helpers import LICENSE_CLASS_PROFILE

FOREST_DN: Final = "DC=lab,DC=example,DC=com"
LOCATIONS_OU: Final = f"OU=Locations,{FOREST_DN}"
SUBSCRIBERS_OU: Final = f"OU=Subscribers,{FOREST_DN}"
SCHEMA_NC: Final = f"CN=Schema,CN=Configuration,{FOREST_DN}"
LOCATION_CLASSES: Final = [b"top", b"ciscoEcsbuUMLocation"]
#: A subscriber is a user; the license-class profile's attributes come with the
#: auxiliary class, which AD lists among the object's classes.
USER_CLASSES: Final = [b"top", b"person", b"organizationalPerson", b"user", b"ciscoEcsbuUser"]


def guid_bytes(n: int) -> bytes:
    return uuid.UUID(int=n).bytes_le


def guid(n: int) -> str:
    """The objectGUID of ``guid_bytes(n)`` as text (what MemorySource.delete takes)."""
    return str(uuid.UUID(int=n))


def subscriber_guid(n: int) -> str:
    return guid(10_000 + n)


def location_entry(n: int, name: str, object_id: str, attachment: str | None) -> Entry:
    attrs = {
        "objectclass": list(LOCATION_CLASSES),
        "cn": [name.encode()],
        "objectguid": [guid_bytes(n)],
        "ciscoecsbuservername": [name.encode()],
        "ciscoecsbuobjectid": [object_id.encode()],
        "ciscoecsbuserverversion": [b"4.0(5)"],
    }
    if attachment is not None:
        attrs["ciscoecsbupoolingdata"] = [attachment.encode()]
    return Entry(f"CN={name},{LOCATIONS_OU}", attrs)


def subscriber_entry(n: int, home: str, classes: tuple[str, ...] = ()) -> Entry:
    return Entry(
        f"CN=u{n},{SUBSCRIBERS_OU}",
        {
            "objectclass": list(USER_CLASSES),
            "cn": [f"u{n}".encode()],
            "samaccountname": [f"u{n}".encode()],
            "objectguid": [guid_bytes(10_000 + n)],
            "ciscoecsbuumlocationobjectid": [home.encode()],
            "ciscoecsbudtmfid": [str(5000 + n).encode()],
            "ciscoecsbulicenseclass": [c.encode() for c in classes],
            "ciscoecsbuobjecttype": [b"1"],
        },
    )


def without(entry: Entry, *names: str) -> Entry:
    """``entry`` without the attributes ``names`` (as a modify deleting them leaves it)."""
    drop = {n.lower() for n in names}
    return Entry(entry.dn, {k: v for k, v in entry.attributes.items() if k not in drop})


def _ou(dn: str) -> Entry:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    return Entry(
        dn,
        {
            "objectclass": [b"top", b"organizationalUnit"],
            "ou": [name.encode()],
            "objectguid": [uuid.uuid5(uuid.NAMESPACE_DNS, dn.lower()).bytes_le],
        },
    )


def _schema_object(name: str, attributes: dict[str, list[bytes]]) -> Entry:
    return Entry(
        f"CN={name},{SCHEMA_NC}",
        {
            **attributes,
            "cn": [name.encode()],
            "ldapdisplayname": [name.encode()],
            "objectguid": [uuid.uuid5(uuid.NAMESPACE_OID, name.lower()).bytes_le],
        },
    )


def schema_entries() -> list[Entry]:
    """The schema naming context with the Unity extension (every attribute and class
    the test profiles name): the engine checks its profile against it before reading."""
    profile = load_profile(str(LICENSE_CLASS_PROFILE))  # names a superset of cisco-unity's
    syntax = {
        "integer": b"2.5.5.9",
        "string": b"2.5.5.12",
        "binary": b"2.5.5.10",
        "boolean": b"2.5.5.8",
    }
    entries = [
        Entry(
            f"CN=Configuration,{FOREST_DN}",
            {
                "objectclass": [b"top", b"configuration"],
                "objectguid": [uuid.uuid5(uuid.NAMESPACE_DNS, "configuration").bytes_le],
            },
        ),
        Entry(
            SCHEMA_NC,
            {
                "objectclass": [b"top", b"dMD"],
                "objectguid": [uuid.uuid5(uuid.NAMESPACE_DNS, "schema").bytes_le],
            },
        ),
    ]
    for attr in profile.attributes:
        entries.append(
            _schema_object(
                attr.name,
                {
                    "objectclass": [b"top", b"attributeSchema"],
                    "attributesyntax": [syntax[attr.syntax]],
                    "issinglevalued": [b"FALSE" if attr.multi else b"TRUE"],
                    "ismemberofpartialattributeset": [b"TRUE"],
                    "searchflags": [b"1" if attr.indexed else b"0"],
                },
            )
        )
    names = [a.name.encode() for a in profile.attributes]
    for name, category, may in (
        ("ciscoEcsbuUMLocation", b"1", names),
        ("ciscoEcsbuUser", b"3", names),
        ("user", b"1", [b"cn", b"sAMAccountName"]),
    ):
        entries.append(
            _schema_object(
                name,
                {
                    "objectclass": [b"top", b"classSchema"],
                    "objectclasscategory": [category],
                    "maycontain": list(may),
                },
            )
        )
    return entries


def memory_for(
    config: Config, entries: Iterable[Entry] = (), *, schema: bool = True, **kwargs: object
) -> MemorySource:
    """A memory forest holding the schema, the OUs and ``entries`` (``schema`` False:
    ``entries`` alone), answering on ``config``'s DCs and GCs with its retry policy and
    pass timeout; ``kwargs`` go to :class:`MemorySource` (host, usn, invocation_id ...)."""
    directory = config.directory
    held = [*schema_entries(), _ou(LOCATIONS_OU), _ou(SUBSCRIBERS_OU)] if schema else []
    held += entries
    return MemorySource(
        held,
        forest_dn=FOREST_DN,
        dcs=directory.dcs,
        gcs=directory.gcs,
        retries=directory.retries,
        pass_timeout=directory.timeouts.pass_,
        **kwargs,  # type: ignore[arg-type]
    )


class FaultySource:
    """A :class:`MemorySource` whose readers break as told (faults a memory source
    does not have); everything else is the memory source's own answer.

    * ``drop_after``/``drops``: a reader that has served ``drop_after`` entries loses
      its connection (DirectoryUnavailable), ``drops`` times in all;
    * ``interrupt_at``: Ctrl-C (KeyboardInterrupt) at that entry of any search;
    * ``delay``: seconds per entry served (``reading`` is set at the first);
    * ``deleted_objects_readable`` False: a bind without rights on Deleted Objects (the
      container reads bare, as Samba answers, and tombstone searches find nothing).

    ``filters`` records every search filter sent, ``readers`` every reader opened.
    """

    def __init__(
        self,
        memory: MemorySource,
        *,
        drop_after: int | None = None,
        drops: int = 0,
        interrupt_at: int | None = None,
        delay: float = 0.0,
        deleted_objects_readable: bool = True,
    ) -> None:
        self.memory = memory
        self.drop_after = drop_after
        self.drops = drops
        self.interrupt_at = interrupt_at
        self.delay = delay
        self.deleted_objects_readable = deleted_objects_readable
        self.filters: list[str] = []
        self.readers: list[FaultyReader] = []
        self.reading = threading.Event()

    @property
    def origin(self) -> Origin:
        return self.memory.origin

    @property
    def dcs(self) -> tuple[Endpoint, ...]:
        return self.memory.dcs

    @property
    def gcs(self) -> tuple[Endpoint, ...]:
        return self.memory.gcs

    @property
    def retries(self) -> RetryPolicy:
        return self.memory.retries

    @property
    def pass_timeout(self) -> float:
        return self.memory.pass_timeout

    def open(self, endpoint: Endpoint) -> FaultyReader:
        reader = FaultyReader(self, self.memory.open(endpoint))
        self.readers.append(reader)
        return reader


class FaultyReader:
    """One memory reader, its searches passed through the source's faults."""

    def __init__(self, source: FaultySource, inner: OfflineReader) -> None:
        self.source = source
        self.inner = inner
        self.endpoint = inner.endpoint
        self.served = 0
        self.closed = False

    @property
    def changes(self) -> frozenset[str]:
        return self.inner.changes

    @property
    def max_entries(self) -> int:
        return self.inner.max_entries

    def __enter__(self) -> FaultyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        self.inner.close()

    def limit_to(self, seconds: float) -> None:
        self.inner.limit_to(seconds)

    def root_dse(self) -> RootDse:
        return self.inner.root_dse()

    def naming_contexts(self) -> list[str]:
        return self.inner.naming_contexts()

    def invocation_id(self, ds_service_name: str) -> str:
        return self.inner.invocation_id(ds_service_name)

    def tombstone_lifetime(self, configuration_nc: str) -> int | None:
        return self.inner.tombstone_lifetime(configuration_nc)

    def domain_naming_contexts(self, configuration_nc: str) -> list[str]:
        return self.inner.domain_naming_contexts(configuration_nc)

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        show_deleted: bool = False,
        bound: Bound | None = None,
    ) -> Iterator[Entry]:
        self.source.filters.append(ldap_filter)
        if show_deleted and not self.source.deleted_objects_readable:
            return iter(())
        return self._faulty(
            self.inner.search(base, ldap_filter, attributes, show_deleted=show_deleted, bound=bound)
        )

    def search_with_large_value(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        large: str,
        max_bytes: int,
        bound: Bound | None = None,
    ) -> Iterator[Entry]:
        self.source.filters.append(ldap_filter)
        return self._faulty(
            self.inner.search_with_large_value(
                base, ldap_filter, attributes, large=large, max_bytes=max_bytes, bound=bound
            )
        )

    def read(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        scope: Literal["base", "one", "subtree"] = "subtree",
        show_deleted: bool = False,
    ) -> list[Entry]:
        entries = self.inner.read(
            base, ldap_filter, attributes, scope=scope, show_deleted=show_deleted
        )
        if show_deleted and not self.source.deleted_objects_readable:
            return [Entry(e.dn, {}) for e in entries]
        return entries

    def dirsync(
        self, base: str, ldap_filter: str, attributes: list[str], *, cookie: bytes | None = None
    ) -> ChangeRead:
        return self.inner.dirsync(base, ldap_filter, attributes, cookie=cookie)

    def _faulty(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        source = self.source
        for index, entry in enumerate(entries):
            if (
                source.drop_after is not None
                and source.drops > 0
                and self.served >= source.drop_after
            ):
                source.drops -= 1
                raise DirectoryUnavailable(f"lost connection to {self.endpoint.url}: reset by peer")
            if index == source.interrupt_at:
                raise KeyboardInterrupt
            if source.delay:
                source.reading.set()
                time.sleep(source.delay)
            self.served += 1
            yield entry


def write_config(
    tmp_path: Path, *, dc_url: str = "ldaps://dc.invalid:636", directory_extra: str = ""
) -> Path:
    """A valid config in ``tmp_path`` with a 0600 password file beside it."""
    secret = tmp_path / "pw"
    secret.write_text("pw")
    secret.chmod(0o600)
    config = tmp_path / "poolsync.yaml"
    config.write_text(f"""forest: lab.example.com
directory:
  dc: {{url: "{dc_url}"}}
  gc: {{url: "ldaps://dc.invalid:3269"}}
  bind: {{method: simple, user: a@lab.example.com, password: {{file: {secret}}}}}
  retries: {{attempts: 3, initial_wait: 0.01, max_wait: 0.02}}
{directory_extra}store: store.db
""")
    return config
