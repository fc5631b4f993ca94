"""The Python API says what to pass when a notebook passes the wrong kind of thing (a file
name for records, a dict for a cluster, '1M' for a size): a TypeError naming the argument and
the function that makes the right one, not an AttributeError from deep inside."""

from __future__ import annotations

from pathlib import Path

import pytest

import topologies
from collectives.predict import predict, predict_many
from measure.calibrate import calibrate
from measure.calibration import load_calibration
from measure.generic_fabric import generic_fabric_from_records, with_cluster
from measure.parsers import parse_log_file
from measure.records import Record
from measure.validate import validate

LOG = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
       / "xxrjun_cluster01-h100_1node_all_reduce.log")


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return list(parse_log_file(LOG).records)


def test_records_given_as_a_path_or_a_parsed_log(records: list[Record]) -> None:
    with pytest.raises(TypeError, match="got a str .*load_measurements"):
        calibrate(str(LOG))
    with pytest.raises(TypeError, match="got a PosixPath"):
        calibrate(LOG)
    with pytest.raises(TypeError, match="got a ParsedLog: pass its .records"):
        calibrate(parse_log_file(LOG))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got a dict among them .*record_from_dict"):
        calibrate([{"operation": "all-reduce"}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="G must be a fabric graph"):
        calibrate(records, "generic")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="in_place must be True, False or None"):
        calibrate(records, in_place="yes")  # type: ignore[arg-type]


def test_validate_takes_a_calibration_not_its_file(records: list[Record], tmp_path) -> None:
    from measure.calibration import save_calibration

    cal = calibrate(records)
    path = save_calibration(cal, tmp_path / "cal.json")
    with pytest.raises(TypeError, match="load_calibration"):
        validate(records, str(path))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="records must be Record objects"):
        validate(str(LOG), cal)  # type: ignore[arg-type]
    assert validate(records, load_calibration(path)).points  # the right kinds work


def test_predict_names_the_graph_and_the_sizes() -> None:
    G = topologies.for_gpus("clos", 64)
    with pytest.raises(TypeError, match="topologies.for_gpus"):
        predict("fat-tree", "all-reduce", 1024)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'1M' .*parse_size"):
        predict(G, "all-reduce", "1M")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="whole number of bytes, got 1.5"):
        predict(G, "all-reduce", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a list of byte counts"):
        predict_many(G, "all-reduce", "1M")  # type: ignore[arg-type]
    import numpy as np

    assert predict(G, "all-reduce", np.int64(1 << 20)).time_s > 0  # numpy integers are sizes
    assert len(predict_many(G, "all-reduce", np.array([1024, 4096]))) == 2  # an array of them
    assert predict(G, "all-reduce", 1e6).size_bytes == 1_000_000  # a whole float


def test_a_cluster_must_be_a_description(records: list[Record]) -> None:
    with pytest.raises(TypeError, match="ClusterDescription"):
        generic_fabric_from_records(records, cluster={"gpu": "a100"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ClusterDescription"):
        with_cluster(records, {"gpu": "a100"})  # type: ignore[arg-type]


def test_a_record_whose_hosts_disagree_with_its_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="8 names over 2 hosts.*got 8 names over 1 hosts"):
        Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=8, num_hosts=2,
               hosts=["h"] * 8)
    with pytest.raises(ValueError, match="got 4 names"):
        Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=8, num_hosts=2,
               hosts=["a", "a", "b", "b"])
