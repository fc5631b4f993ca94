"""Fit data: records loaded, selected, checked against the model and grouped by placement."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from measure.fit_data import (
    find_glitches,
    glitch_notes,
    group_points,
    ideal_algorithm,
    load_measurements,
    select_records,
    usable_records,
)
from measure.parsers import parse_log_file
from measure.records import Record, write_records
from topologies.generic import generic_fabric

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
XXRJUN = LOGS / "nccl-tests" / "xxrjun_h100_2node_alltoall_sendrecv.log"
OSU_LATENCY = LOGS / "osu" / "libfabric_pr8680_osu_latency_v7.0.txt"
UCX_GLITCH = LOGS / "osu" / "ucx_issue2111_osu_latency_mt_openmpi_tagged.txt"
OCI_DIP = LOGS / "osu" / "ocitutorials_bm-optimized3-36_4node_osu_allreduce_v7.5.txt"


def _record(**fields: object) -> Record:
    base: dict[str, object] = {"operation": "all-reduce", "size_bytes": 1024, "time_s": 1e-5,
                               "num_ranks": 4, "num_hosts": 1, "hosts": ["a"] * 4}
    return Record(**{**base, **fields})  # type: ignore[arg-type]


def test_select_records_drops_wrong_pingping_and_in_place() -> None:
    base = {"operation": "send-recv", "size_bytes": 8, "time_s": 1e-6, "num_ranks": 2,
            "num_hosts": 1}
    records = [Record(**base), Record(**base, num_wrong=3), Record(**base, in_place=True),
               Record(**base, extra={"benchmark": "PingPing"}), Record(**{**base, "size_bytes": 0}),
               Record(**{**base, "num_ranks": 1}), Record(**base, num_wrong=0)]
    assert select_records(records) == [records[0], records[6]]
    assert select_records(records, in_place=True) == [records[2]]
    assert select_records(records, in_place=None) == [records[0], records[2], records[6]]


def test_records_a_probe_flagged_are_left_out_and_named() -> None:
    # a probe keeps a record that fails the sanity checks, flagged (probe_core.make_record); a
    # fit must not use it
    good = [_record(size_bytes=s, time_s=1e-5 + s * 1e-10) for s in (1024, 4096, 16384)]
    flagged = _record(size_bytes=8, time_s=1e-8,
                      extra={"problems": ["time 0.01 us is below the physical floor of 0.05 us"]})
    records = [flagged, *good]
    assert select_records(records) == good
    (note,) = glitch_notes(records)
    assert note.startswith("all-reduce 8 B left out: time 0.01 us is below the physical floor")
    assert "flagged by the probe" in note


@pytest.mark.parametrize(("algorithm", "env", "expected"), [
    ("RING", {}, "ring"),
    ("", {"NCCL_ALGO": "Tree"}, "tree"),
    ("NVLS", {}, "in-network"),
    ("nvls_tree", {}, "in-network"),
    ("CollNet-Direct", {}, "in-network"),
    ("recursive-doubling", {}, "recursive-doubling"),
    ("ring,tree", {}, None),  # a list: the model picks
    ("", {}, None),
    ("mystery", {}, None),
])
def test_ideal_algorithm(algorithm: str, env: dict[str, str], expected: str | None) -> None:
    assert ideal_algorithm(_record(algorithm=algorithm, env=env)) == expected


def test_group_points_by_operation_gpus_and_algorithm() -> None:
    G = generic_fabric(2, 4)
    records = [
        _record(size_bytes=8),
        _record(size_bytes=16, operation="all-gather"),
        _record(size_bytes=32),
        _record(size_bytes=64, algorithm="TREE"),
        _record(size_bytes=128, num_ranks=8, num_hosts=2, hosts=["a"] * 4 + ["b"] * 4),
    ]
    groups = group_points(G, records, ideal_algorithm)
    assert [(g.operation, g.algorithm, g.points.tolist()) for g in groups] == [
        ("all-reduce", None, [0, 2]), ("all-gather", None, [1]), ("all-reduce", "tree", [3]),
        ("all-reduce", None, [4])]
    # host a -> node 0, its four ranks -> that node's first GPUs; host b -> node 1
    assert groups[0].gpus == tuple(f"node0/gpu{g}" for g in range(4))
    assert groups[3].gpus == groups[0].gpus + tuple(f"node1/gpu{g}" for g in range(4))


def test_group_points_needs_room_on_the_fabric() -> None:
    with pytest.raises(ValueError, match="need 2 hosts; the fabric has 1 nodes"):
        group_points(generic_fabric(1, 4), [_record(num_ranks=2, num_hosts=2, hosts=["a", "b"])],
                     ideal_algorithm)


def test_usable_records_notes_what_the_model_cannot_price() -> None:
    G = generic_fabric(1, 8)
    fine = _record()
    # a power-of-two algorithm on 6 ranks is refused by the model: left out with a note
    refused = _record(num_ranks=6, hosts=["a"] * 6, algorithm="recursive-doubling")
    found = usable_records(G, [fine, refused, refused])
    assert found.records == (fine,)
    assert len(found.notes) == 1
    assert found.notes[0].startswith("left out 2 all-reduce point(s) on 6 ranks: ")


def test_usable_records_notes_points_without_placement() -> None:
    records = parse_log_file(OSU_LATENCY).records  # OSU: two ranks, no host names
    found = usable_records(generic_fabric(1, 2), select_records(records))
    assert len(found.records) == len(select_records(records)) > 0
    assert found.notes == (f"{len(found.records)} point(s) do not say where their ranks ran "
                           f"(osu); taken as one host",)


def test_load_measurements_reads_records_and_logs(tmp_path: Path) -> None:
    records = parse_log_file(XXRJUN).records
    path = write_records(records, tmp_path / "r.jsonl")
    assert load_measurements(path) == list(records)
    assert len(load_measurements(XXRJUN)) == len(records) == 40
    with pytest.raises(ValueError, match="cannot read"):
        load_measurements(tmp_path / "missing.jsonl")


_FUZZ = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@_FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_load_measurements_fuzz(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.txt"
    path.write_bytes(data)
    try:
        records = load_measurements(path)
    except ValueError as err:
        assert str(err)
    else:
        assert records and all(isinstance(r, Record) for r in records)


def test_the_published_latency_glitch_is_left_out_and_named() -> None:
    # openucx/ucx#2111: 4 B took 2,113.56 us between 1.90 us (2 B) and 1.25 us (8 B)
    records = load_measurements(UCX_GLITCH)
    kept = select_records(records)
    assert sorted(r.size_bytes for r in kept) == [1, 2, 8]
    (note,) = glitch_notes(records)
    assert "4 B took 2114 us between 1.9 us (2 B) and 1.25 us (8 B)" in note


def test_a_published_dip_is_left_out_and_named() -> None:
    # 144-rank OSU all-reduce, 10 iterations: 160.17 us at 64 KiB between 3,214.49 us (32 KiB)
    # and 3,674.69 us (128 KiB); the 32 KiB point beside it (9.2x its smaller neighbour) stays
    records = list(parse_log_file(OCI_DIP, num_ranks=144, num_hosts=4).records)
    kept = {r.size_bytes for r in select_records(records)}
    assert 65536 not in kept and {32768, 131072} <= kept
    (note,) = glitch_notes(records)
    assert "65536 B took 160.2 us between 3214 us (32768 B) and 3675 us (131072 B)" in note
    assert "isolated dip" in note


def test_a_regime_is_not_a_glitch() -> None:
    # a slow range that persists over sizes, then a 10x drop (an MPI all-to-all switching from
    # Bruck to pairwise: 200, 321, 584 then 58 us in the OCI log of the accuracy benchmark)
    times = {512: 200e-6, 1024: 321e-6, 2048: 584e-6, 4096: 57.7e-6, 8192: 55.3e-6}
    records = [_record(size_bytes=s, time_s=t) for s, t in times.items()]
    assert find_glitches(records) == {}
    assert len(select_records(records)) == 5


def test_glitches_are_found_per_series() -> None:
    # the same sizes at another rank count are another series: no cross-talk
    slow = [_record(size_bytes=s, time_s=1e-3, num_ranks=8, hosts=["a"] * 8) for s in (64, 128)]
    fast = [_record(size_bytes=s, time_s=1e-6) for s in (64, 128)]
    assert find_glitches(slow + fast) == {}
    spike = [_record(size_bytes=64, time_s=1e-6), _record(size_bytes=128, time_s=5e-4),
             _record(size_bytes=256, time_s=2e-6), _record(size_bytes=512, time_s=3e-6)]
    assert list(find_glitches(spike)) == [1]
