"""Fuzz the command line: every mistake is one line and exit 1 or 2, never a traceback or a hang.

Three layers (issue 12):

- **Options.** For each command (``measure`` and ``emulate`` start launchers and namespaces and
  have their own tests), hypothesis draws a set of its options with values from a pool that mixes
  small valid values with absurd ones (huge, negative, NaN, empty, unparsable, too long).
- **Garbage files.** For each kind of input file (benchmark logs, spec YAML/JSON, GraphML,
  catalogs, calibrations, workloads, model configs) hypothesis draws bytes, text, random JSON,
  mutated and truncated copies of a valid file, alias bombs and deep nesting.
- **Regressions.** The examples that once failed (issue 12's list) as explicit cases; those about
  memory and time run ``fabric`` in a subprocess under ``RLIMIT_AS`` (2 GiB) and a timeout.

What every case must show: exit code 0, 1 or 2; no exception escaping the CLI (no traceback); on
failure exactly one ``Error:`` line on stderr; on success a non-empty result (stdout or the output
file, a non-empty JSON document under ``--json``). The option and file cases run in-process
(CliRunner) with a bounded, derandomized number of examples, so the file runs in CI on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.cli import cli

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FABRIC = [str(BIN / "fabric")] if (BIN / "fabric").exists() else [
    sys.executable, "-c", "from fabric.cli import main; main()"]
#: Peak address space of one subprocess case, and its wall-clock limit.
MEMORY_LIMIT_BYTES = 2 * 1024**3
CASE_TIMEOUT_S = 60
#: In-process: one invocation past this many seconds fails the case (SIGALRM).
INPROCESS_TIMEOUT_S = 60
FUZZ = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
FUZZ_SLOW = settings(FUZZ, max_examples=12)

# -------------------------------------------------------------------------------- the checks


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise _Timeout(f"the command ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _invoke(args: Sequence[str], cwd: Path) -> Result:
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with _time_limit(INPROCESS_TIMEOUT_S):
            return runner.invoke(cli, list(args), prog_name="fabric")
    finally:
        os.chdir(old)


def _output_file(args: Sequence[str], cwd: Path) -> Path | None:
    for flag in ("-o", "--output"):
        if flag in args:
            index = list(args).index(flag)
            if index + 1 < len(args):
                return cwd / args[index + 1]
    return None


def check_outcome(args: Sequence[str], code: int, stdout: str, stderr: str,
                  cwd: Path | None = None) -> None:
    """The contract of the CLI for one invocation (raises AssertionError naming the case)."""
    case = f"fabric {' '.join(map(repr, args))} -> {code}\nstdout: {stdout[-500:]!r}\n" \
           f"stderr: {stderr[-1500:]!r}"
    assert code in (0, 1, 2), case
    assert "Traceback" not in stdout + stderr, case
    if code != 0:
        errors = [line for line in stderr.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, case
        assert stderr.rstrip().splitlines()[-1].startswith("Error: "), case
        return
    # success: something was computed
    out = _output_file(args, cwd) if cwd is not None else None
    if out is not None and "--json" not in args:
        assert out.is_file() and out.stat().st_size > 0, case
    else:
        assert stdout.strip(), case
    if "--json" in args:
        document = json.loads(stdout)
        assert document not in ({}, [], None), case


def check_result(args: Sequence[str], result: Result, cwd: Path) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        text = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"fabric {' '.join(map(repr, args))} raised:\n{text}")
    check_outcome(args, result.exit_code, result.stdout, result.stderr, cwd)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def run_limited(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``fabric ARGS`` in a subprocess under RLIMIT_AS and a timeout (a TimeoutExpired fails)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*FABRIC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=CASE_TIMEOUT_S, preexec_fn=_limit_memory, env=env)


# ------------------------------------------------------------------------ garbage files


VALID = {
    "spec.yaml": ROOT / "examples" / "small_cluster.yaml",
    "spec.json": ROOT / "examples" / "custom_links.json",
    "workload.yaml": ROOT / "examples" / "workload_dense70b.yaml",
    "model.json": ROOT / "tests" / "data" / "hf_configs" / "llama-3.1-70b.json",
    "catalog.toml": ROOT / "fabric" / "data" / "catalog.toml",
    "nccl.log": ROOT / "examples" / "logs" / "nccl_tests_h100_2node_alltoall_sendrecv.log",
    "imb.txt": ROOT / "examples" / "logs" / "imb_pingpong_2node.txt",
}


def _bomb(depth: int, width: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, depth):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\nname: *a{depth - 1}\nnum_hidden_layers: *a{depth - 1}\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@st.composite
def garbage(draw: st.DrawFn, valid: Path | None) -> bytes:
    """Bytes that are not a valid input, mostly, and close to one, often."""
    kind = draw(st.sampled_from(
        ["bytes", "text", "json", "truncate", "mutate", "bomb", "deep", "empty", "utf16"]))
    base = valid.read_bytes() if valid is not None else b"x: 1\n"
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "truncate":
        return base[: draw(st.integers(0, max(0, len(base) - 1)))]
    if kind == "mutate":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "bomb":
        return _bomb(draw(st.integers(6, 10)), draw(st.integers(6, 10))).encode()
    if kind == "deep":
        n = draw(st.sampled_from([1000, 100_000]))
        return ("{\"a\": " * n + "1" + "}" * n).encode() if draw(st.booleans()) else \
            ("[" * n + "]" * n).encode()
    if kind == "utf16":
        return base.decode("utf-8", "replace").encode("utf-16")
    return b""


def _garbage_case(kind: str, name: str) -> Any:
    return garbage(VALID.get(kind))


#: file kind -> (file name, argument list using {file}).
FILE_COMMANDS: dict[str, tuple[str, list[str]]] = {
    "spec.yaml": ("spec.yaml", ["topology", "show", "{file}"]),
    "spec.json": ("spec.json", ["predict", "--topology", "{file}", "--sizes", "1MiB"]),
    "graphml": ("spec.graphml", ["topology", "show", "{file}", "--json"]),
    "catalog.toml": ("catalog.toml", ["topology", "show", "fat-tree", "--k", "4",
                                      "--catalog", "{file}"]),
    "workload.yaml": ("workload.yaml", ["compare", "--gpus", "16", "--families", "single-hop",
                                        "--workload", "{file}"]),
    "model.json": ("config.json", ["kv", "--model", "{file}", "--context", "8k"]),
    "model.yaml": ("config.yaml", ["kv", "--model", "{file}", "--context", "8k"]),
    "calibration": ("cal.json", ["predict", "--topology", "fat-tree", "--k", "4", "--sizes",
                                 "1MiB", "--calibration", "{file}"]),
    "nccl.log": ("run.log", ["import", "{file}", "--format", "nccl-tests", "-o", "out.jsonl"]),
    "imb.txt": ("imb.txt", ["import", "{file}", "-o", "out.jsonl"]),
    "records": ("records.jsonl", ["calibrate", "{file}", "--topology", "fat-tree", "--k", "4"]),
    "discovery": ("fabric.txt", ["topology", "import", "{file}", "-o", "out.yaml"]),
}


@pytest.mark.parametrize("kind", sorted(FILE_COMMANDS))
def test_garbage_files_are_refused_in_one_line(kind: str, tmp_path_factory: Any) -> None:
    name, template = FILE_COMMANDS[kind]

    @FUZZ
    @given(data=garbage(VALID.get(kind)))
    def case(data: bytes) -> None:
        cwd = tmp_path_factory.mktemp("case")
        (cwd / name).write_bytes(data)
        args = [a.replace("{file}", name) for a in template]
        check_result(args, _invoke(args, cwd), cwd)

    case()


# ------------------------------------------------------------------------ option values

_INTS = ["1", "2", "4", "8", "0", "-1", "3", "1000000", "1000000000000", "99999999999999999999999",
         "1e30", "nan", "inf", "", "abc", "4.5", "0x10"]
_SIZES = ["8", "1MiB", "8:1MiB", "8B:8EiB", "1KiB:1GiB:0", "0", "-5", "1e30", "", "abc",
          "99999999999999999999YiB", "1,,2", "64KB"]
_FLOATS = ["0.5", "1", "0", "-1", "nan", "inf", "1e308", "1.5us", "abc", "", "2ms", "400Gbps"]
_STRINGS = ["", "bogus", "fat-tree", "rail-optimized", "clos", "single-hop", "all-reduce",
            "packed", "spread", "h100", "qm9700", "llama-3.1-70b", "../nowhere/x", "a" * 5000,
            "∞", "0,1,2,3", "node0", "2:1", "all-reduce,all-gather"]
_GPUS = ["8", "16", "64", "0", "-8", "1000000", "99999999999999999999999", "1e30", "", "x",
         "8,64"]
#: values for option names whose meaning needs its own pool
_BY_NAME = {
    "gpus": _GPUS, "nodes": ["2", "4", "0", "1000000000000", "-1", "x"],
    "k": ["4", "8", "5", "0", "100000", "1e9", "x"],
    "catalog": ["no/such.toml", "", "catalog.toml"],
    "calibration": ["no/such.json", "", "cal.json"],
    "workload": ["no/such.yaml", "empty.yaml", ""],
    "model_name": ["llama-3.1-70b", "qwen2.5-7b", "bogus", "deep.json", "bomb.yaml", ""],
    "output": ["out.json", "out.yaml", "out.graphml", "out.html", "nowhere/out", "",
               "out.txt", "."],
}
#: values that usually parse (the first four of a pool otherwise)
_SENSIBLE = {
    "gpus": ["8", "16", "64"], "nodes": ["2", "4"], "k": ["4", "8"], "catalog": ["catalog.toml"],
    "calibration": ["cal.json"], "workload": ["empty.yaml", "no/such.yaml"],
    "model_name": ["llama-3.1-70b", "qwen2.5-7b", "bomb.yaml", "deep.json"],
    "output": ["out.json", "out.yaml", "out.graphml", "out.html"], "sizes": ["1MiB", "8:1MiB"],
    "size": ["1MiB", "64KB"], "topology": ["fat-tree", "clos", "spec.yaml", "loop.graphml"],
    "target": ["fat-tree", "spec.yaml"], "families": ["fat-tree", "single-hop", "clos", ""],
    "collective": ["all-reduce", "all-to-all", "bogus"], "context_tokens": ["8k", "1M"],
    "oversubscription": ["1", "3", "2:1"], "switch": ["qm9700", "th6-200", "bogus"],
    "gpu": ["h100", "b200", "bogus"], "placement": ["packed", "spread", "0,1,2,3"],
    "algorithm": ["ring", "tree", "bogus"], "collectives": ["all-reduce", "all-to-all", ""],
    "workers": ["1", "1", "2"], "scheduler": ["tcp://127.0.0.1:9", "bogus"],
    "batch_size": ["1", "4"],
}
#: commands fuzzed, with the options every case carries (required ones) and a max example count
COMMANDS: dict[tuple[str, ...], settings] = {
    ("topology", "build"): FUZZ, ("topology", "show"): FUZZ, ("topology", "export"): FUZZ,
    ("topology", "import"): FUZZ,
    ("predict",): FUZZ, ("compare",): FUZZ_SLOW, ("kv",): FUZZ, ("report",): FUZZ_SLOW,
    ("import",): FUZZ, ("calibrate",): FUZZ_SLOW, ("validate",): FUZZ_SLOW,
    # a sweep that parses starts a Dask cluster (seconds): fewer cases
    ("sweep", "run"): settings(FUZZ, max_examples=8), ("sweep", "show"): FUZZ,
}


def _command(path: tuple[str, ...]) -> click.Command:
    ctx = click.Context(cli)
    command: Any = cli
    for name in path:
        command = command.get_command(ctx, name)
    return command  # type: ignore[no-any-return]


def _pool(param: click.Parameter) -> list[str]:
    name = param.name or ""
    if name in _BY_NAME:
        return _BY_NAME[name]
    kind = type(param.type).__name__
    if isinstance(param.type, click.Choice):
        return [*map(str, param.type.choices), "bogus", ""]
    if kind in ("IntRange", "IntParamType", "CountType"):
        return _INTS
    if kind in ("SizeType", "SizeListType"):
        return _SIZES
    if kind in ("FloatRange", "FloatParamType", "RateType", "TimeType"):
        return _FLOATS
    return _STRINGS


@st.composite
def invocations(draw: st.DrawFn, path: tuple[str, ...]) -> list[str]:
    command = _command(path)
    args: list[str] = list(path)
    for param in command.params:
        if isinstance(param, click.Argument):
            pool = {"family": ["fat-tree", "clos", "bogus", ""],
                    "target": ["fat-tree", "spec.yaml", "loop.graphml", "bogus", ""],
                    "logs": ["run.log", "imb.txt", "empty.yaml"],
                    "records": ["records.jsonl", "empty.yaml", "no/such.jsonl"],
                    "space_path": ["space.yaml", "space.yaml", "empty.yaml", "spec.yaml",
                                   "bomb.yaml", "no/such.yaml"],
                    "db": ["results.db", "empty.yaml", "spec.yaml", "no/such.db"]}.get(
                param.name or "", _STRINGS)
            args.append(draw(st.sampled_from(pool)))
            continue
        assert isinstance(param, click.Option)
        if param.name == "help" or "--version" in param.opts:
            continue
        # a few options per case, mostly sensible values: the case gets past parsing into the
        # library often enough to find what a wrong value breaks there
        if not param.required and draw(st.integers(0, 5)) != 0:
            continue
        flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        if param.is_flag:
            args.append(flag)
        else:
            pool = _pool(param)
            sensible = _SENSIBLE.get(param.name or "", pool[:4])
            args += [flag, draw(st.sampled_from(sensible) if draw(st.integers(0, 2))
                                else st.sampled_from(pool))]
    return args


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: Any) -> Path:
    """Files the option pools name: a spec, a self-loop GraphML, a bomb, deep JSON, empty files."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "spec.yaml").write_bytes(VALID["spec.yaml"].read_bytes())
    (folder / "catalog.toml").write_bytes(VALID["catalog.toml"].read_bytes())
    (folder / "run.log").write_bytes(VALID["nccl.log"].read_bytes())
    (folder / "imb.txt").write_bytes(VALID["imb.txt"].read_bytes())
    (folder / "empty.yaml").write_text("")
    (folder / "bomb.yaml").write_text(_bomb(9, 9))
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "cal.json").write_text("{}")
    (folder / "records.jsonl").write_text("{}\n")
    # one design per family, so a sweep that parses stays short
    (folder / "space.yaml").write_text(
        "axes:\n  family: [single-hop, fat-tree]\nfixed:\n  num_gpus: 16\n"
        "collectives: [all-reduce]\nsizes_bytes: [1048576]\n")
    result = _invoke(["sweep", "space.yaml", "-o", "results.db", "--workers", "1"], folder)
    assert result.exit_code == 0, result.output
    result = _invoke(["topology", "build", "fat-tree", "--k", "4", "-o", "ft.graphml"], folder)
    assert result.exit_code == 0, result.output
    text = (folder / "ft.graphml").read_text()
    start = text.index('<edge source="') + len('<edge source="')
    source = text[start:text.index('"', start)]
    end = text.index('target="', start) + len('target="')
    target = text[end:text.index('"', end)]
    (folder / "loop.graphml").write_text(text.replace(
        f'source="{source}" target="{target}"', f'source="{source}" target="{source}"', 1))
    return folder


