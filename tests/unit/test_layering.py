"""What may import what (docs/architecture.md, "What may import what"), read from every
module's imports (ast), so a new import that breaks a rule fails here with its line.

The rules checked so far:

* poolsync's core (every module of ``poolsync`` but ``poolsync.lab`` and the ``lab``
  command, ``poolsync.cli.lab``) never imports the lab topology package ``topology``,
  not even inside a function or for types;
* ``topology`` may import poolsync's core, never ``poolsync.lab`` or ``poolsync.cli``
  (nor ``bench`` or ``tests``): the two packages do not form a cycle;
* ``poolsync.lab`` and ``poolsync.cli.lab`` import ``topology`` only where a topology
  is loaded (inside a function) or for types (``if TYPE_CHECKING:``): importing any
  poolsync module loads no ``topology``, which the wheel does not install;
* a module of ``poolsync.cli`` never imports a command module (one that
  ``poolsync.cli.main.SUBCOMMANDS`` names) other than itself: what two commands share
  lives in a helper module (``main``, ``output``, ``export``, ``stored``, ...) or below
  the CLI.

* only ``poolsync.directory`` imports ldap3 (and gssapi and spnego, for its binds) and
  only ``poolsync.store`` sqlite3 (the two I/O edges);
* the pure core (allocation, compliance, licensing, capacity, the graph, the doctor's
  classifier, the renderers, the records and parsers, the watermark and guard rules)
  imports no edge, no network library and not the CLI;
* nothing below the CLI imports ``poolsync.cli``.

Imports by name at run time (``importlib.import_module``, as ``main`` loads its
commands) are not read here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from poolsync.cli.main import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = "topology"
LAB = ("poolsync.lab", "poolsync.cli.lab")
CLI = "poolsync.cli"
COMMANDS = frozenset(target.split(":")[0] for target in SUBCOMMANDS.values())


@dataclass(frozen=True)
class Import:
    """One imported name, as the dotted path it may reach: ``from a.b import c`` gives
    ``a.b.c`` (``c`` may be a module or a name in ``a.b``; either is under ``a.b``)."""

    module: str
    target: str
    line: int
    lazy: bool  # inside a function: runs when called, not when the module loads
    type_only: bool  # under ``if TYPE_CHECKING:``: never runs

    def __str__(self) -> str:
        where = "in a function" if self.lazy else "for types" if self.type_only else "at load"
        return f"{self.module}:{self.line} imports {self.target} ({where})"


def under(name: str, *prefixes: str) -> bool:
    """``name`` is one of ``prefixes`` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def explain(rule: str, wrong: list[str]) -> str:
    return "\n  ".join([rule, *wrong])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    module: str,
    is_package: bool,
    nodes: list[ast.stmt] | list[ast.AST],
    *,
    lazy: bool,
    type_only: bool,
) -> Iterator[Import]:
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, lazy, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno, lazy, type_only)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(module, is_package, node.body, lazy=lazy, type_only=True)
            yield from _imports(module, is_package, node.orelse, lazy=lazy, type_only=type_only)
        else:
            inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from _imports(
                module,
                is_package,
                list(ast.iter_child_nodes(node)),
                lazy=inner,
                type_only=type_only,
            )


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return list(
        _imports(
            module_name(path), path.name == "__init__.py", tree.body, lazy=False, type_only=False
        )
    )


def package_modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def all_imports(package: str) -> list[Import]:
    return [i for path in package_modules(package) for i in imports_of(path)]


def test_the_scan_sees_what_it_checks() -> None:
    """Each rule has something to hold against: the scan is not vacuous."""
    poolsync = {i.module for i in all_imports("poolsync")}
    assert {
        "poolsync.cli.graph",
        "poolsync.lab.build",
        "poolsync.graph.pooling",
        "poolsync.doctor.gather",
    } <= poolsync
    assert {"poolsync.cli.pool", "poolsync.cli.doctor", "poolsync.cli.lab"} <= COMMANDS
    topology = all_imports(TOPOLOGY)
    assert any(under(i.target, "poolsync") for i in topology)  # it does use the core
    assert any(
        under(i.target, TOPOLOGY) for i in all_imports("poolsync") if under(i.module, *LAB)
    )  # and the lab does use it


def test_the_scan_reads_lazy_type_only_and_relative_imports() -> None:
    source = """
from typing import TYPE_CHECKING
from . import sibling
from ..up import thing
import a.b
if TYPE_CHECKING:
    from topology.spec import Topology
def f():
    from topology.spec import load_topology
"""
    found = list(
        _imports("pkg.sub.mod", False, ast.parse(source).body, lazy=False, type_only=False)
    )
    assert [(i.target, i.lazy, i.type_only) for i in found] == [
        ("typing.TYPE_CHECKING", False, False),
        ("pkg.sub.sibling", False, False),
        ("pkg.up.thing", False, False),
        ("a.b", False, False),
        ("topology.spec.Topology", False, True),
        ("topology.spec.load_topology", True, False),
    ]


