"""The package layout rules of DESIGN.md, checked on the source (imports at any depth)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fabric", "collectives", "topologies", "measure", "reports")
CLI_LAYER = ("cli.py", "cliutil.py")  # plus fabric/cmd_*.py

# what each package may import of the others (DESIGN.md, "Dependency direction")
ALLOWED = {
    "fabric": set(),
    "topologies": {"fabric"},
    "collectives": {"fabric"},
    "measure": {"collectives", "fabric", "topologies"},
    "reports": {"collectives", "fabric", "topologies"},
}
THIRD_PARTY_CORE = {"numpy", "scipy", "networkx", "tomli"}  # tomli: TOML on Python 3.10


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name.split(".")[0], id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module.split(".")[0], id(node) in top_level))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _is_cli(path: Path) -> bool:
    return path.parent.name == "fabric" and (path.name in CLI_LAYER or path.name.startswith("cmd_"))


@pytest.mark.parametrize("package", PACKAGES)
def test_dependency_direction(package: str) -> None:
    for path in _modules(package):
        if _is_cli(path):
            continue
        for module, _ in _imports(path):
            if module in PACKAGES and module != package:
                assert module in ALLOWED[package], f"{path.relative_to(ROOT)} imports {module}"


def test_fabric_core_imports_only_stdlib_numpy_scipy_networkx() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in _modules("fabric"):
        if _is_cli(path):
            continue
        for module, _ in _imports(path):
            ok = (
                module in stdlib
                or module in THIRD_PARTY_CORE
                or module == "fabric"
                or module == "__future__"
            )
            assert ok, f"{path.relative_to(ROOT)} imports {module}"


def test_mpi4py_and_torch_only_inside_measure_functions() -> None:
    for package in PACKAGES:
        for path in _modules(package):
            for module, at_top in _imports(path):
                if module in ("mpi4py", "torch"):
                    assert package == "measure", f"{path.relative_to(ROOT)} imports {module}"
                    assert not at_top, f"{path.relative_to(ROOT)} imports {module} at module level"


def test_plotly_only_in_reports() -> None:
    for package in PACKAGES:
        for path in _modules(package):
            for module, _ in _imports(path):
                if module == "plotly":
                    assert package == "reports", f"{path.relative_to(ROOT)} imports plotly"


def test_nothing_imports_the_cli_entry_point() -> None:
    for package in PACKAGES:
        for path in _modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "fabric.cli":
                    raise AssertionError(f"{path.relative_to(ROOT)} imports fabric.cli")


def test_the_model_imports_without_mpi4py_or_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['mpi4py'] = None; sys.modules['torch'] = None\n"
        "import topologies, collectives.model, collectives.kv, fabric.cost\n"
        "G = topologies.build('rail-optimized', num_nodes=2)\n"
        "print(collectives.model.predict(G, 'all-reduce', 1 << 20).time_s > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
