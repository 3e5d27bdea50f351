"""The figures for people (a table) and machines (JSON)."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

ROWS = (
    ("subscribers", "subscribers", "{:,}"),
    ("ldapsearch_entries_per_s", "ldapsearch (paged 1000, LDAPS)", "{:,} entries/s"),
    ("poolsync_entries_per_s", "poolsync resync --total", "{:,} entries/s"),
    ("ratio", "poolsync / ldapsearch", "{}"),
    ("peak_rss_mb", "poolsync peak RSS", "{} MB"),
    ("total_resync_s", "total resync (median wall)", "{} s"),
    ("incremental_s", "incremental resync after 100 changes", "{} s"),
    ("incremental_ratio", "incremental / total", "{}"),
    ("incremental_internal_s", "incremental pass, in process", "{} s"),
    ("incremental_internal_ratio", "incremental / total, in process", "{}"),
    ("build_s", "lab build", "{} s"),
    ("restore_s", "lab restore from cache", "{} s"),
)


def print_json(doc: dict[str, Any]) -> None:
    print(json.dumps(doc, indent=2))


def print_table(doc: dict[str, Any]) -> None:
    table = Table(
        title=f"poolsync benchmark ({doc['repeat']} runs, medians)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label, fmt in ROWS:
        value = doc.get(key)
        table.add_row(label, "-" if value is None else fmt.format(value))
    m = doc["machine"]
    Console().print(table)
    Console().print(
        f"machine: {m['cpu_count']} CPUs, Python {m['python']}, Samba {m['samba']}", highlight=False
    )


def print_scale_table(doc: dict[str, Any]) -> None:
    table = Table(
        title=f"poolsync at {doc['locations']:,} Locations on {doc['dcs']} DC(s) "
        f"({doc['repeat']} run(s); median time, highest peak RSS)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("command")
    for column in ("wall", "peak RSS", "output", "exit"):
        table.add_column(column, justify="right")
    for figures in doc["commands"].values():
        table.add_row(
            figures["command"],
            f"{figures['seconds']} s",
            f"{figures['peak_rss_mb']} MB",
            f"{figures['output_mb']} MB",
            str(figures["exit_code"]),
        )
    goal = doc["goal"]
    console = Console()
    console.print(table)
    console.print(
        f"goal for doctor and graph: under {goal['seconds']:g} s and "
        f"{goal['peak_rss_mb']:g} MB: {'met' if goal['met'] else 'NOT met'}",
        highlight=False,
    )
    console.print(
        "checks: " + ", ".join(f"{k} {v:,}" for k, v in doc["checks"].items()), highlight=False
    )
    m = doc["machine"]
    console.print(
        f"machine: {m['cpu_count']} CPUs, Python {m['python']}, Samba {m['samba']}", highlight=False
    )
