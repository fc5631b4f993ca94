"""The measure tests never skip silently for want of an install (conftest.py's requirements)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), ("", False), ("false", False), ("0", False), ("No", False),
    ("true", True), ("1", True), ("yes", True),
])
def test_ci_is_read_from_the_environment(require, monkeypatch, value, expected) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    outcome = pytest.fail.Exception if expected else pytest.skip.Exception
    with pytest.raises(outcome, match="need torch"):
        require(["torch"], what="the torch tests", hint="pip install torch", skippable=True)


def test_missing_torch_under_ci_is_a_failure_that_says_why(require, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as err:
        require(["torch", "torchrun"], what="the torch tests", hint="bash scripts/test.sh",
                skippable=True)
    assert str(err.value) == ("the torch tests need torch, torchrun (bash scripts/test.sh); CI is "
                              "set, so a missing requirement is a failure, not a skip")


def test_missing_mpi_fails_even_outside_ci(require, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.fail.Exception, match="the MPI tests need mpiexec"):
        require(["mpiexec"], what="the MPI tests", hint="the [test] extra", skippable=False)


@pytest.mark.parametrize("ci", ["true", ""])
def test_nothing_missing_runs(require, monkeypatch, ci) -> None:
    monkeypatch.setenv("CI", ci)
    assert require([], what="the torch tests", hint="", skippable=True) is None


def test_no_test_skips_on_its_own() -> None:
    # every requirement goes through conftest.py's fixtures, which skip only outside CI
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == "test_requirements.py":
            continue
        text = path.read_text(encoding="utf-8")
        for word in ("importorskip", "pytest.skip", "skipif", "mark.skip"):
            assert word not in text, f"{path.name} uses {word}"


def test_torch_and_mpi_tests_check_their_requirements() -> None:
    torch_tests = (HERE / "test_torch_probe.py").read_text(encoding="utf-8")
    assert 'pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("torch_installed")]' in (
        torch_tests)
    mpi_tests = (HERE / "test_mpi_probe.py").read_text(encoding="utf-8")
    assert 'pytest.mark.mpi(pytest.mark.usefixtures("mpi_installed")(test))' in mpi_tests
    assert "mpi = pytest.mark.mpi\n" not in mpi_tests
