"""Text from the directory never reaches the terminal with its control characters."""

from __future__ import annotations

import io
import logging

from rich.table import Table
from rich.text import Text

from poolsync.cli.main import _SafeFormatter
from poolsync.cli.output import _console_class, shown

HOSTILE = "UNITY-\x1b]0;owned\x07A\x1b[2J\x9b31m\x00\x7f"


def test_shown_makes_control_characters_visible() -> None:
    assert shown(HOSTILE) == "UNITY-\\x1b]0;owned\\x07A\\x1b[2J\\x9b31m\\x00\\x7f"
    assert shown("tab\tand\nnewline stay, é and 漢 too") == "tab\tand\nnewline stay, é and 漢 too"


def test_a_console_table_shows_a_hostile_name_but_keeps_its_own_styles() -> None:
    out = io.StringIO()
    console = _console_class()(file=out, force_terminal=True, width=100)
    table = Table()
    table.add_column("server", style="bold")
    table.add_row(Text(HOSTILE))
    console.print(table)
    console.print(Text(HOSTILE, style="red"))
    text = out.getvalue()
    assert "\x1b]0;" not in text and "\x1b[2J" not in text and "\x9b" not in text
    assert "\x00" not in text and "\x7f" not in text
    assert "UNITY-\\x1b]0;owned" in text
    assert "\x1b[1m" in text and "\x1b[31m" in text  # rich's own styling still works


def test_log_lines_are_made_safe() -> None:
    record = logging.LogRecord(
        "poolsync",
        logging.WARNING,
        __file__,
        1,
        "skipped %s: %s",
        (f"CN={HOSTILE},DC=x", "bad"),
        None,
    )
    line = _SafeFormatter("poolsync: %(levelname)s: %(message)s").format(record)
    assert "\x1b" not in line and "\x9b" not in line
    assert line.startswith("poolsync: WARNING: skipped CN=UNITY-\\x1b]0;owned")
