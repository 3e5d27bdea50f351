"""Where the store's data came from: a live forest, or an export taken at some time.

Every pass record keeps the endpoint it read (``ldaps://dc1:636``, or
``ldif:/abs/export.ldif`` for an LDIF export) and when (for an export, when it was
taken). :func:`data_origin` turns the store's pass records into the line and the JSON
field that ``pool``, ``report capacity`` and ``doctor`` show, so a report made from an
export says so and says how old it is. Pure: no I/O.

Entry points: :func:`data_origin`, :class:`DataOrigin`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote

if TYPE_CHECKING:
    from poolsync.records import PassRecord

__all__ = ["EXPORT_LIMITS", "SCHEME", "DataOrigin", "data_origin", "export_files", "is_export"]

#: The scheme of an export's endpoint URL ("ldif:/abs/path.ldif"; several files joined
#: by ",", each percent-quoted): the store's pass records keep it, so every report can
#: tell an export's data from a live read.
SCHEME: Final = "ldif"


def is_export(endpoint_url: str) -> bool:
    """Whether a pass record's endpoint is an LDIF export rather than a DC."""
    return endpoint_url.startswith(SCHEME + ":")


def export_files(endpoint_url: str) -> tuple[str, ...]:
    """The files an export's endpoint URL names (see ``LdifSource.endpoint``)."""
    if not is_export(endpoint_url):
        return ()
    return tuple(unquote(part) for part in endpoint_url[len(SCHEME) + 1 :].split(","))


#: What a report from an export cannot know, said once wherever an export's data shows.
EXPORT_LIMITS = (
    "a snapshot: changes since then, replication between DCs and what each "
    "DC holds are not in it (docs/offline.md)"
)


@dataclass(frozen=True, slots=True)
class DataOrigin:
    kind: Literal["export", "directory"]
    endpoints: tuple[str, ...]  # as the passes recorded them
    at: dt.datetime  # aware: when the export was taken, or last read

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for e in self.endpoints for f in export_files(e)))

    @property
    def at_text(self) -> str:
        """:attr:`at` as reports show it: ISO 8601 to the second, with its offset."""
        return self.at.isoformat(timespec="seconds")

    def line(self) -> str:
        """One line for people."""
        if self.kind == "export":
            return (
                f"From an LDIF export ({', '.join(self.files)}) taken {self.at_text}: "
                f"{EXPORT_LIMITS}."
            )
        return f"Read from {', '.join(self.endpoints)} at {self.at_text}."

    def as_json(self) -> dict[str, Any]:
        if self.kind == "export":
            return {"kind": "export", "files": list(self.files), "taken_at": self.at_text}
        return {"kind": "directory", "endpoints": list(self.endpoints), "read_at": self.at_text}


def data_origin(passes: Iterable[PassRecord]) -> DataOrigin | None:
    """The origin of what the store holds, from its pass records (None before any)."""
    records = sorted(passes, key=lambda p: p.name)
    if not records:
        return None
    endpoints = tuple(dict.fromkeys(p.endpoint for p in records))
    export = any(is_export(e) for e in endpoints)
    return DataOrigin(
        "export" if export else "directory", endpoints, max(p.synced_at for p in records)
    )
