"""The emulated cluster: its layout in namespaces, real traffic, the model against it.

Tests marked ``netns`` build real namespaces, bridges and tbf qdiscs (root, iproute2, ethtool) and
run real ``mpiexec`` inside them; nothing is mocked. Reference numbers: the shaped rates are what
``emulated_fabric`` was given; closed forms are the ring all-reduce ``2(n-1)/n * S / B`` and the
pairwise all-to-all ``(n-1)/n * S / B`` (Thakur, Rabenseifner and Gropp 2005), both computed by
``collectives.predict.predict`` on the same graph.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from measure.emulate import (
    DEFAULT_MTU_BYTES,
    STATE_DIR,
    EmulatedCluster,
    cleanup_stale,
    list_instances,
)
from topologies.emulated import DEFAULT_LINK_RATE_BYTES_PER_S, emulated_fabric

HERE = Path(__file__).parent
PINGPONG = HERE / "_emulate_pingpong.py"
ALGORITHM = {"all-reduce": "ring", "all-to-all": "pairwise"}
STEPS = {"all-reduce": lambda n: 2 * (n - 1), "all-to-all": lambda n: n - 1}
MIB = 1 << 20
CALIBRATION_SIZES = {1 * MIB, 4 * MIB}
HELD_OUT_SIZES = {2 * MIB, 8 * MIB}


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def _ip_json(namespace: str, *args: str) -> list[dict]:
    out = subprocess.run(["ip", "-n", namespace, "-j", *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout or "[]")


def _qdisc(namespace: str, device: str) -> dict:
    out = subprocess.run(["ip", "netns", "exec", namespace, "tc", "-j", "qdisc", "show", "dev",
                          device], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


# ------------------------------------------------------------------------------------------------
# The cluster's checks (no root needed); the graph's own tests are tests/topologies/test_emulated.py


def test_cluster_rejects_switch_loop() -> None:
    G = emulated_fabric("tree", num_hosts=4)
    G.add_node("leaf2", kind="switch", tier=1, model="linux-bridge", radix=64)
    for u, v in (("leaf1", "leaf2"), ("leaf2", "leaf0")):
        for a, b in ((u, v), (v, u)):
            G.add_edge(a, b, bandwidth_bytes_per_s=1e6, latency_s=0.0, num_links=1, link="veth")
    with pytest.raises(ValueError, match="loop"):
        EmulatedCluster(G)


def test_cluster_rejects_small_burst() -> None:
    with pytest.raises(ValueError, match="burst_bytes"):
        EmulatedCluster(emulated_fabric("flat"), mtu_bytes=9000, burst_bytes=9000)


# ------------------------------------------------------------------------------------------------
# Layout and tear-down


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["flat", "tree"])
def test_layout_exists_while_up_and_is_gone_after(netns_session: None, kind: str) -> None:
    G = emulated_fabric(kind, num_hosts=4, link_rate_bytes_per_s=25e6)
    with EmulatedCluster(G) as cluster:
        assert set(cluster.namespaces) <= _namespaces()
        bridges = {d["ifname"] for d in _ip_json(cluster.switch_namespace, "link", "show",
                                                 "type", "bridge")}
        assert bridges == ({"br0"} if kind == "flat" else {"br0", "br1"})
        for link in cluster.links:
            qdisc = _qdisc(link.namespace, link.device)
            assert qdisc["kind"] == "tbf"
            assert qdisc["options"]["rate"] == pytest.approx(link.rate_bytes_per_s)
            assert qdisc["options"]["burst"] >= cluster.mtu_bytes + 14
            (dev,) = _ip_json(link.namespace, "link", "show", "dev", link.device)
            assert dev["mtu"] == cluster.mtu_bytes == DEFAULT_MTU_BYTES
            features = subprocess.run(["ip", "netns", "exec", link.namespace, "ethtool", "-k",
                                       link.device], capture_output=True, text=True).stdout
            for feature in ("tcp-segmentation-offload", "generic-segmentation-offload",
                            "generic-receive-offload"):
                assert f"{feature}: off" in features
        # every link direction of the graph is shaped once, at the graph's rate
        assert len(cluster.links) == G.number_of_edges()
        assert {(link.u, link.v) for link in cluster.links} == set(G.edges())
        hostnames = [cluster.exec(i, ["hostname"]).stdout.strip() for i in range(4)]
        assert hostnames == ["node0", "node1", "node2", "node3"]
        # the private subnet exists only inside the namespaces
        root_routes = subprocess.run(["ip", "-j", "route", "show", "10.77.0.0/24"],
                                     capture_output=True, text=True).stdout
        assert json.loads(root_routes or "[]") == []
        state = STATE_DIR / f"{cluster.prefix}.json"
        assert state.exists()
    assert not set(cluster.namespaces) & _namespaces()
    assert not state.exists()


@pytest.mark.netns
def test_teardown_after_exception_in_block(netns_session: None) -> None:
    cluster = EmulatedCluster(emulated_fabric("flat", num_hosts=2))
    with pytest.raises(RuntimeError, match="boom"):
        with cluster:
            assert set(cluster.namespaces) <= _namespaces()
            sleeper = subprocess.Popen(cluster.host_command(1, ["sleep", "300"]))
            raise RuntimeError("boom")
    assert not set(cluster.namespaces) & _namespaces()
    assert sleeper.wait(timeout=10) == -signal.SIGKILL  # processes inside were ended by PID


_CHILD = textwrap.dedent("""
    import sys, time
    from measure.emulate import EmulatedCluster
    from topologies.emulated import emulated_fabric
    cluster = EmulatedCluster(emulated_fabric("flat", num_hosts=2)).open()
    print(cluster.prefix, flush=True)
    time.sleep(120)
