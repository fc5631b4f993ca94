"""Sweeps on a real 2-worker LocalCluster: results, resume, a killed worker, bad space files."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fabric.cli import cli
from studies.sweep import evaluate_point, local_cluster, run_sweep
from studies.sweep_space import load_space, space_from_dict
from studies.sweep_store import open_store, read_meta, read_rows

pytest.importorskip("distributed")

TINY = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "tiny.yaml"


def _table(db: Path) -> list[dict]:
    con = open_store(db)
    try:
        return read_rows(con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sweep") / "full.db"
    summary = run_sweep(load_space(TINY), db, workers=2)
    assert summary.written == summary.total == 4
    return db


def test_sweep_rows_complete_and_meta(full_run: Path) -> None:
    rows = _table(full_run)
    assert len(rows) == len({r["key"] for r in rows}) == 4
    assert all(r["error"] == "" and r["cost_usd"] > 0 and r["step_time_s"] > 0 for r in rows)
    con = open_store(full_run)
    meta = read_meta(con)
    con.close()
    assert meta["space_file_sha256"] == load_space(TINY).file_hash
    assert meta["finished_utc"] is not None


def test_sweep_row_equals_compare(full_run: Path) -> None:
    row = next(r for r in _table(full_run) if r["family"] == "rail-optimized"
               and json.loads(r["inputs_json"])["num_gpus"] == 64)
    result = CliRunner().invoke(cli, [
        "compare", "--gpus", "64", "--families", "rail-optimized", "--collectives", "all-reduce",
        "--size", "1GiB", "--gpus-per-node", "8", "--workload",
        str(load_space(TINY).workload_path), "--json"])
    assert result.exit_code == 0, result.output
    family = json.loads(result.stdout)["results"]["fabrics"][0]
    assert row["network_cost_usd"] == family["network_cost_usd"]
    assert row["step_time_s"] == family["step_time_s"]
    assert row["gpu_utilization"] == family["gpu_utilization"]
    assert row["cost_per_useful_gpu_hour_usd"] == family["cost_per_useful_gpu_hour_usd"]
    times = json.loads(row["collective_times_json"])["all-reduce"]
    (prediction,) = family["predictions"]
    assert times[1] == prediction["time_s"]


def test_resume_skips_and_interrupt_gives_identical_table(full_run: Path, tmp_path: Path) -> None:
    db = tmp_path / "resume.db"

    def stop(count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_space(TINY), db, workers=2, batch_size=1, on_batch=stop)
    partial = _table(db)
    assert 1 <= len(partial) < 4
    summary = run_sweep(load_space(TINY), db, workers=2)
    assert summary.skipped == len(partial)
    assert _table(db) == _table(full_run)


def test_killed_worker_no_duplicates(full_run: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    db = tmp_path / "kill.db"
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        nanny = next(iter(cluster.workers.values()))

        def kill(count: int) -> None:
            if count == 1:
                os.kill(nanny.process.process.pid, signal.SIGKILL)

        run_sweep(load_space(TINY), db, scheduler=cluster.scheduler_address, batch_size=1,
                  on_batch=kill)
    assert _table(db) == _table(full_run)


def test_embedded_cluster_workers_run_without_the_profiler() -> None:
    """Dask's workers sample their own stack every 10 ms by default, which slows pure-Python
    evaluation; the sweep's own cluster turns that off (a plain LocalCluster shows it is on)."""
    from distributed import Client, LocalCluster

    def profiling(dask_worker: Any) -> bool:
        return "profile" in dask_worker.periodic_callbacks

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as plain, \
            Client(plain) as client:
        assert list(client.run(profiling).values()) == [True]
    with local_cluster(1) as cluster, Client(cluster) as client:
        assert list(client.run(profiling).values()) == [False]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_lost_scheduler_one_line_then_resume(full_run: Path, tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    """A real ``dask scheduler`` process killed mid-sweep: one line, no partial row, resumable."""
    from distributed import Client

    dask = Path(sys.executable).with_name("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port",
                                  address.rsplit(":", 1)[1], "--dashboard-address", ":0"], **quiet)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while True:  # the scheduler is up once a client connects
            try:
                Client(address, timeout=2).close()
                break
            except (OSError, TimeoutError):
                assert time.monotonic() < deadline, "dask scheduler did not start"
        worker = subprocess.Popen([str(dask), "worker", address, "--nworkers", "1",
                                   "--nthreads", "1"], **quiet)
        with Client(address, timeout=10) as probe:
            probe.wait_for_workers(1, timeout=60)
        db = tmp_path / "lost.db"

        def kill(count: int) -> None:
            if count == 1:
                scheduler.kill()

        with pytest.raises(ValueError, match=r"lost the Dask scheduler tcp://\S+ after writing "
                                             r"1 of 4 designs to .*evaluate the other 3$"):
            run_sweep(load_space(TINY), db, scheduler=address, batch_size=1, on_batch=kill)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.kill()
                process.wait(timeout=30)
    assert "Traceback" not in capfd.readouterr().err
    partial = _table(db)
    assert len(partial) == 1 and partial[0] in _table(full_run)
    summary = run_sweep(load_space(TINY), db, workers=2)
    assert (summary.skipped, summary.written) == (1, 3)
    assert _table(db) == _table(full_run)


