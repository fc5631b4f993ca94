"""The shape of the measure package, read from its source with ``ast``.

* The import graph between its modules is acyclic, deferred imports included.
* Its modules import each other at module level only: no import hidden in a function to dodge
  a cycle, and no module ``__getattr__`` that imports on first use.
* No module imports another module's ``_private`` name (of this project's packages).
* mpi4py and torch are imported only inside functions (the model works without them).
* The probes' public entry points take no fault-injection parameter (tests inject faults
  through the test-only environment variable ``measure.probe_core.CORRUPT_ENV``).

Each checker is first shown to catch a violation in a small made-up source, so that none of
these tests can pass by finding nothing to check.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "measure"
PROJECT = ("fabric", "collectives", "topologies", "measure", "studies", "reports")
OPTIONAL = ("mpi4py", "torch")
PROBE_ENTRY_POINTS = ("run_mpi_probe", "run_torch_probe")
FAULT_WORDS = ("corrupt", "fault", "inject", "kill", "crash")


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # absolute dotted module imported (for ``from a import b``: ``a``)
    names: tuple[str, ...]  # names taken by ``from a import ...``
    top_level: bool  # at module level
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_sources() -> dict[str, str]:
    """Dotted name -> source of every module of the measure package."""
    return {module_name(p): p.read_text(encoding="utf-8")
            for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def imports(name: str, source: str, *, is_package: bool = False) -> list[Import]:
    """Every import of ``source``, relative ones resolved against module ``name`` (a package's
    ``__init__`` when ``is_package``)."""
    tree = ast.parse(source)
    top = set(tree.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(a.name, (), node in top, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([module] if module else []))
            out.append(Import(module, tuple(a.name for a in node.names), node in top,
                              node.lineno))
    return out


def _in_package(module: str, package: str = PACKAGE) -> bool:
    return module == package or module.startswith(package + ".")


def all_imports(sources: dict[str, str]) -> dict[str, list[Import]]:
    """Each module's imports; a module with submodules in ``sources`` is a package."""
    return {name: imports(name, source,
                          is_package=any(other.startswith(name + ".") for other in sources))
            for name, source in sources.items()}


def import_graph(sources: dict[str, str]) -> nx.DiGraph:
    """Module -> module it imports, between the modules of ``sources`` (deferred ones too)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(sources)
    for name, found in all_imports(sources).items():
        for imp in found:
            targets = [imp.module] + [f"{imp.module}.{n}" for n in imp.names]
            graph.add_edges_from((name, t) for t in targets if t in sources and t != name)
    return graph


def import_cycles(sources: dict[str, str]) -> list[list[str]]:
    return sorted(sorted(c) for c in nx.simple_cycles(import_graph(sources)))


def deferred_imports(sources: dict[str, str]) -> list[str]:
    """Imports of the package's own modules that run inside a function, not at module level."""
    return [f"{name}:{imp.line} imports {imp.module}"
            for name, found in all_imports(sources).items()
            for imp in found if _in_package(imp.module) and not imp.top_level]


def module_getattr(sources: dict[str, str]) -> list[str]:
    """Modules that define a module-level ``__getattr__`` (lazy re-exports)."""
    return [name for name, source in sources.items()
            if any(isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
                   for node in ast.parse(source).body)]


def private_imports(sources: dict[str, str]) -> list[str]:
    """``_private`` names (or modules) of the project imported from another module."""
    bad = []
    for name, found in all_imports(sources).items():
        for imp in found:
            if not any(_in_package(imp.module, p) for p in PROJECT) or imp.module == name:
                continue
            hidden = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
            parts = [p for p in imp.module.split(".") if p.startswith("_") and p != "__main__"]
            if hidden or parts:
                bad.append(f"{name}:{imp.line} imports {', '.join(hidden + parts)} "
                           f"from {imp.module}")
    return bad


def optional_at_module_level(sources: dict[str, str]) -> list[str]:
    """mpi4py or torch imported when a module is imported, not inside a function."""
    return [f"{name}:{imp.line} imports {imp.module}"
            for name, found in all_imports(sources).items()
            for imp in found if imp.module.split(".")[0] in OPTIONAL and imp.top_level]


def fault_parameters(sources: dict[str, str]) -> list[str]:
    """Parameters of the probes' entry points whose names say they inject faults."""
    bad = []
    for name, source in sources.items():
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name in PROBE_ENTRY_POINTS:
                args = node.args
                for arg in args.posonlyargs + args.args + args.kwonlyargs:
                    if any(word in arg.arg.lower() for word in FAULT_WORDS):
                        bad.append(f"{name}.{node.name}({arg.arg})")
    return bad


# -- each checker catches what it is for -----------------------------------------------------
FAKE = {
    "measure.a": "from measure.b import x\nfrom collectives.model import _private\n",
    "measure.b": "import torch\n\ndef f():\n    from measure.a import y\n    import mpi4py\n",
    "measure.c": "def __getattr__(name):\n    return name\n",
    "measure.d": "def run_mpi_probe(comm, *, sizes, corrupt_rank=None):\n    pass\n",
    "measure.parsers": "from .common import split\n",
    "measure.parsers.common": "from ._tables import ROWS\n",
}


def test_checkers_catch_violations() -> None:
    assert import_cycles(FAKE) == [["measure.a", "measure.b"]]
    assert deferred_imports(FAKE) == ["measure.b:4 imports measure.a"]
    assert module_getattr(FAKE) == ["measure.c"]
    assert private_imports(FAKE) == [
        "measure.a:2 imports _private from collectives.model",
        "measure.parsers.common:1 imports _tables from measure.parsers._tables"]
    assert optional_at_module_level(FAKE) == ["measure.b:1 imports torch"]
    assert fault_parameters(FAKE) == ["measure.d.run_mpi_probe(corrupt_rank)"]
    # a relative import of a package's own submodule is resolved against the package
    assert ("measure.parsers", "measure.parsers.common") in import_graph(FAKE).edges


def test_the_checkers_see_the_whole_package() -> None:
    sources = package_sources()
    for expected in ("measure.calibrate", "measure.calibration", "measure.holdout",
                     "measure.fit_data", "measure.fit_ideal", "measure.calibrate_nccl",
                     "measure.validate", "measure.parsers", "measure.parsers.common"):
        assert expected in sources
    graph = import_graph(sources)
    # the front door reaches both flavors' fits, and validation both flavors' times
    assert {"measure.fit_ideal", "measure.calibrate_nccl"} <= set(graph["measure.calibrate"])
    # validation prices points through predict_records (the same path as predict)
    assert "measure.predict_records" in graph["measure.validate"]
    assert "measure.calibrate_nccl" in graph["measure.predict_records"]
    assert fault_parameters({k: v for k, v in sources.items() if k.endswith("_probe")}) == []
    assert {"measure.mpi_probe", "measure.torch_probe"} <= set(sources)


# -- the package -----------------------------------------------------------------------------
def test_no_import_cycles() -> None:
    assert import_cycles(package_sources()) == []


def test_modules_import_each_other_at_module_level() -> None:
    assert deferred_imports(package_sources()) == []


def test_no_module_getattr() -> None:
    assert module_getattr(package_sources()) == []


def test_no_private_names_imported() -> None:
    assert private_imports(package_sources()) == []


def test_mpi4py_and_torch_only_inside_functions() -> None:
    assert optional_at_module_level(package_sources()) == []


def test_probe_entry_points_take_no_fault_injection() -> None:
    assert fault_parameters(package_sources()) == []
