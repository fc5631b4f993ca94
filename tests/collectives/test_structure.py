"""The collectives package's structure: no private imports, no import cycles, no import tricks.

Parsed with ``ast`` (nothing is imported), so a cycle hidden in a function body or behind a
module ``__getattr__`` counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "collectives"
PROJECT = ("collectives", "fabric", "topologies", "measure", "studies", "reports")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))


def _imports(tree: ast.Module, name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import anywhere in the module."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [alias.name for alias in node.names]
            # ``from collectives import nccl`` imports the module collectives.nccl
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            out += [(s, [], node.lineno) for s in subs]
            out.append((base, [n for n in names if f"{base}.{n}" not in MODULES], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        deps = {mod for mod, _, _ in _imports(_tree(name), name) if mod in MODULES}
        graph[name] = deps - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a path that returns to its start, or [] when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_package_is_found() -> None:
    assert {"collectives.model", "collectives.registry", "collectives.predict"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_from_other_project_modules(name: str) -> None:
    bad = [
        f"line {line}: {name_} from {mod}"
        for mod, names, line in _imports(_tree(name), name)
        if mod.split(".")[0] in PROJECT and mod != name
        for name_ in names
        if name_.startswith("_")
    ]
    assert not bad, f"{name} imports private names: {'; '.join(bad)}"


def test_intra_package_imports_are_acyclic() -> None:
    cycle = _cycle(_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_deferred_package_imports_and_no_module_getattr(name: str) -> None:
    tree = _tree(name)
    top = {id(node) for node in tree.body}
    deferred = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom | ast.Import)
        and id(node) not in top
        and any(mod in MODULES for mod, _, _ in _imports(ast.Module([node], []), name))
    ]
    assert not deferred, f"{name} imports collectives modules inside functions: {deferred}"
    getattrs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "__getattr__" not in getattrs, f"{name} defines a module __getattr__"


def test_the_checks_catch_what_they_look_for() -> None:
    # the helpers on known-bad input: a private import, a cycle, a deferred import
    fake = ast.parse("from collectives.patterns import _Phase\n")
    assert [n for _, names, _ in _imports(fake, "collectives.model") for n in names] == ["_Phase"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
    nested = ast.parse("def f():\n    from collectives import nccl\n")
    inner = nested.body[0].body[0]
    assert _imports(ast.Module([inner], []), "collectives.model")[0][0] == "collectives.nccl"