def test_failed_design_gets_error_row() -> None:
    # a single switch of radix 512 cannot hold 4,096 GPUs: the design fails when it is built
    space = space_from_dict({"axes": {"family": ["single-hop"], "num_gpus": [4096]}})
    row = evaluate_point(space.designs()[0], space)
    assert row["error"] and "\n" not in row["error"] and row.get("cost_usd") is None
    assert "radix" in row["error"]  # the reason it could not be built, not a missing curve


def test_a_run_whose_every_design_fails_exits_1(tmp_path: Path) -> None:
    space = tmp_path / "s.yaml"
    space.write_text("axes: {family: [single-hop], num_gpus: [4096]}\n")
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["sweep", "run", str(space), "-o", str(db),
                                      "--workers", "1"])
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: every design of this run failed (1)") and "radix" in line
    assert len(_table(db)) == 1  # the failed row is kept


@pytest.mark.parametrize("output", ["nowhere/r.db", "folder", "afile/r.db"])
def test_an_output_that_cannot_be_written_is_one_line(tmp_path: Path, output: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(cli, ["sweep", "run", str(TINY), "-o",
                                      str(tmp_path / output)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("Error: cannot write ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]


def test_show_reads_a_finished_store_leaving_nothing_beside_it(full_run: Path,
                                                                tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy.db"
    shutil.copy(full_run, copy)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, ["sweep", "show", str(copy)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["copy.db"]


@pytest.mark.parametrize(("data", "field"), [
    ({"axes": {}}, "axes"),
    ({"axes": {"colour": [1]}}, "axes.colour"),
    ({"axes": {"num_gpus": 8}}, "axes.num_gpus"),
    ({"axes": {"num_gpus": [8]}, "fixed": {"num_gpus": 8}}, "fixed.num_gpus"),
    ({"axes": {"num_gpus": [8]}, "constraints": [{"field": "num_gpus"}]}, "constraints[0]"),
    ({"axes": {"num_gpus": [8]}, "sizes_bytes": [0]}, "sizes_bytes"),
    ({"axes": {"num_gpus": [8]}, "workload": "missing.yaml"}, "workload"),
    ({"axes": {"num_gpus": [8]}, "colour": 1}, "colour"),
    ({"axes": {"family": ["torus"], "num_gpus": [8]}}, "axes.family"),
    ({"axes": {"num_gpus": [8]}, "fixed": {"family": "torus"}}, "fixed.family"),
    ({"axes": {"num_gpus": [8, 0]}}, "axes.num_gpus"),
    ({"axes": {"num_gpus": [10_000_000_000]}}, "axes.num_gpus"),
    ({"axes": {"num_gpus": [8]}, "collectives": ["all-foo"]}, "collectives"),
])
def test_bad_space_names_field(data: dict, field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        space_from_dict(data)


def test_cli_bad_space_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: {colour: [1]}\n")
    result = CliRunner().invoke(cli, ["sweep", str(bad), "-o", str(tmp_path / "r.db")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "axes.colour" in result.output


def test_constraints_filter() -> None:
    space = space_from_dict({"axes": {"num_gpus": [8, 16, 32]},
                             "constraints": [{"field": "num_gpus", "max": 16}]})
    assert [d["num_gpus"] for d in space.designs()] == [8, 16]


def test_show_prints_front(full_run: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", "show", str(full_run), "--where",
                                      "family=rail-optimized"])
    assert result.exit_code == 0, result.output
    assert "rail-optimized" in result.output and "fat-tree" not in result.output
    assert sqlite3.connect(full_run).execute("SELECT COUNT(*) FROM designs").fetchone()[0] == 4


def test_report_sweep_page(full_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(cli, ["report", "--sweep", str(full_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    front = CliRunner().invoke(cli, ["sweep", "show", str(full_run)]).output
    shown = int(front.strip().splitlines()[-1].split()[0])
    assert page.count("<details>") == shown >= 1
    assert "<th>qty</th>" in page


def test_batches_keep_fabrics_together_and_balance_cost() -> None:
    from studies.sweep import _batches, _cost

    # 4 designs per fabric (placement and collectives do not change the fabric), in space
    # order: the largest fabrics of the axis come last
    todo = [{"family": family, "num_gpus": n, "placement": placement, "seed": seed}
            for family in ("clos", "rail-optimized") for n in range(256, 4097, 256)
            for placement in ("packed", "spread") for seed in (0, 1)]
    batches = _batches(todo, 2, None)
    assert sorted(json.dumps(v, sort_keys=True) for b in batches for v in b) == sorted(
        json.dumps(v, sort_keys=True) for v in todo)  # each design exactly once
    size = max(len(b) for b in batches)
    assert size == 4  # about sixteen tasks per worker (128 / 32), and a fabric's 4 designs
    for batch in batches:  # a fabric's designs share a batch
        fabrics = {(v["family"], v["num_gpus"]) for v in batch}
        assert len(batch) == 4 * len(fabrics)
    loads = [sum(_cost(v) for v in b) for b in batches]
    assert loads == sorted(loads, reverse=True)  # heaviest first
    heaviest_fabric = 4 * 4096
    assert max(loads) - min(loads) <= heaviest_fabric  # no batch left far behind
    # a batch size smaller than a fabric's designs cuts the group, never exceeds the size
    assert max(len(b) for b in _batches(todo, 2, 3)) <= 3


def test_default_batches_never_split_a_fabric_across_tasks() -> None:
    """Sixteen tasks per worker would cut a fabric's 10 designs into 2s; the default batch
    holds a whole group, so one worker builds the fabric once for all its designs."""
    from studies.sweep import _batches

    todo = [{"family": "clos", "num_gpus": n, "seed": seed}
            for n in (256, 512, 1024, 2048) for seed in range(10)]
    batches = _batches(todo, 2, None)
    for batch in batches:
        assert len(batch) == 10
    for n in (256, 512, 1024, 2048):
        assert sum(1 for b in batches if any(v["num_gpus"] == n for v in b)) == 1


def _space_with_workload(tmp_path: Path, name: str, workload: str) -> Path:
    (tmp_path / f"{name}.workload.yaml").write_text(workload)
    space = tmp_path / f"{name}.yaml"
    space.write_text("axes: {family: [clos], num_gpus: [64]}\n"
                     f"workload: {name}.workload.yaml\n")
    return space


def test_a_store_of_another_workload_is_refused_not_reused(full_run: Path,
                                                           tmp_path: Path) -> None:
    # the same designs with another workload: their stored rows are not this space's results
    db = tmp_path / "r.db"
    db.write_bytes(full_run.read_bytes())
    dense = (TINY.parent.parent / "workload_dense70b.yaml").read_text()
    other = tmp_path / "tiny_moe.yaml"
    other.write_text(TINY.read_text().replace("../workload_dense70b.yaml",
                                              str(TINY.parent.parent / "workload_moe.yaml")))
    before = _table(db)
    with pytest.raises(ValueError, match="another workload than this space's"):
        run_sweep(load_space(other), db, workers=1)
    assert _table(db) == before  # untouched
    # the same workload by another path is the same context: every design is already done
    same = tmp_path / "tiny_same.yaml"
    (tmp_path / "dense.yaml").write_text(dense)
    same.write_text(TINY.read_text().replace("../workload_dense70b.yaml", "dense.yaml"))
    summary = run_sweep(load_space(same), db, workers=1)
    assert (summary.skipped, summary.written) == (4, 0)


def test_a_workload_that_does_not_fit_a_design_fails_it_and_the_failure_is_retried(
        tmp_path: Path) -> None:
    # data_parallel 8 x tensor_parallel 8 fills 64 GPUs, not 48: the 48-GPU design fails with
    # the reason (it used to be a row with no error and no step time, counted as done)
    space = tmp_path / "s.yaml"
    (tmp_path / "w.yaml").write_text("data_parallel: 8\n")
    space.write_text("axes: {family: [clos], num_gpus: [48, 64]}\nworkload: w.yaml\n")
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["sweep", "run", str(space), "-o", str(db), "--workers", "1"])
    assert result.exit_code == 0, result.output  # one design of two ran
    assert "2 written (1 failed)" in result.output
    rows = {json.loads(r["inputs_json"])["num_gpus"]: r for r in _table(db)}
    assert rows[48]["error"].startswith("workload not evaluated: data_parallel x "
                                        "tensor_parallel x pipeline_parallel = 8 x 8 x 1 = 64")
    assert rows[48]["step_time_s"] is None and rows[64]["step_time_s"] > 0
    # the same space again: the design that ran is done, the failed one is evaluated again
    summary = run_sweep(load_space(space), db, workers=1)
    assert (summary.skipped, summary.written, summary.failed) == (1, 1, 1)
    assert len(_table(db)) == 2


def test_show_where_names_a_real_column_and_takes_counts(full_run: Path) -> None:
    bad = CliRunner().invoke(cli, ["sweep", "show", str(full_run), "--where", "colour=red"])
    assert bad.exit_code == 2 and "no column 'colour'" in bad.output
    by_count = CliRunner().invoke(cli, ["sweep", "show", str(full_run), "--where",
                                        "num_gpus=64", "--json"])
    front = json.loads(by_count.stdout)["results"]["front"]
    assert front and all(r["num_gpus"] == 64 for r in front)
    # a count as --gpus reads it: "64.0" and "1k" are counts, "lots" is not
    same = CliRunner().invoke(cli, ["sweep", "show", str(full_run), "--where", "num_gpus=64.0",
                                    "--json"])
    assert json.loads(same.stdout)["results"]["front"] == front
    by_k, exact = (json.loads(CliRunner().invoke(
        cli, ["sweep", "show", str(full_run), "--where", f"num_gpus={count}", "--json"]
    ).stdout)["results"]["front"] for count in ("1k", "1024"))
    assert exact and by_k == exact  # the fat-trees built for 32 and 64 GPUs hold 1,024
    bad_count = CliRunner().invoke(cli, ["sweep", "show", str(full_run), "--where",
                                         "num_gpus=lots"])
    assert bad_count.exit_code == 2 and "num_gpus=lots" in bad_count.output


def test_a_workload_that_fits_no_design_fails_the_run_with_its_reason(tmp_path: Path) -> None:
    # each design is judged on the GPUs its family builds (a fat-tree may hold more than
    # asked), so the run goes on and fails every design, exit 1, naming why
    space = _space_with_workload(tmp_path, "never", "tensor_parallel: 3\n")
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["sweep", "run", str(space), "-o", str(db),
                                      "--workers", "1"])
    assert result.exit_code == 1
    assert "every design of this run failed (1)" in result.output
    assert "tensor_parallel x pipeline_parallel = 3 x 1" in result.output


def test_a_store_of_failed_rows_only_takes_another_context(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    failing = space_from_dict({"axes": {"family": ["single-hop"], "num_gpus": [4096]}})
    assert run_sweep(failing, db, workers=1).failed == 1
    other = space_from_dict({"axes": {"family": ["clos"], "num_gpus": [64]},
                             "collectives": ["all-gather"]})
    summary = run_sweep(other, db, workers=1)
    assert (summary.written, summary.failed) == (1, 0)
    (row,) = _table(db)  # the failed row of the other context is gone
    assert row["family"] == "clos" and row["error"] == ""


def test_an_option_a_family_does_not_take_makes_no_second_design() -> None:
    # rail-optimized takes no oversubscription: it is one design, not two of the same fabric
    # (the second used to be stored labelled "oversubscription: 3" with the 1:1 numbers)
    space = space_from_dict({"axes": {"family": ["rail-optimized", "clos"], "num_gpus": [512],
                                      "oversubscription": [1, 3]}})
    assert space.designs() == [
        {"family": "rail-optimized", "num_gpus": 512},
        {"family": "clos", "num_gpus": 512, "oversubscription": 1},
        {"family": "clos", "num_gpus": 512, "oversubscription": 3},
    ]


def test_a_catalog_that_cannot_be_read_is_refused_before_anything_runs(tmp_path: Path) -> None:
    space = tmp_path / "s.yaml"
    space.write_text(f"axes: {{family: [clos], num_gpus: [64]}}\ncatalog: {tmp_path / 'no.toml'}\n")
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["sweep", "run", str(space), "-o", str(db)])
    assert result.exit_code == 1 and "cannot read catalog file" in result.output
    assert not db.exists()


def test_a_store_of_another_built_in_catalog_or_release_is_refused(full_run: Path,
                                                                   tmp_path: Path) -> None:
    # an upgrade that changes the built-in catalog (or the modeler) changes the same inputs'
    # results: the store says which it was made with
    from studies.sweep_store import set_meta

    for name, label in (("builtin_catalog_sha256", "built-in catalog"),
                        ("fabric_modeler_version", "modeler version")):
        db = tmp_path / f"{name}.db"
        db.write_bytes(full_run.read_bytes())
        con = open_store(db)
        context = read_meta(con)["context"]
        set_meta(con, {"context": {**context, name: "older"}})
        con.close()
        with pytest.raises(ValueError, match=f"another {label} than this space's"):
            run_sweep(load_space(TINY), db, workers=1)