def test_the_core_never_imports_topology() -> None:
    wrong = [
        str(i)
        for i in all_imports("poolsync")
        if not under(i.module, *LAB) and under(i.target, TOPOLOGY)
    ]
    assert not wrong, explain("only poolsync.lab and the lab command may import topology", wrong)


def test_topology_imports_neither_the_lab_nor_the_cli() -> None:
    wrong = [
        str(i)
        for i in all_imports(TOPOLOGY)
        if under(i.target, "poolsync.lab", CLI, "bench", "tests")
    ]
    assert not wrong, explain("topology may import poolsync's core only", wrong)


def test_the_lab_imports_topology_only_where_it_loads_one() -> None:
    wrong = [
        str(i)
        for i in all_imports("poolsync")
        if under(i.target, TOPOLOGY) and not (i.lazy or i.type_only)
    ]
    assert not wrong, explain("import topology inside the function that loads a topology", wrong)


def test_no_command_module_imports_another() -> None:
    wrong = [
        str(i)
        for i in all_imports("poolsync")
        if under(i.module, CLI) and any(under(i.target, c) and c != i.module for c in COMMANDS)
    ]
    assert not wrong, explain("move what two commands share out of the command modules", wrong)


#: The edges: the only packages that may import these libraries.
EDGES = {
    "ldap3": "poolsync.directory",
    "gssapi": "poolsync.directory",  # Kerberos binds (directory.kerberos, directory.sasl)
    "spnego": "poolsync.directory",  # NTLM binds (directory.sasl)
    "sqlite3": "poolsync.store",
}
#: The pure core: no edge (directory, store, servers' network reads), no CLI, no lab.
PURE = (
    "poolsync.allocation",
    "poolsync.compliance",
    "poolsync.licensing",
    "poolsync.capacity",
    "poolsync.graph.pooling",
    "poolsync.render",
    "poolsync.records",
    "poolsync.model",
    "poolsync.dn",
    "poolsync.attachment",
    "poolsync.objectid",
    "poolsync.homes",
    "poolsync.forest",
    "poolsync.metrics",
    "poolsync.provenance",
    "poolsync.sync.watermark",
    "poolsync.sync.guard",
    "poolsync.sync.decode",
    "poolsync.doctor.causes",
    "poolsync.doctor.model",
    "poolsync.doctor.dcs",
    "poolsync.doctor.paths",
    "poolsync.doctor.fixes",
    "poolsync.doctor.replication",
    "poolsync.doctor.servers",
    "poolsync.doctor.pool",
    "poolsync.doctor.mirror",
    "poolsync.doctor.live",
)
#: What the pure core may take from an edge: the filter text builders (RFC 4515
#: escaping, no I/O) that the decoders' queries are written with.
PURE_FROM_EDGES = ("poolsync.directory.filters",)
IMPURE = (
    "poolsync.directory",
    "poolsync.store",
    "poolsync.servers.http",
    "poolsync.servers.snmp",
    "poolsync.servers.probe",
    "poolsync.lab",
    CLI,
    "ldap3",
    "gssapi",
    "spnego",
    "sqlite3",
    "httpx",
    "pysnmp",
    "subprocess",
    "socket",
)


@pytest.mark.parametrize(("library", "edge"), sorted(EDGES.items()))
def test_only_its_edge_imports_a_library(library: str, edge: str) -> None:
    wrong = [
        str(i)
        for i in all_imports("poolsync")
        if under(i.target, library) and not under(i.module, edge)
    ]
    assert not wrong, explain(f"only {edge} may import {library}", wrong)


def test_the_pure_core_reaches_no_edge() -> None:
    """The planner's neighbours, allocation, licensing, capacity, the graph, the
    doctor's classifier and the renderers work on records: no directory, no store, no
    network, no CLI (types under TYPE_CHECKING are fine)."""
    wrong = [
        str(i)
        for i in all_imports("poolsync")
        if under(i.module, *PURE)
        and not i.type_only
        and under(i.target, *IMPURE)
        and not under(i.target, *PURE_FROM_EDGES)
    ]
    assert not wrong, explain("the pure core takes data in; move the I/O to an edge", wrong)


def test_nothing_below_the_cli_imports_it() -> None:
    wrong = [
        str(i) for i in all_imports("poolsync") if not under(i.module, CLI) and under(i.target, CLI)
    ]
    assert not wrong, explain("the CLI is the top layer: nothing below imports it", wrong)


def test_the_wheel_does_not_install_topology() -> None:
    """The reason a top-level ``topology`` package is safe: it is never installed."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["poolsync"]


@pytest.mark.timeout(120)
def test_importing_every_poolsync_module_loads_no_topology() -> None:
    """What the rules above promise, at run time: in a fresh interpreter, every module
    of poolsync imported, and ``topology`` never loaded."""
    names = [module_name(p) for p in package_modules("poolsync") if p.name != "__main__.py"]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'topology' "
        "or m.startswith('topology.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
