"""An LDIF export as a directory source: a forest analysed without a live DC.

A customer sends the files the commands in docs/offline.md write (``ldapsearch`` or
``ldifde -u`` against a Global Catalog); :class:`LdifSource` serves them to the sync
engine, ``schema discover`` and the doctor as a directory that holds exactly what was
exported. Its readers are :class:`~poolsync.directory.offline.OfflineReader` over the
files, re-read for each search (:func:`~poolsync.directory.ldif_file.read_ldif`), so
memory does not grow with the export. An export has no change history: its readers
support no change reads, and every sync of it is a total one.

:meth:`LdifSource.validate` reads every file once before anything else does, and stops
(:class:`LdifError`, exit 2, one line naming the file and line) at what would make the
analysis wrong or a resync lose data: a file that is cut short or not LDIF, an encoding
other than UTF-8 or UTF-16, bad base64, a Unity object without its objectGUID, one
object twice, no Location at all. It also gathers the export's facts: its rootDSE
record when there is one (dnsHostName, highestCommittedUSN, naming contexts,
currentTime), else what the entries show.

Entry points: :class:`LdifSource`, :class:`ExportFacts`, :func:`read_ldif`,
:class:`LdifError`, :func:`is_export`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote

from poolsync.config import Endpoint, RetryPolicy
from poolsync.directory.ldif_file import LdifError, Record, read_ldif, read_records
from poolsync.directory.source import DirectoryReader, Origin, RootDse
from poolsync.dn import key as dn_key
from poolsync.model import Entry
from poolsync.profile import Profile, load_profile
from poolsync.provenance import SCHEME, export_files, is_export

__all__ = [
    "SCHEME",
    "ExportFacts",
    "LdifError",
    "LdifSource",
    "export_files",
    "is_export",
    "read_ldif",
]

_NO_RETRIES: Final = RetryPolicy(attempts=1, initial_wait=0.0, max_wait=0.0)


@dataclass(frozen=True, slots=True)
class ExportFacts:
    """What one reading of the files found."""

    files: tuple[Path, ...]
    entries: int
    locations: int
    subscribers: int
    root: RootDse
    naming_contexts: tuple[str, ...]
    #: The export's own rootDSE record (``dn:`` empty) was in it.
    has_root_dse: bool
    #: The export's own time (the rootDSE's currentTime), when it has one.
    current_time: dt.datetime | None


@dataclass
class _Scan:
    """What the validation pass gathers, record by record."""

    profile: Profile
    entries: int = 0
    locations: int = 0
    subscribers: int = 0
    root: Entry | None = None
    max_usn: int = 0
    domains: list[str] = field(default_factory=list)
    configuration: str = ""
    schema: str = ""
    first_location: str = ""
    seen: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # guid -> (file, line)
    #: The naming contexts entries lie in (lower-cased, no spaces), as far as DNs show.
    held: set[str] = field(default_factory=set)

    def take(self, record: Record, file_index: int, files: Sequence[Path]) -> None:
        entry = record.entry
        if entry.dn == "":
            if self.root is None:
                self.root = entry
            return
        self.entries += 1
        try:
            dn_key(entry.dn)
        except ValueError as exc:
            raise LdifError(
                record.path,
                record.line,
                f"{entry.dn!r} is not a DN ({exc}); the export is damaged: take it again",
            ) from exc
        low = _squeezed(entry.dn)
        tail = _naming_context_of(low)
        self.held.add(tail)
        for head in ("cn=configuration,", "cn=schema,cn=configuration,"):
            if low == head + tail or low.endswith("," + head + tail):
                self.held.add(head + tail)
        classes = {c.strip().lower() for c in entry.texts("objectClass")}
        usn = (entry.text("uSNChanged") or "").strip()
        if usn.isdigit():
            self.max_usn = max(self.max_usn, int(usn))
        if "domaindns" in classes:
            self.domains.append(entry.dn)
        if "configuration" in classes and not self.configuration:
            self.configuration = entry.dn
        if "dmd" in classes and not self.schema:
            self.schema = entry.dn
        if {"attributeschema", "classschema"} & classes and not self.schema:
            self.schema = entry.dn.split(",", 1)[1] if "," in entry.dn else ""
        kind = self._unity_kind(entry, classes)
        if kind is None:
            return
        if kind == "Location":
            self.locations += 1
            self.first_location = self.first_location or entry.dn
        else:
            self.subscribers += 1
        self._identity(record, kind, file_index, files)

    def _unity_kind(self, entry: Entry, classes: set[str]) -> str | None:
        if self.profile.location.object_class.lower() in classes:
            return "Location"
        sub = self.profile.subscriber
        if sub.object_class.lower() in classes and entry.first(sub.object_type) is not None:
            return "subscriber"
        return None

    def _identity(self, record: Record, kind: str, file_index: int, files: Sequence[Path]) -> None:
        raw = record.entry.first("objectGUID")
        if raw is None or len(raw) != 16:
            what = "no objectGUID" if raw is None else f"an objectGUID of {len(raw)} bytes"
            raise LdifError(
                record.path,
                record.line,
                f"the {kind} {record.entry.dn} has "
                f"{what}: poolsync tells objects apart by it; export objectGUID "
                "with every object as docs/offline.md says",
            )
        held = self.seen.get(raw)
        if held is not None:
            first = f"{files[held[0]]}:{held[1]}"
            raise LdifError(
                record.path,
                record.line,
                f"the {kind} {record.entry.dn} has "
                f"the objectGUID {uuid.UUID(bytes_le=raw)} of the object at "
                f"{first} too: the export holds one object twice (two "
                "exports of one partition?); give each object once",
            )
        self.seen[raw] = (file_index, record.line)


def _naming_context_of(dn: str) -> str:
    """The DC=... tail of a DN: the domain it is in, as far as the DN tells."""
    tail: list[str] = []
    for part in reversed(dn.split(",")):
        if not part.strip().upper().startswith("DC="):
            break
        tail.insert(0, part.strip())
    return ",".join(tail)


def _squeezed(dn: str) -> str:
    """A DN lower-cased without the spaces around its commas: enough to compare the
    naming-context tails poolsync derives (the matcher compares DNs properly)."""
    return ",".join(part.strip() for part in dn.lower().split(","))


def _time(text: str | None) -> dt.datetime | None:
    """An LDAP GeneralizedTime such as 20240131120000.0Z, as an aware datetime."""
    if not text:
        return None
    try:
        parsed = dt.datetime.strptime(text.strip()[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC)


def _facts(scan: _Scan, files: tuple[Path, ...]) -> ExportFacts:
    root = scan.root

    def text(name: str) -> str:
        return (root.text(name) or "").strip() if root is not None else ""

    domain = (
        text("defaultNamingContext")
        or (min(scan.domains, key=len) if scan.domains else "")
        or _naming_context_of(scan.first_location)
    )
    forest_root = text("rootDomainNamingContext") or domain
    configuration = (
        text("configurationNamingContext")
        or scan.configuration
        or (f"CN=Configuration,{forest_root}" if forest_root else "")
    )
    usn = text("highestCommittedUSN")
    # Only a schema the export holds is checked against the profile: without it, a
    # search for the profile's names would find nothing and refuse a good export.
    schema = scan.schema and (text("schemaNamingContext") or scan.schema)
    # Only the naming contexts the export holds entries in: a search of one it left out
    # would be a search of a base that is not there.
    named = (
        root.texts("namingContexts")
        if root is not None and root.texts("namingContexts")
        else [domain, configuration, schema]
    )
    contexts = tuple(nc for nc in dict.fromkeys(named) if nc and _squeezed(nc) in scan.held)
    return ExportFacts(
        files=files,
        entries=scan.entries,
        locations=scan.locations,
        subscribers=scan.subscribers,
        root=RootDse(
            dns_host_name=text("dnsHostName") or "export",
            ds_service_name=text("dsServiceName"),
            highest_committed_usn=int(usn) if usn.isdigit() else scan.max_usn,
            default_naming_context=domain,
            root_domain_naming_context=forest_root,
            configuration_naming_context=configuration,
            schema_naming_context=schema,
        ),
        naming_contexts=contexts,
        has_root_dse=root is not None,
        current_time=_time(text("currentTime")),
    )


class LdifSource:
    """LDIF files as a :class:`~poolsync.directory.source.DirectorySource`.

    ``taken_at`` is when the export was taken; without it, the export's own rootDSE
    currentTime, else the newest file's modification time. ``profile`` names the
    Unity objects :meth:`validate` checks (the built-in profile by default).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        taken_at: dt.datetime | None = None,
        max_entries: int = 1_000_000,
        profile: Profile | None = None,
        pass_timeout: float = 3600.0,
    ) -> None:
        if not paths:
            raise ValueError("an LDIF source needs at least one file")
        self.paths = tuple(Path(p) for p in paths)
        self._taken_at = taken_at
        self._max_entries = max_entries
        self._profile = profile
        self._pass_timeout = pass_timeout
        self._facts: ExportFacts | None = None

    def validate(self, *, require_locations: bool = True) -> ExportFacts:
        """Read every file once; :class:`LdifError` at the first thing wrong. With
        ``require_locations``, an export without a Location is wrong too (the CLI asks
        for it unless the store holds Locations: then the run's own guard refuses an
        export that would empty it, exit 4)."""
        if self._facts is None:
            profile = self._profile or load_profile("cisco-unity")
            scan = _Scan(profile)
            for index, path in enumerate(self.paths):
                for record in read_records(path):
                    scan.take(record, index, self.paths)
            self._facts = _facts(scan, self.paths)
        facts = self._facts
        if require_locations and facts.locations == 0:
            profile = self._profile or load_profile("cisco-unity")
            names = ", ".join(str(p) for p in self.paths)
            raise LdifError(
                self.paths[0],
                None,
                f"no Location (objectClass="
                f"{profile.location.object_class}) among the {facts.entries} "
                f"entries of {names}: an export of other objects, or without "
                "objectClass; export with the commands in docs/offline.md",
            )
        return facts

    @property
    def facts(self) -> ExportFacts:
        return self._facts or self.validate(require_locations=False)

    @property
    def origin(self) -> Origin:
        return Origin("export", ", ".join(str(p) for p in self.paths), self.taken_at)

    @property
    def taken_at(self) -> dt.datetime:
        """When the export was taken (see the class)."""
        if self._taken_at is not None:
            return self._taken_at
        current = self.facts.current_time
        if current is not None:
            return current
        newest = max(p.stat().st_mtime for p in self.paths)
        return dt.datetime.fromtimestamp(int(newest), tz=dt.UTC)

    @property
    def endpoint(self) -> Endpoint:
        """``ldif:`` and every file's absolute path, percent-quoted, joined by ","
        (``ldif:/srv/export.ldif`` for one file): the pass records keep the URL, and
        reports name the files from it (:func:`export_files`)."""
        host = self.facts.root.dns_host_name if self.facts.has_root_dse else "export"
        url = SCHEME + ":" + ",".join(quote(str(p.resolve()), safe="/") for p in self.paths)
        return Endpoint(url=url, scheme=SCHEME, host=host, port=0, use_ssl=False, base_dn="")

    @property
    def dcs(self) -> tuple[Endpoint, ...]:
        return (self.endpoint,)

    @property
    def gcs(self) -> tuple[Endpoint, ...]:
        return (self.endpoint,)

    @property
    def retries(self) -> RetryPolicy:
        return _NO_RETRIES  # a file does not get better by reading it again

    @property
    def pass_timeout(self) -> float:
        return self._pass_timeout

    def entries(self) -> Iterator[Entry]:
        """Every entry of every file, read anew (the rootDSE record left out)."""
        for path in self.paths:
            for entry in read_ldif(path):
                if entry.dn:
                    yield entry

    def open(self, endpoint: Endpoint) -> DirectoryReader:
        from poolsync.directory.offline import OfflineReader

        facts = self.facts
        return OfflineReader(
            endpoint,
            self.entries,
            root=facts.root,
            invocation_id=f"export:{self.paths[0].resolve()}",
            changes=frozenset(),
            max_entries=self._max_entries,
            naming_contexts=facts.naming_contexts,
        )
