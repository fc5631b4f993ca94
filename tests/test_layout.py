"""The layering rules of docs/architecture.md, checked on the source, with no exemptions.

``fabric/cli -> reports -> studies -> measure -> (collectives, topologies) -> fabric (core)``:
a layer imports only the layers to its right. The core imports only the standard library,
numpy, scipy and networkx. collectives and topologies do not import each other. Nothing imports
the CLI. click only in ``fabric/cli``, plotly only in ``reports``, mpi4py and torch only inside
functions of ``measure``. No import cycles between modules, and no module imports another's
``_private`` names.

Each rule is a function over parsed sources, and each is first shown to catch a violation in a
small made-up source, so that none of these tests can pass by finding nothing to check.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("fabric.cli", "reports", "studies", "measure", "collectives", "topologies", "fabric")
# what each layer may import of the project (its own layer is always allowed)
ALLOWED = {
    "fabric.cli": {"reports", "studies", "measure", "collectives", "topologies", "fabric"},
    "reports": {"studies", "measure", "collectives", "topologies", "fabric"},
    "studies": {"measure", "collectives", "topologies", "fabric"},
    "measure": {"collectives", "topologies", "fabric"},
    "collectives": {"fabric"},
    "topologies": {"fabric"},
    "fabric": set(),
}
THIRD_PARTY_CORE = {"numpy", "scipy", "networkx", "tomli"}  # tomli: TOML on Python 3.10
ONLY_IN = {"click": "fabric.cli", "plotly": "reports", "dask": "studies", "distributed": "studies"}


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name imported (for ``from a import b``: ``a``)
    names: tuple[str, ...]  # names taken by ``from a import ...`` (empty for ``import a``)
    top_level: bool  # at module level (not inside a function)
    line: int


def parse_imports(source: str) -> list[Import]:
    """Every absolute import of a source, with whether it runs at import time."""
    tree = ast.parse(source)
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(child) for child in ast.walk(node) if child is not node)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(a.name, (), id(node) not in in_function, node.lineno)
                    for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(Import(node.module, tuple(a.name for a in node.names),
                              id(node) not in in_function, node.lineno))
    return out


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (``fabric.cli.kv`` -> ``fabric.cli``)."""
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_sources() -> dict[str, str]:
    """Dotted module name -> source, for every module of the project's packages."""
    out = {}
    for package in ("fabric", "studies", "reports", "measure", "collectives", "topologies"):
        for path in sorted((ROOT / package).rglob("*.py")):
            out[module_name(path)] = path.read_text(encoding="utf-8")
    return out


def layering_violations(sources: dict[str, str]) -> list[str]:
    bad = []
    for name, source in sources.items():
        own = layer_of(name)
        for imp in parse_imports(source):
            other = layer_of(imp.module)
            if own and other and other != own and other not in ALLOWED[own]:
                bad.append(f"{name}:{imp.line} imports {imp.module} ({own} may not import {other})")
    return bad


def core_violations(sources: dict[str, str]) -> list[str]:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for name, source in sources.items():
        if layer_of(name) != "fabric":
            continue
        for imp in parse_imports(source):
            top = imp.module.split(".")[0]
            allowed = top in stdlib or top in THIRD_PARTY_CORE or layer_of(imp.module) == "fabric"
            if not allowed:
                bad.append(f"{name}:{imp.line} imports {imp.module}")
    return bad


def placement_violations(sources: dict[str, str]) -> list[str]:
    """click/plotly/dask outside their layer; mpi4py/torch outside measure's functions; the CLI
    imported from anywhere but itself."""
    bad = []
    for name, source in sources.items():
        own = layer_of(name)
        for imp in parse_imports(source):
            top = imp.module.split(".")[0]
            if top in ONLY_IN and own != ONLY_IN[top]:
                bad.append(f"{name}:{imp.line} imports {top} (only {ONLY_IN[top]} may)")
            if top in ("mpi4py", "torch") and (own != "measure" or imp.top_level):
                bad.append(f"{name}:{imp.line} imports {top} (only inside measure's functions)")
            if layer_of(imp.module) == "fabric.cli" and own != "fabric.cli":
                bad.append(f"{name}:{imp.line} imports the CLI ({imp.module})")
    return bad


