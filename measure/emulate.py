"""An emulated cluster: network namespaces, veth pairs, Linux bridges and ``tbf`` shaping.

:func:`topologies.emulated.emulated_fabric` builds a small fabric graph in the project's
conventions (one rank per host, hosts = GPU nodes, Linux bridges = leaf switches);
:class:`EmulatedCluster` lays such a graph out on this machine and runs ``mpiexec`` inside it, so
that measured collective times can be compared with the model's prediction for the very same
graph.

Layout (one instance; ``P`` is its unique prefix, ``fme<pid>x<counter>``)
    * one namespace ``P-h<i>`` per host, holding ``eth0`` with ``10.77.0.<i+1>/24``; the subnet
      exists only inside the namespaces, so no traffic leaves them;
    * one namespace ``P-sw`` holding one bridge ``br<j>`` per switch of the graph, the switch-side
      veth end ``p<i>`` of every host and both ends ``t<j>x<k>`` of every switch-to-switch trunk;
    * every link direction shaped by ``tbf rate R burst B latency 200ms`` on the egress of the veth
      end it leaves from (host -> switch on ``eth0``, switch -> host on ``p<i>``, trunk on each
      ``t<j>x<k>``), TSO/GSO/GRO off so that each packet is at most one MTU;
    * TCP Reno, no slow start after idle, IPv6 off inside the namespaces.

Tear-down deletes the namespaces (their veths, bridges and qdiscs go with them) after killing the
processes left inside them by PID; it runs from ``__exit__``, an ``atexit`` hook and a
SIGTERM/SIGINT handler, and :func:`cleanup_stale` removes what a killed run left behind.

Notes
-----
Kernel facts this relies on (tbf available, netem missing, TSO/GSO/GRO off, ``burst >= MTU + 14``,
ranks bypassing the network through shared memory unless told otherwise, the 2-core CPU limit of
MTU 9000 at 200 Mbit/s) were measured by this project; tc-tbf(8) and ip-netns(8) document the
mechanisms. Measured for this module on the
2-core machine (4 ranks, 200 Mbit/s links, other jobs loading the cores):

* MTU 64000 instead of 9000 (veth takes up to 65535): 7x fewer packets per byte for the bridge,
  tbf and TCP to handle. Flat ring all-reduce 1-8 MiB went from +48..+83% over the shaped time to
  +2..+15%; all-to-all from +3..+30% to -1..+4%.
* Reno instead of the default BBR: 16 MiB each way at once between two hosts took 1.01-1.02x
  the shaped time with Reno, 1.05-1.10x with BBR.
* libfabric tcp instead of UCX tcp (see :data:`MPI_ENV`), and ranks that sleep while they wait.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import ipaddress
import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from fabric.graph import validate_graph
from measure import emulate_launch as _host
from measure.emulate_launch import (
    PREFIX,
    STATE_DIR,
    CpuUsage,
    cleanup_stale,
    list_instances,
    read_cpu_times,
    remove_cluster,
)

__all__ = [
    "PREFIX",
    "STATE_DIR",
    "DEFAULT_MTU_BYTES",
    "MPI_ENV",
    "EmulatedHost",
    "ShapedLink",
    "CpuUsage",
    "MpiRun",
    "EmulatedCluster",
    "read_cpu_times",
    "cleanup_stale",
    "remove_cluster",
    "list_instances",
]

DEFAULT_MTU_BYTES = 64000  # see EmulatedCluster: per-packet CPU is what the 2 cores run out of
SUBNET = ipaddress.ip_network("10.77.0.0/24")
ETH_HEADER_BYTES = 14
#: tbf queue per link direction. Not ``latency 200ms`` (a usual setting): on the tree's trunk (100
#: Mbit/s, two TCP flows) that queue overflowed, and a dropped 64 KB frame with few frames in flight
#: waits for a retransmission timeout (all-to-all 8 MiB +12% over the shaped time, 26 drops). 32 MiB
#: holds what the hosts' TCP send buffers (4 MiB each) can have in flight, so nothing is dropped.
TBF_LIMIT_BYTES = 32 << 20
DEFAULT_NICE = -10

#: Environment every rank gets (a caller's ``env`` overrides it). MPICH's libfabric netmod with the
#: tcp provider on eth0 only: ranks in different namespaces would otherwise talk through shared
#: memory (a namespace separates only the network). Measured here, UCX over TCP
#: (``UCX_TLS=tcp,self``) also crosses the veths but its rendezvous protocol serialized the two
#: directions of an exchange (all-to-all with >= 2 MiB per peer took 2.0x the shaped time),
#: libfabric tcp did not. Algorithms are pinned so that
#: the model can be asked for the same ones (ring all-reduce, pairwise all-to-all); a waiting rank
#: sleeps (nanosleep) after every poll instead of spinning, so that 4 waiting ranks do not take the
#: 2 cores from the emulation (CPU of 4 ranks waiting 3 s in a barrier: 4.1 -> 1.2 core-seconds;
#: ring all-reduce at 200 Mbit/s: +40% over the shaped time when spinning, +2..15% yielding).
MPI_ENV: dict[str, str] = {
    "MPIR_CVAR_CH4_NETMOD": "ofi",
    "FI_PROVIDER": "tcp",
    "FI_TCP_IFACE": "eth0",
    "MPIR_CVAR_NOLOCAL": "1",
    "UCX_TLS": "tcp,self",
    "UCX_NET_DEVICES": "eth0",
    "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM": "ring",
    "MPIR_CVAR_ALLTOALL_INTRA_ALGORITHM": "pairwise",
    "MPIR_CVAR_ENABLE_HEAVY_YIELD": "1",
    "MPIR_CVAR_POLLS_BEFORE_YIELD": "1",
}


# ------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatedHost:
    """One host of the emulated cluster (one rank)."""

    node_id: str
    namespace: str
    hostname: str
    ip: str
    switch: str
    port: str
    iface: str = "eth0"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShapedLink:
    """One shaped link direction: the veth end ``device`` in ``namespace`` sends ``u -> v``."""

    u: str
    v: str
    namespace: str
    device: str
    rate_bytes_per_s: float
    burst_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MpiRun:
    """What one ``mpiexec`` inside the cluster returned."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu: CpuUsage
    tx_bytes: dict[str, int] = field(default_factory=dict)

    def check(self) -> MpiRun:
        """Return self, or raise ``RuntimeError`` with the tail of stderr if mpiexec failed."""
        if self.returncode != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-20:])
            raise RuntimeError(f"mpiexec exited with {self.returncode}:\n{tail}")
        return self


