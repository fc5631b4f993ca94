"""Host-side plumbing of the emulated cluster: commands, namespaces, CPU accounting, leftovers.

:mod:`measure.emulate` builds on these; they are public for tests and tools that inspect a
cluster. Every namespace of an emulated cluster is named ``<prefix>-<role>`` with
``prefix = fme<owner pid>x<counter>``, and its state file is ``/run/fabric-emulate/<prefix>.json``,
so that leftovers of a killed run can be told from clusters in use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PREFIX",
    "STATE_DIR",
    "CpuUsage",
    "read_cpu_times",
    "cpu_usage",
    "children_cpu_s",
    "run_command",
    "ip_batch",
    "namespaces",
    "kill_namespace_processes",
    "list_instances",
    "remove_cluster",
    "delete_cluster",
    "cleanup_stale",
]

PREFIX = "fme"
STATE_DIR = Path("/run/fabric-emulate")


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuUsage:
    """Busy fraction of the machine's cores over an interval, from ``/proc/stat``."""

    wall_s: float
    num_cores: int
    busy_fraction: float
    busy_fraction_per_core: list[float]
    own_cpu_s: float = 0.0

    @property
    def own_fraction(self) -> float:
        """CPU time of the run's own processes (mpiexec, ranks) / (wall time x cores)."""
        return self.own_cpu_s / (self.wall_s * self.num_cores) if self.wall_s > 0 else 0.0

    @property
    def saturated(self) -> bool:
        """True when every core was more than 90% busy: timings are then CPU-bound."""
        return min(self.busy_fraction_per_core, default=0.0) > 0.9


def run_command(argv: Sequence[str], *, check: bool = True, input_text: str | None = None,
         timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, input=input_text,
                              timeout=timeout_s, check=False)
    except FileNotFoundError as err:
        raise RuntimeError(f"{argv[0]} not found: the emulated cluster needs iproute2 and "
                           f"ethtool (apt-get install -y iproute2 ethtool)") from err
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def ip_batch(namespace: str | None, commands: Sequence[str]) -> None:
    argv = ["ip"] + (["-n", namespace] if namespace else []) + ["-batch", "-"]
    run_command(argv, input_text="\n".join(commands) + "\n")


