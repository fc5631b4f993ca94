"""One CLI: the same options by the same names and types on every command (issue 13).

The tests walk the click tree (every command of ``fabric.cli.COMMANDS`` and its subcommands)
and run a few commands for real: hidden aliases of old option names, one meaning of ``k``,
options refused where they do nothing, ``-q``/``-v``, ``--format``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from fabric import units
from fabric.cli import COMMANDS, cli
from fabric.cli.common import CountType, SizeListType, SizeType
from fabric.cli.report import parse_gpu_counts


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        yield from _walk(name, command)


def _walk(path: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            yield from _walk(f"{path} {sub_name}", sub)
    else:
        yield path, command


ALL = dict(_commands())


def _options(command: click.Command) -> dict[str, click.Option]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


def _visible(command: click.Command) -> set[str]:
    return {opt for opt, p in _options(command).items() if not p.hidden}


def _signature(option: click.Option) -> tuple[str, bool, bool]:
    return type(option.type).__name__, option.is_flag, option.multiple


#: The fabric options (fabric/cli/options.py) without the size flags, which compare and report
#: take in their own form (--gpus N, --gpus N[,N...]).
FABRIC_FLAGS = ("--tiers", "--switch", "--oversubscription", "--planes", "--gpus-per-node",
                "--su-size", "--reserved-leaf-ports", "--uplink-switch", "--leaf-uplinks",
                "--scaleup", "--no-scaleup", "--gpu", "--catalog")


def test_the_tree_holds_every_command() -> None:
    assert {"predict", "compare", "kv", "report", "topology show", "calibrate", "validate",
            "import", "measure mpi", "measure torch", "sweep run", "sweep show"} <= set(ALL)


def test_every_command_that_takes_a_fabric_takes_all_fabric_flags_alike() -> None:
    reference = _options(ALL["predict"])
    takers = [name for name, c in ALL.items() if "--oversubscription" in _options(c)]
    assert {"predict", "compare", "kv", "report", "topology show", "topology build",
            "topology export", "calibrate", "validate"} <= set(takers)
    for name in takers:
        options = _options(ALL[name])
        for flag in FABRIC_FLAGS:
            assert flag in options, (name, flag)
            assert _signature(options[flag]) == _signature(reference[flag]), (name, flag)
            assert options[flag].name == reference[flag].name, (name, flag)


def test_one_name_per_concept_old_names_are_hidden_aliases() -> None:
    for name, command in ALL.items():
        visible = _visible(command)
        for old in ("--size", "--collective", "--ops", "--num-gpus"):
            assert old not in visible, (name, old)
    for name, old, new in [("predict", "--collective", "--collectives"),
                           ("predict", "--size", "--sizes"),
                           ("compare", "--collective", "--collectives"),
                           ("compare", "--size", "--sizes"),
                           ("report", "--collective", "--collectives"),
                           ("kv", "--num-gpus", "--prefill-gpus"),
                           ("measure mpi", "--ops", "--collectives"),
                           ("measure torch", "--ops", "--collectives")]:
        options = _options(ALL[name])
        assert options[old].hidden and not options[new].hidden, (name, old)


def test_shared_option_types() -> None:
    for name, command in ALL.items():
        options = _options(command)
        if "--sizes" in options and name not in ("emulate run",):
            assert isinstance(options["--sizes"].type, SizeListType), name
        if "--gpus" in options and name != "report":
            assert isinstance(options["--gpus"].type, CountType), name
        if "--context" in options:
            assert isinstance(options["--context"].type, CountType), name
        if "--size" in options:  # the hidden old name parses as --sizes does
            assert isinstance(options["--size"].type, (SizeType, SizeListType)), name


def test_every_command_with_json_has_format_or_says_why_not() -> None:
    streamed_or_taken = {"import", "measure mpi", "measure torch"}  # --format: log format; rows
    for name, command in ALL.items():
        options = _options(command)
        if "--json" not in options:
            continue
        if name in streamed_or_taken:
            assert "--format" not in options or options["--format"].name == "log_format", name
        else:
            assert list(options["--format"].type.choices) == ["table", "csv", "markdown", "json"]


def test_one_meaning_of_k() -> None:
    # sizes: a bare K/M/G is x1024 as nccl-tests' -b/-e; KB/MB/GB are x1000; KiB.. x1024
    assert units.parse_size("64K") == units.parse_size("64KiB") == 65536
    assert units.parse_size("1M") == 2**20 and units.parse_size("1g") == 2**30
    assert units.parse_size("64KB") == units.parse_size("64kB") == 64_000
    # counts: k/M/G are x1024, the same as a bare size suffix
    assert units.parse_count("16k") == 16384 == parse_gpu_counts("16k")[0]
    assert units.parse_count("128k") == 131072
    assert CountType().convert("1k", None, None) == units.parse_size("1K") == 1024


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]


def test_gpus_16k_means_the_same_on_every_command() -> None:
    shown = json.loads(run("topology", "show", "clos", "--gpus", "1k", "--json").stdout)
    assert shown["results"]["num_gpus"] == 1024
    compared = json.loads(run("compare", "--gpus", "1k", "--families", "clos", "--collectives",
                              "all-reduce", "--json").stdout)
    assert compared["inputs"]["gpus"] == 1024
    assert compared["results"]["fabrics"][0]["requested_gpus"] == 1024


@pytest.mark.parametrize(("args", "words"), [
    (("predict", "--topology", "clos", "--gpus", "64", "--nccl-version", "2.19"),
     "--nccl-version applies to --flavor nccl only (got --flavor ideal)"),
    (("predict", "--topology", "clos", "--gpus", "64", "--seed", "3"),
     "--seed applies to --placement random only"),
    (("predict", "--topology", "clos", "--gpus", "64", "--collective", "all-gather",
      "--collectives", "all-reduce"), "give --collectives or --collective, not both"),
    (("compare", "--gpus", "64", "--size", "1M", "--sizes", "1G"),
     "give --sizes or --size, not both"),
    (("kv", "--model", "llama-3.1-8b", "--context", "8k", "--num-gpus", "2",
      "--prefill-gpus", "2"), "give --prefill-gpus or --num-gpus, not both"),
    (("predict", "--topology", "clos", "--gpus", "64", "--json", "--format", "csv"),
     "give --json or --format csv, not both"),
    (("report", "--sweep", "x.db", "-o", "x.html", "--json"),
     "--json does not apply to --sweep"),
    (("report", "--sweep", "x.db", "-o", "x.html", "--families", "torus"),
     "--families does not apply to --sweep"),
    (("predict", "--topology", "clos", "--gpus", "64", "--placement", "random", "--seed",
      "-1"), "Invalid value for '--seed': -1 is not in the range x>=0"),
    (("compare", "--gpus", "64", "--placement", "node0/gpu0,node1/gpu0"),
     "'node0/gpu0,node1/gpu0' is not one of 'packed', 'rail-aligned', 'spread', 'random'"),
    # refused before anything is built or removed (no root needed)
    (("emulate", "down", "--all", "fme1x0"), "give PREFIX ('fme1x0') or --all, not both"),
    (("emulate", "up", "--kind", "flat", "--trunk-rate", "100Mbps"),
     "--trunk-rate shapes the trunk of --kind tree; --kind flat has none"),
])
def test_options_that_do_nothing_or_clash_are_refused(args: tuple[str, ...], words: str) -> None:
    assert words in _one_line_error(run(*args), 2)


def test_hidden_aliases_give_the_same_answer() -> None:
    base = ("predict", "--topology", "clos", "--gpus", "64", "--json")
    new = json.loads(run(*base, "--collectives", "all-gather", "--sizes", "1M").stdout)
    old = json.loads(run(*base, "--collective", "all-gather", "--size", "1M").stdout)
    assert new["results"] == old["results"]
    assert old["inputs"]["collectives"] == "all-gather" and old["inputs"]["sizes_bytes"] == [2**20]
    kv = ("kv", "--model", "llama-3.1-8b", "--context", "8k", "--json")
    assert json.loads(run(*kv, "--num-gpus", "4").stdout)["results"]["prefill_num_gpus"] == 4
    assert json.loads(run(*kv, "--prefill-gpus", "4").stdout)["results"]["prefill_num_gpus"] == 4


def test_quiet_hides_warnings_and_verbose_keeps_them() -> None:
    args = ("predict", "--topology", "generic", "--nodes", "2", "--sizes", "1M")
    loud = run(*args)
    assert loud.exit_code == 0 and loud.stderr.startswith("warning: no --nic given")
    quiet = run("-q", *args)
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout
    assert run("-v", *args).stderr.startswith("warning: no --nic given")
    assert "give -q or -v, not both" in _one_line_error(run("-q", "-v", *args), 2)


def test_format_csv_markdown_and_json_alias() -> None:
    base = ("predict", "--topology", "clos", "--gpus", "64", "--sizes", "1K,1M")
    rows = list(csv.reader(io.StringIO(run(*base, "--format", "csv").stdout)))
    header = rows[0]  # no "# ..." heading in csv
    assert header[:4] == ["size", "time(us)", "algbw(GB/s)", "busbw(GB/s)"]
    assert [r[0] for r in rows[rows.index(header) + 1:]] == ["1KiB", "1MiB"]
    markdown = run(*base, "--format", "markdown").stdout.splitlines()
    assert "| size | time(us) |" in markdown[1] and markdown[2].startswith("|---:|")
    assert json.loads(run(*base, "--format", "json").stdout) == json.loads(
        run(*base, "--json").stdout)
    table = run(*base).stdout.splitlines()
    assert table[1].split()[:2] == ["size", "time(us)"] and set(table[2]) == {"\u2500"}


def test_progress_bar_on_stderr_with_verbose_only_off_a_terminal() -> None:
    args = ("compare", "--gpus", "64", "--families", "clos,rail-only", "--collectives",
            "all-reduce", "--json")
    plain, verbose, quiet = run(*args), run("-v", *args), run("-q", *args)
    assert "fabric compare" not in plain.stderr  # not a terminal: no bar by default
    assert "fabric compare" in verbose.stderr and "2/2" in verbose.stderr
    assert "ETA" in verbose.stderr
    assert quiet.stderr == ""
    assert json.loads(verbose.stdout) == json.loads(plain.stdout) == json.loads(quiet.stdout)


def test_quiet_hides_wrote_lines(tmp_path) -> None:
    out = tmp_path / "clos.yaml"
    loud = run("topology", "build", "clos", "--gpus", "64", "-o", out)
    assert loud.exit_code == 0 and loud.stderr.startswith(f"wrote {out}: clos")
    quiet = run("-q", "topology", "build", "clos", "--gpus", "64", "-o", out)
    assert quiet.exit_code == 0 and quiet.stderr == "" and out.exists()


def test_warnings_and_notes_go_through_logging_not_echo() -> None:
    from pathlib import Path

    import fabric.cli as package

    echoed = []
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "echo(" in line and any(word in line for word in ('"warning', '"note', '"inferred')):
                echoed.append(f"{path.name}:{number}: {line.strip()}")
    assert echoed == []


def test_a_family_that_cannot_be_built_with_the_options_is_a_row_not_an_abort():
    """--no-scaleup leaves rail-only no path between rails: compare shows it infeasible and
    compares the others (it stopped with one error and no results)."""
    result = run("compare", "--gpus", "1k", "--no-scaleup", "--families", "clos,rail-only",
                 "--collectives", "all-reduce", "--json")
    assert result.exit_code == 0, result.output
    rows = {f["family"]: f for f in json.loads(result.stdout)["results"]["fabrics"]}
    assert rows["clos"]["num_gpus"] == 1024
    assert "rail-only needs a scale-up switch" in rows["rail-only"]["error"]


def test_a_recommendation_without_a_workload_result_says_why(tmp_path):
    """A workload no fabric can run at one scale (tensor_parallel 3 on 1,024 GPUs; it runs on
    1,536) leaves that scale's recommendation to network cost alone: the reason says so and why
    the workload did not run. (A workload that fits none of the scales is refused up front.)"""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "workload_dense70b.yaml"
    workload = tmp_path / "tp3.yaml"
    workload.write_text("\n".join(
        "tensor_parallel: 3" if line.startswith("tensor_parallel:") else line
        for line in example.read_text().splitlines()) + "\n")
    result = run("report", "--gpus", "1024,1536", "--families", "clos,rail-only", "--workload",
                 workload, "--json")
    assert result.exit_code == 0, result.output
    recs = json.loads(result.stdout)["results"]["recommendations"]
    (rec,) = [r for r in recs if r["requested_gpus"] == 1024]
    assert "no workload result" in rec["reason"]
    assert "could not run" in rec["reason"] and "tensor_parallel" in rec["reason"]


def test_compare_says_which_families_built_without_an_option():
    result = run("compare", "--gpus", "1k", "--planes", "2", "--families",
                 "clos,rail-only", "--collectives", "all-reduce", "--json")
    assert result.exit_code == 0, result.output
    rows = {f["family"]: f for f in json.loads(result.stdout)["results"]["fabrics"]}
    assert any("--planes not taken by this family" in n for n in rows["rail-only"]["notes"])
    assert not any("not taken" in n for n in rows["clos"]["notes"])


def test_bad_gpu_counts_are_usage_errors_everywhere_and_name_cli_options():
    assert run("report", "--gpus", "0", "--json").exit_code == 2  # as compare (it was 1)
    assert run("compare", "--gpus", "0").exit_code == 2
    result = run("compare", "--gpus", "1024", "--gpus-per-node", "16")
    assert result.exit_code == 1 and "--no-scaleup" in result.output