# ------------------------------------------------------------------------------------------------
# Tear-down on exit and on signals

_LIVE: dict[int, EmulatedCluster] = {}
_LIVE_LOCK = threading.Lock()
_HOOKS_INSTALLED = False
_COUNTER = itertools.count()


def _teardown_all() -> None:
    with _LIVE_LOCK:
        clusters = list(_LIVE.values())
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.close()


def _on_signal(signum: int, frame: Any) -> None:
    _teardown_all()
    previous = _PREVIOUS_HANDLERS.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


_PREVIOUS_HANDLERS: dict[int, Any] = {}


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_teardown_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            _PREVIOUS_HANDLERS[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)


# ------------------------------------------------------------------------------------------------
# The cluster

_LAUNCHER = """#!/bin/sh
# hydra's ssh launcher calls: SCRIPT [-x] HOST COMMAND...; run COMMAND in HOST's namespace with
# HOST's hostname (its own UTS namespace), the way ssh would run it on a real node.
while [ $# -gt 0 ]; do
  case "$1" in
    -*) shift ;;
    *) break ;;
  esac
done
host="$1"; shift
case "$host" in
{cases}
  *) echo "emulate launcher: unknown host $host" >&2; exit 255 ;;
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name && $*"
"""


class EmulatedCluster:
    """Lay a fabric graph out as network namespaces, bridges and shaped veths.

    Parameters
    ----------
    G : networkx.DiGraph
        A validated fabric whose GPUs are hosts (one rank each) attached to exactly one switch,
        and whose switches form a tree (a loop would need spanning tree on the bridges).
    mtu_bytes : int
        MTU of every interface (default 64000: large frames keep the 2 cores out of the way; the
        module notes give the measurements).
    burst_bytes : int or None
        tbf bucket; default ``mtu + 14 + 512``: tbf needs one whole frame (``mtu + 14``), and
        every byte more is sent at line rate after a pause (two frames made the 1 MiB all-to-all
        on the tree 11% faster than the shaped time).
    persistent : bool
        Keep the cluster after this process exits (``fabric emulate up``); tear-down is then
        :meth:`close` or :func:`cleanup_stale` with ``include_persistent=True``.
    prefix : str or None
        Namespace name prefix; default ``fme<pid>x<counter>``, unique per instance.

    Raises
    ------
    ValueError
        If the graph has a GPU not attached to exactly one switch, a switch loop, more than
        250 hosts, or a bad MTU/burst.
    RuntimeError
        From :meth:`open` when a command fails (not root, iproute2 or ethtool missing).

    Examples
    --------
    ``with EmulatedCluster(emulated_fabric("flat")) as cluster: cluster.run_mpi([...])``
    """

    def __init__(self, G: nx.DiGraph, *, mtu_bytes: int = DEFAULT_MTU_BYTES,
                 burst_bytes: int | None = None, persistent: bool = False,
                 prefix: str | None = None) -> None:
        validate_graph(G)
        if not isinstance(mtu_bytes, int) or not 1280 <= mtu_bytes <= 65000:
            raise ValueError(f"mtu_bytes must be an integer in 1280..65000, got {mtu_bytes!r}")
        min_burst = mtu_bytes + ETH_HEADER_BYTES
        if burst_bytes is None:
            burst_bytes = min_burst + 512  # tc rounds the bucket to its clock: keep a margin
        if not isinstance(burst_bytes, int) or burst_bytes < min_burst:
            raise ValueError(f"burst_bytes must be an integer >= mtu + 14 = {min_burst}, "
                             f"got {burst_bytes!r}")
        self.G = G
        self.mtu_bytes = mtu_bytes
        self.burst_bytes = burst_bytes
        self.persistent = persistent
        self.prefix = prefix or f"{PREFIX}{os.getpid()}x{next(_COUNTER)}"
        if not self.prefix.startswith(PREFIX) or not self.prefix.replace("x", "").isalnum():
            raise ValueError(f"prefix must start with {PREFIX!r} and be alphanumeric, "
                             f"got {prefix!r}")
        self.switch_namespace = f"{self.prefix}-sw"
        switches = [n for n, k in G.nodes(data="kind") if k == "switch"]
        self.bridges = {s: f"br{j}" for j, s in enumerate(switches)}
        gpus = [n for n, k in G.nodes(data="kind") if k == "gpu"]
        if len(gpus) > 250:
            raise ValueError(f"an emulated cluster holds at most 250 hosts, got {len(gpus)}")
        hosts = []
        for i, gpu in enumerate(gpus):
            attached = [v for v in G.successors(gpu) if G.nodes[v]["kind"] == "switch"]
            if len(attached) != 1 or G.out_degree(gpu) != 1:
                raise ValueError(f"host {gpu!r} must have exactly one link, to a switch; "
                                 f"it links to {sorted(G.successors(gpu))}")
            node = G.nodes[gpu].get("node", i)
            hosts.append(EmulatedHost(
                node_id=gpu, namespace=f"{self.prefix}-h{i}",
                hostname=f"node{node}" if len(gpus) == len({G.nodes[g].get('node') for g in gpus})
                else f"host{i}",
                ip=str(SUBNET.network_address + i + 1), switch=attached[0], port=f"p{i}"))
        self.hosts: list[EmulatedHost] = hosts
        trunks = [(u, v) for u, v in G.edges() if u in self.bridges and v in self.bridges]
        und = nx.Graph(trunks)
        und.add_nodes_from(switches)
        if und.number_of_edges() and not nx.is_forest(und):
            raise ValueError("the switches form a loop; Linux bridges without spanning tree "
                             "need a tree of switches")
        self.trunks = sorted({tuple(sorted((u, v), key=switches.index)) for u, v in trunks})
        self.links: list[ShapedLink] = []
        self.state_dir = STATE_DIR / self.prefix
        self.launcher = self.state_dir / "launch.sh"
        self._open = False

    # -- names ---------------------------------------------------------------------------------

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of this cluster (hosts first, then the switch)."""
        return [h.namespace for h in self.hosts] + [self.switch_namespace]

    def _trunk_device(self, u: str, v: str) -> str:
        return f"t{list(self.bridges).index(u)}x{list(self.bridges).index(v)}"

    # -- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> EmulatedCluster:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def attach(cls, prefix: str) -> EmulatedCluster:
        """The open cluster ``prefix`` made by another process (``fabric emulate up``).

        Raises
        ------
        ValueError
            If no state file or namespaces of ``prefix`` exist.
        """
        path = STATE_DIR / f"{prefix}.json"
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"no emulated cluster {prefix!r} (no readable {path})") from err
        missing = set(state["namespaces"]) - set(_host.namespaces())
        if missing:
            raise ValueError(f"emulated cluster {prefix!r} lacks namespaces {sorted(missing)}")
        self = cls.__new__(cls)
        self.G = nx.DiGraph()
        self.mtu_bytes = int(state.get("mtu_bytes", DEFAULT_MTU_BYTES))
        self.burst_bytes = 0
        self.persistent = bool(state["persistent"])
        self.prefix = prefix
        self.switch_namespace = f"{prefix}-sw"
        self.bridges = {}
        self.trunks = []
        self.hosts = [EmulatedHost(**h) for h in state["hosts"]]
        self.links = [ShapedLink(**link) for link in state["links"]]
        self.state_dir = STATE_DIR / prefix
        self.launcher = self.state_dir / "launch.sh"
        self._open = True
        return self

    def open(self) -> EmulatedCluster:
        """Create the namespaces, bridges, veths and qdiscs; return self."""
        if self._open:
            return self
        if os.geteuid() != 0:
            raise RuntimeError("the emulated cluster needs root (network namespaces, tc)")
        for tool in ("ip", "tc", "ethtool", "unshare"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: apt-get install -y iproute2 ethtool "
                                   "util-linux")
        if not self.persistent:
            _install_hooks()
            with _LIVE_LOCK:
                _LIVE[id(self)] = self
        self._open = True
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Kill what runs inside, delete the namespaces and the state files (idempotent)."""
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
        if not self._open:
            return
        self._open = False
        _host.delete_cluster(self.prefix, self.namespaces)

    def _save_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {"prefix": self.prefix, "persistent": self.persistent, "owner_pid": os.getpid(),
                 "namespaces": self.namespaces, "mtu_bytes": self.mtu_bytes,
                 "hosts": [dataclasses.asdict(h) for h in self.hosts],
                 "links": [dataclasses.asdict(link) for link in self.links],
                 "topology": self.G.graph.get("topology"), "params": self.G.graph.get("params")}
        path = STATE_DIR / f"{self.prefix}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True, indent=2))
        tmp.replace(path)

    def _build(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for ns in self.namespaces:
            _host.run_command(["ip", "netns", "add", ns])
        self._save_state()  # record the namespaces at once so a killed run can be cleaned
        sw = self.switch_namespace
        mtu = self.mtu_bytes
        cmds = ["link set lo up"]
        for bridge in self.bridges.values():
            cmds += [f"link add {bridge} mtu {mtu} type bridge stp_state 0 forward_delay 0",
                     f"link set {bridge} up"]
        for host in self.hosts:
            cmds += [f"link add {host.port} mtu {mtu} type veth peer name {host.iface} "
                     f"mtu {mtu} netns {host.namespace}",
                     f"link set {host.port} master {self.bridges[host.switch]} up"]
        for u, v in self.trunks:
            a, b = self._trunk_device(u, v), self._trunk_device(v, u)
            cmds += [f"link add {a} mtu {mtu} type veth peer name {b} mtu {mtu}",
                     f"link set {a} master {self.bridges[u]} up",
                     f"link set {b} master {self.bridges[v]} up"]
        _host.ip_batch(sw, cmds)
        for host in self.hosts:
            _host.ip_batch(host.namespace, [
                "link set lo up",
                f"addr add {host.ip}/{SUBNET.prefixlen} dev {host.iface}",
                f"link set {host.iface} up"])
            self._sysctl(host.namespace)
        self._sysctl(sw)
        links = []
        for host in self.hosts:
            links.append(self._link(host.node_id, host.switch, host.namespace, host.iface))
            links.append(self._link(host.switch, host.node_id, sw, host.port))
        for u, v in self.trunks:
            links.append(self._link(u, v, sw, self._trunk_device(u, v)))
            links.append(self._link(v, u, sw, self._trunk_device(v, u)))
        for link in links:
            inside = ["ip", "netns", "exec", link.namespace]
            _host.run_command([*inside, "ethtool", "-K", link.device,
                               "tso", "off", "gso", "off", "gro", "off"])
            _host.run_command([*inside, "tc", "qdisc", "replace", "dev", link.device, "root",
                               "tbf", "rate", f"{round(link.rate_bytes_per_s * 8)}bit",
                               "burst", str(link.burst_bytes), "limit", str(TBF_LIMIT_BYTES)])
        self.links = links
        self._write_launcher()
        self._save_state()

    def _link(self, u: str, v: str, namespace: str, device: str) -> ShapedLink:
        data = self.G.edges[u, v]
        rate = float(data["bandwidth_bytes_per_s"]) * int(data["num_links"])
        return ShapedLink(u=u, v=v, namespace=namespace, device=device, rate_bytes_per_s=rate,
                          burst_bytes=self.burst_bytes)

    @staticmethod
    def _sysctl(namespace: str) -> None:
        # No IPv6 chatter on the counters; no slow start between the steps of a collective;
        # Reno, not the default BBR: BBR's pacing and probing left 5-10% of a tbf-shaped link
        # unused in both directions at once, Reno 1-2% (16 MiB each way at 200 Mbit/s, measured).
        settings = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
                    "net.ipv4.tcp_slow_start_after_idle=0", "net.ipv4.tcp_congestion_control=reno"]
        _host.run_command(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w", *settings],
                          check=False)

    def _write_launcher(self) -> None:
        cases = "\n".join(f"  {h.ip}|{h.hostname}) ns={h.namespace}; name={h.hostname} ;;"
                          for h in self.hosts)
        self.launcher.write_text(_LAUNCHER.format(cases=cases))
        self.launcher.chmod(0o755)

    # -- use -----------------------------------------------------------------------------------

    def host_command(self, host: int, argv: Sequence[str]) -> list[str]:
        """argv that runs ``argv`` inside host ``host``'s namespace, under its own hostname."""
        h = self.hosts[host]
        return ["ip", "netns", "exec", h.namespace, "unshare", "--uts", "sh", "-c",
                'hostname "$0" && exec "$@"', h.hostname, *argv]

    def shell_line(self, host: int, argv: Sequence[str] = ("bash",)) -> str:
        """A shell command line that runs ``argv`` inside host ``host`` (for people)."""
        return shlex.join(self.host_command(host, argv))

    def mpi_shell_line(self, argv: Sequence[str]) -> str:
        """A shell command line that runs ``argv`` under mpiexec on every host, as run_mpi does."""
        env = [f"{k}={v}" for k, v in sorted(MPI_ENV.items())]
        return shlex.join(self.host_command(0, ["env", *env, *self.mpiexec_argv(argv)]))

    def exec(self, host: int, argv: Sequence[str], *, timeout_s: float = 60.0,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside host ``host`` and return the finished process."""
        return _host.run_command(self.host_command(host, argv), check=check, timeout_s=timeout_s)

    def tx_bytes(self) -> dict[str, int]:
        """Bytes sent so far by every shaped device, keyed ``"u->v"`` (the link direction)."""
        out: dict[str, int] = {}
        by_ns: dict[str, dict[str, int]] = {}
        for link in self.links:
            if link.namespace not in by_ns:
                proc = _host.run_command(["ip", "-n", link.namespace, "-s", "-j", "link", "show"])
                by_ns[link.namespace] = {d["ifname"]: int(d["stats64"]["tx"]["bytes"])
                                         for d in json.loads(proc.stdout)}
            out[f"{link.u}->{link.v}"] = by_ns[link.namespace][link.device]
        return out

    def mpi_env(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment ``run_mpi`` gives mpiexec: ours, :data:`MPI_ENV`, then ``env``."""
        out = dict(os.environ)
        out.update(MPI_ENV)
        out.update(env or {})
        return out

    def mpiexec_argv(self, argv: Sequence[str], *, num_ranks: int | None = None) -> list[str]:
        """The mpiexec command line (run inside host 0) that starts ``argv`` on the hosts."""
        mpiexec = Path(sys.executable).parent / "mpiexec"
        if not mpiexec.exists():
            found = shutil.which("mpiexec")
            if found is None:
                raise RuntimeError("mpiexec not found next to the Python interpreter nor on PATH "
                                   "(pip install mpich mpi4py)")
            mpiexec = Path(found)
        n = num_ranks or len(self.hosts)
        return [str(mpiexec), "-launcher", "ssh", "-launcher-exec", str(self.launcher),
                "-iface", "eth0", "-hosts", ",".join(h.ip for h in self.hosts),
                "-n", str(n), *argv]

    def run_mpi(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                num_ranks: int | None = None, timeout_s: float = 600.0,
                nice: int = DEFAULT_NICE) -> MpiRun:
        """Run ``mpiexec -n N argv`` with one rank per host (round robin) and return what it did.

        Parameters
        ----------
        argv : sequence of str
            The program and its arguments (``[sys.executable, "-m", ...]`` or ``["fabric", ...]``).
        env : mapping or None
            Extra environment for mpiexec and every rank (overrides :data:`MPI_ENV`).
        num_ranks : int or None
            Ranks (default one per host).
        timeout_s : float
            Kill everything in the cluster after this long.

        Returns
        -------
        MpiRun
            Exit status, output, wall time, CPU busy fraction of the machine during the run and
            bytes sent per link direction during the run.
        """
        if not self._open:
            raise RuntimeError("the emulated cluster is not open (use it as a context manager)")
        full = self.host_command(0, ["nice", "-n", str(nice),
                                     *self.mpiexec_argv(argv, num_ranks=num_ranks)])
        tx0 = self.tx_bytes()
        cpu0 = read_cpu_times()
        own0 = _host.children_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.mpi_env(env))
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for host in self.hosts:
                _host.kill_namespace_processes(host.namespace)
            proc.kill()
            out, err = proc.communicate()
            err += f"\nemulate: mpiexec killed after {timeout_s} s"
        wall = time.perf_counter() - t0
        cpu = _host.cpu_usage(cpu0, read_cpu_times(), wall, _host.children_cpu_s() - own0)
        tx1 = self.tx_bytes()
        return MpiRun(argv=full, returncode=proc.returncode, stdout=out, stderr=err, wall_s=wall,
                      cpu=cpu, tx_bytes={k: tx1[k] - tx0[k] for k in tx1})
