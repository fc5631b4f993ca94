"""The CLI's shared pieces: error mapping of the root group, parameter types, JSON, tables, and
the fabric options (``fabric/cli/common.py``, ``fabric/cli/options.py``)."""

from __future__ import annotations

import dataclasses
import json
import math

import click
import numpy as np
import pytest
from click.testing import CliRunner

from fabric.cli.common import (
    FabricGroup,
    SizeListType,
    SizeType,
    emit_json,
    format_table,
    one_line,
    to_jsonable,
)
from fabric.cli.options import design_from_options, fabric_options
from fabric.errors import InfeasibleError
from studies.design import DesignError, FabricDesign


def _group_raising(error: BaseException) -> click.Group:
    @click.group(cls=FabricGroup)
    def root() -> None:
        pass

    @root.command("go")
    def go() -> None:
        raise error

    return root


@pytest.mark.parametrize(
    "error, code, message",
    [
        (ValueError("k must be an even integer >= 2, got 5\nmore detail"), 1,
         "Error: k must be an even integer >= 2, got 5"),
        (InfeasibleError("needs a radix of 4096"), 1, "Error: needs a radix of 4096"),
        (DesignError("clos does not take --planes"), 2, "Error: clos does not take --planes"),
        (FileNotFoundError(2, "No such file or directory", "x.yaml"), 1,
         "Error: No such file or directory 'x.yaml'"),
        (OverflowError("int too large to convert to float"), 1, "Error: a value is too large"),
        (RecursionError(), 1, "Error: an input is nested too deeply"),
    ],
    ids=["value", "infeasible", "design", "oserror", "overflow", "recursion"],
)
def test_library_errors_become_one_line_and_an_exit_code(error, code, message) -> None:
    result = CliRunner().invoke(_group_raising(error), ["go"])
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output


def test_a_programming_error_is_not_swallowed() -> None:
    result = CliRunner().invoke(_group_raising(KeyError("bug")), ["go"])
    assert isinstance(result.exception, KeyError)  # a bug must surface, not read as bad input


def test_one_line_takes_the_first_line_or_the_type() -> None:
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(ValueError("")) == "ValueError"


@pytest.mark.parametrize("text, value", [("8", 8), ("64KB", 64_000), ("1GiB", 1 << 30)])
def test_size_type(text: str, value: int) -> None:
    assert SizeType().convert(text, None, None) == value
    assert SizeType().convert(value, None, None) == value  # already converted: kept


def test_bad_size_is_a_usage_error_naming_the_option() -> None:
    @click.command()
    @click.option("--sizes", type=SizeListType())
    def cmd(sizes: list[int]) -> None:
        click.echo(sizes)

    ok = CliRunner().invoke(cmd, ["--sizes", "1KiB:4KiB"])
    assert ok.exit_code == 0 and ok.stdout.strip() == "[1024, 2048, 4096]"
    bad = CliRunner().invoke(cmd, ["--sizes", "8B:8GiB:1.0001"])
    assert bad.exit_code == 2 and "--sizes" in bad.output and "10000" in bad.output


def test_to_jsonable_makes_plain_json() -> None:
    @dataclasses.dataclass(frozen=True)
    class Row:
        time_s: float
        sizes_bytes: tuple[int, ...]

    data = to_jsonable({"row": Row(time_s=math.nan, sizes_bytes=(1, 2)), 3: np.float64(2.5),
                        "n": np.int64(7), "inf": math.inf})
    assert data == {"row": {"time_s": None, "sizes_bytes": [1, 2]}, "3": 2.5, "n": 7,
                    "inf": None}
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_emit_json_prints_one_sorted_document(capsys) -> None:
    emit_json({"b": 1, "a": [math.nan]})
    out = capsys.readouterr().out
    assert json.loads(out) == {"a": [None], "b": 1}
    assert out.index('"a"') < out.index('"b"')


def test_format_table_aligns_columns() -> None:
    text = format_table(["name", "n"], [["x", 1], ["longer", 100]])
    lines = text.splitlines()
    assert lines[0] == "name      n" and lines[1] == "─" * 11  # a rich table, plain text
    assert lines[2] == "x         1" and lines[3] == "longer  100"
    assert format_table(["a", "b"], [["1", "2"]], align="rl").splitlines()[2] == "1  2"


def test_format_table_csv_and_markdown() -> None:
    rows = [["x, y", 1], ["a|b", 100]]
    assert format_table(["name", "n"], rows, fmt="csv") == 'name,n\n"x, y",1\na|b,100'
    assert format_table(["name", "n"], rows, fmt="markdown").splitlines() == [
        "| name | n |", "|---|---:|", "| x, y | 1 |", "| a\\|b | 100 |"]


def _parse(*args: str) -> dict:
    seen: dict = {}

    @click.command()
    @fabric_options()
    def cmd(**options: object) -> None:
        seen.update(options)

    result = CliRunner().invoke(cmd, list(args))
    assert result.exit_code == 0, result.output
    return seen


def test_fabric_options_parse_into_a_design() -> None:
    options = _parse("--gpus", "16k", "--oversubscription", "3:1", "--no-scaleup")
    design = design_from_options("clos", options)
    assert design == FabricDesign(family="clos", num_gpus=16384, oversubscription=3.0,
                                  scaleup="none")
    assert design_from_options("cluster.yaml", _parse()).spec_path == "cluster.yaml"
    assert design_from_options(None, _parse("--switch", "qm9700")).switch == "qm9700"


@pytest.mark.parametrize("value", ["1:3", "0", "x", "inf"])
def test_oversubscription_below_one_or_garbage_is_refused(value: str) -> None:
    @click.command()
    @fabric_options()
    def cmd(**options: object) -> None:
        pass

    result = CliRunner().invoke(cmd, ["--oversubscription", value])
    assert result.exit_code == 2 and "oversubscription" in result.output


def test_scaleup_and_no_scaleup_conflict() -> None:
    with pytest.raises(DesignError, match="not both"):
        design_from_options("rail-only", _parse("--scaleup", "nvswitch-h100", "--no-scaleup"))


def test_the_console_script_loads_only_click_before_clicks_main() -> None:
    # the libraries load once a command is resolved, inside click's main: a Ctrl-C while they
    # load is click's Abort ("Error: aborted", exit 1), not a traceback out of the console
    # script's `from fabric.cli import main`
    import subprocess
    import sys

    probe = ("import sys, fabric.cli; "
             "print(sorted(m for m in ('networkx', 'numpy', 'scipy', 'studies', 'topologies') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_ctrl_c_while_starting_is_one_line() -> None:
    # SIGINT to the whole process group, as a terminal's Ctrl-C sends it, while the libraries
    # load or the first family builds: never a traceback
    import contextlib
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    fabric = shutil.which("fabric", path=str(Path(sys.executable).parent))
    assert fabric is not None
    run = subprocess.Popen([fabric, "compare", "--gpus", "65536"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    # wait until numpy is being loaded (its extension mapped): the command has been resolved
    # and the libraries load inside click's main, however slow this machine is right now
    maps = Path(f"/proc/{run.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        with contextlib.suppress(OSError):
            if "_multiarray_umath" in maps.read_text():
                break
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert (run.returncode, err.strip()) == (1, "Error: aborted")
