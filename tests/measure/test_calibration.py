"""The calibration result and its file: the model's protocol, save / load, schema checks."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectives.calibration import ModelCalibration, ModelParams, StaticCalibration
from collectives.nccl_bridge import predict_nccl
from measure.calibrate import calibrate
from measure.calibration import (
    CALIBRATION_SCHEMA,
    CALIBRATION_VERSION,
    Band,
    Calibration,
    calibration_from_dict,
    describe_graph,
    load_calibration,
    save_calibration,
)
from measure.records import Record
from topologies.generic import generic_fabric

TRUTH = ModelParams(alpha_s=5e-6, efficiency_by_link={"host-internal": 0.8, "network": 0.6},
                    algorithm_set="nccl")  # what a fit chooses among


@pytest.fixture(scope="module")
def fitted(synthetic: Callable[..., list[Record]]) -> Calibration:
    G = generic_fabric(2, 4)
    return calibrate(synthetic(G, TRUTH, noise=0.02, seed=5), G, holdout="every:4")


@pytest.fixture(scope="module")
def fitted_nccl() -> Calibration:
    G = generic_fabric(1, 8)
    gpus = [f"node0/gpu{g}" for g in range(8)]
    truth = StaticCalibration(flavor="nccl", nccl={"bw_intra_scale": 0.9, "latency_scale": 3.0})
    preds = predict_nccl(G, "all-reduce", [2**k for k in range(3, 34, 3)], ranks=gpus,
                         calibration=truth)
    records = [Record(operation="all-reduce", size_bytes=p.size_bytes, num_ranks=8, num_hosts=1,
                      hosts=["h"] * 8, time_s=p.time_s) for p in preds]
    return calibrate(records, G, flavor="nccl")


# -- the model's protocol --------------------------------------------------------------------
@pytest.mark.parametrize("flavor", ["ideal", "nccl"])
def test_fitted_calibration_is_a_model_calibration(fitted, fitted_nccl, tmp_path, flavor):
    cal = fitted if flavor == "ideal" else fitted_nccl
    assert cal.flavor == flavor
    assert isinstance(cal, ModelCalibration)
    back = load_calibration(save_calibration(cal, tmp_path / "cal.json"))
    assert isinstance(back, ModelCalibration)
    assert back.flavor == flavor and back.nccl == cal.nccl
    low, high = back.band(1e-3)
    assert low < 1e-3 < high  # a fit with noise or rounding has a band of nonzero width


def test_nccl_calibration_carries_its_values_and_version(fitted_nccl):
    assert fitted_nccl.nccl_version
    assert fitted_nccl.nccl["bw_intra_scale"] == pytest.approx(0.9, rel=1e-3)
    assert fitted_nccl.nccl["latency_scale"] == pytest.approx(3.0, rel=1e-3)
    assert fitted_nccl.params == ModelParams()  # the ideal parameters stay neutral


def test_band_is_symmetric_in_log_time(fitted):
    h = fitted.band_log_halfwidth
    assert h == pytest.approx(2 * math.hypot(fitted.residual_log_rms,
                                             fitted.parameter_log_spread))
    band = fitted.band(2e-3)
    assert isinstance(band, Band)
    assert band.high_s / 2e-3 == pytest.approx(2e-3 / band.low_s) == pytest.approx(math.exp(h))


@pytest.mark.parametrize(("change", "message"), [
    ({"params": {"alpha_s": 1e-6}}, "params must be a ModelParams, got dict"),
    ({"num_points": 0}, "num_points must be an integer >= 1"),
    ({"residual_log_rms": float("nan")}, "residual_log_rms must be a finite number >= 0"),
    ({"parameter_log_spread": -1.0}, "parameter_log_spread must be a finite number >= 0"),
])
def test_calibration_validates_its_fields(fitted, change, message):
    fields = {k: getattr(fitted, k) for k in fitted.__dataclass_fields__}
    with pytest.raises(ValueError, match=message):
        Calibration(**{**fields, **change})


def test_describe_graph_keeps_scalar_parameters():
    G = generic_fabric(2, 4)
    G.graph["params"]["hosts"] = ["a", "b"]  # not a scalar: not recorded
    described = describe_graph(G)
    assert described["topology"] == "generic-two-level"
    assert described["params"]["num_hosts"] == 2 and "hosts" not in described["params"]


# -- the file --------------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path, fitted):
    path = save_calibration(fitted, tmp_path / "cal.json")
    data = json.loads(path.read_text())
    assert data["schema"] == CALIBRATION_SCHEMA and data["version"] == CALIBRATION_VERSION == 1
    back = load_calibration(path)
    assert back == fitted
    assert back.band(1e-3) == fitted.band(1e-3)
    assert calibration_from_dict(data) == fitted
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_save_writes_nan_as_null(tmp_path, synthetic):
    G = generic_fabric(2, 4)
    two = synthetic(G, TRUTH, sizes=[8, 2**28])[:2]  # one-host all-reduce: 2 points, 2 parameters
    cal = calibrate(two, G)
    assert math.isnan(cal.alpha_s_stderr)
    assert any("no standard errors" in n for n in cal.notes)
    path = save_calibration(cal, tmp_path / "c.json")
    assert json.loads(path.read_text())["alpha_s_stderr"] is None
    back = load_calibration(path)
    assert math.isnan(back.alpha_s_stderr)


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read calibration file"),
    ("", "invalid JSON"),
    ("{not json", "invalid JSON at line 1"),
    ("[1, 2]", "not a fabric calibration"),
    ('{"schema": "other"}', "schema 'other'"),
    ('{"schema": "fabric-calibration", "version": 9}', "version 9 is not supported"),
    ('{"schema": "fabric-calibration", "version": 1}', "missing 'params'"),
])
def test_load_calibration_errors(tmp_path, content, message):
    path = tmp_path / "cal.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        load_calibration(path)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{path}") or "cannot read" in str(err.value)


def test_load_calibration_rejects_binary(tmp_path):
    path = tmp_path / "cal.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_calibration(path)


@pytest.mark.parametrize(("field", "value", "message"), [
    (("params", "alpha_s"), "fast", "alpha_s must be a number"),
    (("params", "efficiency_by_link"), {"network": 7.0}, "must be in \\(0, 1.5\\]"),
    (("params",), [], "params must be an object"),
    (("num_points",), 0, "num_points must be an integer >= 1"),
    (("fitted_sizes_bytes",), [1.5], "fitted_sizes_bytes must be a list of integers"),
    (("fit_points",), [{"size": 1}], "bad calibration field"),
    (("graph",), "fat-tree", "graph must be an object"),
    (("notes",), "fine", "notes must be a list"),
])
def test_load_calibration_bad_fields(tmp_path, fitted, field, value, message):
    data = json.loads(save_calibration(fitted, tmp_path / "c.json").read_text())
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        load_calibration(tmp_path / "c.json")


_FUZZ = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@_FUZZ
@given(data=st.binary(max_size=300))
def test_load_calibration_fuzz_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    with pytest.raises(ValueError):
        load_calibration(path)


@_FUZZ
@given(body=st.dictionaries(st.sampled_from(["params", "num_points", "graph", "fit_points",
                                             "alpha_s_stderr", "fitted_sizes_bytes", "notes"]),
                            _json, max_size=7))
def test_load_calibration_fuzz_fields(tmp_path: Path, body: dict) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps({"schema": CALIBRATION_SCHEMA, "version": 1, **body}))
    with pytest.raises(ValueError):
        load_calibration(path)


def test_a_fit_with_no_points_to_spare_gets_the_default_band_not_x1(tmp_path) -> None:
    """Two sizes for two parameters fit exactly: that measures none of the fit's error, so the
    band is the default (x1.5), not x1.000 (false precision on every prediction)."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from fabric.cli import cli
    from measure.calibration import NO_EVIDENCE_LOG_HALFWIDTH
    from measure.records import read_records, write_records

    log = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
           / "xxrjun_cluster01-h100_1node_all_reduce.log")
    runner = CliRunner()
    every = tmp_path / "all.jsonl"
    assert runner.invoke(cli, ["import", str(log), "-o", str(every)]).exit_code == 0
    two = tmp_path / "two.jsonl"
    write_records([r for r in read_records(every) if not r.in_place
                   and r.size_bytes in (32 << 20, 8 << 30)], two)
    result = runner.invoke(cli, ["calibrate", str(two), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)["results"]
    assert body["num_points"] == 2
    assert body["band_log_halfwidth"] == pytest.approx(NO_EVIDENCE_LOG_HALFWIDTH)
    assert any("measured none of its own error" in note for note in body["notes"])
