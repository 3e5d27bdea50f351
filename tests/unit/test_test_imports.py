"""The suite's own import rule: what tests share lives in tests/support/.

No test module imports another test module or ``tests/conftest.py`` (its fixtures reach
tests through pytest, not imports): a helper two tests need moves to tests/support/, so
running one module never depends on another's import side effects or its fixtures.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = "tests.support"


def module_name(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, *, package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, module) for every module ``source`` imports, at any depth (imports inside
    functions included); ``from P import name`` yields ``P.name`` as well as ``P``, since
    ``name`` may be a module. ``module`` (a package when ``package``) resolves relative
    imports."""
    here = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def outside_support(target: str) -> bool:
    """A module of the ``tests`` package that is not tests.support (or in it)."""
    in_tests = target == "tests" or target.startswith("tests.")
    return (
        in_tests
        and target != "tests"
        and not (target == SUPPORT or target.startswith(SUPPORT + "."))
    )


def violations() -> list[str]:
    """One line per offending import statement: where, and the module it reaches."""
    found: dict[str, str] = {}
    for path in sorted(TESTS.rglob("*.py")):
        name = module_name(path)
        for line, target in imported(path.read_text(), name, package=path.name == "__init__.py"):
            where = f"{path.relative_to(TESTS.parent)}:{line}"
            if outside_support(target) and where not in found:
                found[where] = target
    return [f"{where} imports {target}" for where, target in found.items()]


def test_tests_import_only_tests_support() -> None:
    assert violations() == [], "move what is shared to tests/support/ and import it from there"


def test_the_rule_sees_every_form_of_import() -> None:
    source = "\n".join(
        [
            "import tests.unit.test_engine",
            "from tests.conftest import TOPOLOGIES",
            "from tests.unit import test_engine",
            "from . import test_graph",
            "from .test_capacity import worked_example",
            "def f():",
            "    from tests.helpers import run",
            "from tests.support.fakes import write_config",
            "from tests.support import lab",
            "from tests import support",
            "import poolsync.cli",
        ]
    )
    bad = sorted({t for _, t in imported(source, "tests.unit.test_x") if outside_support(t)})
    assert bad == [
        "tests.conftest",
        "tests.conftest.TOPOLOGIES",
        "tests.helpers",
        "tests.helpers.run",
        "tests.unit",
        "tests.unit.test_capacity",
        "tests.unit.test_capacity.worked_example",
        "tests.unit.test_engine",
        "tests.unit.test_graph",
    ]


def test_the_shared_helpers_are_in_support() -> None:
    """Outside tests/support only test modules, conftest and package markers remain."""
    strays = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("*.py")
        if SUPPORT.split(".")[1] not in p.relative_to(TESTS).parts[:1]
        and not p.name.startswith("test_")
        and p.name not in {"conftest.py", "__init__.py"}
    ]
    assert strays == []
