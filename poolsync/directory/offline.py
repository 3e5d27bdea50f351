"""One :class:`~poolsync.directory.source.DirectoryReader` over entries held anywhere.

The memory source (a list) and the LDIF source (files re-read per search) both answer
searches the same way: :class:`OfflineReader` walks a stream of entries once per search
and keeps those under the base that match the filter, as a DC would
(:mod:`poolsync.directory.matching`). Nothing is indexed and nothing is held beyond the
entry at hand, so an export of any size is searched in constant memory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Literal

from poolsync.config import Endpoint
from poolsync.directory.matching import Predicate, compile_filter
from poolsync.directory.source import Bound, ChangeRead, RootDse
from poolsync.dn import DnKey
from poolsync.dn import key as dn_key
from poolsync.errors import DirectoryUnavailable, QueryError, RunawaySearch
from poolsync.model import Entry

__all__ = ["DELETED_OBJECTS_WKGUID", "OfflineReader", "is_deleted"]

#: The well-known GUID of each naming context's Deleted Objects container.
DELETED_OBJECTS_WKGUID: Final = "18e2ea80684f11d2b9aa00c04f79f805"
_DOMAIN_CROSSREFS: Final = "(&(objectClass=crossRef)(systemFlags:1.2.840.113556.1.4.803:=2))"

Scope = Literal["base", "one", "subtree"]


def is_deleted(entry: Entry) -> bool:
    """A tombstone (isDeleted TRUE): seen only by a search with Show Deleted."""
    return (entry.text("isDeleted") or "").strip().upper() == "TRUE"


class OfflineReader:
    """A reader over ``entries()``, a callable giving a fresh stream for each search.

    Entries carry every attribute (names lower-cased); searches return only the ones
    asked for. ``changes`` says which change reads the data supports ("usn",
    "tombstones"; DirSync needs a live DC and is refused here).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        entries: Callable[[], Iterator[Entry]],
        *,
        root: RootDse,
        invocation_id: str,
        changes: frozenset[str],
        max_entries: int = 1_000_000,
        tombstone_lifetime: int | None = None,
        naming_contexts: Sequence[str] = (),
    ) -> None:
        if "dirsync" in changes:
            raise ValueError("an offline reader cannot serve DirSync reads")
        self.endpoint = endpoint
        self._entries = entries
        self._root = root
        self._invocation_id = invocation_id
        self._changes = changes
        self._max_entries = max_entries
        self._tombstone_lifetime = tombstone_lifetime
        self._naming_contexts = list(naming_contexts)
        self._deadline: float | None = None
        self._limit = 0.0
        self._closed = False

    @property
    def changes(self) -> frozenset[str]:
        return self._changes

    @property
    def max_entries(self) -> int:
        return self._max_entries

    def __enter__(self) -> OfflineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: the flag only catches use after close (a bug)."""
        self._closed = True

    def limit_to(self, seconds: float) -> None:
        """Bound everything done from now on to ``seconds``, checked at each entry."""
        self._limit = seconds
        self._deadline = time.monotonic() + seconds

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.endpoint.url}: the reader was used after close()")
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise DirectoryUnavailable(
                f"{self.endpoint.url} is too slow: the pass took longer than "
                f"directory.timeouts.pass ({self._limit:g} s)"
            )

    # -- the rootDSE and what it names ---------------------------------------------------

    def root_dse(self) -> RootDse:
        self._check()
        return self._root

    def naming_contexts(self) -> list[str]:
        """The given naming contexts, else the rootDSE's domain, configuration and
        schema ones."""
        self._check()
        if self._naming_contexts:
            return list(self._naming_contexts)
        root = self._root
        named = (
            root.default_naming_context,
            root.configuration_naming_context,
            root.schema_naming_context,
        )
        return list(dict.fromkeys(nc for nc in named if nc))

    def invocation_id(self, ds_service_name: str) -> str:
        self._check()
        return self._invocation_id

    def tombstone_lifetime(self, configuration_nc: str) -> int | None:
        self._check()
        return self._tombstone_lifetime

    def domain_naming_contexts(self, configuration_nc: str) -> list[str]:
        """The crossRefs of domains under CN=Partitions, as a DC lists them; data
        without a Partitions container (a memory source, most exports) has one domain,
        the rootDSE's."""
        found: list[str] = []
        if configuration_nc:
            partitions = f"CN=Partitions,{configuration_nc}"
            try:
                crossrefs = self.read(partitions, _DOMAIN_CROSSREFS, ["nCName"], scope="one")
            except QueryError:  # no Partitions container in this data
                crossrefs = []
            found = [nc for e in crossrefs if (nc := e.text("nCName"))]
        if not found and self._root.default_naming_context:
            found = [self._root.default_naming_context]
        return sorted(found)

    def _root_entry(self) -> Entry:
        """The rootDSE as an entry, for a base read of ""."""
        root = self._root
        values = {
            "dnshostname": root.dns_host_name,
            "dsservicename": root.ds_service_name,
            "highestcommittedusn": str(root.highest_committed_usn),
            "defaultnamingcontext": root.default_naming_context,
            "rootdomainnamingcontext": root.root_domain_naming_context,
            "configurationnamingcontext": root.configuration_naming_context,
            "schemanamingcontext": root.schema_naming_context,
        }
        attributes = {k: [v.encode()] for k, v in values.items() if v}
        attributes["namingcontexts"] = [nc.encode() for nc in self.naming_contexts()]
        attributes["objectclass"] = [b"top"]
        return Entry("", attributes)

    # -- searches -----------------------------------------------------------------------

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        show_deleted: bool = False,
        bound: Bound | None = None,
    ) -> Iterator[Entry]:
        """Stream the entries under ``base`` (its subtree) that match ``ldap_filter``;
        past ``bound`` (or max_entries) RunawaySearch."""
        self._check()
        matches = compile_filter(ldap_filter)
        return self._walk(
            base, "subtree", matches, attributes, show_deleted=show_deleted, bound=bound
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
        """:meth:`search`, each ``large`` value over ``max_bytes`` left out and its size
        given in ``Entry.refused`` (as the live reader does)."""
        name = large.lower()
        for entry in self.search(base, ldap_filter, attributes, bound=bound):
            sizes = [len(v) for v in entry.attributes.get(name, ())]
            if any(size > max_bytes for size in sizes):
                rest = {k: v for k, v in entry.attributes.items() if k != name}
                yield Entry(entry.dn, rest, refused={name: max(sizes)})
            else:
                yield entry

    def read(
        self,
        base: str,
        ldap_filter: str,
        attributes: list[str],
        *,
        scope: Scope = "subtree",
        show_deleted: bool = False,
    ) -> list[Entry]:
        """One small search with ``scope``; a base read of "" is the rootDSE."""
        self._check()
        matches = compile_filter(ldap_filter)
        if base == "" and scope == "base":
            root = self._root_entry()
            return [_project(root, attributes)] if matches(root) else []
        return list(
            self._walk(base, scope, matches, attributes, show_deleted=show_deleted, bound=None)
        )

    def dirsync(
        self, base: str, ldap_filter: str, attributes: list[str], *, cookie: bytes | None = None
    ) -> ChangeRead:
        raise QueryError(
            f"{self.endpoint.url}: holds no DirSync change history (only a live DC answers DirSync)"
        )

    def _walk(
        self,
        base: str,
        scope: Scope,
        matches: Predicate,
        attributes: list[str],
        *,
        show_deleted: bool,
        bound: Bound | None,
    ) -> Iterator[Entry]:
        limit, why = self._limit_of(bound)
        base_key = self._base_key(base)
        found = 0
        base_seen = False
        # A search of the whole tree needs no DN parsed (most of a walk's time otherwise);
        # sources hold only DNs that parse (an export's are checked as it is validated).
        whole = not base_key and scope == "subtree"
        # A subtree search's DNs that end in the base as written are under it, unparsed.
        suffix = base.strip().lower() if scope == "subtree" and not base.startswith("<") else ""
        for entry in self._entries():
            self._check()
            if is_deleted(entry) and not show_deleted:
                continue
            if not whole and not (suffix and _ends_with(entry.dn, suffix)):
                key = _key(entry)
                if key is None or not _in_scope(key, base_key, scope):
                    continue
            base_seen = True  # the base, or an entry under it: the base is there
            if not matches(entry):
                continue
            found += 1
            if found > limit:
                raise RunawaySearch(
                    f"{self.endpoint.url}: stopped the search under {base}: more than "
                    f"{limit} entries ({why}); nothing was changed"
                )
            yield _project(entry, attributes)
        # A DC answers noSuchObject for a base that is not there; entries held without
        # their containers (a test's few objects, an export of the schema's
        # attributeSchema entries without CN=Schema) still count as being under it.
        if base_key and not base_seen:
            raise QueryError(f"{self.endpoint.url}: no such object: {base}")

    def _limit_of(self, bound: Bound | None) -> tuple[int, str]:
        if bound is not None and bound.entries < self._max_entries:
            return bound.entries, bound.why
        return self._max_entries, f"directory.max_entries is {self._max_entries}"

    def _base_key(self, base: str) -> DnKey:
        """``base`` as a DN key: "" is everything; ``<WKGUID=...,NC>`` and
        ``<GUID=...>`` are resolved as AD resolves them."""
        text = base.strip()
        if text.startswith("<") and text.endswith(">"):
            kind, _, rest = text[1:-1].partition("=")
            if kind.upper() == "WKGUID":
                wkguid, _, nc = rest.partition(",")
                if wkguid.lower() != DELETED_OBJECTS_WKGUID:
                    raise QueryError(
                        f"{self.endpoint.url}: unknown well-known GUID in "
                        f"{base} (only Deleted Objects is held)"
                    )
                return self._dn(f"CN=Deleted Objects,{nc}", base)
            if kind.upper() == "GUID":
                return self._guid_base(rest, base)
            raise QueryError(f"{self.endpoint.url}: unsupported base {base}")
        return self._dn(text, base)

    def _dn(self, dn: str, base: str) -> DnKey:
        try:
            return dn_key(dn)
        except ValueError as exc:
            raise QueryError(f"{self.endpoint.url}: invalid base {base!r}: {exc}") from exc

    def _guid_base(self, text: str, base: str) -> DnKey:
        try:
            raw = uuid.UUID(text).bytes_le if "-" in text else bytes.fromhex(text)
        except ValueError as exc:
            raise QueryError(f"{self.endpoint.url}: invalid GUID in {base}") from exc
        for entry in self._entries():
            self._check()
            if entry.first("objectGUID") == raw and (key := _key(entry)) is not None:
                return key
        raise QueryError(f"{self.endpoint.url}: no such object: {base}")


def _key(entry: Entry) -> DnKey | None:
    try:
        return dn_key(entry.dn)
    except ValueError:
        return None  # a DN no DC would hold: no search finds it


def _ends_with(dn: str, suffix: str) -> bool:
    """Whether ``dn`` is ``suffix`` or ends in "," + ``suffix`` (lower-cased text) with
    that comma not escaped: then it lies under it. False says nothing (the same DN may
    be written with other spacing, case or escapes): the caller parses it then."""
    low = dn.lower()
    if low == suffix:
        return True
    if not low.endswith(suffix) or len(low) <= len(suffix):
        return False
    comma = len(low) - len(suffix) - 1
    if low[comma] != ",":
        return False
    slashes = len(low[:comma]) - len(low[:comma].rstrip("\\"))
    return slashes % 2 == 0


def _in_scope(key: DnKey, base: DnKey, scope: Scope) -> bool:
    if not base:
        return scope == "subtree" or (scope == "one" and len(key) == 1)
    depth = len(key) - len(base)
    if depth < 0 or key[depth:] != base:
        return False
    return scope == "subtree" or depth == (0 if scope == "base" else 1)


def _project(entry: Entry, attributes: list[str]) -> Entry:
    """``entry`` with only ``attributes`` (case-blind; "*" is every one, "1.1" none)."""
    wanted = {a.lower() for a in attributes}
    if "*" in wanted:
        return entry
    kept = {k: list(v) for k, v in entry.attributes.items() if k in wanted and v}
    refused = {k: v for k, v in entry.refused.items() if k in wanted}
    return Entry(entry.dn, kept, refused=refused)
