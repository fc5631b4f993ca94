"""Code, data, docs and tests cite public sources, never the team's internal research notes.

Users do not have the notes the figures were first collected in, so a citation such as
"capex §3.5" or a path to a notes file tells them nothing; every figure must name its public
source (paper, datasheet, standard, repository file) instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {
    ".py", ".toml", ".md", ".json", ".yaml", ".yml", ".txt", ".cfg", ".ini", ".html", ".csv",
}
SKIP_PARTS = {".venv", ".git"}

#: The internal notes' file names and their section-citation shorthands ("capex §3.5", "kv §4").
#: A section of a public paper ("arXiv:2412.19437, §2.1") is a public citation and passes.
INTERNAL = re.compile(
    r"shared/reference|reference/\w+\.md|topologies_capex|kv_transfer\.md|nccl_models\.md"
    r"|\bemulation\.md|\blandscape\.md|\b(?:capex|kv|nccl|emulation|landscape)\s*§",
    re.IGNORECASE,
)
#: Lines allowed to name a pattern: checks that a citation is absent (path, text in the line).
ALLOWED = {("tests/fabric/test_catalog_2026.py", 'assert "capex §" not in entry.source')}


def _repository_text_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the repository's files")
    listed = subprocess.run(
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    files = []
    for name in listed:
        path = ROOT / name
        if not name or path.suffix not in SUFFIXES or SKIP_PARTS & set(Path(name).parts):
            continue
        if path.resolve() == Path(__file__).resolve() or not path.is_file():
            continue
        files.append(path)
    return files


def offenders(paths: list[Path]) -> list[str]:
    """``path:line: text`` for every line that cites an internal note."""
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if INTERNAL.search(line):
                where = str(path.relative_to(ROOT))
                if any(where == name and text_in in line for name, text_in in ALLOWED):
                    continue
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    return found


def test_pattern_catches_internal_citations_and_passes_public_ones() -> None:
    for bad in ("(capex §3.5)", "see shared/reference/kv_transfer.md", "nccl_models.md §1.2",
                "(kv §4)", "Capex §5.2: a hop", "reference/landscape.md", "emulation.md"):
        assert INTERNAL.search(bad), bad
    for good in ("NVIDIA H100 datasheet, https://www.nvidia.com/en-us/data-center/h100/, 2023",
                 "Thakur, Rabenseifner, Gropp, IJHPCA 2005", "kv_bytes_per_token", "shared memory",
                 "DeepSeek-V3 Technical Report, arXiv:2412.19437, §2.1", "docs/kv.md"):
        assert not INTERNAL.search(good), good


def test_no_internal_note_citations() -> None:
    files = _repository_text_files()
    assert len(files) > 50, "the file listing found too few files to be the repository"
    found = offenders(files)
    assert not found, (
        f"{len(found)} line(s) cite internal notes; cite the public source (title, URL, year) "
        "instead, or say 'estimate; no public source':\n" + "\n".join(found)
    )
