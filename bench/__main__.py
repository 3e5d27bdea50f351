"""``python -m bench run --subscribers N [--format table|json] [--repeat 5]
[--cache-dir DIR]``, ``python -m bench scale --locations N [--dcs 1|2]`` and
``python -m bench core``."""

from __future__ import annotations

from pathlib import Path

import click

from bench.report import print_json, print_scale_table, print_table
from bench.runner import run_bench

DEFAULT_CACHE = Path("~/.cache/poolsync-bench")


@click.group()
def main() -> None:
    """poolsync's performance harness (needs root and Samba, like `poolsync lab`)."""


@main.command()
@click.option(
    "--subscribers",
    "-n",
    type=click.IntRange(min=1),
    required=True,
    help="Subscribers in the lab (spread over 4 pooled servers).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Alternating ldapsearch / total resync rounds; figures are medians.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Where built labs are kept as tarballs (and restored while running).",
)
def run(subscribers: int, fmt: str, repeat: int, cache_dir: Path) -> None:
    """Build or restore a lab of N subscribers and time ldapsearch against poolsync."""
    doc = run_bench(subscribers=subscribers, repeat=repeat, cache_dir=cache_dir)
    if fmt == "json":
        print_json(doc)
    else:
        print_table(doc)


@main.command()
@click.option(
    "--locations",
    "-n",
    type=click.IntRange(min=1),
    required=True,
    help="Location objects in the lab (pooled servers, no subscribers).",
)
@click.option(
    "--dcs",
    type=click.IntRange(min=1, max=2),
    default=1,
    show_default=True,
    help="2: every other Location is on DC2, never replicated to DC1's Global "
    "Catalog, which every server monitors (the doctor's worst case).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rounds of every command; times are medians, peak RSS the maximum.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Where built labs are kept as tarballs (and restored while running).",
)
def scale(locations: int, dcs: int, fmt: str, repeat: int, cache_dir: Path) -> None:
    """Time doctor and graph beside resync (wall time, peak RSS, output size) on a lab of
    N Locations."""
    from bench.scale import run_scale

    doc = run_scale(locations=locations, dcs=dcs, repeat=repeat, cache_dir=cache_dir)
    if fmt == "json":
        print_json(doc)
    else:
        print_scale_table(doc)


@main.command()
@click.option("--servers", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--subscribers", "-n", type=click.IntRange(min=0), default=1_000_000, show_default=True
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to build the synthetic store (default: a temp dir).",
)
def core(servers: int, subscribers: int, store_path: Path | None) -> None:
    """Time the pure core (pool report, compliance, graph) over a synthetic store."""
    import json
    import tempfile

    from bench.core import run_core

    with tempfile.TemporaryDirectory() as tmp:
        path = store_path or Path(tmp) / "scale.db"
        click.echo(json.dumps(run_core(path, servers=servers, subscribers=subscribers), indent=2))


if __name__ == "__main__":
    main()
