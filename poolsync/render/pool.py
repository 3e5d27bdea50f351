"""The pool report in three shapes: JSON and CSV for machines, a rich table for people.

All three take a finished :class:`~poolsync.allocation.PoolReport` and only format it;
no rule of the pool lives here. The JSON shape is a contract (``meta.type`` is
``pool-report``, ``meta.version`` is 1): keys may be added, never renamed or removed
without a version bump. The CSV schema is documented in docs/allocation.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from poolsync.allocation import ClassSeats, Pool, PoolReport, ServerSeats
from poolsync.compliance import Assessment, ComplianceReport, State
from poolsync.live import LiveView
from poolsync.model import SEAT_CLASSES, SeatClass, Seats
from poolsync.spreadsheet import neutralize

__all__ = [
    "CSV_COLUMNS",
    "JSON_TYPE",
    "JSON_VERSION",
    "pool_report_csv",
    "pool_report_json",
    "pool_report_table",
]

JSON_TYPE: Final = "pool-report"
JSON_VERSION: Final = 1

CSV_COLUMNS: Final = (
    "pool",
    "server",
    "guid",
    "status",
    "class",
    "licensed",
    "used",
    "published_used",
    "borrowed",
    "lent",
    "stale",
    "reason",
    "detail",
    "state",
    "state_since",
    "used_source",
)

_LABEL: Final = {SeatClass.VM: "VM", SeatClass.UM: "UM", SeatClass.INBOX: "Inbox"}


def _published(server: ServerSeats, seat_class: SeatClass) -> int | None:
    """The server's published count for one class; None when it did not publish it."""
    if server.published_used is None or seat_class not in server.published_classes:
        return None
    return server.published_used.get(seat_class)


# --- JSON -------------------------------------------------------------------------


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def assessment_json(assessment: Assessment | None) -> dict[str, Any] | None:
    """A pool's or server's compliance state; None when it was not assessed."""
    if assessment is None:
        return None
    return {
        "state": assessment.state.value,
        "since": _when(assessment.since),
        "until": _when(assessment.until),
        "violations": [
            {"key": str(v.key), "what": v.what, "remedy": v.remedy, "since": _when(v.since)}
            for v in assessment.violations
        ],
        "note": assessment.note or None,
    }


def _server_json(server: ServerSeats) -> dict[str, Any]:
    published = None
    if server.published_used is not None:
        published = {c.value: _published(server, c) for c in SEAT_CLASSES}
    return {
        "name": server.name,
        "guid": server.guid,
        "failover": server.failover,
        "secondary_licensed": server.secondary_licensed,
        "licensed": server.licensed.as_dict(),
        "used": server.used.as_dict(),
        "used_source": {c.value: server.source(c) for c in SEAT_CLASSES},
        "matched_by": list(server.matched_by),
        "published_used": published,
        "stale": [c.value for c in server.stale],
        "borrowed": server.borrowed.as_dict(),
        "lent": server.lent.as_dict(),
    }


def _seats_or_none(seats: Seats | None) -> dict[str, int] | None:
    return None if seats is None else seats.as_dict()


def live_json(view: LiveView | None) -> dict[str, Any]:
    """The ``live_*`` fields of a server: what it said itself (``servers probe``)."""
    if view is None:
        return {
            "live_licensed": None,
            "live_used": None,
            "live_read_at": None,
            "live_source": None,
            "live_error": None,
            "live_differs": None,
            "live_differences": [],
        }
    reading = view.reading
    return {
        "live_licensed": _seats_or_none(reading.licensed),
        "live_used": _seats_or_none(reading.published_used),
        "live_read_at": reading.read_at.isoformat(timespec="seconds"),
        "live_source": reading.source,
        "live_error": reading.error,
        "live_differs": view.differs if reading.ok else None,
        "live_differences": [
            {"field": f, "directory": d, "server": v} for f, d, v in view.differences
        ],
    }


def _class_json(seats: ClassSeats, source: str) -> dict[str, Any]:
    return {
        "licensed": seats.licensed,
        "used": seats.used,
        "used_source": source,
        "available": seats.available,
        "compliant": seats.compliant,
    }


def _pool_json(
    pool: Pool, states: ComplianceReport | None, live: Mapping[str, LiveView]
) -> dict[str, Any]:
    pool_state = next((a for a in states.pools if a.name == pool.id), None) if states else None
    return {
        "id": pool.id,
        "members": list(pool.members),
        "compliant": pool.compliant,
        "state": assessment_json(pool_state),
        "seats": {c.value: _class_json(pool.seats[c], pool.used_source(c)) for c in SEAT_CLASSES},
        "servers": [
            {
                **_server_json(s),
                "state": assessment_json(states.server(s.guid) if states else None),
                **live_json(live.get(s.guid)),
            }
            for s in pool.servers
        ],
    }