OUTCOMES: dict[tuple[str, ...], Counter[int]] = {path: Counter() for path in COMMANDS}


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_fuzzed_options_give_a_result_or_one_line(path: tuple[str, ...], workdir: Path) -> None:
    @COMMANDS[path]
    @given(args=invocations(path))
    def case(args: list[str]) -> None:
        for leftover in ("out.json", "out.yaml", "out.graphml", "out.html", "out.txt"):
            (workdir / leftover).unlink(missing_ok=True)
        result = _invoke(args, workdir)
        OUTCOMES[path][result.exit_code] += 1
        check_result(args, result, workdir)

    case()
    # the cases reached the library, not only click's parser: some ran, some were refused there
    if os.environ.get("FUZZ_STATS"):
        print(path, dict(OUTCOMES[path]))


def test_every_command_is_fuzzed_or_has_its_own_fault_tests() -> None:
    ctx = click.Context(cli)
    leaves: set[tuple[str, ...]] = set()
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            leaves |= {(name, sub) for sub in command.list_commands(ctx)}
        else:
            leaves.add((name,))
    own_tests = {p for p in leaves if p[0] in ("measure", "emulate")}
    assert leaves - own_tests == set(COMMANDS)


# ---------------------------------------------------------------- regressions (issue 12)


#: (arguments, expected exit code, words the one line must hold): in-process.
REGRESSIONS = [
    (["kv", "--model", "llama-3.1-70b", "--context", "1e30"], 2, "--context"),
    (["kv", "--model", "llama-3.1-70b", "--context", "9223372036854775807"], 1, "context_tokens"),
    (["kv", "--model", "llama-3.1-70b", "--context", "1M", "--batch", "100000"], 1, "batch"),
    (["kv", "--model", "deep.json", "--context", "8k"], 1, "deep"),
    (["compare", "--gpus", "64", "--catalog", "no/such.toml"], 1, "no/such.toml"),
    (["compare", "--gpus", "64", "--placement", "bogus"], 2, "placement"),
    (["compare", "--gpus", "64", "--families", ""], 1, "family"),
    (["compare", "--gpus", "64", "--collectives", ""], 1, "collective"),
    (["compare", "--gpus", "64", "--workload", "empty.yaml"], 1, "empty"),
    (["topology", "show", "loop.graphml"], 1, "self-loop"),
    (["predict", "--topology", "loop.graphml", "--sizes", "1MiB"], 1, "self-loop"),
    (["topology", "build", "fat-tree", "--k", "4", "--format", "graphml", "-o", "ft.yaml"], 2,
     "suffix"),
    (["topology", "export", "fat-tree", "--k", "4", "--format", "json", "-o", "ft.yaml"], 2,
     "suffix"),
    (["predict", "--topology", "fat-tree", "--k", "100000", "--sizes", "1MiB"], 1, "k"),
]


