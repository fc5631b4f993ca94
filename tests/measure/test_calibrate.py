"""Calibration: parameter recovery from synthetic points, the flavor dispatch, real logs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import topologies
from collectives.calibration import FLAVORS, ModelParams
from collectives.predict import predict
from measure.calibrate import calibrate
from measure.calibrate_nccl import calibrate_nccl
from measure.calibration import load_calibration, save_calibration
from measure.fit_choice import add_corrections
from measure.fit_ideal import calibrate_ideal
from measure.parsers import parse_log_file
from measure.records import Record
from topologies.generic import generic_fabric

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
TOGETHER = LOGS / "together_h100_all_reduce_ring.out"
XXRJUN = LOGS / "xxrjun_h100_2node_alltoall_sendrecv.log"

TRUTH = ModelParams(alpha_s=5e-6, efficiency_by_link={"host-internal": 0.8, "network": 0.6},
                    algorithm_set="nccl")  # what a fit chooses among


# -- recovery of known parameters ------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loss", ["soft_l1", "linear"])
def test_fit_recovers_parameters_within_standard_errors(synthetic, seed, loss):
    G = generic_fabric(2, 4)
    records = synthetic(G, TRUTH, noise=0.03, seed=seed)
    cal = calibrate(records, G, loss=loss)
    assert set(cal.params.efficiency_by_link) == {"host-internal", "network"}
    assert cal.num_points == len(records) == 50
    for name, fitted, se, true in [
        ("alpha", cal.params.alpha_s, cal.alpha_s_stderr, TRUTH.alpha_s),
        *[(k, cal.params.efficiency_by_link[k], cal.efficiency_stderr_by_link[k], v)
          for k, v in TRUTH.efficiency_by_link.items()],
    ]:
        assert 0 < se < 0.05 * true, name  # informative: the data pins each parameter
        assert abs(fitted - true) < 3.5 * se, (name, fitted, true, se)
    assert cal.median_relative_error < 0.05  # 3 % lognormal noise
    assert 0.02 < cal.residual_log_rms < 0.045


def test_fit_without_noise_is_exact_and_band_is_narrow(synthetic):
    G = generic_fabric(2, 4)
    cal = calibrate(synthetic(G, TRUTH), G)
    assert cal.params.alpha_s == pytest.approx(5e-6, rel=1e-4)
    assert cal.params.efficiency_by_link["network"] == pytest.approx(0.6, rel=1e-4)
    assert cal.worst_relative_error < 1e-4
    low, high = cal.band(1e-3)
    assert low < 1e-3 < high and high / low < 1.001
    # every fit point carries the fitted model's time and the algorithm it chose
    for point in cal.fit_points:
        assert point.predicted_time_s == pytest.approx(point.measured_time_s, rel=1e-4)
        assert point.algorithm


def test_generic_fabric_from_records_gives_the_same_fit(synthetic):
    records = synthetic(generic_fabric(2, 4), TRUTH)
    cal = calibrate(records)  # no G: built from the records' hosts
    assert cal.graph["topology"] == "generic-two-level"
    assert cal.graph["params"]["num_hosts"] == 2 and cal.graph["params"]["gpus_per_host"] == 4
    assert cal.params.efficiency_by_link["host-internal"] == pytest.approx(0.8, rel=1e-4)


def test_named_algorithm_is_used(synthetic):
    G = generic_fabric(2, 4)
    records = synthetic(G, TRUTH, algorithm="tree")  # records say "TREE" (NCCL_ALGO spelling)
    cal = calibrate(records, G)
    algos = {p.algorithm for p in cal.fit_points if p.operation == "all-reduce"}
    assert algos == {"tree"}
    assert cal.params.alpha_s == pytest.approx(5e-6, rel=1e-3)


def test_fit_on_a_builder_fabric_uses_its_link_keys(synthetic):
    G = topologies.build("single-hop", num_gpus=16, gpus_per_node=8)
    scaleout = G.edges["node0/gpu0", "plane0"]["link"]
    truth = ModelParams(alpha_s=3e-6, efficiency_by_link={"nvlink4": 0.7, scaleout: 0.9})
    cal = calibrate(synthetic(G, truth), G)
    assert cal.params.efficiency_by_link == pytest.approx({"nvlink4": 0.7, scaleout: 0.9},
                                                          rel=1e-3)
    assert cal.graph["topology"] == "single-hop"


def test_links_no_point_loads_are_not_fitted(synthetic):
    G = generic_fabric(2, 4)
    one_host = [r for r in synthetic(G, TRUTH) if r.num_hosts == 1]
    cal = calibrate(one_host, G)
    assert set(cal.params.efficiency_by_link) == {"host-internal"}
    assert cal.num_parameters == 2


def test_holdout_sizes_are_left_out_of_the_fit(synthetic):
    G = generic_fabric(2, 4)
    records = synthetic(G, TRUTH, noise=0.02, seed=7)
    sizes = sorted({r.size_bytes for r in records})
    cal = calibrate(records, G, holdout="half")
    assert cal.fitted_sizes_bytes == tuple(sizes[0::2])
    assert cal.held_out_sizes_bytes == tuple(sizes[1::2])
    assert {p.size_bytes for p in cal.fit_points} == set(sizes[0::2])
    assert cal.num_points == 25


def test_fewer_points_than_parameters_fit_fewer_parameters(synthetic):
    G = generic_fabric(2, 4)
    records = synthetic(G, TRUTH, sizes=[2**20])
    two = [r for r in records if r.operation in ("all-gather", "send-recv")]
    cal = calibrate(two, G)
    # 2 points: alpha and the network's efficiency; host-internal is dropped, with a note
    assert set(cal.params.efficiency_by_link) == {"network"}
    assert any("efficiency of host-internal not fitted" in n for n in cal.notes)
    assert cal.num_points == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"flavor": "gpu"}, "flavor must be 'ideal' or 'nccl' or 'mpi'"),
    ({"loss": "l2"}, "loss must be one of"),
    ({"f_scale_log": 0.0}, "f_scale_log must be > 0"),
    ({"holdout": "every:1"}, "K >= 2"),
    ({"flavor": "nccl", "loss": "l2"}, "loss must be one of"),
    ({"flavor": "nccl", "holdout": "sizes:3"}, "holdout sizes 3 B are not among"),
])
def test_calibrate_rejects_bad_options(synthetic, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate(synthetic(generic_fabric(2, 4), TRUTH), **kwargs)


def test_no_usable_records():
    base = {"operation": "send-recv", "size_bytes": 8, "time_s": 1e-6, "num_ranks": 2,
            "num_hosts": 1}
    records = [Record(**base, num_wrong=3), Record(**base, extra={"benchmark": "PingPing"})]
    for flavor in FLAVORS:
        with pytest.raises(ValueError, match="no usable records among 2"):
            calibrate(records, flavor=flavor)


def test_holdout_that_takes_every_size(synthetic):
    records = synthetic(generic_fabric(2, 4), TRUTH, sizes=[1024])
    with pytest.raises(ValueError, match="no fit point left: the holdout takes every size"):
        calibrate(records, holdout="sizes:1KiB")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_calibrate_dispatches_on_the_flavor(synthetic, flavor):
    G = generic_fabric(2, 4)
    records = synthetic(G, TRUTH, noise=0.02, seed=1)
    cal = calibrate(records, G, flavor=flavor, holdout="every:3", loss="huber")
    if flavor == "nccl":
        base = calibrate_nccl(records, G, holdout="every:3", loss="huber")
    else:
        base = calibrate_ideal(records, G, holdout="every:3", loss="huber", flavor=flavor)
    direct = add_corrections(base, records, G)
    # compared as JSON: NaN standard errors are not equal to themselves
    assert json.dumps(cal.to_dict(), sort_keys=True) == json.dumps(direct.to_dict(), sort_keys=True)
    assert cal.flavor == flavor and cal.loss == "huber"


def test_calibrated_prediction_carries_the_band(synthetic):
    G = generic_fabric(2, 4)
    cal = calibrate(synthetic(G, TRUTH, noise=0.05, seed=3), G)
    p = predict(G, "all-reduce", 2**24, ranks=4, calibration=cal)
    assert p.time_low_s < p.time_s < p.time_high_s
    h = cal.band_log_halfwidth
    assert p.time_high_s / p.time_s == pytest.approx(math.exp(h))
    assert h >= 2 * cal.residual_log_rms


# -- real logs -------------------------------------------------------------------------------
def test_together_h100_all_reduce_fit_on_a_third_of_the_sizes():
    # together_h100_all_reduce_ring.out: 8 x H100 on one host, 31 sizes 8 B .. 8 GiB
    records = parse_log_file(TOGETHER).records
    cal = calibrate(records, holdout="fit-every:3")
    assert cal.num_points == 11 and len(cal.held_out_sizes_bytes) == 20
    # the log's busbw at 8 GiB is 368.09 GB/s; on one switch a ring's busbw is the link rate
    effective = cal.effective_bandwidth_by_link_bytes_per_s["host-internal"]
    assert effective == pytest.approx(368e9, rel=0.05)
    # the log's 8 B time is 34.98 us = 14 ring steps x (alpha + path latency 0.4 us)
    assert cal.params.alpha_s == pytest.approx(34.98e-6 / 14 - 0.4e-6, rel=0.15)


def test_xxrjun_two_node_alltoall_sendrecv_fit():
    # xxrjun 2 nodes x 1 H100: all-to-all and send-recv, 32 MiB .. 8 GiB
    records = parse_log_file(XXRJUN).records
    cal = calibrate(records, holdout="fit-every:3")
    assert set(cal.params.efficiency_by_link) == {"network"}
    # the log's send-recv busbw at 16 GiB is 23.73 GB/s
    effective = cal.effective_bandwidth_by_link_bytes_per_s["network"]
    assert effective == pytest.approx(23.73e9, rel=0.02)


def test_fits_choose_among_nccls_algorithms_and_files_keep_it(synthetic, tmp_path):
    # A measured run used its library's algorithm, not the fastest the fabric allows: the fit
    # records the set it chose from, and a saved calibration keeps it.
    G = topologies.build("clos", num_gpus=16)
    cal = calibrate(synthetic(G, TRUTH), G)
    assert cal.params.algorithm_set == "nccl"
    path = save_calibration(cal, tmp_path / "cal.json")
    assert load_calibration(path).params.algorithm_set == "nccl"
    body = json.loads(path.read_text())
    del body["params"]["algorithm_set"]  # a file written before the field existed
    path.write_text(json.dumps(body))
    assert load_calibration(path).params.algorithm_set == "all"
    body["params"]["algorithm_set"] = "some"
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="params.algorithm_set must be one of all, nccl"):
        load_calibration(path)
