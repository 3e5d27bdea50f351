"""The records that cross modules: what a sync plans, what a run and a pass leave behind.

Pure values (no sqlite3, no I/O): the store maps its rows to them, and the sync planner,
the watermark rules, the guards, capacity and the CLI read them. The words a sync uses
for its modes, operations, object kinds and run outcomes are :data:`typing.Literal`
types here, one place, so a typo is a type error instead of a silently empty count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from poolsync.model import SeatClass

__all__ = [
    "KINDS",
    "MODES",
    "OPS",
    "Changes",
    "Kind",
    "Mode",
    "Op",
    "PassDetail",
    "PassRecord",
    "Plan",
    "PlannedChange",
    "RunDetail",
    "RunRecord",
    "RunStatus",
    "Snapshot",
    "ViolationKey",
    "ViolationRule",
    "ViolationScope",
]

#: How a pass reads: ``total`` replaces what the store holds from the pass,
#: ``incremental`` patches it.
Mode = Literal["total", "incremental"]
#: What a plan does to one object of one pass.
Op = Literal["insert", "update", "delete"]
#: The two kinds of object the store mirrors (also its table names).
Kind = Literal["locations", "subscribers"]
#: How a run in the history ended, or where it is: ``running`` until it commits or
#: fails, ``committed`` between its commit and recording its end; then ``ok``,
#: ``findings`` (synced, a pool out of compliance), ``refused`` (a guard stopped it),
#: ``failed``, ``cancelled`` (a service stopped while it read) or ``abandoned`` (the
#: process died before its commit).
RunStatus = Literal[
    "running", "committed", "ok", "findings", "failed", "refused", "cancelled", "abandoned"
]

#: Whose license a violation is of: a pool's (its members share it) or one server's.
ViolationScope = Literal["pool", "server"]
#: What is violated: a seat class's count (``vm``, ``um``, ``inbox``: the
#: :class:`~poolsync.model.SeatClass` values) or a per-server limit.
ViolationRule = Literal["vm", "um", "inbox", "voice-ports", "subscribers"]

MODES: tuple[Mode, ...] = get_args(Mode)
OPS: tuple[Op, ...] = get_args(Op)
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True, slots=True)
class PassRecord:
    """Where a pass read from and how far: the watermark of that pass."""

    name: str
    endpoint: str
    dc_host: str
    invocation_id: str
    naming_context: str
    usn: int
    synced_at: dt.datetime  # aware; when the pass read (an export: when it was taken)
    profile: str
    method: str = "usn"
    cookie: bytes | None = None


@dataclass(frozen=True, slots=True)
class PassDetail:
    """What one pass of a committed run did, as the run history keeps it.

    ``absent`` names the fields a stored detail did not hold (an older poolsync wrote
    fewer), so that it is shown as it was kept; ``other`` keeps fields this poolsync
    does not know.
    """

    mode: str = ""
    reason: str | None = None
    why: str | None = None
    endpoint: str = ""
    dc_host: str = ""
    usn: int = 0
    locations: int = 0
    subscribers: int = 0
    removals: int = 0
    skipped: int = 0
    attempts: int = 1
    absent: frozenset[str] = frozenset()
    other: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunDetail:
    """How a run ended, beside its status in the history: a committed run's passes,
    changes and counts; a failed, refused or cancelled run's ``error`` (and the
    exception's type); an abandoned one's ``error`` or ``note``. None: not recorded
    for this run. ``other`` keeps fields this poolsync does not know, as read."""

    passes: Mapping[str, PassDetail] | None = None
    changes: Mapping[str, Changes] | None = None
    servers: int | None = None
    subscribers: int | None = None
    compliant: bool | None = None
    seconds: float | None = None
    error: str | None = None
    error_type: str | None = None
    note: str | None = None
    other: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of the history: what kind, when, and how it ended."""

    id: int
    kind: Mode
    started_at: dt.datetime  # aware
    finished_at: dt.datetime | None  # aware; None while it runs
    status: RunStatus
    detail: RunDetail


@dataclass(frozen=True, slots=True)
class Changes:
    """What a run changes in the store, per object kind (objects, once per objectGUID)."""

    added: int = 0
    changed: int = 0
    removed: int = 0


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One planned operation on one object; ``pass_name`` joins the passes that make
    it (``domain+gc``); ``label`` is a Location's name or a subscriber's DN."""

    kind: Kind
    pass_name: str
    op: Op
    dn: str
    label: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run would change: objects per kind and operation, once per objectGUID."""

    counts: dict[Kind, Changes]
    held: int  # objects the store holds before the run

    @property
    def deletes(self) -> int:
        return sum(c.removed for c in self.counts.values())

    @property
    def empty(self) -> bool:
        return not any(c.added or c.changed or c.removed for c in self.counts.values())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One server's usage of one seat class at one moment (one row of history).

    ``used`` is the directory's truth (subscribers homed on the server, its failover
    secondary's included); ``published`` what the server itself published (None when
    not known, e.g. an imported row).
    """

    taken_at: dt.datetime  # aware, UTC
    pool: str
    server: str
    seat_class: SeatClass
    licensed: int
    used: int
    published: int | None = None


@dataclass(frozen=True, slots=True, order=True)
class ViolationKey:
    """Which license violation, stable from one sync to the next: the store keeps when
    each was first seen (a grace period counts from there).

    ``subject`` is the pool's id (scope ``pool``) or the server's objectGUID (scope
    ``server``: names may repeat and change, the GUID does not). Its text
    (``pool:<pool>:vm``, ``server:<objectGUID>:voice-ports``) is what the store keeps and
    what ``pool --format json`` shows as a violation's ``key``: ``str(key)`` writes it,
    :meth:`parse` (for the store) reads it back.
    """

    scope: ViolationScope
    subject: str
    rule: ViolationRule

    @classmethod
    def pool(cls, pool_id: str, rule: ViolationRule) -> ViolationKey:
        return cls("pool", pool_id, rule)

    @classmethod
    def server(cls, guid: str, rule: ViolationRule) -> ViolationKey:
        return cls("server", guid, rule)

    @property
    def server_guid(self) -> str | None:
        """The server's objectGUID when the violation is one server's own."""
        return self.subject if self.scope == "server" else None

    def __str__(self) -> str:
        return f"{self.scope}:{self.subject}:{self.rule}"

    @classmethod
    def parse(cls, text: str) -> ViolationKey | None:
        """The key ``text`` (``str(key)``) holds; None when it holds none."""
        scope, _, rest = text.partition(":")
        subject, _, rule = rest.rpartition(":")  # a pool's id may hold ":", a rule not
        for value, allowed in ((scope, _SCOPES), (rule, _RULES)):
            if value not in allowed:
                return None
        if not subject:
            return None
        return cls(scope, subject, rule)  # type: ignore[arg-type]


_SCOPES: tuple[ViolationScope, ...] = get_args(ViolationScope)
_RULES: tuple[ViolationRule, ...] = get_args(ViolationRule)