def pool_report_json(
    report: PoolReport,
    *,
    generated: datetime,
    states: ComplianceReport | None = None,
    live: Mapping[str, LiveView] | None = None,
    source: str = "directory",
) -> dict[str, Any]:
    """The report as a JSON-ready dict (``json.dumps`` it as is).

    *generated* is written with ``isoformat()``; pass an aware datetime (UTC) so the
    timestamp is unambiguous. With *states*, pools and servers carry their compliance
    state (``null`` where a server could not be assessed). *live* (by objectGUID) gives
    each server's own reading beside the directory's copy (``live_*``, null without
    one); *source* says where the licenses came from (``directory`` or ``servers``).
    """
    live = live or {}
    return {
        "meta": {"type": JSON_TYPE, "version": JSON_VERSION, "generated": generated.isoformat()},
        "source": source,
        "pools": [_pool_json(p, states, live) for p in report.pools],
        "excluded": [
            {
                "name": e.name,
                "guid": e.guid,
                "reason": e.reason.value,
                "detail": e.detail,
                "state": assessment_json(states.server(e.guid) if states else None),
                **live_json(live.get(e.guid)),
            }
            for e in report.excluded
        ],
        "unpooled": report.unpooled.as_dict(),
        "orphaned": report.orphaned.as_dict(),
        "subscribers": report.subscribers,
        "orphans": {
            "count": report.orphaned.vm,
            "share": round(report.orphan_share, 6),
            "significant": report.orphans_significant,
            "homes": list(report.orphan_keys),
        },
        "notes": list(report.notes),
    }


# --- CSV --------------------------------------------------------------------------


def _state_cells(assessment: Assessment | None) -> dict[str, object]:
    if assessment is None:
        return {}
    return {"state": assessment.state.value, "state_since": _when(assessment.since) or ""}


def _csv_rows(report: PoolReport, states: ComplianceReport | None) -> Iterator[dict[str, object]]:
    def server_state(guid: str) -> dict[str, object]:
        return _state_cells(states.server(guid)) if states else {}

    for pool in report.pools:
        pool_state = (
            _state_cells(next((a for a in states.pools if a.name == pool.id), None))
            if states
            else {}
        )
        for server in pool.servers:
            for c in SEAT_CLASSES:
                published = _published(server, c)
                yield {
                    **server_state(server.guid),
                    "pool": pool.id,
                    "server": server.name,
                    "guid": server.guid,
                    "status": "member",
                    "class": c.value,
                    "licensed": server.licensed.get(c),
                    "used": server.used.get(c),
                    "used_source": server.source(c),
                    "published_used": "" if published is None else published,
                    "borrowed": server.borrowed.get(c),
                    "lent": server.lent.get(c),
                    "stale": "true" if c in server.stale else "false",
                }
        borrowed = Seats.total(s.borrowed for s in pool.servers)
        lent = Seats.total(s.lent for s in pool.servers)
        for c in SEAT_CLASSES:
            yield {
                **pool_state,
                "pool": pool.id,
                "status": "pool-total",
                "class": c.value,
                "licensed": pool.seats[c].licensed,
                "used": pool.seats[c].used,
                "used_source": pool.used_source(c),
                "borrowed": borrowed.get(c),
                "lent": lent.get(c),
            }
    for exclusion in report.excluded:
        yield {
            **server_state(exclusion.guid),
            "server": exclusion.name,
            "guid": exclusion.guid,
            "status": "excluded",
            "reason": exclusion.reason.value,
            "detail": exclusion.detail,
        }
    for status, seats in (("unpooled", report.unpooled), ("orphaned", report.orphaned)):
        if seats != Seats():
            for c in SEAT_CLASSES:
                yield {"status": status, "class": c.value, "used": seats.get(c)}


