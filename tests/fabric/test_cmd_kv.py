"""``fabric kv``: JSON keys and values, the documented examples, and one-line errors."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HF = ROOT / "tests" / "data" / "hf_configs"


def run(*args: str):
    return CliRunner().invoke(cli, ["kv", *args], catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


def test_help():
    result = run("-h")
    assert result.exit_code == 0 and "--streaming" in result.stdout


@pytest.mark.parametrize("context, tokens", [("128k", 131072), ("131072", 131072), ("1M", 1048576)])
def test_json_keys_and_context_forms(context, tokens):
    data = run_json("--model", "llama-3.1-70b", "--context", context, "--tp", "8")
    assert data["context_tokens"] == tokens
    assert data["kv_bytes_per_token"] == 327680  # 80 x 8 x 128 x 2 x 2 B
    assert data["kv_bytes"] == tokens * 327680
    for key in ("transfer_time_s", "ttft_recompute_s", "ttft_cached_s", "fetch_time_s",
                "breakeven_bandwidth_bytes_per_s", "kv_bytes_moved", "transfer_exposed_s"):
        assert data[key] > 0, key
    assert data["prefill_gpus"][0] == "node0/gpu0" and data["decode_gpus"][0] == "node3/gpu0"


def test_breakeven_of_section_2_4():
    # derived: 4.2 GB/s at 128K for Llama-3.1-70B on 8 x H100 at 50% MFU
    data = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8")
    assert data["breakeven_bandwidth_bytes_per_s"] / 1e9 == pytest.approx(4.2, rel=0.03)


@pytest.mark.parametrize("context, seconds", [("1000000", 6 * 60), ("10000000", 8.3 * 3600)])
def test_essay_example(context, seconds):
    # docs/kv.md, scenario A (Lightbits Labs blog, 2026): over six minutes at 1M, 8.3 h at 10M
    data = run_json("--model", "llama-4-scout", "--context", context, "--gpu", "l40s", "--tp", "4",
                    "--mfu", "0.3")
    assert data["ttft_recompute_s"] == pytest.approx(seconds, rel=0.10)
    assert data["prefill_flops_per_s"] == pytest.approx(4.344e14)


def test_hf_config_equals_builtin():
    builtin = run_json("--model", "deepseek-v3", "--context", "32k", "--tp", "8")
    from_file = run_json("--model", str(HF / "deepseek-v3.json"), "--context", "32k", "--tp", "8")
    assert from_file["kv_bytes_per_token"] == builtin["kv_bytes_per_token"] == 70272  # 61x576x2
    assert from_file["kv_bytes_moved"] == builtin["kv_bytes_moved"]
    assert from_file["replication_factor"] == 8.0


def test_fp8_halves_and_tiers_differ():
    bf16 = run_json("--model", "llama-3.1-8b", "--context", "32k")
    fp8 = run_json("--model", "llama-3.1-8b", "--context", "32k", "--dtype", "fp8")
    assert fp8["kv_bytes"] * 2 == bf16["kv_bytes"]
    hbm = run_json("--model", "llama-3.1-8b", "--context", "32k", "--tier", "hbm")
    nvme = run_json("--model", "llama-3.1-8b", "--context", "32k", "--tier", "nvme")
    assert hbm["fetch_time_s"] == 0 < nvme["fetch_time_s"]


def test_oversubscribed_clos_topology_flags():
    data = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8",
                    "--topology", "clos", "--gpus", "128", "--oversubscription", "3")
    assert data["topology"] == "clos"


def test_request_streaming_exposes_the_whole_transfer():
    layer = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8")
    request = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8",
                       "--streaming", "request")
    assert request["transfer_exposed_s"] == request["transfer_time_s"]
    assert layer["transfer_exposed_s"] < request["transfer_exposed_s"] / 10


def test_table_output():
    result = run("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8")
    assert result.exit_code == 0
    assert "327,680 B" in result.stdout and "PD transfer" in result.stdout


@pytest.mark.parametrize("args, code, message", [
    (["--model", "gpt-9", "--context", "1k"], 1, "known models: deepseek-v3, llama-3.1-405b"),
    (["--model", "llama-3.1-70b", "--context", "0"], 2, "count must be a whole number >= 1"),
    (["--model", "llama-3.1-70b", "--context", "lots"], 2, "--context"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--tp", "3"], 1, "tp must divide the 64"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--prefill-at", "7"], 1, "prefill node 7"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--storage-at", "2"], 2, "--tier remote only"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--tier", "remote", "--storage-at", "9"], 1,
     "storage node 9"),
])
def test_errors_are_one_line(args, code, message):
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error")]) == 1


def test_malformed_config_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"num_hidden_layers": 4, "hidden_size": 64')
    result = run("--model", str(path), "--context", "1k")
    assert result.exit_code == 1
    assert f"{path}: not valid JSON" in result.stderr
    path.write_text('{"num_hidden_layers": 4, "hidden_size": 64}')
    result = run("--model", str(path), "--context", "1k")
    assert result.exit_code == 1 and "field 'num_attention_heads' is missing" in result.stderr


def _documented_commands() -> list[str]:
    text = (ROOT / "docs" / "kv.md").read_text()
    return [line[2:] for line in text.splitlines() if line.startswith("$ fabric kv ")]


def _documented_ttft() -> dict[int, str]:
    """The scenario-A table of docs/kv.md: context tokens -> the ttft_recompute_s it states."""
    out = {}
    for line in (ROOT / "docs" / "kv.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].endswith(" tokens") and " s = " in cells[1]:
            out[int(cells[0].split()[0].replace(",", ""))] = cells[1].split()[0]
    return out


def test_docs_state_what_the_command_prints():
    # the figures docs/kv.md quotes for its scenario-A commands are what those commands print
    stated = _documented_ttft()
    assert sorted(stated) == [1_000_000, 10_000_000]
    for tokens, text in stated.items():
        data = run_json("--model", "llama-4-scout", "--context", str(tokens), "--gpu", "l40s",
                        "--tp", "4", "--mfu", "0.3")
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert f"{data['ttft_recompute_s']:,.{decimals}f}" == text, tokens
    big = run_json("--model", "llama-4-scout", "--context", "10000000", "--gpu", "l40s",
                   "--tp", "4", "--mfu", "0.3")
    text = (ROOT / "docs" / "kv.md").read_text()
    assert f"`kv_bytes` = {big['kv_bytes'] / 1e9:.1f} GB" in text
    assert f"({big['kv_bytes_per_gpu'] / 1e9:.0f} GB per GPU" in text
    assert big["fits_gpu_memory"] is False


@pytest.mark.parametrize("command", _documented_commands())
def test_documented_commands_run(command):
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
