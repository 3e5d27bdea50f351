"""The pooling graph (:mod:`poolsync.graph.pooling`) as DOT, SVG, GraphML and JSON.

DOT is written here rather than through pydot or pygraphviz: neither is a dependency,
and the little DOT needed is a list of quoted statements. Every id and label goes
through :func:`_id` or :func:`_text`, which escape quotes and backslashes, so names
from the directory cannot break out of a string or smuggle in label escapes (``\\N``,
``\\l``). SVG is Graphviz's own rendering of that DOT (:func:`to_svg` is the only
function here that starts a program). The JSON shape is a contract (``meta.type``
``pool-graph``, ``meta.version`` 2): keys may be added, never renamed or removed
without a version bump (2: ``cannot-see`` edges leave the GC's DC, not each viewer).

Entry points: :func:`to_dot`, :func:`to_svg`, :func:`to_graphml`, :func:`to_json`.
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

import networkx as nx

from poolsync.errors import MissingToolError, PoolsyncError

__all__ = ["JSON_TYPE", "JSON_VERSION", "to_dot", "to_graphml", "to_json", "to_svg"]

JSON_TYPE: Final = "pool-graph"
JSON_VERSION: Final = 2

MISSING_DOT: Final = (
    "graph --format svg needs Graphviz's `dot`; install it with `apt-get install graphviz`, "
    "or use --format dot and render it elsewhere"
)

_FONT: Final = "Helvetica"
_RED: Final = "#c62828"
_GREY: Final = "#8a8a8a"
_ROLE_FILL: Final = {
    "member": "#dcefdc",
    "excluded": "#ececec",
    "secondary": "#fff3c4",
    "unknown": "#ffffff",
    "missing": "#f4b4b4",
}
#: How each drawn edge kind looks; ``in-site`` is not drawn (the site clusters show it).
_EDGE_STYLE: Final[Mapping[str, Mapping[str, str]]] = {
    "member": {"color": "#2e7d32", "penwidth": "1.2"},
    "excluded": {"color": _GREY, "fontcolor": "#6b6b6b", "style": "dashed"},
    "failover": {
        "color": "#9a7b00",
        "fontcolor": "#9a7b00",
        "style": "dotted",
        "penwidth": "1.5",
        "label": "failover",
        "constraint": "false",
    },
    "replicates": {"color": "#1f4e99", "arrowsize": "0.7", "constraint": "false"},
    "monitors-dc": {
        "color": "#a0a0a0",
        "fontcolor": _GREY,
        "arrowsize": "0.5",
        "penwidth": "0.8",
        "style": "dashed",
        "constraint": "false",
    },
    "monitors-gc": {
        "color": "#a0a0a0",
        "fontcolor": _GREY,
        "arrowsize": "0.5",
        "penwidth": "0.8",
        "style": "dashed",
        "constraint": "false",
    },
    "no-path": {
        "color": _RED,
        "fontcolor": _RED,
        "style": "dashed,bold",
        "penwidth": "2",
        "label": "no path",
        "constraint": "false",
    },
    "cannot-see": {
        "color": _RED,
        "fontcolor": _RED,
        "style": "dashed,bold",
        "penwidth": "2",
        "constraint": "false",
    },
}
_BROKEN_REPLICATION: Final = {"color": _RED, "fontcolor": _RED, "style": "dashed"}


def to_dot(graph: nx.MultiDiGraph, *, title: str = "") -> str:
    """The graph as Graphviz DOT: one cluster per site holding its DCs and the Unity
    servers whose DC monitor (else GC monitor) is in that site, the pool outside.
    Missing links (``no-path``, ``cannot-see``, unusable connections) are red.

    Left to right: DCs, then the servers that use them, then the pool. Which DC and GC
    a server uses is written in its label; a monitor edge is drawn only when it leaves
    the server's site, since a line per monitor buried the picture in grey.
    """
    layout = _Layout(graph)
    lines = [
        'digraph "pool-graph" {',
        "  graph [rankdir=LR, newrank=true, nodesep=0.3, ranksep=1.1, fontname="
        f"{_id(_FONT)}, labelloc=t, fontsize=16, label={_text(title)}];",
        f"  node [fontname={_id(_FONT)}, fontsize=10, style=filled, penwidth=1];",
        f"  edge [fontname={_id(_FONT)}, fontsize=8];",
    ]
    sites = sorted(n for n, a in graph.nodes(data=True) if a["kind"] == "site")
    for site in sites:
        members = sorted(n for n, s in layout.placed.items() if s == site)
        name = str(graph.nodes[site]["name"])
        lines.append(f"  subgraph {_id('cluster_site_' + name)} {{")
        lines.append(
            f'    graph [label={_text(name)}, style="rounded,filled", '
            'fillcolor="#f5f8fc", color="#9fb3c8", fontsize=12];'
        )
        if not members:  # Graphviz drops an empty cluster; keep the site visible
            lines.append(f'    {_id(site)} [label={_text("(no DC)")}, shape=plaintext, style=""];')
        lines += [f"    {_node(graph, node, layout)}" for node in members]
        lines.append("  }")
    outside = sorted(
        n for n, a in graph.nodes(data=True) if a["kind"] != "site" and n not in layout.placed
    )
    lines += [f"  {_node(graph, node, layout)}" for node in outside]
    lines += [f"  {edge}" for edge in _edges(graph, layout)]
    lines += _legend()
    # Invisible, for the layout only: each DC left of the servers that use it.
    lines += [
        f"  {_id(dc)} -> {_id(server)} [style=invis, weight=2];"
        for server, dc in sorted(layout.anchor.items())
    ]
    lines.append("}")
    return "\n".join(lines) + "\n"


class _Layout:
    """Where each node goes: the site clusters, and which DC and GC each server uses."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.site_of: dict[str, str] = {}  # DC node -> site node
        self.dc: dict[str, str] = {}  # server node -> DC node of its DC monitor
        self.gc: dict[str, tuple[str, bool]] = {}  # server node -> (GC's DC node, configured)
        for source, target, data in graph.edges(data=True):
            kind = data["kind"]
            if kind == "in-site":
                self.site_of.setdefault(source, target)
            elif kind == "monitors-dc":
                self.dc[source] = target
            elif kind == "monitors-gc":
                self.gc[source] = (target, bool(data.get("configured", True)))
        self.placed: dict[str, str] = dict(self.site_of)  # node -> site node
        self.anchor: dict[str, str] = {}  # server node -> the DC that places it
        for server in sorted(set(self.dc) | set(self.gc)):
            for dc in (self.dc.get(server), self.gc.get(server, ("", False))[0]):
                if dc and dc in self.site_of:
                    self.placed[server] = self.site_of[dc]
                    self.anchor[server] = dc
                    break

    def crosses_sites(self, server: str, dc: str) -> bool:
        """Whether ``dc`` lies outside the site cluster ``server`` is drawn in."""
        return self.placed.get(server) != self.site_of.get(dc)