""")


def _start_child() -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True,
                             cwd=str(HERE.parent.parent))
    prefix = child.stdout.readline().strip()
    assert prefix, "the child did not open its cluster"
    return child, prefix


def _cluster_namespaces(prefix: str) -> set[str]:
    return {ns for ns in _namespaces() if ns.startswith(prefix + "-")}


@pytest.mark.netns
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_tears_down(netns_session: None, sig: int) -> None:
    child, prefix = _start_child()
    try:
        assert len(_cluster_namespaces(prefix)) == 3
        child.send_signal(sig)
        child.wait(timeout=30)
        assert _cluster_namespaces(prefix) == set()
    finally:
        child.kill()
        cleanup_stale(prefix, include_live=True)


@pytest.mark.netns
def test_cleanup_stale_removes_leftovers_of_killed_run(netns_session: None) -> None:
    child, prefix = _start_child()
    try:
        child.kill()  # SIGKILL: no handler runs, the namespaces stay behind
        child.wait(timeout=30)
        assert len(_cluster_namespaces(prefix)) == 3
        (entry,) = [e for e in list_instances(prefix) if e["prefix"] == prefix]
        assert entry["owner_alive"] is False
        assert cleanup_stale(prefix) == [prefix]
        assert _cluster_namespaces(prefix) == set()
        assert not (STATE_DIR / f"{prefix}.json").exists()
    finally:
        child.kill()
        cleanup_stale(prefix, include_live=True)


@pytest.mark.netns
def test_cleanup_leaves_other_tools_fme_namespaces_alone(netns_session: None) -> None:
    # namespaces that start like ours but were not made by an emulated cluster (no state file,
    # not named fme<pid>x<n>-h<i>|-sw) are neither listed nor deleted by `emulate down --all`
    foreign = ["fmelab-h1", "fme-other", "fme123x4-db"]
    for ns in foreign:
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        listed = {ns for e in list_instances() for ns in e["namespaces"]}
        assert not listed & set(foreign)
        cleanup_stale(include_persistent=True, include_live=True)
        assert set(foreign) <= _namespaces()
    finally:
        for ns in foreign:
            subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.mark.netns
def test_cleanup_stale_keeps_live_clusters(cluster_factory) -> None:
    cluster = cluster_factory(emulated_fabric("flat", num_hosts=2))
    assert cluster.prefix not in cleanup_stale()
    assert set(cluster.namespaces) <= _namespaces()


# ------------------------------------------------------------------------------------------------
# Real traffic


def _stream(cluster: EmulatedCluster, peer: int, size_bytes: int, iterations: int):
    run = cluster.run_mpi([sys.executable, str(PINGPONG), "stream", str(peer), str(size_bytes),
                           str(iterations)], timeout_s=120).check()
    return run, json.loads(run.stdout.splitlines()[-1])


@pytest.mark.netns
def test_stream_crosses_the_veths_at_the_shaped_rate(cluster_factory) -> None:
    rate = DEFAULT_LINK_RATE_BYTES_PER_S
    G = emulated_fabric("tree", num_hosts=4, link_rate_bytes_per_s=rate)
    cluster = cluster_factory(G)
    size, iterations = 4 * MIB, 3
    sent = size * (iterations + 1)  # the probe's warm-up round trip moves the bytes too
    trunk = G["leaf0"]["leaf1"]["bandwidth_bytes_per_s"]
    for peer, expected_rate in ((1, rate), (2, trunk)):
        # up to three tries, until one is not slowed: another job on one of the two cores slows
        # a run (seen: 20.4 MB/s for 25), it never speeds one up; the last try is judged
        for _ in range(3):
            run, result = _stream(cluster, peer, size, iterations)
            if size / result["time_s"] >= 0.9 * expected_rate:
                break
        assert result["hosts"] == ["node0", "node1", "node2", "node3"]
        # time for S bytes at the shaped rate of the path's slowest link (graph attribute)
        assert size / result["time_s"] == pytest.approx(expected_rate, rel=0.10)
        tx = run.tx_bytes
        dst = f"node{peer}/gpu0"
        leaf = "leaf0" if peer == 1 else "leaf1"
        # every byte crossed the veths (frames add Ethernet, IP and TCP headers: under 1%)
        assert sent <= tx["node0/gpu0->leaf0"] <= 1.05 * sent
        assert sent <= tx[f"{leaf}->{dst}"] <= 1.05 * sent
        if peer == 2:
            assert sent <= tx["leaf0->leaf1"] <= 1.05 * sent
        else:
            assert tx["leaf0->leaf1"] < 0.01 * sent
        assert tx["leaf1->node3/gpu0"] < 0.01 * sent  # a bystander sees no data


@pytest.mark.netns
def test_mpi_failure_is_reported(cluster_factory) -> None:
    cluster = cluster_factory(emulated_fabric("flat", num_hosts=2))
    run = cluster.run_mpi([sys.executable, "-c", "import sys; sys.exit(3)"], timeout_s=60)
    assert run.returncode != 0
    with pytest.raises(RuntimeError, match="mpiexec exited"):
        run.check()


# ------------------------------------------------------------------------------------------------
# Against the model


def _predict(G, operation: str, size_bytes: int, **options) -> float:
    from collectives.predict import predict

    return predict(G, operation, size_bytes, algorithm=ALGORITHM[operation], **options).time_s


def _calibrated(records, G):
    """time(operation, size) after calibrating on ``records``.

    Uses ``measure.calibrate`` (per operation) when it exists; else a least-squares fit per
    operation of the closed form ``t = steps * alpha_s + t_model / efficiency`` (alpha-beta with
    the model's bandwidth term; steps: 2(n-1) for the ring, n-1 for pairwise).
    """
    try:
        from measure.calibrate import calibrate
    except ImportError:
        n = records[0].num_ranks
        coef = {}
        for op in {r.operation for r in records}:
            mine = [r for r in records if r.operation == op]
            rows = [[STEPS[op](n), _predict(G, op, r.size_bytes)] for r in mine]
            coef[op], *_ = np.linalg.lstsq(np.array(rows), np.array([r.time_s for r in mine]),
                                           rcond=None)
        return lambda op, size: coef[op][0] * STEPS[op](n) + coef[op][1] * _predict(G, op, size)
    # one calibration per collective (as a user calibrating each operation would)
    cals = {op: calibrate([r for r in records if r.operation == op], G)
            for op in {r.operation for r in records}}
    return lambda op, size: _predict(G, op, size, calibration=cals[op])


def _errors(records, predicted) -> list[tuple[str, int, float, float, float]]:
    rows = []
    for r in records:
        p = predicted(r.operation, r.size_bytes)
        rows.append((r.operation, r.size_bytes, r.time_s, p, r.time_s / p - 1))
    return rows


def _table(kind: str, rows) -> str:
    return "\n".join(f"{kind:5s} {op:10s} {size // MIB:3d} MiB measured {t * 1e3:8.1f} ms "
                     f"model {p * 1e3:8.1f} ms error {err:+6.1%}" for op, size, t, p, err in rows)


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["flat", "tree"])
def test_probe_records_are_real_multi_host(probe_runs, kind: str) -> None:
    probe = probe_runs(kind)
    assert {(r.operation, r.size_bytes) for r in probe.records} == {
        (op, s) for op in ALGORITHM for s in CALIBRATION_SIZES | HELD_OUT_SIZES}
    for r in probe.records:
        assert r.num_ranks == 4 and r.num_hosts == 4
        assert r.hosts == ["node0", "node1", "node2", "node3"]
        assert r.num_wrong == 0
        assert r.algorithm == ALGORITHM[r.operation]
    # the bytes went over the shaped veths: each host sent at least the ring's / pairwise share
    n = 4
    sent = sum((2 * (n - 1) / n if r.operation == "all-reduce" else (n - 1) / n) * r.size_bytes
               * (r.iterations + r.warmup_iterations) for r in probe.records)
    for i in range(n):
        assert probe.run.tx_bytes[f"node{i}/gpu0->leaf{i // 2 if kind == 'tree' else 0}"] >= sent


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["flat", "tree"])
def test_cpu_not_saturated(probe_runs, kind: str) -> None:
    cpu = probe_runs(kind).run.cpu
    print(f"\n{kind}: CPU of the run's processes {cpu.own_fraction:.0%} of {cpu.num_cores} cores;"
          f" machine busy {cpu.busy_fraction:.0%} (per core "
          f"{', '.join(f'{b:.0%}' for b in cpu.busy_fraction_per_core)})")
    assert cpu.own_fraction < 0.9


def _model(kind: str, G, op: str, size: int) -> float:
    return _predict(G, op, size)


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["flat", "tree"])
def test_measured_matches_model_from_link_rates(probe_runs, kind: str) -> None:
    probe = probe_runs(kind)
    rows = _errors(probe.records, lambda op, size: _model(kind, probe.G, op, size))
    print("\n" + _table(kind, rows))
    worst = max(abs(err) for *_, err in rows)
    assert worst <= 0.10, "\n" + _table(kind, rows)


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["flat", "tree"])
def test_calibrated_model_predicts_held_out_sizes(probe_runs, kind: str) -> None:
    probe = probe_runs(kind)
    fit = [r for r in probe.records if r.size_bytes in CALIBRATION_SIZES]
    held = [r for r in probe.records if r.size_bytes in HELD_OUT_SIZES]
    rows = _errors(held, _calibrated(fit, probe.G))
    print("\n" + _table(kind, rows))
    worst = max(abs(err) for *_, err in rows)
    assert worst <= 0.05, "\n" + _table(kind, rows)


@pytest.mark.netns
@pytest.mark.parametrize("operation", ["all-to-all", "all-reduce"])
def test_oversubscribed_trunk_shows_in_measured_and_predicted(probe_runs, operation: str) -> None:
    flat, tree = probe_runs("flat"), probe_runs("tree")
    for size in sorted(CALIBRATION_SIZES | HELD_OUT_SIZES):
        key = (operation, size)
        (t_flat,) = [r.time_s for r in flat.records if (r.operation, r.size_bytes) == key]
        (t_tree,) = [r.time_s for r in tree.records if (r.operation, r.size_bytes) == key]
        predicted = _predict(tree.G, operation, size) / _predict(flat.G, operation, size)
        # pairwise all-to-all with MPICH's XOR pairing on 2 leaves of 2 hosts (ranks 0,1 | 2,3):
        # step 1 stays in the leaf (S/4R), steps 2 and 3 cross the R/2 trunk with 2 ranks each
        # (S/R each) -> 2.25 S/R, against 3 S/(4R) flat = 3; ring all-reduce: 2
        assert predicted == pytest.approx(3.0 if operation == "all-to-all" else 2.0, rel=0.01)
        assert t_tree / t_flat == pytest.approx(predicted, rel=0.10)


# ------------------------------------------------------------------------------------------------
# The CLI


@pytest.mark.netns
def test_cli_up_and_down(netns_session: None) -> None:
    from fabric.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["emulate", "up", "--kind", "tree", "--hosts", "4", "--rate",
                                 "100Mbps", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)["results"]
    prefix = info["prefix"]
    try:
        assert [h["ip"] for h in info["hosts"]] == [f"10.77.0.{i}" for i in range(1, 5)]
        assert set(info["namespaces"]) <= _namespaces()
        rates = {(link["from"], link["to"]): link["rate_bytes_per_s"] for link in info["links"]}
        assert rates[("node0/gpu0", "leaf0")] == pytest.approx(12.5e6)  # 100 Mbit/s
        assert rates[("leaf0", "leaf1")] == pytest.approx(6.25e6)  # half by default
        # the printed shell line works: it runs a command inside host 0
        out = subprocess.run(info["shell"].replace(" bash", " hostname"), shell=True,
                             capture_output=True, text=True)
        assert out.stdout.strip() == "node0"
        listed = runner.invoke(cli, ["emulate", "list", "--json"], catch_exceptions=False)
        clusters = json.loads(listed.stdout)["results"]["clusters"]
        (entry,) = [c for c in clusters if c["prefix"] == prefix]
        assert entry["persistent"] is True
        # kept-up clusters survive cleanup of stale ones
        assert prefix not in cleanup_stale()
        down = runner.invoke(cli, ["emulate", "down", prefix, "--json"], catch_exceptions=False)
        assert down.exit_code == 0
        assert json.loads(down.stdout)["results"] == {"removed": [prefix]}
        assert not set(info["namespaces"]) & _namespaces()
        again = runner.invoke(cli, ["emulate", "down", prefix])
        assert again.exit_code == 1
        assert "no emulated cluster" in again.output
    finally:
        from measure.emulate import remove_cluster

        remove_cluster(prefix)


@pytest.mark.netns
def test_cli_up_csv_is_only_csv_on_stdout(netns_session: None) -> None:
    # the title and the shell lines go to stderr under --format csv (docs/cli.md, Output)
    import csv
    import io

    from fabric.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["emulate", "up", "--hosts", "2", "--format", "csv"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    prefix = result.stderr.split("emulated cluster ", 1)[1].split()[0]
    try:
        blocks = result.stdout.strip().split("\n\n")
        tables = [list(csv.reader(io.StringIO(block))) for block in blocks]
        assert [t[0] for t in tables] == [["host", "namespace", "hostname", "ip", "switch"],
                                          ["link", "rate"]]
        assert [row[3] for row in tables[0][1:]] == ["10.77.0.1", "10.77.0.2"]
        assert len(tables[1]) == 1 + 4  # each host link, both directions
        assert "MPI on all hosts:" in result.stderr
        assert "fabric emulate down" not in result.stdout
    finally:
        from measure.emulate import remove_cluster

        remove_cluster(prefix)


def test_cli_help() -> None:
    from fabric.cli import cli

    for args in (["emulate", "-h"], ["emulate", "up", "-h"], ["emulate", "down", "-h"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0
        assert "Usage" in result.output


def test_cli_rejects_bad_rate() -> None:
    from fabric.cli import cli

    result = CliRunner().invoke(cli, ["emulate", "up", "--rate", "fast"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
