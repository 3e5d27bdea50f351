"""A run's outcome as Prometheus metrics, for node_exporter's textfile collector.

:class:`RunMetrics` is what one ``resync`` (or one pass of ``poolsync service``) knows when
it ends; :func:`render_metrics` turns it into the text exposition format 0.0.4, pure and
deterministic (the same metrics always give the same bytes, whatever the order of the
input mappings); :func:`write_metrics` is the one function here that touches the disk,
and it replaces the file atomically so the collector never reads half of it.

Every metric is a gauge: each file describes one run, and the collector re-exports it as
it is, so "counters" across runs would be the collector's job, not ours. The metrics and
their meaning are listed in docs/scheduling.md.

Public entry points: :class:`RunMetrics`, :class:`PoolSeats`, :func:`pool_seats`,
:func:`render_metrics`, :func:`write_metrics` and :class:`MetricsError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal, get_args

from poolsync.allocation import PoolReport
from poolsync.errors import PoolsyncError
from poolsync.model import SEAT_CLASSES
from poolsync.outfile import write_atomic

__all__ = [
    "CHANGE_KINDS",
    "CHANGE_OPS",
    "MODES",
    "OUTCOMES",
    "MetricsError",
    "Mode",
    "Outcome",
    "PoolSeats",
    "RunMetrics",
    "escape_label_value",
    "pool_seats",
    "render_metrics",
    "write_metrics",
]

Outcome = Literal["ok", "findings", "refused", "failed"]
Mode = Literal["total", "incremental", "dry-run"]

#: Every outcome, in the order their series are written (one series each, 0 or 1).
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
#: Every mode, in the order their series are written (one series each, 0 or 1).
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
#: Object kinds and operations whose change counts are always written, 0 included, so a
#: quiet run shows as zeros rather than as missing series.
CHANGE_KINDS: Final = ("locations", "subscribers")
CHANGE_OPS: Final = ("insert", "update", "delete")

_SEAT_CLASS_ORDER: Final = {c.value: i for i, c in enumerate(SEAT_CLASSES)}
_METRICS_FILE_MODE: Final = 0o644  # node_exporter runs as another user and must read it


class MetricsError(PoolsyncError):
    """The metrics file could not be written (exit code 1)."""


@dataclass(frozen=True)
class PoolSeats:
    """One seat class of one pool: ``used`` of ``licensed``, and whether that complies."""

    pool: str
    seat_class: str  # "vm", "um" or "inbox" (SeatClass values)
    used: int
    licensed: int
    compliant: bool

    def __post_init__(self) -> None:
        if self.seat_class not in _SEAT_CLASS_ORDER:
            raise ValueError(
                f"seat class {self.seat_class!r} is not one of {', '.join(_SEAT_CLASS_ORDER)}"
            )
        _check_count(f"pool {self.pool!r} {self.seat_class} used", self.used)
        _check_count(f"pool {self.pool!r} {self.seat_class} licensed", self.licensed)


@dataclass(frozen=True)
class RunMetrics:
    """What one run knows when it ends.

    ``last_success_at`` is when the last run that committed finished (this one, or an
    earlier one when this one did not commit; None if none ever did). ``objects`` maps
    (pass, kind) to the objects the store holds for that pass after the run;
    ``changes`` maps (kind, op) to what this run applied (a dry run applies nothing);
    ``forced_total`` maps a pass to the reason code it was read in full although the run
    did not ask for that (``"no-watermark"``, ``"invocation-changed"``, ...).
    Datetimes must be timezone-aware: a naive one would be read in local time.
    """

    outcome: Outcome
    mode: Mode
    started_at: datetime
    finished_at: datetime
    last_success_at: datetime | None
    exit_code: int
    objects: Mapping[tuple[str, str], int]
    changes: Mapping[tuple[str, str], int]
    forced_total: Mapping[str, str]
    pools: Sequence[PoolSeats]
    #: (scope "pool" or "server", name, state) of every assessed pool and server
    states: Sequence[tuple[str, str, str]] = ()

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("started_at", "finished_at", "last_success_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        _check_count("exit_code", self.exit_code)
        for key, count in self.objects.items():
            _check_count(f"objects{key!r}", count)
        for key, count in self.changes.items():
            _check_count(f"changes{key!r}", count)
        seen: set[tuple[str, str]] = set()
        for seats in self.pools:
            key = (seats.pool, seats.seat_class)
            if key in seen:  # two series with one label set would make the file unreadable
                raise ValueError(f"pool {seats.pool!r} lists seat class {seats.seat_class} twice")
            seen.add(key)
        # Copies: a frozen dataclass should not change because the caller's dict did.
        object.__setattr__(self, "objects", MappingProxyType(dict(self.objects)))
        object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))
        object.__setattr__(self, "forced_total", MappingProxyType(dict(self.forced_total)))
        object.__setattr__(self, "pools", tuple(self.pools))
        object.__setattr__(self, "states", tuple(self.states))

    @property
    def duration_seconds(self) -> float:
        """Wall-clock run time; 0 rather than negative if the clock was stepped back."""
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


def _check_count(what: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")


def pool_seats(report: PoolReport) -> tuple[PoolSeats, ...]:
    """The seats of every pool in ``report``, one entry per pool and seat class."""
    return tuple(
        PoolSeats(
            pool=pool.id,
            seat_class=seat_class.value,
            used=seats.used,
            licensed=seats.licensed,
            compliant=seats.compliant,
        )
        for pool in report.pools
        for seat_class in SEAT_CLASSES
        if (seats := pool.seats.get(seat_class)) is not None
    )


# -- the text exposition format 0.0.4 --------------------------------------------------

_Labels = tuple[tuple[str, str], ...]
_Sample = tuple[_Labels, float | int]


def escape_label_value(value: str) -> str:
    """A label value as the exposition format spells it inside double quotes."""
    # Backslash first, or the backslashes the other two add would be doubled again.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    # HELP text escapes only backslash and newline; a double quote stays as it is.
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)  # the shortest text that reads back as the same float


def _family(name: str, help_text: str, samples: Iterable[_Sample]) -> list[str]:
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        label_text = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels)
        series = f"{name}{{{label_text}}}" if labels else name
        lines.append(f"{series} {_format_value(value)}")
    return lines


def _timestamp(moment: datetime | None) -> float:
    return 0.0 if moment is None else moment.timestamp()


def _compliant_by_pool(pools: Iterable[PoolSeats]) -> dict[str, bool]:
    result: dict[str, bool] = {}
    for seats in pools:
        result[seats.pool] = result.get(seats.pool, True) and seats.compliant
    return result


def _change_order(item: tuple[tuple[str, str], int]) -> tuple[str, int, str]:
    (kind, op), _ = item
    # insert, update, delete as a person reads them; an op of another name after those.
    rank = CHANGE_OPS.index(op) if op in CHANGE_OPS else len(CHANGE_OPS)
    return kind, rank, op


def render_metrics(m: RunMetrics) -> str:
    """``m`` in the Prometheus text exposition format 0.0.4, ending with a newline.

    Families come in a fixed order and the series of each are sorted by their labels,
    so equal metrics give byte-identical text.
    """
    changes = {(kind, op): 0 for kind in CHANGE_KINDS for op in CHANGE_OPS}
    changes.update(m.changes)
    pools = sorted(m.pools, key=lambda s: (s.pool, _SEAT_CLASS_ORDER[s.seat_class]))
    families: list[tuple[str, str, list[_Sample]]] = [
        (
            "poolsync_run_timestamp_seconds",
            "When the last poolsync run finished, as a Unix time.",
            [((), _timestamp(m.finished_at))],
        ),
        (
            "poolsync_run_duration_seconds",
            "How long the last poolsync run took.",
            [((), m.duration_seconds)],
        ),
        (
            "poolsync_run_outcome",
            "The last run's outcome: 1 for the outcome it had, 0 for the others.",
            [((("outcome", o),), int(o == m.outcome)) for o in OUTCOMES],
        ),
        (
            "poolsync_run_mode",
            "The last run's mode: 1 for the mode it ran in, 0 for the others.",
            [((("mode", mode),), int(mode == m.mode)) for mode in MODES],
        ),
        ("poolsync_run_exit_code", "The exit code of the last poolsync run.", [((), m.exit_code)]),
        (
            "poolsync_last_success_timestamp_seconds",
            "When the last run that committed to the store finished, as a Unix time "
            "(0 if none ever did).",
            [((), _timestamp(m.last_success_at))],
        ),
        (
            "poolsync_objects",
            "Objects the store holds after the last run, per pass and kind.",
            [((("pass", p), ("kind", k)), n) for (p, k), n in sorted(m.objects.items())],
        ),
        (
            "poolsync_run_changes",
            "Objects the last run inserted, updated or deleted in the store, per kind.",
            [
                ((("kind", k), ("op", op)), n)
                for (k, op), n in sorted(changes.items(), key=_change_order)
            ],
        ),
        (
            "poolsync_pass_forced_total_resync",
            "1 for each pass the last run read in full although it was not asked to, "
            "with the reason.",
            [((("pass", p), ("reason", r)), 1) for p, r in sorted(m.forced_total.items())],
        ),
        (
            "poolsync_pool_seats_used",
            "Seats of a class that a license pool uses.",
            [((("pool", s.pool), ("class", s.seat_class)), s.used) for s in pools],
        ),
        (
            "poolsync_pool_seats_licensed",
            "Seats of a class that a license pool has licensed.",
            [((("pool", s.pool), ("class", s.seat_class)), s.licensed) for s in pools],
        ),
        (
            "poolsync_pool_compliant",
            "1 if the pool uses no more seats of any class than it has licensed, else 0.",
            [((("pool", p),), int(ok)) for p, ok in sorted(_compliant_by_pool(pools).items())],
        ),
        (
            "poolsync_compliance_state",
            "1 for the compliance state each pool and server is in (compliant, unverified, "
            "grace, restart-every-48h, four-hour-shutdown).",
            [
                ((("scope", scope), ("name", name), ("state", state)), 1)
                for scope, name, state in sorted(m.states)
            ],
        ),
    ]
    lines: list[str] = []
    for name, help_text, samples in families:
        if samples:  # a family with no series (no pools yet, no forced pass) says nothing
            lines.extend(_family(name, help_text, samples))
    return "\n".join(lines) + "\n"


# -- the one I/O function ------------------------------------------------------------------


def write_metrics(path: Path, text: str, *, follow_symlinks: bool = False) -> None:
    """Replace ``path`` with ``text`` atomically; raises :class:`MetricsError`.

    The text goes to a temporary file in the same directory (same file system, so the
    rename is atomic), named ``.<name>.<random>.tmp`` so the textfile collector, which
    reads only ``*.prom``, never picks it up; it is flushed to disk, made 0644 (the
    collector runs as another user) and renamed over ``path``. Readers see the old file
    or the new one, never a mix; on failure the old file stays and the temporary file
    is removed.
    """
    write_atomic(
        path,
        text,
        mode=_METRICS_FILE_MODE,
        follow_symlinks=follow_symlinks,
        error=MetricsError,
        what="the metrics file ",
    )