def _node(graph: nx.MultiDiGraph, node: str, layout: _Layout) -> str:
    attrs = graph.nodes[node]
    kind = attrs["kind"]
    if kind == "dc":
        style = _dc_style(attrs)
    elif kind == "server":
        style = _server_style(attrs, _monitor_line(graph, node, layout))
    elif kind == "pool":
        style = _pool_style(attrs)
    else:
        style = {"label": str(attrs.get("label", node)), "shape": "plaintext"}
    return f"{_id(node)} [{_attrs(style)}];"


def _monitor_line(graph: nx.MultiDiGraph, server: str, layout: _Layout) -> str:
    dc = layout.dc.get(server)
    gc, configured = layout.gc.get(server, (None, True))
    dc_name = str(graph.nodes[dc]["name"]) if dc else ""
    gc_name = str(graph.nodes[gc]["name"]) if gc else ""
    if dc and dc == gc:
        return f"DC+GC {dc_name}"
    parts = [f"DC {dc_name}"] if dc else []
    if gc:
        parts.append(f"GC {gc_name}" + ("" if configured else " (default)"))
    return ", ".join(parts) or "no monitor"


def _dc_style(attrs: Mapping[str, Any]) -> dict[str, str]:
    lines = [str(attrs["name"])]
    lines += [
        flag
        for flag, on in (
            ("GC", attrs["gc"]),
            ("inbound off", attrs["inbound_disabled"]),
            ("outbound off", attrs["outbound_disabled"]),
        )
        if on
    ]
    broken = attrs["inbound_disabled"] or attrs["outbound_disabled"]
    style = {
        "label": "\n".join(lines),
        "shape": "box3d",
        "fillcolor": "#cfe0f5",
        "color": _RED if broken else "#1f4e99",
        "tooltip": str(attrs["dns_host"] or attrs["name"]),
    }
    if broken:
        style |= {"penwidth": "2", "fontcolor": _RED}
    return style


