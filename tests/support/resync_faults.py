"""A resync under faults, and what it leaves: the lab config pointed at a proxy, the CLI
in a process of its own or in this one, and the store read back (its rows, its runs,
its integrity) to compare with the state before."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from poolsync.profile import load_profile
from poolsync.records import RunRecord
from poolsync.store import Store
from tests.support.helpers import LICENSE_CLASS_PROFILE, absolute_lab_paths, run

POOLSYNC = Path(sys.executable).with_name("poolsync")  # the installed console script
PROFILE = load_profile(str(LICENSE_CLASS_PROFILE))
SUB = PROFILE.subscriber
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


# -- running the CLI -------------------------------------------------------------------
@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.stdout)
        return doc


def in_process(config: Path, *args: str) -> Ran:
    """The same CLI in this process: for the steps that only set a scene (saves the ~0.5 s
    a new interpreter takes to import poolsync). Log lines do not reach its stderr."""
    started = time.monotonic()
    result = run("--config", config, *args)
    return Ran(result.exit_code, result.stdout, result.stderr, time.monotonic() - started)


def config_doc(lab: Path) -> dict[str, Any]:
    """The lab's own config, with every file it names (CA, secrets) as an absolute path."""
    doc = absolute_lab_paths(lab, yaml.safe_load((lab / "poolsync.yaml").read_text()))
    directory = doc["directory"]
    directory["retries"] = {"attempts": 2, "initial_wait": 0.1, "max_wait": 0.2}
    directory["timeouts"] = {"connect": 3, "operation": 30}
    return doc


def write_config(path: Path, doc: dict[str, Any], *, store: Path) -> Path:
    path.write_text(yaml.safe_dump({**doc, "store": str(store)}, sort_keys=False))
    return path


# -- reading the store ---------------------------------------------------------------------
def rows(store: Path) -> Rows:
    with Store.open(store, create=False) as held:
        return held.rows("locations"), held.rows("subscribers")


def runs(store: Path) -> list[RunRecord]:
    with Store.open(store, create=False) as held:
        return held.runs(limit=1000)


def integrity(store: Path) -> str:
    # A read-write connection, as the next run would open it: it recovers the WAL.
    with closing(sqlite3.connect(store)) as db:
        return "; ".join(str(r[0]) for r in db.execute("PRAGMA integrity_check"))


def snapshot(store: Path, copy: Path) -> None:
    with closing(sqlite3.connect(store)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)


def restore(copy: Path, store: Path) -> None:
    for leftover in (store, Path(f"{store}-wal"), Path(f"{store}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(copy, store)