def private_import_violations(sources: dict[str, str]) -> list[str]:
    bad = []
    for name, source in sources.items():
        for imp in parse_imports(source):
            if layer_of(imp.module) is None or imp.module == name:
                continue
            hidden = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
            if hidden or any(part.startswith("_") and part != "__main__"
                             for part in imp.module.split(".")):
                bad.append(f"{name}:{imp.line} imports private {', '.join(hidden) or imp.module}")
    return bad


def import_cycles(sources: dict[str, str]) -> list[list[str]]:
    """Cycles in the graph of imports between project modules (deferred imports included: a
    cycle hidden behind an import inside a function is still a cycle)."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, source in sources.items():
        for imp in parse_imports(source):
            candidates = [imp.module] + [f"{imp.module}.{n}" for n in imp.names]
            for target in candidates:
                if target in sources and target != name:
                    graph[name].add(target)
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


# -- each checker catches what it is for -------------------------------------------------------
def test_checkers_catch_violations() -> None:
    fake = {
        "fabric.graph": "import collectives.model\nimport pandas\n",
        "collectives.model": "from topologies import build\nfrom fabric.routing import _CACHE\n",
        "topologies.rail": "import click\nfrom fabric.cli.common import one_line\n",
        "measure.probe": "import torch\n\ndef f():\n    import mpi4py\n",
        "reports.a": "from reports.b import x\n",
        "reports.b": "def f():\n    from reports.a import y\n",
    }
    assert any("collectives.model" in v for v in layering_violations(fake))
    assert any("may not import topologies" in v for v in layering_violations(fake))
    assert any("pandas" in v for v in core_violations(fake))
    found = placement_violations(fake)
    assert any("imports click" in v for v in found)
    assert any("imports the CLI" in v for v in found)
    assert any("measure.probe:1 imports torch" in v for v in found)
    assert not any("mpi4py" in v for v in found)  # inside a function of measure: allowed
    assert any("_CACHE" in v for v in private_import_violations(fake))
    assert ["reports.a", "reports.b", "reports.a"] in import_cycles(fake)


def test_the_checkers_see_the_whole_project() -> None:
    sources = project_sources()
    for layer in LAYERS:
        assert any(layer_of(name) == layer for name in sources), f"no module of {layer} found"
    assert len(sources) > 60


# -- the rules, on the project ----------------------------------------------------------------
@pytest.mark.parametrize(
    "check",
    [layering_violations, core_violations, placement_violations, private_import_violations],
    ids=lambda f: f.__name__,
)
def test_rule_holds(check) -> None:
    assert check(project_sources()) == []


def test_no_import_cycles() -> None:
    assert import_cycles(project_sources()) == []


def test_no_module_getattr_tricks() -> None:
    for name, source in project_sources().items():
        tree = ast.parse(source)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                assert node.name != "__getattr__", f"{name} defines a module __getattr__"


def test_the_model_imports_without_mpi4py_torch_plotly_or_click() -> None:
    code = (
        "import sys\n"
        "for name in ('mpi4py', 'torch', 'plotly', 'click'): sys.modules[name] = None\n"
        "import topologies, collectives.predict, collectives.kv, fabric.cost, studies.compare\n"
        "G = topologies.build('rail-optimized', num_nodes=2)\n"
        "print(collectives.predict.predict(G, 'all-reduce', 1 << 20).time_s > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"


def test_the_cli_loads_a_command_without_the_others() -> None:
    code = (
        "import sys\n"
        "from fabric.cli import cli\n"
        "cli.get_command(None, 'kv')\n"
        "print(sorted(m for m in ('plotly', 'mpi4py', 'torch', 'reports.html') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
