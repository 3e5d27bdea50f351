"""What a set of license files grants on a given day, and when that changes. Pure.

The rules (docs/licenses.md, "Semantics"):

* A line counts from its START= date (if any) through its expiry date; from the day
  after its expiry it contributes nothing.
* Per parameter, while a FEATURE line counts it sets the value and INCREMENT lines of
  that parameter are ignored; if several FEATURE lines count, the first one wins (file
  order as given, then line order), as FLEXlm uses the first FEATURE line of a name.
  Otherwise the counting INCREMENT lines add up, across lines and files.
* A flag is on when its value is at least 1.
* When no line of any file counts, the built-in default license applies
  (:data:`~poolsync.licensing.params.DEFAULT_LICENSE`). When at least one line
  counts, parameters no line sets are 0: the default license is not added on top.

Callers pass only the files that apply (well-formed, bound to this host); files with
errors are skipped here too, so a broken file can never contribute.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Final, Literal

from poolsync.licensing import params
from poolsync.licensing.flexlm import FeatureLine, Kind, LicenseFile, Problem

__all__ = [
    "DUPLICATE_FEATURE",
    "Cause",
    "Change",
    "Effective",
    "Source",
    "TimelineEntry",
    "duplicate_features",
    "effective_at",
    "timeline",
]

DUPLICATE_FEATURE: Final = "duplicate-feature"


@dataclass(frozen=True, slots=True)
class Source:
    """A line that makes up (part of) a parameter's value."""

    path: str
    line: int
    kind: Kind
    count: int


@dataclass(frozen=True)
class Effective:
    """The parameters in force on day ``at``.

    ``values`` has every known parameter (flags 0/1). ``default`` is True when the
    built-in default license applies because no line counts. ``sources`` lists, per
    parameter, the lines its value comes from (empty under the default license).
    ``contributing`` are the files with a counting line, in the order given.
    """

    at: date
    values: Mapping[str, int]
    default: bool
    sources: Mapping[str, tuple[Source, ...]]
    contributing: tuple[str, ...]

    @property
    def message_seconds(self) -> int | None:
        """The license's cap on a recorded message, in seconds (None: no cap)."""
        if self.values.get(params.MAX_MSG_REC_LEN, 0) >= 1:
            return None
        return params.DEFAULT_MESSAGE_SECONDS


def _day_after(day: date) -> date | None:
    return None if day == date.max else day + timedelta(days=1)


def _usable(files: Sequence[LicenseFile]) -> list[LicenseFile]:
    return [f for f in files if f.ok]


def effective_at(files: Sequence[LicenseFile], at: date) -> Effective:
    """The effective parameters of *files* (those that apply) on day *at*."""
    features: dict[str, Source] = {}
    increments: dict[str, list[Source]] = {}
    contributing: list[str] = []
    for file in _usable(files):
        active = [f for f in file.features if f.active(at)]
        if active and file.path not in contributing:
            contributing.append(file.path)
        for line in active:
            source = Source(file.path, line.line, line.kind, line.count)
            if line.kind == "FEATURE":
                features.setdefault(line.name, source)
            else:
                increments.setdefault(line.name, []).append(source)
    if not contributing:
        return Effective(
            at=at,
            values=params.DEFAULT_LICENSE,
            default=True,
            sources=MappingProxyType({}),
            contributing=(),
        )
    values: dict[str, int] = {}
    sources: dict[str, tuple[Source, ...]] = {}
    for name in params.PARAMETERS:
        if name in features:
            chosen: tuple[Source, ...] = (features[name],)
        else:
            chosen = tuple(increments.get(name, ()))
        total = sum(s.count for s in chosen)
        values[name] = min(total, 1) if params.is_flag(name) else total
        if chosen:
            sources[name] = chosen
    return Effective(
        at=at,
        values=MappingProxyType(values),
        default=False,
        sources=MappingProxyType(sources),
        contributing=tuple(contributing),
    )


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Cause:
    """A line that starts or stops counting on a timeline date."""

    path: str
    line: int
    event: Literal["starts", "expired"]


@dataclass(frozen=True)
class TimelineEntry:
    """A day on which the effective parameters change, and the lines that cause it.

    ``default_before``/``default_after`` say whether the built-in default license
    applied the day before and applies from this day.
    """

    date: date
    changes: tuple[Change, ...]
    causes: tuple[Cause, ...]
    default_before: bool
    default_after: bool

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.path for c in self.causes))


