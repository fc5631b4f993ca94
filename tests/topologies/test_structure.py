"""The shape of the topologies package, read from its source with ``ast``.

* The import graph between its modules is acyclic.
* Modules import each other at module level only (no import deferred into a function to dodge
  a cycle).
* No module imports another module's ``_private`` name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = "topologies"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def intra_imports(name: str, tree: ast.Module) -> list[tuple[str, list[str], bool, int]]:
    """(module imported, names imported from it, at module level?, line) for every import of
    a module of the package in ``tree``."""
    is_package = MODULES[name].name == "__init__.py"
    top = set(tree.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    out.append((alias.name, [], node in top, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            names = [alias.name for alias in node.names]
            # ``from topologies import spec`` imports the submodule topologies.spec
            submodules = [n for n in names if f"{target}.{n}" in MODULES]
            for sub in submodules:
                out.append((f"{target}.{sub}", [], node in top, node.lineno))
            rest = [n for n in names if n not in submodules]
            if rest or not submodules:
                out.append((target, rest, node in top, node.lineno))
    return out


def import_table() -> dict[str, list[tuple[str, list[str], bool, int]]]:
    return {name: intra_imports(name, ast.parse(path.read_text(), filename=str(path)))
            for name, path in MODULES.items()}


Row = tuple[str, list[str], bool, int]


def cycles(table: dict[str, list[Row]]) -> list[list[str]]:
    """The import cycles between the modules of ``table``."""
    graph = nx.DiGraph()
    graph.add_nodes_from(table)
    graph.add_edges_from((name, target) for name, rows in table.items()
                         for target, _, _, _ in rows if target != name)
    return list(nx.simple_cycles(graph))


def deferred(rows: list[Row]) -> list[tuple[str, int]]:
    """Imports of the package's modules that are not at module level."""
    return [(target, line) for target, _, top, line in rows if not top]


def private(name: str, rows: list[Row]) -> list[tuple[str, str, int]]:
    """``_private`` names (or ``_private`` modules) ``name`` imports from another module."""
    out = [(target, n, line) for target, names, _, line in rows for n in names
           if n.startswith("_") and target != name]
    out += [(target, "", line) for target, _, _, line in rows
            if any(part.startswith("_") and part != "__init__" for part in target.split("."))]
    return out


TABLE = import_table()


def test_found_the_modules() -> None:
    # a broken ROOT would make every other test here pass on nothing
    assert {"topologies", "topologies.registry", "topologies.spec", "topologies.graphml",
            "topologies.spec_common", "topologies.generic"} <= set(MODULES)
    assert TABLE["topologies.graphml"], "graphml imports spec_common"


def test_intra_package_imports_are_acyclic() -> None:
    found = cycles(TABLE)
    assert not found, f"import cycles in {PACKAGE}: {found}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_deferred_intra_package_imports(name: str) -> None:
    found = deferred(TABLE[name])
    assert not found, f"{name} imports {found} inside a function or block"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_across_modules(name: str) -> None:
    found = private(name, TABLE[name])
    assert not found, f"{name} imports private names {found}"


def test_the_checks_catch_what_they_forbid() -> None:
    # the old spec.py / graphml.py pair: graphml imported spec's private helpers, spec imported
    # graphml inside a function to dodge the cycle
    graphml = intra_imports("topologies.graphml",
                            ast.parse("from topologies.spec import _plain, SpecError\n"))
    spec = intra_imports("topologies.spec",
                         ast.parse("def load():\n    from topologies.graphml import parse\n"))
    assert private("topologies.graphml", graphml) == [("topologies.spec", "_plain", 1)]
    assert deferred(spec) == [("topologies.graphml", 2)]
    assert cycles({"topologies.spec": spec, "topologies.graphml": graphml})
    assert not cycles({"topologies.spec": [], "topologies.graphml": graphml})
    relative = ast.parse("from .common import check_int\nfrom . import spec\n")
    assert [r[0] for r in intra_imports("topologies.clos", relative)] == [
        "topologies.common", "topologies.spec"]
