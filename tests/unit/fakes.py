"""An in-memory directory for engine tests: real decoding, scripted failures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from poolsync.config import Config, DirectoryConfig, Endpoint, RetryPolicy
from poolsync.directory.source import Bound, Origin, RootDse
from poolsync.errors import DirectoryUnavailable, RunawaySearch
from poolsync.model import Entry

PROFILE_LOCATION_CLASS = "ciscoEcsbuUMLocation"


def guid_bytes(n: int) -> bytes:
    return uuid.UUID(int=n).bytes_le


def location_entry(n: int, name: str, object_id: str, attachment: str | None) -> Entry:
    attrs = {
        "objectguid": [guid_bytes(n)],
        "usnchanged": [str(1000 + n).encode()],
        "ciscoecsbuservername": [name.encode()],
        "ciscoecsbuobjectid": [object_id.encode()],
        "ciscoecsbuserverversion": [b"4.0(5)"],
    }
    if attachment is not None:
        attrs["ciscoecsbupoolingdata"] = [attachment.encode()]
    return Entry(f"CN={name},OU=Locations,DC=lab,DC=example,DC=com", attrs)


def subscriber_entry(n: int, home: str, classes: tuple[str, ...] = ()) -> Entry:
    return Entry(f"CN=u{n},OU=Subscribers,DC=lab,DC=example,DC=com", {
        "objectguid": [guid_bytes(10_000 + n)],
        "usnchanged": [str(2000 + n).encode()],
        "ciscoecsbuumlocationobjectid": [home.encode()],
        "ciscoecsbudtmfid": [str(5000 + n).encode()],
        "ciscoecsbulicenseclass": [c.encode() for c in classes],
        "ciscoecsbuobjecttype": [b"1"],
    })


@dataclass
class FakeDirectory:
    """Serves the same objects on every endpoint; may fail after N entries."""

    locations: list[Entry]
    subscribers: list[Entry]
    fail_after: int | None = None  # entries served before a connection drop
    failures_left: int = 0
    connects: int = 0
    usn: int = 5000
    served: list[str] = field(default_factory=list)
    tombstones: list[Entry] = field(default_factory=list)
    dc_host: str = "dc1.lab.example.com"
    invocation: str = "11111111-2222-3333-4444-555555555555"
    tombstone_lifetime_days: int | None = 180
    filters: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # hosts that refuse connections
    deleted_objects_readable: bool = True

    directory: DirectoryConfig | None = None  # whose endpoints and retries it serves

    # The DirectorySource protocol (poolsync.directory.source), scripted.
    @property
    def origin(self) -> Origin:
        return Origin("memory", "fake directory")

    @property
    def dcs(self) -> tuple[Endpoint, ...]:
        assert self.directory is not None, "serve(config) first"
        return self.directory.dcs

    @property
    def gcs(self) -> tuple[Endpoint, ...]:
        assert self.directory is not None, "serve(config) first"
        return self.directory.gcs

    @property
    def retries(self) -> RetryPolicy:
        assert self.directory is not None, "serve(config) first"
        return self.directory.retries

    @property
    def pass_timeout(self) -> float:
        return 3600.0

    def serve(self, config: Config) -> FakeDirectory:
        """Answer on ``config``'s endpoints, with its retry policy."""
        self.directory = config.directory
        return self

    def open(self, endpoint: Endpoint) -> FakeConn:
        self.connects += 1
        if endpoint.host in self.down:
            raise DirectoryUnavailable(f"cannot connect to ldaps://{endpoint.host}:636: refused")
        return FakeConn(self, endpoint)


class FakeConn:
    changes = frozenset({"usn", "tombstones"})
    max_entries = 1_000_000

    def __init__(self, directory: FakeDirectory, endpoint: Endpoint) -> None:
        self.d = directory
        self.endpoint = endpoint
        self.count = 0
        self.closed = False

    def __enter__(self) -> FakeConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def limit_to(self, seconds: float) -> None:
        self.limit = seconds

    def root_dse(self) -> RootDse:
        return RootDse(self.d.dc_host, "CN=NTDS Settings,CN=DC1", self.d.usn,
                       "DC=lab,DC=example,DC=com", "DC=lab,DC=example,DC=com",
                       "CN=Configuration,DC=lab,DC=example,DC=com")

    def invocation_id(self, ds_service_name: str) -> str:
        return self.d.invocation

    def tombstone_lifetime(self, configuration_nc: str) -> int | None:
        return self.d.tombstone_lifetime_days

    def domain_naming_contexts(self, configuration_nc: str) -> list[str]:
        return ["DC=lab,DC=example,DC=com"]

    def read(self, base: str, ldap_filter: str, attributes: list[str], *,
             scope: str = "subtree", show_deleted: bool = False) -> list[Entry]:
        """Only the base read of a Deleted Objects container is served."""
        assert base.startswith("<WKGUID=18e2ea80684f11d2b9aa00c04f79f805,") and scope == "base"
        assert show_deleted
        if not self.d.deleted_objects_readable:
            return []
        return [Entry("CN=Deleted Objects,DC=lab,DC=example,DC=com",
                      {"objectguid": [guid_bytes(999_999)]})]

    def search_with_large_value(self, base: str, ldap_filter: str, attributes: list[str], *,
                                large: str, max_bytes: int, bound: Bound | None = None,
                                ) -> Iterator[Entry]:
        """As the real connection: values over ``max_bytes`` come back refused."""
        for entry in self.search(base, ldap_filter, attributes, bound=bound):
            value = entry.first(large)
            if value is not None and len(value) > max_bytes:
                rest = {k: v for k, v in entry.attributes.items() if k != large.lower()}
                yield Entry(entry.dn, rest, refused={large.lower(): len(value)})
            else:
                yield entry

    def search(self, base: str, ldap_filter: str, attributes: list[str], *,
               show_deleted: bool = False, bound: Bound | None = None) -> Iterator[Entry]:
        """Serves everything of the kind asked for (no uSNChanged filtering); past
        ``bound`` it stops as the real connection does."""
        self.d.filters.append(ldap_filter)
        if "isDeleted" in ldap_filter:
            assert show_deleted and base.startswith("<WKGUID=18e2ea80684f11d2b9aa00c04f79f805,")
            entries = self.d.tombstones
        elif PROFILE_LOCATION_CLASS in ldap_filter:
            entries = self.d.locations
        else:
            entries = self.d.subscribers
        for served, entry in enumerate(entries):
            if self.d.fail_after is not None and self.d.failures_left > 0 \
                    and self.count >= self.d.fail_after:
                self.d.failures_left -= 1
                raise DirectoryUnavailable("lost connection to ldaps://fake:636: reset by peer")
            self.count += 1
            self.d.served.append(entry.dn)
            if bound is not None and served >= bound.entries:
                raise RunawaySearch(f"fake: more than {bound.entries} entries ({bound.why})")
            yield entry


def write_config(tmp_path: Path, *, dc_url: str = "ldaps://dc.invalid:636",
                 directory_extra: str = "") -> Path:
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
