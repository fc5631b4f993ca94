"""The house style's static checks (STYLE.md): ruff on the repository, mypy on the typed packages.

Both tools come from the ``test`` extra and are run from the same environment as pytest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPED_PACKAGES = ("fabric", "topologies", "collectives", "measure", "studies", "reports")


def _tool(name: str) -> str:
    """Path of ``name`` installed next to this interpreter (the venv's ``bin``/``Scripts``)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed next to {sys.executable}; pip install -e '.[test]'")
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_check_is_clean() -> None:
    result = _run([_tool("ruff"), "check", "."])
    assert result.returncode == 0, f"ruff check . failed:\n{result.stdout}{result.stderr}"


def test_mypy_is_clean() -> None:
    result = _run([_tool("mypy"), "--ignore-missing-imports", *TYPED_PACKAGES])
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"
