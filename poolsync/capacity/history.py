"""Usage history in and out: snapshots from a pool report, and the CSV / JSON files of
``poolsync history export`` and ``history import`` (pure: text in, text out).

CSV columns, in this order: ``date,pool,server,class,licensed,used`` then the optional
``published``; a file being imported may have more columns (ignored) and its columns in
any order, but it needs those six. ``date`` is ISO 8601: a day (``2026-09-01``, read as
midnight UTC) or a moment (``2026-09-01T10:00:00+00:00``; without an offset, UTC).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from poolsync.allocation import PoolReport
from poolsync.capacity.model import Snapshot
from poolsync.errors import UserError
from poolsync.model import SEAT_CLASSES, SeatClass
from poolsync.spreadsheet import neutralize, restore

__all__ = [
    "COLUMNS",
    "HistoryFileError",
    "parse_history",
    "snapshots_from_report",
    "to_csv",
    "to_json",
]

COLUMNS: Final = ("date", "pool", "server", "class", "licensed", "used")
OPTIONAL: Final = ("published",)
JSON_TYPE: Final = "usage-history"
MAX_COUNT: Final = 2**63 - 1  # what SQLite's INTEGER holds
_INTEGER: Final = re.compile(r"-?[0-9]+")
#: The longest pool or server name: AD's are far shorter (a forest's DNS name has at
#: most 253 characters, a Location's cn 64), and an exported CSV field must stay within
#: what the csv module reads back (131072).
MAX_NAME: Final = 1024


class HistoryFileError(UserError):
    """A history file that cannot be imported: its path, the line and what is wrong."""


def snapshots_from_report(report: PoolReport, taken_at: dt.datetime) -> list[Snapshot]:
    """One snapshot per pool member and seat class: licensed, used (the directory's
    truth, its failover secondary's subscribers included) and what it published."""
    rows: list[Snapshot] = []
    for pool in report.pools:
        for server in pool.servers:
            published = server.published_used
            for c in SEAT_CLASSES:
                shown = published is not None and c in server.published_classes
                rows.append(
                    Snapshot(
                        taken_at=taken_at,
                        pool=pool.id,
                        server=server.name,
                        seat_class=c,
                        licensed=server.licensed.get(c),
                        used=server.used.get(c),
                        published=published.get(c) if shown and published is not None else None,
                    )
                )
    return rows


def to_csv(snapshots: Iterable[Snapshot]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # csv quotes a field with a line feed but not one with a lone carriage return, which
    # readers then take for the end of a row: such rows are written fully quoted.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow((*COLUMNS, *OPTIONAL))
    for s in snapshots:
        # An export imports back unchanged: formulas neutralized (reversibly), every
        # other character kept.
        pool, server = (neutralize(text, keep_controls=True) for text in (s.pool, s.server))
        (quoted if "\r" in s.pool + s.server else writer).writerow(
            (
                s.taken_at.isoformat(timespec="seconds"),
                pool,
                server,
                s.seat_class.value,
                s.licensed,
                s.used,
                "" if s.published is None else s.published,
            )
        )
    return out.getvalue()


def to_json(snapshots: Iterable[Snapshot], *, generated: dt.datetime) -> dict[str, Any]:
    return {
        "meta": {
            "type": JSON_TYPE,
            "version": 1,
            "generated": generated.isoformat(timespec="seconds"),
        },
        "snapshots": [
            {
                "date": s.taken_at.isoformat(timespec="seconds"),
                "pool": s.pool,
                "server": s.server,
                "class": s.seat_class.value,
                "licensed": s.licensed,
                "used": s.used,
                "published": s.published,
            }
            for s in snapshots
        ],
    }


def parse_history(text: str, *, path: Path) -> list[Snapshot]:
    """Every row of a CSV (or an exported JSON) history file, validated; the first bad
    row raises :class:`HistoryFileError` naming its line, and nothing is returned."""
    if text.lstrip().startswith("{"):
        return _parse_json(text, path=path)
    return _parse_csv(text, path=path)


def _records(reader: Any, *, path: Path) -> Iterator[list[str]]:
    """The reader's rows; its own error (a field over the csv module's size limit)
    becomes a HistoryFileError naming the line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise HistoryFileError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None


def _parse_csv(text: str, *, path: Path) -> list[Snapshot]:
    reader = csv.reader(io.StringIO(text))
    records = _records(reader, path=path)
    try:
        header = next(records)
    except StopIteration:
        raise HistoryFileError(
            f"{path}: empty file; expected a header row {','.join(COLUMNS)}"
        ) from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise HistoryFileError(
            f"{path}: line 1: the header lacks {', '.join(missing)} "
            f"(expected columns {','.join(COLUMNS)}[,published])"
        )
    index: dict[str, int] = {
        name: names.index(name) for name in (*COLUMNS, *OPTIONAL) if name in names
    }
    rows: list[Snapshot] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    for values in records:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        short = [name for name in COLUMNS if index[name] >= len(values)]
        if short:
            raise HistoryFileError(
                f"{path}: line {line}: {len(values)} columns, so no {', '.join(short)}"
            )
        # restore: an export neutralized text a spreadsheet would run ('=...).
        record: dict[str, str] = {
            name: restore(values[i].strip()) if i < len(values) else "" for name, i in index.items()
        }
        rows.append(
            _unique(
                _row(record, where=f"{path}: line {line}"),
                seen,
                where=f"{path}: line {line}",
                label=f"line {line}",
            )
        )
    return rows


def _unique(
    row: Snapshot, seen: dict[tuple[str, str, str, str], str], *, where: str, label: str
) -> Snapshot:
    """``row``, unless an earlier row of the file has its date, pool, server and class
    (names compared case-insensitively, as the store's report does)."""
    key = (row.taken_at.isoformat(), row.pool, row.server.casefold(), row.seat_class.value)
    if key in seen:
        raise HistoryFileError(f"{where}: the same date, pool, server and class as {seen[key]}")
    seen[key] = label
    return row


def _parse_json(text: str, *, path: Path) -> list[Snapshot]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise HistoryFileError(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise HistoryFileError(f"{path}: not valid JSON: nested too deeply") from None
    items = doc.get("snapshots") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise HistoryFileError(
            f'{path}: expected a JSON object with a "snapshots" list '
            "(as `poolsync history export --format json` writes)"
        )
    rows: list[Snapshot] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise HistoryFileError(f"{path}: snapshots[{n}]: expected an object")
        where = f"{path}: snapshots[{n}]"
        record: dict[str, str] = {}
        for key in (*COLUMNS, *OPTIONAL):
            value = item.get(key)
            if isinstance(value, dict | list):  # str() would make a name of it
                raise HistoryFileError(
                    f"{where}: {key}: expected a string or a number, got "
                    f"{'an object' if isinstance(value, dict) else 'a list'}"
                )
            record[key] = "" if value is None else str(value)
        rows.append(_unique(_row(record, where=where), seen, where=where, label=f"snapshots[{n}]"))
    return rows


def _row(record: dict[str, str], *, where: str) -> Snapshot:
    for key in ("pool", "server"):
        if not record.get(key):
            raise HistoryFileError(f"{where}: {key} is empty")
        if len(record[key]) > MAX_NAME:
            raise HistoryFileError(
                f"{where}: {key}: expected at most {MAX_NAME} characters, got {len(record[key])}"
            )
        if not _encodable(record[key]):
            # JSON can escape half a UTF-16 pair ("\ud800"); the store cannot hold it.
            raise HistoryFileError(
                f"{where}: {key}: expected text, got a lone surrogate "
                "(an unpaired \\uD800-\\uDFFF escape)"
            )
    try:
        seat_class = SeatClass(record["class"].lower())
    except ValueError:
        raise HistoryFileError(
            f"{where}: class: expected one of vm, um, inbox, got {_shown(record['class'])}"
        ) from None
    published_text = record.get("published", "")
    return Snapshot(
        taken_at=_date(record["date"], where=where),
        pool=record["pool"].lower(),
        server=record["server"],
        seat_class=seat_class,
        licensed=_count(record["licensed"], "licensed", where=where),
        used=_count(record["used"], "used", where=where),
        published=_count(published_text, "published", where=where) if published_text else None,
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count(text: str, key: str, *, where: str) -> int:
    # Digits only: int() would also take "1_000", "١٢" and other scripts' digits.
    digits = text.strip()
    if not _INTEGER.fullmatch(digits):
        raise HistoryFileError(f"{where}: {key}: expected a whole number >= 0, got {_shown(text)}")
    significant = digits.lstrip("-").lstrip("0")
    if len(significant) > 100:  # int() refuses over 4300 digits; nobody reads 100
        raise HistoryFileError(
            f"{where}: {key}: expected at most {MAX_COUNT}, got a "
            f"number of {len(significant)} digits"
        )
    value = -int(significant or "0") if digits.startswith("-") else int(significant or "0")
    if value < 0:
        raise HistoryFileError(f"{where}: {key}: expected a whole number >= 0, got {value}")
    if value > MAX_COUNT:
        raise HistoryFileError(f"{where}: {key}: expected at most {MAX_COUNT}, got {value}")
    return value


def _date(text: str, *, where: str) -> dt.datetime:
    what = "an ISO 8601 date such as 2026-09-01 or 2026-09-01T10:00:00+00:00"
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HistoryFileError(f"{where}: date: expected {what}, got {_shown(text)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        # The store keeps whole seconds: two rows within one second are one moment.
        return moment.astimezone(dt.UTC).replace(microsecond=0)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in the year 0 in UTC
        raise HistoryFileError(
            f"{where}: date: expected {what} between the years 1 and "
            f"9999 in UTC, got {_shown(text)}"
        ) from None


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short: a field may be a megabyte long."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def sorted_snapshots(rows: Sequence[Snapshot]) -> list[Snapshot]:
    return sorted(
        rows, key=lambda s: (s.taken_at, s.pool, s.server, SEAT_CLASSES.index(s.seat_class))
    )