def _server_style(attrs: Mapping[str, Any], monitors: str) -> dict[str, str]:
    role = str(attrs["role"])
    lines = [str(attrs["name"])]
    if role == "member":
        lines.append(f"vm {attrs['used_vm']}/{attrs['licensed_vm']}")
        if attrs["borrowed_vm"]:
            lines[-1] += f" (borrows {attrs['borrowed_vm']})"
        if attrs["stale"]:
            lines[-1] += f", stale: {attrs['stale']}"
    elif role == "secondary":
        primary = attrs["failover_of"]
        lines.append(f"secondary of {primary}" if primary else "failover secondary")
    elif role == "excluded":
        lines.append(f"excluded: {attrs['reason']}, vm licensed {attrs['licensed_vm']}")
    elif role == "missing":
        lines.append(f"MISSING: {attrs['reason']}")
    else:
        lines.append("not in the pool report")
    lines.append(monitors)
    style = {
        "label": "\n".join(lines),
        "shape": "box",
        "style": "rounded,filled",
        "fillcolor": _ROLE_FILL.get(role, "#ffffff"),
        "color": "#e65100" if attrs["stale"] else "#555555",
        "tooltip": str(attrs["detail"] or attrs["guid"] or attrs["name"]),
    }
    if attrs["stale"]:
        style["penwidth"] = "2"
    if role in ("excluded", "unknown"):
        style["fontcolor"] = "#555555"
    if role == "missing":
        style |= {"color": _RED, "fontcolor": _RED, "penwidth": "2", "style": "dashed,filled"}
    return style


def _pool_style(attrs: Mapping[str, Any]) -> dict[str, str]:
    count = int(attrs["members"])
    lines = [f"pool {attrs['name']}", f"{count} member{'' if count == 1 else 's'}"]
    lines += [
        f"{c} {attrs[f'used_{c}']}/{attrs[f'licensed_{c}']}"
        for c in ("vm", "um", "inbox")
        if attrs[f"licensed_{c}"] or attrs[f"used_{c}"]
    ]
    if not attrs["compliant"]:
        lines.append("OUT OF COMPLIANCE")
    return {
        "label": "\n".join(lines),
        "shape": "doubleoctagon",
        "fillcolor": "#dcefdc" if attrs["compliant"] else "#f4b4b4",
        "color": "#2e7d32" if attrs["compliant"] else _RED,
        "penwidth": "1.5",
        "fontsize": "12",
    }