def pool_report_csv(report: PoolReport, states: ComplianceReport | None = None) -> str:
    """The report as CSV text: a header row, then one flat row per fact.

    Rows: per member and seat class (``member``), per pool and class (``pool-total``),
    per excluded server (``excluded``, no class), and per class for seats no pool counts
    (``unpooled``, ``orphaned``; only when non-zero). Cells that do not apply are empty.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {k: neutralize(v) for k, v in row.items()} for row in _csv_rows(report, states)
    )
    return out.getvalue()


# --- table ------------------------------------------------------------------------


_LINE_BREAKS: Final = re.compile(r"[\t\n\r\x0b\x0c]")


def _one_line(text: str) -> str:
    """A name from the directory on one line: a line break in it would draw what looks
    like another row of the table (a fake server with fake numbers)."""
    return _LINE_BREAKS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _n(value: int) -> str:
    return f"{value:,}"


#: How a used count that is not the directory's own is marked in the table.
_SOURCE_MARK: Final = {"directory": "", "published": "*", "none": "?"}


def _used_of(used: int, licensed: int, source: str = "directory") -> Text:
    shown = "?" if source == "none" else f"{_n(used)}{_SOURCE_MARK[source]}"
    return Text(f"{shown}/{_n(licensed)}", style="bold red" if used > licensed else "")


def _triple(seats: Seats) -> str:
    """VM/UM/Inbox in one short cell; "-" for all zero so real numbers stand out."""
    if seats == Seats():
        return "-"
    return "/".join(_n(seats.get(c)) for c in SEAT_CLASSES)


def _server_row(server: ServerSeats) -> list[Text]:
    failover = Text(_one_line(server.failover or "-"))
    if server.secondary_licensed is False:
        failover.append(" (not licensed)", style="bold red")
    if server.published_used is None:
        published = Text("not published", style="dim")
    else:
        counts = (_published(server, c) for c in SEAT_CLASSES)
        published = Text("/".join("-" if n is None else _n(n) for n in counts))
    if server.stale:
        stale = ",".join(_LABEL[c] for c in server.stale)
        published.append(f" STALE {stale}", style="bold yellow")
    return [
        Text(_one_line(server.name)),
        failover,
        *(
            _used_of(server.used.get(c), server.licensed.get(c), server.source(c))
            for c in SEAT_CLASSES
        ),
        Text(_triple(server.borrowed)),
        Text(_triple(server.lent)),
        published,
    ]


def _compliance(seat_class: SeatClass, seats: ClassSeats, source: str = "directory") -> Text:
    if source == "none":
        return Text.assemble(
            ("unknown", "bold yellow"),
            f": no member publishes its {_LABEL[seat_class]} use, and the "
            f"directory does not say; {_n(seats.licensed)} "
            f"{_LABEL[seat_class]} seats licensed",
        )
    used = f"{_n(seats.used)} of {_n(seats.licensed)} {_LABEL[seat_class]} seats used"
    if seats.compliant:
        return Text.assemble(("compliant", "green"), f": {used}, {_n(seats.available)} available")
    return Text.assemble(("NOT COMPLIANT", "bold red"), f": {used}, over by {_n(-seats.available)}")


def _pool_table(pool: Pool) -> Table:
    count = len(pool.servers)
    caption = (
        "VM, UM, Inbox: used/licensed. Borrowed, Lent, Published: VM/UM/Inbox (- not published)."
    )
    sources = {s.source(c) for s in pool.servers for c in SEAT_CLASSES}
    if "published" in sources:
        caption += (
            "\n* the server's own published count: the directory does not say which "
            "subscribers use the class."
        )
    if "none" in sources:
        caption += "\n? unknown: the directory does not say, and the server published none."
    table = Table(
        title=f"Pool {pool.id} — {count} server{'' if count == 1 else 's'}",
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Server", no_wrap=True)
    table.add_column("Failover")
    for c in SEAT_CLASSES:
        table.add_column(_LABEL[c], justify="right", no_wrap=True)
    table.add_column("Borrowed", justify="right", no_wrap=True)
    table.add_column("Lent", justify="right", no_wrap=True)
    table.add_column("Published", no_wrap=True)
    for server in pool.servers:
        table.add_row(*_server_row(server))
    table.add_section()
    table.add_row(
        Text("Pool total", style="bold"),
        Text(""),
        *(
            _used_of(pool.seats[c].used, pool.seats[c].licensed, pool.used_source(c))
            for c in SEAT_CLASSES
        ),
        Text(_triple(Seats.total(s.borrowed for s in pool.servers))),
        Text(_triple(Seats.total(s.lent for s in pool.servers))),
        Text(""),
    )
    return table


def _seat_note(label: str, seats: Seats, why: str) -> Text:
    counts = ", ".join(f"{_n(seats.get(c))} {_LABEL[c]}" for c in SEAT_CLASSES)
    return Text.assemble((label, "bold yellow"), f": {counts} seats {why}")


_STATE_STYLE: Final = {
    State.COMPLIANT: "green",
    State.UNVERIFIED: "bold yellow",
    State.GRACE: "bold yellow",
    State.RESTART_EVERY_48H: "bold red",
    State.FOUR_HOUR_SHUTDOWN: "bold red",
}
_STATE_MEANS: Final = {
    State.UNVERIFIED: "no license violation in what was counted, but too many subscribers "
    "were not counted",
    State.GRACE: "Unity 5.x and later: a logged violation, calls still answered",
    State.RESTART_EVERY_48H: "Unity 5.x and later, grace over: stops answering calls every "
    "48 hours",
    State.FOUR_HOUR_SHUTDOWN: "Unity 4.x: must be rebooted every four hours until resolved",
}


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "?"


def _state_lines(label: str, assessment: Assessment) -> list[Text]:
    if assessment.state is State.COMPLIANT:
        return [Text.assemble(f"{label}: ", ("compliant", "green"))]
    head = Text.assemble(
        f"{label}: ",
        (assessment.state.value, _STATE_STYLE[assessment.state]),
        f" since {_day(assessment.since)}",
    )
    if assessment.until is not None:
        head.append(f", grace until {_day(assessment.until)}")
    head.append(f" ({_STATE_MEANS[assessment.state]})")
    lines = [head]
    lines += [Text(f"  - {v.what}; to end it: {v.remedy}") for v in assessment.violations]
    if assessment.note:
        lines.append(Text(f"  - {assessment.note}"))
    return lines


def _print_states(console: Console, pool: Pool, states: ComplianceReport) -> None:
    pool_state = next((a for a in states.pools if a.name == pool.id), None)
    if pool_state is not None:
        for line in _state_lines("Pool state", pool_state):
            console.print(line)
    for server in pool.servers:
        assessment = states.server(server.guid)
        if assessment is None or assessment.state is State.COMPLIANT:
            continue
        own = [v for v in assessment.violations if v.key.scope == "server"]
        shown = Assessment(
            assessment.scope,
            assessment.name,
            assessment.state,
            assessment.since,
            assessment.until,
            tuple(own),
        )
        for line in _state_lines(f"Server {server.name}", shown):
            console.print(line)


def pool_report_table(
    report: PoolReport,
    console: Console,
    states: ComplianceReport | None = None,
    live: Mapping[str, LiveView] | None = None,
) -> None:
    """Print the report for people: a block per pool, then the excluded servers, then
    where a server's own reading differs from its directory copy."""
    for pool in report.pools:
        console.print(_pool_table(pool))
        for c in SEAT_CLASSES:
            console.print(_compliance(c, pool.seats[c], pool.used_source(c)))
        if states is not None:
            _print_states(console, pool, states)
        if any(s.stale for s in pool.servers):
            console.print(
                Text(
                    "STALE: the server's published utilization differs from the subscribers "
                    "homed on it in the directory.",
                    style="yellow",
                )
            )
        console.print()
    if report.excluded:
        table = Table(title="Excluded from the pool", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("Name", no_wrap=True)
        table.add_column("Reason", no_wrap=True)
        table.add_column("Detail")
        for exclusion in report.excluded:
            table.add_row(
                Text(_one_line(exclusion.name)),
                Text(exclusion.reason.value),
                Text(_one_line(exclusion.detail)),
            )
        console.print(table)
        if states is not None:
            for exclusion in report.excluded:
                assessment = states.server(exclusion.guid)
                if assessment is not None and assessment.state is not State.COMPLIANT:
                    for line in _state_lines(f"Server {exclusion.name}", assessment):
                        console.print(line)
    else:
        console.print("No servers excluded from the pool.")
    if report.unpooled != Seats():
        console.print(
            _seat_note("Unpooled", report.unpooled, "used by subscribers of excluded servers")
        )
    if report.orphaned != Seats():
        share = f" ({report.orphan_share:.1%} of the {_n(report.subscribers)} read)"
        console.print(
            Text.assemble(
                ("Orphaned", "bold red" if report.orphans_significant else "bold yellow"),
                f": {_n(report.orphaned.vm)} subscribers' home matches no Location{share}; "
                "run `poolsync schema discover`",
            )
        )
    for note in report.notes:
        console.print(Text(f"Note: {note}.", style="dim"))
    _print_live(console, report, live or {})


def _print_live(console: Console, report: PoolReport, live: Mapping[str, LiveView]) -> None:
    """What the servers said themselves (``servers probe``), where it differs or failed."""
    names = {s.guid: s.name for p in report.pools for s in p.servers}
    names.update({e.guid: e.name for e in report.excluded})
    for guid, view in sorted(live.items(), key=lambda kv: names.get(kv[0], "").lower()):
        reading, name = view.reading, _one_line(names.get(guid, view.reading.server))
        when = f"{reading.source}, {reading.read_at.isoformat(timespec='seconds')}"
        if not reading.ok:
            console.print(
                Text(
                    f"Live: {name} could not be read ({when}): {_one_line(reading.error or '')}",
                    style="dim",
                )
            )
        elif view.differs:
            what = "; ".join(
                f"{f} {d} in the directory, {v} on the server" for f, d, v in view.differences
            )
            console.print(
                Text(
                    f"Live: {name} differs from its directory copy ({when}): {_one_line(what)}",
                    style="yellow",
                )
            )
