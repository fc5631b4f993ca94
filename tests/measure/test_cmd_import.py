"""CLI tests of ``fabric import`` (real logs from tests/data/logs, see SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.cli import cli
from measure.records import read_records

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"
TOGETHER = LOGS / "nccl-tests" / "together_h100_all_reduce_ring.out"
XXRJUN = LOGS / "nccl-tests" / "xxrjun_h100_2node_alltoall_sendrecv.log"
OLD = LOGS / "nccl-tests" / "wohlbier_dgx2_v100_old_format.md"
OSU_REDUCE = LOGS / "osu" / "ompi_pr12318_osu_reduce_v7.3_full.txt"
OSU_ARCHER2 = LOGS / "osu" / "archer2_cray-ex-slingshot_2node_osu_allreduce_v5.4.1.txt"
IMB_PINGPONG = LOGS / "imb" / "ohpc_issue207_imb_pingpong_mvapich2.txt"


def _run(*args: str):
    return CliRunner().invoke(cli, ["import", *args], catch_exceptions=False)


def test_json_summary_and_file_read_back(tmp_path):
    out = tmp_path / "records.jsonl"
    result = _run(str(TOGETHER), str(XXRJUN), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["results"]
    assert summary["num_records"] == 62 + 40
    first, second = summary["files"]
    assert (first["format"], first["operations"], first["num_records"]) == (
        "nccl-tests", ["all-reduce"], 62)
    assert (first["num_ranks"], first["num_hosts"]) == ([8], [1])
    assert (first["min_size_bytes"], first["max_size_bytes"]) == (8, 8589934592)
    assert second["operations"] == ["all-to-all", "send-recv"]
    assert second["hosts"] == ["cnode4-005", "cnode4-009"]
    records = read_records(out)
    assert len(records) == 102
    # together_h100_all_reduce_ring.out: "8589934592 ... 40838.9 210.34 368.09 0 ..."
    last_out_of_place = records[60]
    assert (last_out_of_place.size_bytes, last_out_of_place.time_s) == (8589934592, 40838.9e-6)


def test_table_output(tmp_path):
    out = tmp_path / "r.jsonl"
    result = _run(str(XXRJUN), "-o", str(out))
    assert result.exit_code == 0
    assert "all-to-all,send-recv" in result.stdout
    assert "32MiB..16GiB" in result.stdout
    assert f"wrote 40 records to {out}" in result.stdout


def test_warnings_for_wrong_points_on_stderr(tmp_path):
    text = TOGETHER.read_text().replace(
        "  80.49  104.23  182.39       0", "  80.49  104.23  182.39       7")
    log = tmp_path / "wrong.log"
    log.write_text(text)
    result = _run(str(log), "-o", str(tmp_path / "r.jsonl"), "--json")
    assert result.exit_code == 0
    assert "1 points report #wrong > 0" in result.stderr and "8388608" in result.stderr
    assert json.loads(result.stdout)["results"]["files"][0]["num_wrong_points"] == 1


def test_skipped_lines_are_listed(tmp_path):
    log = tmp_path / "cut.log"
    log.write_text(TOGETHER.read_text().replace("  126.62", "  oops"))
    result = _run(str(log), "-o", str(tmp_path / "r.jsonl"), "--json")
    assert result.exit_code == 0
    (skipped,) = json.loads(result.stdout)["results"]["files"][0]["skipped_lines"]
    assert skipped["line_number"] == 39
    assert f"{log}:39: skipped" in result.stderr


def test_osu_needs_ranks_then_imports(tmp_path):
    # ARCHER2's osu_allreduce log has no launcher line: OSU never prints the rank count.
    out = tmp_path / "r.jsonl"
    result = _run(str(OSU_ARCHER2), "-o", str(out))
    assert result.exit_code == 1
    assert "pass --ranks N" in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    result = _run(str(OSU_ARCHER2), "-o", str(out), "--ranks", "256", "--hosts", "2", "--json")
    assert result.exit_code == 0
    records = read_records(out)
    assert {(r.num_ranks, r.num_hosts, r.source) for r in records} == {(256, 2, "osu")}
    assert all(not r.inferred for r in records)


def test_osu_ranks_from_the_mpirun_line(tmp_path):
    out = tmp_path / "r.jsonl"
    result = _run(str(OSU_REDUCE), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["results"]["files"][0]
    assert summary["num_ranks"] == [192]
    assert summary["inferred"] == [
        f"{OSU_REDUCE}:6: num_ranks 192 inferred from the launcher line 1 (192 processes)"]
    assert {r.inferred["num_ranks"] for r in read_records(out)} == {
        "the launcher line 1 (192 processes)"}


def test_forced_format_mismatch_is_exit_1(tmp_path):
    out = tmp_path / "r.jsonl"
    result = _run(str(IMB_PINGPONG), "--format", "osu", "-o", str(out))
    assert result.exit_code == 1
    assert "no OSU data lines found" in result.output
    assert "it reads as IMB (drop --format osu, or give --format imb)" in result.output
    assert result.output.strip().count("\n") == 0
    assert not out.exists()


def test_counts_the_log_contradicts_are_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    log = LOGS / "nccl-tests" / "abci_anode-a100_4node_all_reduce.log"  # 32 ranks, 4 hosts
    result = _run(str(log), "--ranks", "5", "-o", str(out))
    assert result.exit_code == 2
    assert "--ranks 5: " in result.output and "states 32" in result.output
    result = _run(str(log), "--hosts", "3", "-o", str(out))
    assert result.exit_code == 2 and "--hosts 3: " in result.output
    assert not out.exists()
    assert _run(str(log), "--ranks", "32", "--hosts", "4", "-o", str(out)).exit_code == 0
    osu = LOGS / "osu" / "abci_anode-a100_4node_osu_allreduce_cuda.txt"
    result = _run(str(osu), "--ranks", "4", "--hosts", "100", "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2
    assert "--hosts 100 cannot exceed --ranks 4" in result.output


@pytest.mark.parametrize("content", [b"", b"\n\n\n", b"\x00\x01\x02binary\xff\xfe" * 50,
                                     b"just some text\nno benchmark here\n"])
def test_garbage_logs_exit_1_with_one_line_and_no_file(tmp_path, content):
    bad = tmp_path / "bad.log"
    bad.write_bytes(content)
    out = tmp_path / "r.jsonl"
    result = _run(str(XXRJUN), str(bad), "-o", str(out))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(bad) in lines[0]
    assert not out.exists()


def test_truncated_log_mid_header_is_exit_1(tmp_path):
    bad = tmp_path / "trunc.log"
    bad.write_text(TOGETHER.read_text()[:900])  # stops inside the rank lines
    result = _run(str(bad), "-o", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 1
    assert "no nccl-tests, OSU or IMB data lines found" in result.output


def test_missing_log_is_exit_1(tmp_path):
    result = _run(str(tmp_path / "nope.log"), "-o", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 1
    assert "cannot read the log" in result.output


def test_failure_keeps_an_existing_output_untouched(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text("previous\n")
    bad = tmp_path / "bad.log"
    bad.write_text("nothing\n")
    assert _run(str(bad), "-o", str(out)).exit_code == 1
    assert out.read_text() == "previous\n"


def test_an_input_given_as_the_output_is_refused_and_kept(tmp_path):
    """-o naming the log (or, for calibrate, the records) would replace it with its output."""
    log = tmp_path / "run.log"
    log.write_bytes(TOGETHER.read_bytes())
    result = _run(str(log), "-o", str(log))
    assert result.exit_code == 1
    assert "one of the inputs" in result.output and "Traceback" not in result.output
    assert log.read_bytes() == TOGETHER.read_bytes()
    records = tmp_path / "r.jsonl"
    assert _run(str(log), "-o", str(records)).exit_code == 0
    before = records.read_bytes()
    cal = CliRunner().invoke(cli, ["calibrate", str(records), "-o", str(records)])
    assert cal.exit_code == 1 and "one of the inputs" in cal.output
    assert records.read_bytes() == before
    assert _run(str(log), "-o", "-").exit_code == 1  # not a file named '-'
    assert not Path("-").exists()


def test_usage_errors_exit_2(tmp_path):
    assert _run("-o", str(tmp_path / "r.jsonl")).exit_code == 2
    assert _run(str(XXRJUN)).exit_code == 2
    assert _run(str(XXRJUN), "-o", "x", "--ranks", "0").exit_code == 2


def test_help():
    result = _run("-h")
    assert result.exit_code == 0 and "--ranks" in result.stdout


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*")))
def test_examples_import_as_is(tmp_path, example):
    out = tmp_path / "r.jsonl"
    result = _run(str(example), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert len(read_records(out)) == json.loads(result.stdout)["results"]["num_records"] > 0


def test_old_format_log_imports(tmp_path):
    out = tmp_path / "r.jsonl"
    result = _run(str(OLD), "-o", str(out), "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)["results"]["files"][0]
    assert summary["operations"] == ["all-gather", "all-reduce"]
    assert summary["num_zero_size_rows"] == 3
    records = read_records(out)
    assert all(r.num_wrong is None for r in records)


SRUN = LOGS / "nccl-tests" / "issue290_srun_h100_2node_all_reduce.log"
IMB_MDLIST = LOGS / "imb" / "ocitutorials_bm-optimized3-36_4node_allreduce_imb2018_mdlist.md"


def test_inferences_are_reported_on_stderr_in_json_and_in_records(tmp_path):
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(cli, ["import", str(SRUN), "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = ("operation all-reduce inferred from busbw/algbw ratio 1.875 with 16 ranks; "
                "redop sum, root -1; size = count x 4 B")
    assert f"inferred: {SRUN}:24: {expected}" in result.stderr.splitlines()
    assert "inferred" not in result.stdout
    records = read_records(out)
    assert {r.inferred["operation"] for r in records} == {expected.split(" from ", 1)[1]}
    result = _run(str(SRUN), "-o", str(out), "--json")
    (summary,) = json.loads(result.stdout)["results"]["files"]
    assert summary["inferred"] == [f"{SRUN}:24: {expected}"]


def test_a_collective_the_table_cannot_tell_is_refused_naming_the_flag(tmp_path):
    # xxrjun's alltoall run without its "Collective test starting: alltoall_perf" line: the
    # columns (redop none, root -1, size = count x 8 B x 2, busbw/algbw 1/2) fit all-gather too.
    text = "\n".join(XXRJUN.read_text().splitlines()[1:22])
    log = tmp_path / "excerpt.log"
    log.write_text(text)
    out = tmp_path / "r.jsonl"
    result = _run(str(log), "-o", str(out))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "all-gather or all-to-all" in line
    assert "--operation all-gather or --operation all-to-all" in line
    assert not out.exists()
    assert _run(str(log), "-o", str(out), "--operation", "all-to-all").exit_code == 0
    assert {r.operation for r in read_records(out)} == {"all-to-all"}


def test_imb_headers_inside_a_markdown_list_and_hosts_from_mpirun(tmp_path):
    out = tmp_path / "r.jsonl"
    result = _run(str(IMB_MDLIST), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    records = read_records(out)
    # "    # Benchmarking Allreduce" / "    # #processes = 144"; "$ mpirun -n 144 -N 36 ..."
    assert {(r.operation, r.num_ranks, r.num_hosts, r.ranks_per_host) for r in records} == {
        ("all-reduce", 144, 4, 36)}
    # "            8         1000         4.50        18.59        11.69": t_max is the time.
    assert next(r for r in records if r.size_bytes == 8).time_s == 18.59e-6


H100_1NODE = LOGS / "nccl-tests" / "xxrjun_cluster01-h100_1node_all_reduce.log"


def _bare(tmp_path: Path) -> Path:
    """The issue-290 log (16 ranks) without its srun prefixes and rank lines: only the
    printed busbw/algbw (1.875) tells the rank count."""
    lines = [line.split(": ", 1)[1] if line[:6].strip().rstrip(":").isdigit() and ": " in line
             else line for line in SRUN.read_text().splitlines()]
    bare = tmp_path / "bare.log"
    bare.write_text("\n".join(line for line in lines if "Rank " not in line) + "\n")
    return bare


def test_options_the_log_contradicts_are_refused_or_flagged(tmp_path):
    bare, out = _bare(tmp_path), tmp_path / "r.jsonl"
    forced = _run(str(bare), "--ranks", "32", "-o", str(out))
    assert forced.exit_code == 1
    assert "--ranks 32 fits no collective" in forced.output and "16 ranks" in forced.output
    named = _run(str(bare), "--ranks", "32", "--operation", "all-reduce", "-o", str(out))
    assert named.exit_code == 0  # kept (old builds printed other factors), with a warning
    assert "busbw/algbw 1.875 is all-reduce with 16 ranks" in named.stderr
    uneven = _run(str(bare), "--hosts", "3", "-o", str(out))
    assert uneven.exit_code == 2 and "do not split evenly over 3 hosts" in uneven.output
    assert _run(str(bare), "--hosts", "17", "-o", str(out)).exit_code == 2
    other = _run(str(H100_1NODE), "--operation", "broadcast", "-o", str(out))
    assert other.exit_code == 2 and "names its collective (all-reduce)" in other.output
    osu = LOGS / "osu" / "libfabric_pr8680_osu_latency_v7.0.txt"  # launched with -n 2
    launched = _run(str(osu), "--ranks", "4", "-o", str(tmp_path / "osu.jsonl"))
    assert launched.exit_code == 1 and "contradicts the launcher line" in launched.output
    assert not (tmp_path / "osu.jsonl").exists()


def test_a_table_row_that_does_not_read_as_one_is_reported(tmp_path):
    lines = H100_1NODE.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["33554432"])
    for changed in ("33,554,432 4,194,304", "32M 4194304", "3.3554432e7 4194304"):
        log = tmp_path / "v.log"
        log.write_text("".join(lines[:at] + [lines[at].replace("33554432       4194304",
                                                               changed)] + lines[at + 1:]))
        result = _run(str(log), "-o", str(tmp_path / "r.jsonl"), "--json")
        assert result.exit_code == 0
        (summary,) = json.loads(result.stdout)["results"]["files"]
        assert [s["line_number"] for s in summary["skipped_lines"]] == [at + 1]
        assert "plain integers" in summary["skipped_lines"][0]["reason"]
    # lines that start with a digit but are no row: an NCCL INFO line of a host named by its
    # address, a job script's timestamped line
    noise = ["10-0-1-5:1234:1234 [0] NCCL INFO comm 0x55 rank 0 nranks 8 - Destroy COMPLETE\n",
             "2024-05-01 12:00:03 INFO step 2 of 3 done\n"]
    log.write_text("".join(lines[:at + 1] + noise + lines[at + 1:]))
    result = _run(str(log), "-o", str(tmp_path / "r.jsonl"), "--json")
    assert json.loads(result.stdout)["results"]["files"][0]["skipped_lines"] == []


def test_calibrate_says_how_to_give_an_osu_log_its_ranks_and_reads_a_bom(tmp_path):
    osu = LOGS / "osu" / "abci_anode-a100_4node_osu_allreduce_host.txt"
    result = CliRunner().invoke(cli, ["calibrate", str(osu)])
    assert result.exit_code == 1
    assert "give them to import first: fabric import" in result.output
    assert "--ranks N [--hosts H] -o records.jsonl" in result.output
    records = tmp_path / "r.jsonl"
    assert _run(str(H100_1NODE), "-o", str(records)).exit_code == 0
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + records.read_bytes())  # as a Windows editor saves it
    assert len(read_records(bom)) == len(read_records(records))
    assert CliRunner().invoke(cli, ["calibrate", str(bom)]).exit_code == 0


def test_calibrate_names_the_points_whose_results_were_wrong(tmp_path):
    lines = H100_1NODE.read_text().splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if line.split()[:1] in (["268435456"],
                                                                        ["536870912"])]
    for i in rows:
        cells = lines[i].split()
        cells[8] = "5"  # out-of-place #wrong
        lines[i] = "  ".join(cells) + "\n"
    log = tmp_path / "wrong.log"
    log.write_text("".join(lines))
    result = CliRunner().invoke(cli, ["calibrate", str(log)])
    assert result.exit_code == 0
    assert "2 point(s) left out: their results were wrong" in result.stderr


def test_a_log_given_twice_is_imported_once(tmp_path):
    out = tmp_path / "r.jsonl"
    result = _run(str(H100_1NODE), str(H100_1NODE.parent / "." / H100_1NODE.name), "-o",
                  str(out))
    assert result.exit_code == 0 and "given twice: imported once" in result.stderr
    assert len(read_records(out)) == 20


def test_validate_says_which_held_out_points_were_fitted(tmp_path):
    records, cal = tmp_path / "r.jsonl", tmp_path / "half.json"
    assert _run(str(H100_1NODE), "-o", str(records)).exit_code == 0
    runner = CliRunner()
    assert runner.invoke(cli, ["calibrate", str(records), "--holdout", "half", "-o",
                               str(cal)]).exit_code == 0
    result = runner.invoke(cli, ["validate", str(records), "--calibration", str(cal),
                                 "--holdout", "every:3", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)["results"]
    fitted = sum(p["fitted"] for p in body["points"])
    assert 0 < fitted < len(body["points"])
    assert any(f"{fitted} of the {len(body['points'])} points every:3 selects were fit points"
               in note for note in body["notes"])


def test_predict_with_a_calibration_says_what_it_never_measured(tmp_path):
    """predict --calibration at 128x the fitted ranks, for collectives the fit never ran, says
    why the band is wide (validate said so; predict did not)."""
    records, cal = tmp_path / "r.jsonl", tmp_path / "cal.json"
    abci = LOGS / "nccl-tests" / "abci_anode-a100_4node_all_reduce.log"
    assert _run(str(abci), "-o", str(records), "--gpu", "a100-40gb", "--nic", "hdr200",
                "--nics-per-node", "4").exit_code == 0
    runner = CliRunner()
    assert runner.invoke(cli, ["calibrate", str(records), "-o", str(cal)]).exit_code == 0
    result = runner.invoke(cli, ["predict", "--topology", "clos", "--gpus", "4096",
                                 "--calibration", str(cal), "--collectives",
                                 "all-to-all,broadcast", "--sizes", "1M"])
    assert result.exit_code == 0, result.output
    assert "rank count(s) 4096 outside the fitted 32" in result.stderr
    assert "direct (all-to-all)" in result.stderr and "never run by the fit points" in (
        result.stderr)
    got = runner.invoke(cli, ["predict", "--topology", "clos", "--gpus", "4096",
                              "--calibration", str(cal), "--sizes", "1M", "--json"])
    notes = json.loads(got.stdout)["results"]["notes"]  # the same notes, in the document
    assert any("rank count(s) 4096 outside the fitted 32" in n for n in notes)


def test_the_nccl_flavor_takes_the_release_the_records_ran(tmp_path):
    result = CliRunner().invoke(cli, ["calibrate", str(TOGETHER), "--flavor", "nccl", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)["results"]
    assert body["nccl_version"] == "2.23"  # the log ran NCCL 2.26.2
    assert any("ran NCCL 2.26.2: the tuner's constants of NCCL 2.23" in n for n in body["notes"])


def test_operation_for_the_log_that_needs_it_among_others(tmp_path):
    """--operation applies to the tables whose log does not name them; another log that names
    its own does not make it a contradiction."""
    bare = _bare(tmp_path)
    out = tmp_path / "r.jsonl"
    result = _run(str(XXRJUN), str(bare), "--operation", "all-reduce", "-o", str(out))
    assert result.exit_code == 0, result.output
    got = read_records(out)
    assert "all-reduce" in {r.operation for r in got}  # the bare log's table took it
    assert {r.operation for r in got} - {"all-reduce"}  # the other log kept its own


def test_calibrate_takes_the_nccl_release_to_fit(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["calibrate", str(TOGETHER), "--flavor", "nccl",
                                 "--nccl-version", "2.30", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"]["nccl_version"] == "2.30"  # not the log's
    assert runner.invoke(cli, ["calibrate", str(TOGETHER), "--nccl-version", "2.30"]
                         ).exit_code == 2  # the ideal flavor has no NCCL release
    unknown = runner.invoke(cli, ["calibrate", str(TOGETHER), "--flavor", "nccl",
                                  "--nccl-version", "9.9"])
    assert unknown.exit_code == 1 and "known: 2.18" in unknown.output


def test_calibrate_says_how_to_give_an_imb_log_its_ranks(tmp_path):
    # every parser ends its "rank count unknown" message with the same advice, which calibrate
    # turns into the import line to run (measure.parsers.RANKS_ADVICE)
    text = (LOGS / "imb" / "ocitutorials_bm-optimized3-36_4node_allreduce_imb2021.6_mdlist.md"
            ).read_text()
    log = tmp_path / "imb.txt"
    log.write_text("".join(line for line in text.splitlines(keepends=True)
                           if "#processes" not in line))
    result = CliRunner().invoke(cli, ["calibrate", str(log)])
    assert result.exit_code == 1
    assert f"give them to import first: fabric import {log} --ranks N" in result.output