def _edges(graph: nx.MultiDiGraph, layout: _Layout) -> Iterator[str]:
    for source, target, key, data in sorted(
        graph.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2]))
    ):
        kind = data["kind"]
        if kind not in _EDGE_STYLE:
            continue
        style = dict(_EDGE_STYLE[kind])
        if kind == "excluded":
            style["label"] = str(data.get("reason", ""))
            style["tooltip"] = str(data.get("detail", ""))
        elif kind == "replicates":
            if data["usable"] and _two_way(graph, source, target):
                if source > target:
                    continue  # drawn once, from the other end, with two heads
                style["dir"] = "both"
            if not data["usable"]:
                style |= _BROKEN_REPLICATION
                label = "disabled" if not data["enabled"] else "unusable"
                if graph.has_edge(source, target, key="no-path"):
                    # One red line saying both, not two on top of each other.
                    style |= _EDGE_STYLE["no-path"]
                    label += ", no path"
                style["label"] = label
            style["tooltip"] = str(data.get("dn") or key)
        elif kind == "no-path" and any(
            d["kind"] == "replicates" and not d["usable"]
            for d in graph.get_edge_data(source, target).values()
        ):
            continue  # drawn with the broken connection above
        elif kind == "cannot-see":
            # No label on the line (on a busy forest they pile up on each other and on
            # the site titles): the legend says what a red bold dashed arrow means, the
            # tooltip who cannot see what.
            style["tooltip"] = _blind_spot(graph, source, target, data)
        elif kind in ("monitors-dc", "monitors-gc"):
            if not layout.crosses_sites(source, target):
                continue  # the server's label names it
            both = graph.has_edge(source, target, key="monitors-dc") and graph.has_edge(
                source, target, key="monitors-gc"
            )
            if both and kind == "monitors-gc":
                continue  # drawn once, as the "DC+GC" edge
            label = "DC+GC" if both else "DC" if kind == "monitors-dc" else "GC"
            if kind == "monitors-gc" and not data.get("configured", True):
                label += " (default)"
            style["label"] = label
        if style.get("constraint") == "false" and "label" in style:
            # Graphviz 2.43 (Debian 12) crashes laying out a labelled edge that does
            # not constrain the ranks between clusters; an external label is drawn
            # the same way next to the edge and does not take part in ranking.
            style["xlabel"] = style.pop("label")
        yield f"{_id(source)} -> {_id(target)} [{_attrs(style)}];"


def _blind_spot(graph: nx.MultiDiGraph, source: str, target: str, data: Mapping[str, Any]) -> str:
    """A ``cannot-see`` edge in words: from a GC's DC (every server monitoring it), from
    the pool (every member), or from one server."""
    lacked = graph.nodes[target]["name"]
    count = int(data.get("viewers", 0))
    servers = f"{count} server{'' if count == 1 else 's'}"
    kind = graph.nodes[source]["kind"]
    if kind == "dc":
        return (
            f"{graph.nodes[source]['name']}'s GC lacks {lacked}: {servers} monitoring "
            "it cannot see it"
        )
    if kind == "pool":
        return f"no pool member sees {lacked} ({servers})"
    return f"{graph.nodes[source]['name']} cannot see {lacked}"


def _two_way(graph: nx.MultiDiGraph, source: str, target: str) -> bool:
    """Whether usable connections replicate both ways between two DCs."""

    def usable(a: str, b: str) -> bool:
        return any(
            d["kind"] == "replicates" and d["usable"]
            for d in (graph.get_edge_data(a, b) or {}).values()
        )

    return usable(source, target) and usable(target, source)


#: The legend's rows: (swatch as an HTML table cell, meaning).
_LEGEND_NODES: Final = (
    (f'<td bgcolor="{_ROLE_FILL["member"]}" border="1">server</td>', "pool member"),
    (
        f'<td bgcolor="{_ROLE_FILL["secondary"]}" border="1">server</td>',
        "failover secondary (counted with its primary)",
    ),
    (
        f'<td bgcolor="{_ROLE_FILL["excluded"]}" border="1">server</td>',
        "excluded (reason on the arrow)",
    ),
    (
        f'<td bgcolor="{_ROLE_FILL["missing"]}" border="1"><font color="{_RED}">server</font></td>',
        "expected, but no DC holds its Location",
    ),
    (
        '<td bgcolor="#cfe0f5" border="1">DC</td>',
        "domain controller (red: replication switched off)",
    ),
)
_LEGEND_EDGES: Final = (
    ("#1f4e99", "&#8212;&#8212;&gt;", "replication connection (&lt;&#8212;&gt;: both ways)"),
    (_RED, "- - -&gt;", "disabled or unusable connection, or no path between DCs"),
    (
        _RED,
        "&#9473; &#9473;&gt;",
        "cannot see: a GC lacks that server (every server monitoring it cannot see it)",
    ),
    ("#2e7d32", "&#8212;&#8212;&gt;", "member of the pool"),
    ("#9a7b00", "&#183;&#183;&#183;&gt;", "failover pair"),
    ("#a0a0a0", "- - -&gt;", "monitor in another site (DC, GC)"),
)


