"""What-if scenario files: YAML read into typed changes (docs/capacity.md, "What-if
scenarios").

Entry point: :func:`load_scenario`. Every error is a :class:`ScenarioError` naming the
file, the key path and what was expected, like the configuration's::

    spring.yaml: changes[1].move_subscribers.vm: expected an integer >= 1, got 0

Applying a scenario to snapshots is :mod:`poolsync.capacity.whatif`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from poolsync.capacity.growth import UNIT_DAYS, GrowthRate
from poolsync.capacity.history import MAX_COUNT
from poolsync.errors import UserError
from poolsync.model import SEAT_CLASSES, SeatClass, Seats
from poolsync.trust import read_trusted
from poolsync.yamlfile import Node, describe, load_yaml_bytes

KINDS = ("add_server", "add_licenses", "remove_server", "move_subscribers", "growth")
CLASS_KEYS = tuple(c.value for c in SEAT_CLASSES)  # vm, um, inbox
RATE_EXAMPLES = "a rate such as '3/day', '10/month', '2%/month' or '5%/year'"
_RATE = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(%?)\s*/\s*(day|month|year)", re.IGNORECASE | re.ASCII)
#: The largest rate, in seats or percent a unit: far above any pool's, and small enough
#: that a projection stays finite (a rate of 400 digits was infinity, and crashed it).
MAX_RATE = 1_000_000


class ScenarioError(UserError):
    """A what-if scenario file is unreadable or invalid, or does not fit the snapshots
    it is applied to (an unknown server, more subscribers moved than it has)."""


@dataclass(frozen=True, slots=True)
class Where:
    """Where a change sits in its file, for errors found when it is applied."""

    file: Path
    keypath: str  # e.g. changes[1].move_subscribers

    def error(self, message: str, *, key: str | None = None) -> ScenarioError:
        path = f"{self.keypath}.{key}" if key else self.keypath
        return ScenarioError(f"{self.file}: {path}: {message}")

    def expected(self, what: str, value: object, *, key: str | None = None) -> ScenarioError:
        return self.error(f"expected {what}, got {describe(value)}", key=key)


@dataclass(frozen=True, slots=True)
class AddServer:
    """A new server with no subscribers: ``pool`` None means the only pool."""

    where: Where
    name: str
    pool: str | None
    licenses: Seats


@dataclass(frozen=True, slots=True)
class AddLicenses:
    """``seats`` more for ``server`` from ``on`` (None: today) on."""

    where: Where
    server: str
    seats: Seats
    on: dt.date | None


@dataclass(frozen=True, slots=True)
class RemoveServer:
    """``name`` leaves its pool; its subscribers, if any, go to ``move_to``."""

    where: Where
    name: str
    move_to: str | None


@dataclass(frozen=True, slots=True)
class MoveSubscribers:
    """``seats.vm`` subscribers from ``source`` to ``target``, ``seats.um`` and
    ``seats.inbox`` of them with UM and Inbox seats."""

    where: Where
    source: str
    target: str
    seats: Seats


@dataclass(frozen=True, slots=True)
class SetGrowth:
    """Growth rates that replace the fitted growth of their seat classes."""

    where: Where
    rates: Mapping[SeatClass, GrowthRate]


Change = AddServer | AddLicenses | RemoveServer | MoveSubscribers | SetGrowth


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario file: its name (``name:``, else the file's stem) and its changes, in
    file order."""

    name: str
    path: Path
    changes: tuple[Change, ...]


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; raises :class:`ScenarioError`."""
    raw = read_trusted(path, error=ScenarioError, kind="what-if scenario")
    root = load_yaml_bytes(path, raw, error=ScenarioError)
    root.check_keys(("name", "changes"))
    name = root.optional_str("name", default=path.stem)
    items = root.mapping_list("changes", min_items=1)
    return Scenario(name, path, tuple(_change(item) for item in items))


def _change(item: Node) -> Change:
    item.check_keys(KINDS)
    kinds = item.keys()
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise item.error(
            f"expected exactly one change ({', '.join(KINDS)}), got {len(kinds)} ({found})"
        )
    kind = kinds[0]
    raw = item.raw(kind)
    if isinstance(raw, Mapping) and True in raw:
        # YAML 1.1 reads an unquoted ``on:`` key as true; it can only mean ``on``.
        raw = {("on" if key is True else key): value for key, value in raw.items()}
    node = Node.wrap(raw, file=item.file, keypath=item.path_of(kind), error_type=ScenarioError)
    where = Where(node.file, node.keypath)
    parsers: dict[str, Callable[[Node, Where], Change]] = {
        "add_server": _add_server,
        "add_licenses": _add_licenses,
        "remove_server": _remove_server,
        "move_subscribers": _move_subscribers,
        "growth": _growth,
    }
    return parsers[kind](node, where)


def _seats(node: Node) -> Seats:
    return Seats(
        **{
            key: _storable(node, key, node.optional_int(key, default=0, minimum=0))
            for key in CLASS_KEYS
        }
    )


def _storable(node: Node, key: str, count: int) -> int:
    """``count``, at most what the store holds: 400 digits crashed the projection."""
    if count > MAX_COUNT:
        raise node.expected(f"an integer <= {MAX_COUNT}", count, key=key)
    return count


def _add_server(node: Node, where: Where) -> AddServer:
    node.check_keys(("name", "pool", "licenses"))
    licenses = node.child("licenses")
    licenses.check_keys(CLASS_KEYS)
    return AddServer(where, node.required_str("name"), node.optional_str("pool"), _seats(licenses))


def _add_licenses(node: Node, where: Where) -> AddLicenses:
    node.check_keys(("server", "on", *CLASS_KEYS))
    server = node.required_str("server")
    seats = _seats(node)
    if seats == Seats():
        raise node.error("expected at least one of vm, um, inbox above 0")
    return AddLicenses(where, server, seats, _date(node, "on"))


def _date(node: Node, key: str) -> dt.date | None:
    if key not in node:
        return None
    value = node.raw(key)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise node.expected("a date (YYYY-MM-DD)", value, key=key)


def _remove_server(node: Node, where: Where) -> RemoveServer:
    node.check_keys(("name", "move_to"))
    return RemoveServer(where, node.required_str("name"), node.optional_str("move_to"))


def _move_subscribers(node: Node, where: Where) -> MoveSubscribers:
    node.check_keys(("from", "to", *CLASS_KEYS))
    source, target = node.required_str("from"), node.required_str("to")
    if source.casefold() == target.casefold():
        raise node.expected(f"a server other than {source!r} (from)", target, key="to")
    vm = _storable(node, "vm", node.required_int("vm", minimum=1))
    counts = {
        "um": node.optional_int("um", default=0, minimum=0),
        "inbox": node.optional_int("inbox", default=0, minimum=0),
    }
    for key, count in counts.items():
        if count > vm:
            raise node.error(
                f"expected at most {vm} (the vm count: each of these "
                f"subscribers also uses a VM seat), got {count}",
                key=key,
            )
    return MoveSubscribers(where, source, target, Seats(vm, counts["um"], counts["inbox"]))


def _growth(node: Node, where: Where) -> SetGrowth:
    node.check_keys(CLASS_KEYS)
    if not node.keys():
        raise node.error(f"expected a rate for at least one of {', '.join(CLASS_KEYS)}")
    rates: dict[SeatClass, GrowthRate] = {}
    for seat_class in SEAT_CLASSES:
        if seat_class.value in node:
            rates[seat_class] = parse_rate(node, seat_class.value)
    return SetGrowth(where, rates)


def parse_rate(node: Node, key: str) -> GrowthRate:
    """``N/day``, ``N/month``, ``N/year`` or the same with ``P%``: seats, or percent of
    the pool's use today, per unit (a month is 30 days, a year 365)."""
    value = node.raw(key)
    match = _RATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise node.expected(RATE_EXAMPLES, value, key=key)
    amount, percent, unit = match.groups()
    if abs(float(amount)) > MAX_RATE:
        raise node.expected(f"{RATE_EXAMPLES}, of at most {MAX_RATE} a unit", value, key=key)
    return GrowthRate(float(amount), UNIT_DAYS[unit.lower()], percent=bool(percent))