@pytest.mark.parametrize(("args", "code", "words"), REGRESSIONS, ids=lambda v: str(v)[:60])
def test_once_failing_examples(args: list[str], code: int, words: str, workdir: Path) -> None:
    result = _invoke(args, workdir)
    check_result(args, result, workdir)
    assert result.exit_code == code, result.output
    assert words in result.stderr, result.stderr
    assert not (workdir / "ft.yaml").exists()


#: (arguments, expected exit code, words): in a subprocess, 2 GiB address space, a timeout.
HEAVY_REGRESSIONS = [
    (["predict", "--topology", "rail-optimized", "--nodes", "1000000000000", "--sizes", "1MiB"],
     1, "num_nodes"),
    (["compare", "--gpus", "99999999999999999999999"], 2, "--gpus"),
    (["compare", "--gpus", "1000000"], 1, "1,000,000"),
    (["compare", "--gpus", "1000000", "--switch", "th6-200", "--families", "rail-optimized"], 1,
     "1,000,000"),
    (["report", "--gpus", "1000000", "-o", "plan.html"], 1, "Error"),
    (["kv", "--model", "bomb.yaml", "--context", "8k"], 1, "100,000 values"),
]


@pytest.mark.parametrize(("args", "code", "words"), HEAVY_REGRESSIONS, ids=lambda v: str(v)[:60])
def test_once_failing_examples_in_bounded_memory_and_time(
    args: list[str], code: int, words: str, workdir: Path
) -> None:
    start = time.monotonic()
    result = run_limited(args, workdir)
    check_outcome(args, result.returncode, result.stdout, result.stderr, workdir)
    assert result.returncode == code, result.stderr[-2000:]
    assert words in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
    assert time.monotonic() - start < CASE_TIMEOUT_S  # (run_limited raises past it anyway)


def test_read_only_and_symlinked_outputs(workdir: Path) -> None:
    target = workdir / "ro.yaml"
    target.write_text("keep me")
    target.chmod(0o444)
    args = ["topology", "build", "fat-tree", "--k", "4", "-o", "ro.yaml"]
    result = _invoke(args, workdir)
    check_result(args, result, workdir)
    assert result.exit_code == 1 and "read-only" in result.stderr
    assert target.read_text() == "keep me" and target.stat().st_mode & 0o777 == 0o444
    link = workdir / "link.yaml"
    link.symlink_to(workdir / "real.yaml")
    args = ["topology", "build", "fat-tree", "--k", "4", "-o", "link.yaml"]
    assert _invoke(args, workdir).exit_code == 0
    assert link.is_symlink() and "fat-tree" in (workdir / "real.yaml").read_text()
