"""`fabric predict` and `fabric compare` through the real CLI group."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fabric.cli import cli

ROW_KEYS = {"size_bytes", "time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "algorithm"}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_predict_json_rows() -> None:
    result = run(
        "predict",
        "--topology",
        "single-hop",
        "--gpus",
        "8",
        "--gpus-per-node",
        "1",
        "--no-scaleup",
        "--sizes",
        "1KB,1MB,1GB",
        "--algorithm",
        "ring",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["results"]
    assert doc["topology"] == "single-hop"
    rows = doc["predictions"]
    assert [r["size_bytes"] for r in rows] == [1000, 1_000_000, 1_000_000_000]
    for r in rows:
        assert ROW_KEYS <= set(r)
        assert r["algorithm"] == "ring"
        # busbw = algbw x 2(n-1)/n for all-reduce (nccl-tests PERFORMANCE.md)
        assert r["busbw_bytes_per_s"] == pytest.approx(r["algbw_bytes_per_s"] * 14 / 8, rel=1e-12)
        assert r["algbw_bytes_per_s"] == pytest.approx(r["size_bytes"] / r["time_s"], rel=1e-12)
    # 1 GB ring all-reduce on one 25 GB/s switch: 2 x 7/8 x 1e9 / 25e9 = 70 ms plus 14 steps of
    # (2 us + 0.7 us) (Thakur et al. 2005; catalog roce200 / th6-200)
    assert rows[2]["time_s"] == pytest.approx(0.07 + 14 * 2.7e-6, rel=1e-9)


def test_predict_table() -> None:
    result = run(
        "predict",
        "--topology",
        "rail-optimized",
        "--nodes",
        "2",
        "--sizes",
        "8B:1MB:16",
        "--collective",
        "all-gather",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# all-gather on rail-optimized: 16 ranks in 2 scale-up domain(s)")
    assert "busbw(GB/s)" in lines[1]
    assert len([ln for ln in lines if "B " in ln or ln.split()[0].endswith("B")]) >= 5


@pytest.mark.parametrize(
    ("args", "codes", "needle"),
    [
        (["--collective", "all-scatter"], (1,), "unknown collective 'all-scatter'"),
        (["--algorithm", "magic"], (1,), "unknown algorithm 'magic'"),
        (["--sizes", "0"], (2,), "size must be > 0"),
        (["--sizes", "-1"], (2,), "--sizes"),
        (["--ranks", "17"], (1,), "17 ranks do not fit"),
        (
            ["--ranks", "6", "--algorithm", "recursive-doubling"],
            (1,),
            "power-of-two number of ranks, got 6",
        ),
        (["--placement", "zigzag"], (1,), "unknown placement"),
        (["--flavor", "exact"], (2,), "--flavor"),
    ],
)
def test_predict_errors_are_one_line(args: list[str], codes: tuple[int, ...], needle: str) -> None:
    result = run("predict", "--topology", "single-hop", "--gpus", "16", "--sizes", "1MB", *args)
    assert result.exit_code in codes, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert len(result.output.strip().splitlines()) == 1


def test_compare_512_json() -> None:
    result = run("compare", "--gpus", "512", "--json")
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.stdout)
    assert envelope["schema_version"] == "1" and envelope["command"] == "compare"
    assert envelope["inputs"]["gpus"] == 512
    doc = envelope["results"]
    fams = {e["family"]: e for e in doc["fabrics"]}
    assert set(fams) == {"rail-optimized", "rail-only", "clos", "fat-tree", "single-hop"}
    for fam, e in fams.items():
        if "error" in e:
            continue
        assert e["num_gpus"] >= 512 and e["requested_gpus"] == 512
        # a missing transceiver makes the cost unknown, not the comparison fail
        assert (e["network_cost_usd"] is None) == (e["cost_error"] is not None)
        for coll in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"):
            r = next(p for p in e["predictions"] if p["collective"] == coll)
            if "error" not in r:
                assert ROW_KEYS <= set(r), (fam, coll)
                assert r["time_s"] > 0
    # every family that builds answers all-reduce
    assert all("error" not in p for e in fams.values() if "error" not in e
               for p in e["predictions"] if p["collective"] == "all-reduce")


def test_compare_table_and_bad_family() -> None:
    result = run(
        "compare", "--gpus", "64", "--families", "clos,rail-only", "--collectives", "all-reduce"
    )
    assert result.exit_code == 0, result.output
    assert "clos" in result.stdout and "bound" in result.stdout
    bad = run("compare", "--gpus", "64", "--families", "torus")
    assert bad.exit_code == 1
    assert "unknown topology family 'torus'" in bad.output
    tiny = run("compare", "--gpus", "1")
    assert tiny.exit_code == 2


@pytest.mark.parametrize("command", ["predict", "compare"])
def test_help(command: str) -> None:
    result = run(command, "-h")
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_compare_in_worker_processes_equals_in_process() -> None:
    from studies.compare import compare_fabrics

    options = {"families": ["rail-optimized", "fat-tree", "single-hop"],
               "collectives": ["all-reduce", "all-to-all"], "sizes_bytes": (1 << 24,)}
    one, two = compare_fabrics(256, jobs=1, **options), compare_fabrics(256, jobs=2, **options)
    assert [f.label for f in one.fabrics] == options["families"]
    assert one == two


def test_fat_tree_says_it_differs_from_compares_servers():
    plain = run("predict", "--topology", "fat-tree", "--k", "8", "--sizes", "1M")
    assert plain.exit_code == 0, plain.output
    assert "one GPU per server and no NVLink" in plain.stderr
    assert "--gpus-per-node 8 --scaleup auto" in plain.stderr
    matched = run("predict", "--topology", "fat-tree", "--gpus", "64", "--gpus-per-node", "8",
                  "--scaleup", "auto", "--sizes", "1M", "--json")
    assert matched.exit_code == 0, matched.output
    assert "one GPU per server" not in matched.stderr
    compared = run("compare", "--gpus", "64", "--families", "fat-tree", "--sizes", "1M",
                   "--collectives", "all-reduce", "--json")
    ours = json.loads(matched.stdout)["results"]["predictions"][0]
    theirs = json.loads(compared.stdout)["results"]["fabrics"][0]["predictions"][0]
    assert ours["time_s"] == theirs["time_s"]


def test_the_gpus_asked_leave_an_explicit_placement_alone():
    listed = run("predict", "--topology", "fat-tree", "--gpus", "10", "--placement",
                 "node0/gpu0,node1/gpu0", "--sizes", "1M", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["results"]["predictions"][0]["num_ranks"] == 2
    asked = run("predict", "--topology", "fat-tree", "--gpus", "10", "--sizes", "1M", "--json")
    assert json.loads(asked.stdout)["results"]["predictions"][0]["num_ranks"] == 10
    assert "built 16 GPUs for the 10 asked" in asked.stderr


@pytest.mark.parametrize(("workload", "needle"), [
    ("tensor_parallel: 3\n", "1024 GPUs do not split into tensor_parallel x "
                             "pipeline_parallel = 3 x 1"),
    ("micro_batch_size: 64\n", "global_batch_size 4096 is not a multiple of micro_batch_size x "
                               "data_parallel = 64 x 128"),
])
def test_a_workload_that_runs_on_no_fabric_is_an_error_not_a_table_of_dashes(
        tmp_path, workload: str, needle: str) -> None:
    # compare and report used to leave the workload out of every fabric with a note (report
    # even marked one "recommended") and exit 0
    path = tmp_path / "w.yaml"
    path.write_text(workload)
    html = tmp_path / "r.html"
    compared = run("compare", "--gpus", "1024", "--families", "clos", "--workload", str(path))
    assert compared.exit_code == 1
    assert f"Error: the workload of {path} ran on none of the fabrics: {needle}" in (
        compared.output)
    reported = run("report", "--gpus", "1024,2048", "--families", "clos", "-o", str(html),
                   "--workload", str(path))
    assert reported.exit_code == 1 and needle in reported.output
    assert not html.exists()
    # the default workload is no request: a cluster it does not fit still compares
    other = run("compare", "--gpus", "36", "--families", "clos", "--gpus-per-node", "6")
    assert other.exit_code == 0 and "workload not evaluated" in other.output


def test_a_workload_judged_on_each_fabrics_own_gpus() -> None:
    # 1,000 GPUs asked: the fat-tree holds 1,024, where TP 8 x PP 4 runs; clos holds 1,000,
    # where it does not. The comparison stands (it used to be refused up front on the 1,000)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pp4.yaml"
        path.write_text("tensor_parallel: 8\npipeline_parallel: 4\n")
        result = run("compare", "--gpus", "1000", "--families", "fat-tree,clos", "--workload",
                     str(path), "--json")
    assert result.exit_code == 0, result.output
    rows = {f["family"]: f for f in json.loads(result.stdout)["results"]["fabrics"]}
    assert rows["fat-tree"]["gpu_utilization"] > 0
    assert rows["clos"]["gpu_utilization"] is None