def read_cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per core from ``/proc/stat`` (idle and iowait count as not busy)."""
    out = []
    with open("/proc/stat", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("cpu") and line[3].isdigit():
                values = [int(v) for v in line.split()[1:]]
                total = sum(values[:8])  # guest time is already inside user/nice
                idle = values[3] + values[4]
                out.append((total - idle, total))
    return out


def cpu_usage(before: list[tuple[int, int]], after: list[tuple[int, int]], wall_s: float,
               own_cpu_s: float = 0.0) -> CpuUsage:
    per_core = []
    for (b0, t0), (b1, t1) in zip(before, after, strict=True):
        per_core.append((b1 - b0) / (t1 - t0) if t1 > t0 else 0.0)
    busy = sum(b1 - b0 for (b0, _), (b1, _) in zip(before, after, strict=True))
    total = sum(t1 - t0 for (_, t0), (_, t1) in zip(before, after, strict=True))
    return CpuUsage(wall_s=wall_s, num_cores=len(per_core),
                    busy_fraction=busy / total if total else 0.0, busy_fraction_per_core=per_core,
                    own_cpu_s=own_cpu_s)


def children_cpu_s() -> float:
    """User + system CPU seconds of every finished, waited-for descendant of this process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def namespaces() -> list[str]:
    proc = run_command(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def kill_namespace_processes(namespace: str) -> None:
    """SIGKILL every process inside ``namespace`` (by PID, from ``ip netns pids``)."""
    for _ in range(3):
        proc = run_command(["ip", "netns", "pids", namespace], check=False)
        pids = [int(p) for p in proc.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _delete_namespaces(names: Sequence[str]) -> None:
    existing = set(namespaces())
    for ns in names:
        if ns in existing:
            kill_namespace_processes(ns)
    for ns in names:
        if ns in existing:
            run_command(["ip", "netns", "del", ns], check=False)


#: A namespace as :class:`measure.emulate.EmulatedCluster` names them by default:
#: ``fme<pid>x<counter>-h<i>`` (a host) or ``...-sw`` (the switches).
_OURS = re.compile(rf"{PREFIX}\d+x\d+-(?:h\d+|sw)")


def _prefix_owner(prefix: str) -> int | None:
    """The PID encoded in ``fme<pid>x<n>``, or None."""
    body = prefix[len(PREFIX):]
    pid, sep, _ = body.partition("x")
    return int(pid) if sep and pid.isdigit() else None


def list_instances(prefix: str = PREFIX) -> list[dict[str, Any]]:
    """Emulated clusters present on this machine whose prefix starts with ``prefix``.

    Each entry has ``prefix``, ``namespaces``, ``owner_pid``, ``owner_alive`` and ``persistent``
    (and the saved ``hosts`` when the state file is readable).
    """
    found: dict[str, dict[str, Any]] = {}
    recorded: dict[str, str] = {}  # namespace -> instance, from the state files
    states = []
    if STATE_DIR.is_dir():
        for path in STATE_DIR.glob(f"{prefix}*.json"):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                state = json.loads(path.read_text())
                recorded.update(dict.fromkeys(map(str, state.get("namespaces", ())),
                                              str(state["prefix"])))
                states.append(state)
    for ns in namespaces():
        # ours: named in a state file, or named as this module names them (a state file is
        # written before the first namespace); another tool's fme* namespace is left alone
        inst = recorded.get(ns)
        if inst is None and _OURS.fullmatch(ns):
            inst = ns.rsplit("-", 1)[0]
        if inst is not None and inst.startswith(prefix):
            found.setdefault(inst, {"prefix": inst, "namespaces": []})["namespaces"].append(ns)
    for state in states:
        entry = found.setdefault(state["prefix"], {"prefix": state["prefix"], "namespaces": []})
        entry.update({k: state[k] for k in ("persistent", "hosts") if k in state})
    for entry in found.values():
        owner = _prefix_owner(entry["prefix"])
        entry["owner_pid"] = owner
        entry["owner_alive"] = owner is not None and _pid_alive(owner)
        entry.setdefault("persistent", False)
    return sorted(found.values(), key=lambda e: e["prefix"])


def delete_cluster(prefix: str, names: Sequence[str]) -> None:
    """Kill what runs in namespaces ``names``, delete them and the state of ``prefix``."""
    _delete_namespaces(names)
    with contextlib.suppress(FileNotFoundError):
        (STATE_DIR / f"{prefix}.json").unlink()
    shutil.rmtree(STATE_DIR / prefix, ignore_errors=True)


def remove_cluster(prefix: str) -> bool:
    """Remove the emulated cluster ``prefix`` (exact name), whoever made it; True if it existed."""
    for entry in list_instances(prefix):
        if entry["prefix"] == prefix:
            delete_cluster(prefix, entry["namespaces"])
            return True
    return False


def cleanup_stale(prefix: str = PREFIX, *, include_persistent: bool = False,
                  include_live: bool = False) -> list[str]:
    """Remove emulated clusters left behind by killed runs; return the prefixes removed.

    Parameters
    ----------
    prefix : str
        Only instances whose prefix starts with this (default: all of this module's).
    include_persistent : bool
        Also remove clusters made to outlive their process (``fabric emulate up``).
    include_live : bool
        Also remove clusters whose owning process still runs.

    Returns
    -------
    list of str
        The instance prefixes removed.
    """
    removed = []
    for entry in list_instances(prefix):
        if entry["persistent"] and not include_persistent:
            continue
        if entry["owner_alive"] and not entry["persistent"] and not include_live:
            continue
        delete_cluster(entry["prefix"], entry["namespaces"])
        removed.append(entry["prefix"])
    return removed
