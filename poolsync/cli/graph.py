"""``poolsync graph``: the pooling graph of sites, DCs, replication and Unity servers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from poolsync.allocation import build_pool_report
from poolsync.cli.main import Context
from poolsync.cli.output import emit, json_chunks, now, out_options, stderr_console
from poolsync.cli.stored import require_synced
from poolsync.doctor.causes import diagnose, locations_seen
from poolsync.doctor.gather import gather
from poolsync.graph.export import to_dot, to_graphml, to_json, to_svg
from poolsync.graph.pooling import build_graph
from poolsync.store import Store


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dot", "svg", "graphml", "json"]),
    default="dot",
    show_default=True,
    help="dot (Graphviz source), svg (drawn with Graphviz's dot), graphml, json.",
)
@out_options
@click.pass_obj
def graph(
    ctx: Context, fmt: str, out: Path | None, follow_symlinks: bool, mode: int | None
) -> None:
    """Export the pooling graph: sites, DCs, replication connections, Unity servers.

    Nodes: sites, domain controllers (Global Catalog, inbound replication off),
    Unity servers with their seats per class (from the store: run `poolsync resync`
    first), and the pool. Edges: replication connections (disabled ones marked),
    the DC and GC each server's monitors use (doctor.servers in the config), pool
    membership and exclusions, failover pairs, and what is missing: DC pairs with no
    replication path and servers a viewer's GC cannot see (as `poolsync doctor`
    finds them). The svg format needs Graphviz (apt-get install graphviz).
    """
    config = ctx.config()
    with Store.open(config.store, create=False) as store:
        require_synced(store)
        homed = store.homed_seats()  # one read: a single statement is one snapshot
    profile = ctx.profile()
    inp, _notes = gather(config, profile, ctx.source(), now=now())
    # The forest as every DC and GC holds it (the store read one DC): a server the
    # doctor finds missing somewhere is drawn, with what cannot see it.
    locations = locations_seen(inp)
    report = build_pool_report(config.forest, locations, homed, roles=profile.roles())
    diagnosis = diagnose(inp)
    pooling = build_graph(
        config.forest,
        inp.topology,
        report,
        locations,
        inp.monitors,
        default_gc=inp.default_gc,
        doctor=diagnosis,
    )
    title = f"Unity license pooling in {config.forest}"
    text: str | Iterable[str]
    if fmt == "json":
        text = json_chunks(to_json(pooling, generated=now()))  # written as it is encoded
    elif fmt == "graphml":
        text = to_graphml(pooling)
    elif fmt == "svg":
        text = to_svg(to_dot(pooling, title=title))
    else:
        text = to_dot(pooling, title=title)
    if emit(text, out, follow_symlinks=follow_symlinks, mode=mode):
        stderr_console().print(
            f"graph: wrote {out} ({fmt}, {pooling.number_of_nodes()} "
            f"nodes, {pooling.number_of_edges()} edges)",
            highlight=False,
        )