def _boundaries(line: FeatureLine) -> list[tuple[date, Literal["starts", "expired"]]]:
    found: list[tuple[date, Literal["starts", "expired"]]] = []
    if line.start is not None:
        found.append((line.start, "starts"))
    if line.expiry is not None:
        after = _day_after(line.expiry)
        if after is not None:
            found.append((after, "expired"))
    return found


class _Sweep:
    """Running totals of the lines that count, updated as lines start and stop.

    Mirrors :func:`effective_at`: per parameter the sum of the counting INCREMENT lines
    and a heap of the counting FEATURE lines by (file, line) order, whose top is the
    one that wins. A line starts and stops counting once each, so a stopped FEATURE
    line is dropped lazily when it reaches the top of its heap.
    """

    def __init__(self) -> None:
        self.active = 0
        self.sums: dict[str, int] = dict.fromkeys(params.PARAMETERS, 0)
        self.heaps: dict[str, list[tuple[int, int, int]]] = {n: [] for n in params.PARAMETERS}
        self.counting: set[tuple[int, int]] = set()

    def apply(self, key: tuple[int, int], line: FeatureLine, *, on: bool) -> None:
        self.active += 1 if on else -1
        if line.kind == "INCREMENT":
            self.sums[line.name] += line.count if on else -line.count
        elif on:
            self.counting.add(key)
            heapq.heappush(self.heaps[line.name], (*key, line.count))
        else:
            self.counting.discard(key)

    def values(self) -> Mapping[str, int]:
        if self.active == 0:
            return params.DEFAULT_LICENSE
        values: dict[str, int] = {}
        for name in params.PARAMETERS:
            heap = self.heaps[name]
            while heap and (heap[0][0], heap[0][1]) not in self.counting:
                heapq.heappop(heap)
            total = heap[0][2] if heap else self.sums[name]
            values[name] = min(total, 1) if params.is_flag(name) else total
        return values


def timeline(files: Sequence[LicenseFile]) -> tuple[TimelineEntry, ...]:
    """Every day on which the effective parameters of *files* change, oldest first.

    A candidate day is a START= date or the day after an expiry; it is an entry only
    if the values differ from the day before (a line that expires while a FEATURE line
    overrides it changes nothing and is left out).

    One pass over the candidate days in order with running totals (:class:`_Sweep`),
    so a file of thousands of lines with distinct dates takes well under a second;
    the values it computes are those of :func:`effective_at` on each day.
    """
    candidates: dict[date, list[Cause]] = {}
    events: dict[date, list[tuple[tuple[int, int], FeatureLine, bool]]] = {}
    sweep = _Sweep()
    for file_index, file in enumerate(_usable(files)):
        for line_index, line in enumerate(file.features):
            key = (file_index, line_index)
            if line.start is None:
                sweep.apply(key, line, on=True)  # counts from the beginning of time
            for day, event in _boundaries(line):
                candidates.setdefault(day, []).append(Cause(file.path, line.line, event))
                events.setdefault(day, []).append((key, line, event == "starts"))
    entries: list[TimelineEntry] = []
    before = sweep.values()
    for day in sorted(candidates):
        default_before = sweep.active == 0
        for key, line, on in events[day]:
            sweep.apply(key, line, on=on)
        after = sweep.values()
        if day == date.min:
            before = after
            continue
        changes = tuple(
            Change(name, before[name], after[name])
            for name in params.PARAMETERS
            if before[name] != after[name]
        )
        if changes:
            entries.append(
                TimelineEntry(
                    day, changes, tuple(candidates[day]), default_before, sweep.active == 0
                )
            )
        before = after
    return tuple(entries)


def duplicate_features(files: Sequence[LicenseFile]) -> dict[str, list[Problem]]:
    """``duplicate-feature`` warnings, by file path: every FEATURE line after the first
    of its name (across *files*, in the order given)."""
    first: dict[str, tuple[str, int]] = {}
    found: dict[str, list[Problem]] = {}
    for file in _usable(files):
        for line in file.features:
            if line.kind != "FEATURE":
                continue
            if line.name not in first:
                first[line.name] = (file.path, line.line)
                continue
            where_path, where_line = first[line.name]
            where = (
                f"line {where_line}"
                if where_path == file.path
                else f"{where_path} line {where_line}"
            )
            found.setdefault(file.path, []).append(
                Problem(
                    line.line,
                    DUPLICATE_FEATURE,
                    f"a second FEATURE line for {line.name} (the first is {where}): while both "
                    "count, the first one wins and this one is ignored",
                    "warning",
                )
            )
    return found
