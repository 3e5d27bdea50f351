"""Consoles, progress bars and JSON output shared by the commands."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from poolsync.outfile import PRIVATE, write_atomic

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.segment import Segment

# rich is imported where it is used: a resync with --format json (a scheduled job)
# never draws a table or a bar, and need not pay for importing them.


# C0 controls but tab and newline, DEL and the C1 controls: what a terminal acts on.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """``text`` as a terminal may show it: control characters become visible ``\\xNN``.

    Names, DNs and attachment text come from the directory; an ESC or CSI in a
    Location's name would otherwise retitle the window, move the cursor or hide lines
    of a report (rich strips only BEL, BS, VT, FF and CR).
    """
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console
    from rich.segment import Segment

    class SafeConsole(Console):
        """A rich Console that passes its own control sequences (styles, cursor moves)
        but never a control character inside the text it shows."""

        def _render_buffer(self, buffer: Iterable[Segment]) -> str:
            return super()._render_buffer(
                segment if segment.control else Segment(shown(segment.text), segment.style)
                for segment in buffer
            )

    return SafeConsole


def stdout_console() -> Console:
    """Tables for people: the terminal's width, else ``COLUMNS``, else 120 (a pipe or a
    file gets whole lines)."""
    width = None if sys.stdout.isatty() else _columns(default=120)
    return _console_class()(file=sys.stdout, soft_wrap=False, width=width)


def _columns(*, default: int) -> int:
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isascii() and text.isdigit() and 40 <= int(text) <= 1000 else default


def stderr_console() -> Console:
    return _console_class()(file=sys.stderr, stderr=True, soft_wrap=True, highlight=False)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def meta(kind: str, *, version: int = 1) -> dict[str, Any]:
    return {"type": kind, "version": version, "generated": now().isoformat(timespec="seconds")}


#: How much encoded JSON is gathered before a write: the encoder yields every token
#: apart, and a write per token costs more than the encoding.
_CHUNK = 1 << 16


def json_chunks(doc: Any) -> Iterator[str]:
    """``doc`` as indented JSON (what ``json.dumps(doc, indent=2)`` gives, and a newline)
    in pieces of about 64 KiB as the encoder produces them (``JSONEncoder.iterencode``):
    the document is written as it is encoded and never exists as one string (a doctor
    report of 10,000 servers was one string of tens of MB)."""
    pending: list[str] = []
    size = 0
    for piece in json.JSONEncoder(indent=2).iterencode(doc):
        pending.append(piece)
        size += len(piece)
        if size >= _CHUNK:
            yield "".join(pending)
            pending.clear()
            size = 0
    pending.append("\n")
    yield "".join(pending)


def print_json(doc: Any) -> None:
    """``doc`` to stdout as indented JSON, streamed (:func:`json_chunks`)."""
    for chunk in json_chunks(doc):
        sys.stdout.write(chunk)


class BarProgress:
    """A progress display on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self._enabled = sys.stderr.isatty()
        self._progress: Progress | None = None
        self._task: Any = None

    def begin(self, pass_name: str, description: str) -> None:
        if not self._enabled:
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,} objects"),
            TimeElapsedColumn(),
            console=stderr_console(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=None)

    def advance(self, count: int) -> None:
        if self._progress is not None and count:
            self._progress.advance(self._task, count)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class CountProgress:
    """A bar with a known total (lab loading), on stderr when it is a terminal."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._progress: Progress | None = None
        self._task: Any = None
        self._enabled = sys.stderr.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            # Plain lines for logs: at the start, then each tenth.
            step = max(total // 10, 1)
            if done == total or done // step != self._last // step:
                sys.stderr.write(f"  {self._description}: {done}/{total}\n")
            self._last = done
            return
        if self._progress is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=stderr_console(),
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=total)
        self._progress.update(self._task, completed=done)
        if done >= total:
            self._progress.stop()
            self._progress = None


def display_path(path: str | Path) -> str:
    """``path`` relative to the current directory when it lies below it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


def warn_absent_servers(expected: Iterable[str], present: Iterable[str]) -> None:
    """Warn on stderr about servers the config names (doctor.servers, doctor.expected)
    that the store holds no Location for: the pool leaves them out."""
    have = {name.lower() for name in present}
    missing = sorted({n for n in expected if n.lower() not in have}, key=str.lower)
    if missing:
        stderr_console().print(
            f"[yellow]warning:[/] the config names {len(missing)} server"
            f"{'' if len(missing) == 1 else 's'} (doctor.servers, doctor.expected) that the "
            f"store holds no Location for: {', '.join(missing)}; the pool leaves "
            f"{'it' if len(missing) == 1 else 'them'} out. Run `poolsync doctor` to see why",
            highlight=False,
        )


F = TypeVar("F", bound=Callable[..., Any])


def _octal_mode(ctx: Any, param: Any, value: str | None) -> int | None:
    import click

    if value is None:
        return None
    if not re.fullmatch(r"0?[0-7]{3}", value):
        raise click.BadParameter(f"expected an octal mode such as 600 or 640, got {value!r}")
    return int(value, 8)


def out_options(command: F) -> F:
    """``--out FILE`` (``-``: standard output), ``--follow-symlinks`` and ``--mode``."""
    import click

    command = click.option(
        "--mode",
        callback=_octal_mode,
        default=None,
        metavar="OCTAL",
        help="The mode of the file --out writes (default 600, also "
        "when it replaces a file with another mode).",
    )(command)
    command = click.option(
        "--follow-symlinks",
        is_flag=True,
        help="Write through a symbolic link given as --out (refused otherwise).",
    )(command)
    return click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write to FILE (atomically, a regular file only) "
        "instead of standard output (also: -).",
    )(command)


def emit(
    text: str | Iterable[str], out: Path | None, *, follow_symlinks: bool, mode: int | None
) -> bool:
    """``text`` (a string, or pieces written as they come) to ``out``
    (:func:`write_atomic`), or to stdout for none or ``-``; whether a file was
    written."""
    if out is None or str(out) == "-":
        for piece in [text] if isinstance(text, str) else text:
            sys.stdout.write(piece)
        return False
    write_atomic(out, text, mode=PRIVATE if mode is None else mode, follow_symlinks=follow_symlinks)
    return True
