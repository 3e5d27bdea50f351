"""``python -m bench run --subscribers N [--format table|json] [--repeat 3]
[--cache-dir DIR]``."""

from __future__ import annotations

from pathlib import Path

import click

from bench.report import print_json, print_table
from bench.runner import run_bench

DEFAULT_CACHE = Path("~/.cache/poolsync-bench")


@click.group()
def main() -> None:
    """poolsync's performance harness (needs root and Samba, like `poolsync lab`)."""


@main.command()
@click.option("--subscribers", "-n", type=click.IntRange(min=1), required=True,
              help="Subscribers in the lab (spread over 4 pooled servers).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Alternating ldapsearch / total resync rounds; figures are medians.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_CACHE, show_default=True,
              help="Where built labs are kept as tarballs (and restored while running).")
def run(subscribers: int, fmt: str, repeat: int, cache_dir: Path) -> None:
    """Build or restore a lab of N subscribers and time ldapsearch against poolsync."""
    doc = run_bench(subscribers=subscribers, repeat=repeat, cache_dir=cache_dir)
    if fmt == "json":
        print_json(doc)
    else:
        print_table(doc)


if __name__ == "__main__":
    main()
