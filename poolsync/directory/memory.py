"""A directory held in a list: the :class:`DirectorySource` tests hand the engine.

:class:`MemorySource` keeps entries as a DC would for what poolsync reads: changes bump
a USN counter and stamp ``uSNChanged``, a deletion leaves a tombstone in the naming
context's Deleted Objects container, and searches go through the same
:class:`~poolsync.directory.offline.OfflineReader` as an LDIF export. So a total sync,
a change, and an incremental sync can all be played against it without a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Final

from poolsync.config import Endpoint, RetryPolicy
from poolsync.directory.offline import OfflineReader, is_deleted
from poolsync.directory.source import Origin, RootDse
from poolsync.dn import DnKey, split_first
from poolsync.dn import key as dn_key
from poolsync.errors import DirectoryUnavailable
from poolsync.model import Entry

__all__ = ["MEMORY_DC", "MEMORY_GC", "MemorySource"]

MEMORY_DC: Final = Endpoint(
    url="ldaps://memory.invalid:636",
    scheme="ldaps",
    host="memory.invalid",
    port=636,
    use_ssl=True,
    base_dn="",
)
MEMORY_GC: Final = Endpoint(
    url="ldaps://memory.invalid:3269",
    scheme="ldaps",
    host="memory.invalid",
    port=3269,
    use_ssl=True,
    base_dn="",
)
#: Tests want no waiting between attempts.
QUICK_RETRIES: Final = RetryPolicy(attempts=3, initial_wait=0.0, max_wait=0.0)
_STRUCTURE_NS: Final = uuid.UUID("0f5c3d0e-6a57-4f0e-9a43-5b0f3c5e8d21")


class MemorySource:
    """Entries in memory, served on every endpoint (the DCs and the GCs alike).

    ``entries`` keep their ``uSNChanged`` (one is stamped where missing); the counter
    starts above the highest. Each :meth:`add`, :meth:`replace` and :meth:`delete`
    bumps it and stamps the entry, so an incremental sync after a change reads exactly
    that change. The naming context's head and its Deleted Objects container are added
    where ``entries`` lack them. ``down`` holds hosts whose :meth:`open` fails as an
    unreachable DC would; ``opened`` records every endpoint opened.
    """

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        *,
        forest_dn: str = "DC=lab,DC=example,DC=com",
        host: str = "dc1.lab.example.com",
        usn: int | None = None,
        invocation_id: str = "11111111-2222-3333-4444-555555555555",
        changes: frozenset[str] = frozenset({"usn", "tombstones"}),
        dcs: tuple[Endpoint, ...] | None = None,
        gcs: tuple[Endpoint, ...] | None = None,
        retries: RetryPolicy | None = None,
        max_entries: int = 1_000_000,
        tombstone_lifetime: int | None = 180,
        pass_timeout: float = 3600.0,
    ) -> None:
        self.forest_dn = forest_dn
        self.host = host
        #: When set, the rootDSE's highestCommittedUSN (else the counter).
        self.usn = usn
        self.invocation = invocation_id
        self._changes = changes
        self._dcs = dcs if dcs is not None else (MEMORY_DC,)
        self._gcs = gcs if gcs is not None else (MEMORY_GC,)
        self._retries = retries if retries is not None else QUICK_RETRIES
        self.max_entries = max_entries
        self.tombstone_lifetime = tombstone_lifetime
        self._pass_timeout = pass_timeout
        self.down: set[str] = set()
        self.opened: list[Endpoint] = []
        self._entries: list[Entry] = []
        held = list(entries)
        self.counter = max((_usn(e) or 0 for e in held), default=0)
        for entry in held:
            self._entries.append(entry if _usn(entry) is not None else self._stamp(entry))
        self._structure = self._structural()

    # -- DirectorySource ----------------------------------------------------------------

    @property
    def origin(self) -> Origin:
        return Origin("memory", "memory")

    @property
    def dcs(self) -> tuple[Endpoint, ...]:
        return self._dcs

    @property
    def gcs(self) -> tuple[Endpoint, ...]:
        return self._gcs

    @property
    def retries(self) -> RetryPolicy:
        return self._retries

    @property
    def pass_timeout(self) -> float:
        return self._pass_timeout

    def open(self, endpoint: Endpoint) -> OfflineReader:
        self.opened.append(endpoint)
        if endpoint.host in self.down:
            raise DirectoryUnavailable(f"cannot connect to {endpoint.url}: refused")
        return OfflineReader(
            endpoint,
            self._stream,
            root=self.root(),
            invocation_id=self.invocation,
            changes=self._changes,
            max_entries=self.max_entries,
            tombstone_lifetime=self.tombstone_lifetime,
        )

    def root(self) -> RootDse:
        """The rootDSE readers opened now get."""
        name = self.host.split(".", 1)[0].upper()
        config = f"CN=Configuration,{self.forest_dn}"
        return RootDse(
            dns_host_name=self.host,
            ds_service_name=(
                f"CN=NTDS Settings,CN={name},CN=Servers,"
                f"CN=Default-First-Site-Name,CN=Sites,{config}"
            ),
            highest_committed_usn=self.counter if self.usn is None else self.usn,
            default_naming_context=self.forest_dn,
            root_domain_naming_context=self.forest_dn,
            configuration_naming_context=config,
            schema_naming_context=f"CN=Schema,{config}",
        )

    def _stream(self) -> Iterator[Entry]:
        # A copy: a search in progress sees the entries as they were when it began.
        return iter([*self._structure, *self._entries])

    # -- changes ------------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """Every entry held (tombstones too), as a copy."""
        return list(self._entries)

    def add(self, entry: Entry) -> Entry:
        """Hold ``entry`` (stamped with the next USN); ValueError when its objectGUID
        or DN is held already."""
        guid = entry.first("objectGUID")
        key = dn_key(entry.dn)
        for held in self._entries:
            if guid is not None and held.first("objectGUID") == guid:
                raise ValueError(f"{entry.dn}: objectGUID already held by {held.dn}")
            if dn_key(held.dn) == key:
                raise ValueError(f"{entry.dn}: DN already held")
        stamped = self._stamp(entry)
        self._entries.append(stamped)
        return stamped

    def replace(self, entry: Entry) -> Entry:
        """Put ``entry`` in place of the one with its objectGUID (a modify, or with
        another DN a rename or move); KeyError when none is held."""
        index = self._index(entry.guid())
        stamped = self._stamp(entry)
        self._entries[index] = stamped
        return stamped

    def delete(self, guid: str) -> Entry | None:
        """Delete the entry with objectGUID ``guid``: with "tombstones", a tombstone
        takes its place (returned); KeyError when none is held."""
        index = self._index(guid)
        gone = self._entries.pop(index)
        if "tombstones" not in self._changes:
            return None
        tombstone = self._stamp(self._tombstone(gone, guid))
        self._entries.append(tombstone)
        return tombstone

    def _index(self, guid: str) -> int:
        raw = uuid.UUID(guid).bytes_le
        for index, held in enumerate(self._entries):
            if held.first("objectGUID") == raw and not is_deleted(held):
                return index
        raise KeyError(f"no entry with objectGUID {guid}")

    def _stamp(self, entry: Entry) -> Entry:
        self.counter += 1
        stamp = str(self.counter).encode()
        return Entry(entry.dn, {**entry.attributes, "usnchanged": [stamp]}, entry.refused)

    def _tombstone(self, gone: Entry, guid: str) -> Entry:
        """What AD keeps of a deleted object: its GUID, classes and name, under the
        Deleted Objects container of its naming context, the RDN mangled."""
        first, parent = split_first(gone.dn)
        dn = f"{first}\\0ADEL:{guid},CN=Deleted Objects,{self._nc_of(gone.dn)}"
        kept = {
            k: v
            for k, v in gone.attributes.items()
            if k in ("objectguid", "objectclass", "name", "objectsid")
        }
        return Entry(dn, {**kept, "isdeleted": [b"TRUE"], "lastknownparent": [parent.encode()]})

    def _nc_of(self, dn: str) -> str:
        key = dn_key(dn)
        for nc in (
            f"CN=Schema,CN=Configuration,{self.forest_dn}",
            f"CN=Configuration,{self.forest_dn}",
        ):
            nc_key = dn_key(nc)
            if key[len(key) - len(nc_key) :] == nc_key:
                return nc
        return self.forest_dn

    def _structural(self) -> list[Entry]:
        """The naming context's head and Deleted Objects container, where not held."""
        held: set[DnKey] = {dn_key(e.dn) for e in self._entries}
        wanted = [
            (self.forest_dn, {"objectclass": [b"top", b"domain", b"domainDNS"]}),
            (
                f"CN=Deleted Objects,{self.forest_dn}",
                {"objectclass": [b"top", b"container"], "isdeleted": [b"TRUE"]},
            ),
        ]
        return [
            Entry(
                dn, {**attributes, "objectguid": [uuid.uuid5(_STRUCTURE_NS, dn.lower()).bytes_le]}
            )
            for dn, attributes in wanted
            if dn_key(dn) not in held
        ]


def _usn(entry: Entry) -> int | None:
    text = entry.text("uSNChanged")
    return int(text) if text and text.isascii() and text.isdigit() else None
