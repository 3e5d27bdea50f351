"""The run history (table ``runs``): every non-dry run, from its start to its outcome.

Plain SQL over a connection the :class:`~poolsync.store.Store` owns (it opens the
transactions); rows become :class:`~poolsync.records.RunRecord` in one place,
:func:`_record`. A run is ``running`` from :func:`begin` and ``committed`` from the
commit's own transaction (:mod:`poolsync.store.staging`) until :func:`finish` records
how it ended.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from poolsync.records import Changes, Mode, PassDetail, RunDetail, RunRecord, RunStatus
from poolsync.store import times

__all__ = [
    "abandon_stale",
    "begin",
    "detail_json",
    "finish",
    "last_success",
    "last_total",
    "read_detail",
    "recent",
]

# A pass's detail as kept: its JSON keys are PassDetail's fields (but absent and other).
_PASS_KEYS = tuple(
    name for name in PassDetail.__dataclass_fields__ if name not in ("absent", "other")
)
_RUN_KEYS = ("servers", "subscribers", "compliant", "seconds", "error", "error_type", "note")
# A change count's JSON keys, for Changes' fields.
_CHANGE_KEYS = (("insert", "added"), ("update", "changed"), ("delete", "removed"))


def _sorted(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {key: _sorted(doc[key]) for key in sorted(doc)}
    return doc


def detail_json(detail: RunDetail) -> dict[str, Any]:
    """The one mapping of a run's detail to the JSON the history keeps (and shows):
    keys sorted at every level, as :func:`finish` has always kept them."""
    doc: dict[str, Any] = {}
    if detail.passes is not None:
        doc["passes"] = {
            name: {**{key: getattr(p, key) for key in _PASS_KEYS if key not in p.absent}, **p.other}
            for name, p in detail.passes.items()
        }
    if detail.changes is not None:
        doc["changes"] = {
            kind: {key: getattr(c, attr) for key, attr in _CHANGE_KEYS}
            for kind, c in detail.changes.items()
        }
    doc.update({key: value for key in _RUN_KEYS if (value := getattr(detail, key)) is not None})
    doc.update(detail.other)
    return dict(_sorted(doc))


def _pass_detail(doc: object) -> PassDetail:
    if not isinstance(doc, dict):
        return PassDetail(absent=frozenset(_PASS_KEYS), other={"": doc})
    known = {key: doc[key] for key in _PASS_KEYS if key in doc}
    return PassDetail(
        **known,
        absent=frozenset(_PASS_KEYS) - known.keys(),
        other={k: v for k, v in doc.items() if k not in _PASS_KEYS},
    )


def read_detail(doc: dict[str, Any]) -> RunDetail:
    """The one mapping of a kept detail (every shape a poolsync wrote) to its record."""
    passes, changes = doc.get("passes"), doc.get("changes")
    typed = (
        isinstance(passes, dict | None)
        and isinstance(changes, dict | None)
        and all(isinstance(c, dict) for c in (changes or {}).values())
    )
    if not typed:  # not a shape any poolsync wrote: keep it as it is
        return RunDetail(other=doc)
    return RunDetail(
        passes=None if passes is None else {n: _pass_detail(p) for n, p in passes.items()},
        changes=None
        if changes is None
        else {
            kind: Changes(**{attr: c.get(key, 0) for key, attr in _CHANGE_KEYS})
            for kind, c in changes.items()
        },
        **{key: doc[key] for key in _RUN_KEYS if key in doc},
        other={k: v for k, v in doc.items() if k not in ("passes", "changes", *_RUN_KEYS)},
    )


_SELECT = "SELECT id, kind, started_at, finished_at, status, detail FROM runs"
_COMMITTED = "status IN ('ok', 'findings')"  # the runs whose data is in the store


def _record(row: tuple[Any, ...]) -> RunRecord:
    """The one mapping of a ``runs`` row (selected by ``_SELECT``) to its record."""
    run_id, kind, started_at, finished_at, status, detail = row
    where = {"table": "runs", "row": f"run {run_id}"}
    return RunRecord(
        run_id,
        kind,
        times.read(started_at, column="started_at", **where),
        None if finished_at is None else times.read(finished_at, column="finished_at", **where),
        status,
        read_detail(json.loads(detail or "{}")),
    )


def _one(db: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> RunRecord | None:
    row = db.execute(sql, args).fetchone()
    return _record(row) if row else None


def abandon_stale(db: sqlite3.Connection, finished_at: datetime) -> int:
    """Close the runs a killed process left open (in the caller's transaction, while
    holding the run lock); how many never committed.

    Whoever held the lock before us is gone (the kernel released its flock). A run it
    left 'running' never committed: it becomes 'abandoned'. One left 'committed' died
    after its commit: it becomes 'ok'.
    """
    cur = db.execute(
        "UPDATE runs SET status = 'abandoned', finished_at = ?, detail = ? "
        "WHERE status = 'running'",
        (
            times.write(finished_at),
            json.dumps(
                detail_json(
                    RunDetail(
                        error="the process ended before the run finished (killed?); "
                        "nothing it read was committed"
                    )
                )
            ),
        ),
    )
    # Killed after its commit: what it read is in the store.
    db.execute(
        "UPDATE runs SET status = 'ok', finished_at = ?, detail = ? WHERE status = 'committed'",
        (
            times.write(finished_at),
            json.dumps(
                detail_json(
                    RunDetail(
                        note="committed; the process ended before it recorded the end of the run"
                    )
                )
            ),
        ),
    )
    return cur.rowcount


def last_success(db: sqlite3.Connection) -> RunRecord | None:
    """The most recent run that committed (ok or with findings)."""
    return _one(db, f"{_SELECT} WHERE {_COMMITTED} ORDER BY id DESC LIMIT 1")


def last_total(db: sqlite3.Connection) -> RunRecord | None:
    """The most recent total resync that committed."""
    return _one(db, f"{_SELECT} WHERE kind = 'total' AND {_COMMITTED} ORDER BY id DESC LIMIT 1")


def begin(db: sqlite3.Connection, kind: Mode, started_at: datetime) -> int:
    """Record a run as ``running``; its id."""
    cur = db.execute(
        "INSERT INTO runs (kind, started_at, status) VALUES (?, ?, 'running')",
        (kind, times.write(started_at)),
    )
    return int(cur.lastrowid or 0)


def finish(
    db: sqlite3.Connection,
    run_id: int,
    *,
    status: RunStatus,
    finished_at: datetime,
    detail: RunDetail,
    unless_committed: bool = False,
) -> None:
    """Record how run ``run_id`` ended; with ``unless_committed``, only while it is
    still ``running`` (a failure after its commit must not hide the commit)."""
    guard = " AND status = 'running'" if unless_committed else ""
    db.execute(
        f"UPDATE runs SET status = ?, finished_at = ?, detail = ? WHERE id = ?{guard}",
        (status, times.write(finished_at), json.dumps(detail_json(detail), sort_keys=True), run_id),
    )


def recent(db: sqlite3.Connection, *, limit: int) -> list[RunRecord]:
    """The latest ``limit`` runs, newest first."""
    return [
        _record(row)
        for row in db.execute(f"{_SELECT} ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    ]