def _legend() -> list[str]:
    """A key to the colours and lines, below the drawing (an HTML-like label)."""
    rows = [f'<tr>{cell}<td align="left">{meaning}</td></tr>' for cell, meaning in _LEGEND_NODES]
    rows += [
        f'<tr><td><font color="{colour}">{line}</font></td><td align="left">{meaning}</td></tr>'
        for colour, line, meaning in _LEGEND_EDGES
    ]
    table = (
        '<table border="0" cellborder="0" cellspacing="2" cellpadding="2">'
        '<tr><td colspan="2" align="left"><b>Legend</b></td></tr>' + "".join(rows) + "</table>"
    )
    return [
        '  subgraph "cluster_legend" {',
        '    graph [label="", style="rounded", color="#c0c0c0"];',
        f'    "legend" [shape=plaintext, style="", fontsize=9, label=<{table}>];',
        "  }",
    ]


def _attrs(style: Mapping[str, str]) -> str:
    # Labels and tooltips are escStrings (\N, \l ... mean something); values of every
    # other attribute here are fixed strings of this module, quoted all the same.
    return ", ".join(
        f"{name}={_text(value) if name in ('label', 'xlabel', 'tooltip') else _id(value)}"
        for name, value in style.items()
    )


def _id(text: str) -> str:
    """``text`` as a quoted DOT id. Injective, so two node ids never merge: backslashes
    are doubled and control characters written as ``\\uXXXX`` with a single one."""
    out = ['"']
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _text(text: str) -> str:
    """``text`` as a quoted DOT label: newlines break the line, a backslash shows as
    one (never starts a label escape), other control characters show as U+FFFD."""
    out = ['"']
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_XML_UNSAFE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: object) -> object:
    """Text XML 1.0 can hold: the characters it forbids (a name with a control
    character made the file unreadable) written as ``\\xNN``."""
    if not isinstance(value, str):
        return value
    return _XML_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def to_graphml(graph: nx.MultiDiGraph) -> str:
    """The graph as GraphML (networkx's writer), attributes typed, every text valid XML
    (node ids and attribute values with forbidden characters escaped)."""
    safe = nx.MultiDiGraph(**{k: _xml_safe(v) for k, v in graph.graph.items()})
    for node, attrs in graph.nodes(data=True):
        safe.add_node(_xml_safe(node), **{k: _xml_safe(v) for k, v in attrs.items()})
    for source, target, key, attrs in graph.edges(keys=True, data=True):
        safe.add_edge(
            _xml_safe(source),
            _xml_safe(target),
            key=_xml_safe(key),
            **{k: _xml_safe(v) for k, v in attrs.items()},
        )
    buffer = io.BytesIO()
    nx.write_graphml(safe, buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def to_json(graph: nx.MultiDiGraph, *, generated: datetime) -> dict[str, Any]:
    """The graph as a JSON-ready dict: ``meta``, ``graph`` (its attributes),
    ``nodes`` (``id`` and attributes, by id) and ``edges`` (``source``, ``target``,
    ``key``, ``kind`` and attributes, by source, target, key)."""
    nodes = [{"id": node, **attrs} for node, attrs in sorted(graph.nodes(data=True))]
    edges = [
        {"source": source, "target": target, "key": str(key), **data}
        for source, target, key, data in sorted(
            graph.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2]))
        )
    ]
    return {
        "meta": {"type": JSON_TYPE, "version": JSON_VERSION, "generated": generated.isoformat()},
        "graph": dict(graph.graph),
        "nodes": nodes,
        "edges": edges,
    }


def to_svg(dot_text: str, *, dot_binary: str = "dot", timeout: float = 60) -> str:
    """``dot_text`` rendered by Graphviz as SVG.

    Raises :class:`MissingToolError` when ``dot_binary`` is not installed, and
    :class:`PoolsyncError` with dot's message when it fails or takes longer than
    ``timeout`` seconds.
    """
    try:
        done = subprocess.run(
            [dot_binary, "-Tsvg"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MissingToolError(MISSING_DOT) from exc
    except subprocess.TimeoutExpired as exc:
        raise PoolsyncError(f"{dot_binary} -Tsvg did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise PoolsyncError(f"cannot run {dot_binary}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip()
        raise PoolsyncError(
            f"{dot_binary} -Tsvg failed (exit code {done.returncode}): {message or 'no message'}"
        )
    return done.stdout.decode("utf-8", errors="replace")
