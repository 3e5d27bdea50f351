"""The memory forest the engine tests, the service tests and the CLI tests sync: two
Locations and their subscribers, the config they answer on, one resync over them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from poolsync.attachment import format_attachment, license_data
from poolsync.config import Config, load_config
from poolsync.directory.memory import MemorySource
from poolsync.directory.source import DirectorySource
from poolsync.model import Entry, Seats
from poolsync.profile import load_profile
from poolsync.sync import engine
from tests.support.fakes import location_entry, memory_for, subscriber_entry, write_config
from tests.support.helpers import LICENSE_CLASS_PROFILE

ATTACHMENT = format_attachment(
    license_data(licensed=Seats(10, 5, 2), pooling=True, secondary=False, ports=4, published=None)
)


def now() -> datetime:
    return datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def config_in(tmp_path: Path) -> Config:
    """The config in ``tmp_path`` (written by :func:`write_config` when there is none)."""
    path = tmp_path / "poolsync.yaml"
    return load_config(path if path.exists() else write_config(tmp_path))


def forest(subscribers: int = 30) -> list[Entry]:
    """Two Locations (UNITY-A with an attachment) and ``subscribers`` subscribers: every
    third homed on loc-b, every other one with Inbox too."""
    return [
        location_entry(1, "UNITY-A", "loc-a", ATTACHMENT),
        location_entry(2, "UNITY-B", "loc-b", None),
        *(subscriber_entry(n, home_of(n), classes_of(n)) for n in range(subscribers)),
    ]


def home_of(n: int) -> str:
    return "loc-a" if n % 3 else "loc-b"


def classes_of(n: int) -> tuple[str, ...]:
    return ("UM",) if n % 2 else ("VMI", "UM")


def directory(tmp_path: Path, subscribers: int = 30) -> MemorySource:
    """:func:`forest` in memory, answering on the endpoints of ``tmp_path``'s config."""
    return memory_for(config_in(tmp_path), forest(subscribers))


def resync(
    tmp_path: Path, source: DirectorySource, *, total: bool = True, **kwargs: object
) -> engine.SyncResult:
    return engine.run_sync(
        config_in(tmp_path),
        load_profile(str(LICENSE_CLASS_PROFILE)),
        source=source,
        now=now,
        total=total,
        **kwargs,  # type: ignore[arg-type]
    )
