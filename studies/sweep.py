"""Design-space sweeps on Dask: every design evaluated by :func:`studies.evaluate.evaluate_fabric`.

:func:`run_sweep` expands a :class:`~studies.sweep_space.SweepSpace`, skips the designs the
store already holds, sends the rest in batches to a Dask cluster (an embedded
``distributed.LocalCluster`` sized to the machine, or ``scheduler``'s), and writes each finished
batch to SQLite in one transaction. A killed worker's batches are rerun by Dask; rows are keyed, so
none is written twice. Ctrl-C or a lost scheduler loses only the batches in flight.
Dask is imported only here (the rest of the CLI does not need it).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import networkx as nx

from fabric import __version__
from fabric.catalog import Catalog, default_catalog, load_catalog
from fabric.errors import InfeasibleError
from studies.design import FabricDesign, build_fabric, design_for_family, for_study
from studies.evaluate import FabricResult, evaluate_fabric, failed_fabric, first_line
from studies.sweep_space import SweepSpace, design_key
from studies.sweep_store import done_keys, drop_failed, open_store, read_meta, set_meta, write_rows

__all__ = ["SweepSummary", "design_of", "sweep_catalog", "evaluate_point", "evaluate_batch",
           "local_cluster", "run_sweep", "result_row"]

_FROZEN = {"frozen": True, "slots": True, "kw_only": True}
_SIZES = ("num_gpus", "num_nodes", "k")


@dataclass(**_FROZEN)
class SweepSummary:
    """What one :func:`run_sweep` call did."""

    total: int
    skipped: int
    written: int
    failed: int
    elapsed_s: float
    workers: int
    #: seconds from the cluster being ready to the last row written (``elapsed_s`` also holds
    #: the cluster's start and shutdown)
    evaluating_s: float = 0.0


def design_of(values: dict[str, Any], catalog: Catalog | None = None) -> FabricDesign:
    """The :class:`FabricDesign` one design's inputs describe (as ``compare`` builds it)."""
    family = values.get("family")
    if family is None:
        raise ValueError("family: every design needs one (an axis or a fixed value)")
    num_gpus = values.get("num_gpus")
    if num_gpus is None:
        raise ValueError("num_gpus: every design needs one (an axis or a fixed value)")
    base = FabricDesign(family=str(family), num_gpus=int(num_gpus),
                        **{k: v for k, v in values.items() if k != "family" and k not in _SIZES})
    return for_study(design_for_family(base, str(family), int(num_gpus), catalog))


@functools.lru_cache(maxsize=4)
def sweep_catalog(path: str | None) -> Catalog:
    """The catalog a sweep prices with (``path`` None: the built-in one), cached per process."""
    return default_catalog() if path is None else load_catalog(path)


@functools.lru_cache(maxsize=2)
def _workload(path: str | None) -> Any:
    from collectives.workload import default_workload, load_workload
    return default_workload() if path is None else load_workload(path)


_FABRICS: dict[str, nx.DiGraph] = {}
_FABRICS_MAX = 16


def _fabric(design: FabricDesign, catalog_path: str | None) -> nx.DiGraph:
    """Built once per worker process and reused by the designs that share it."""
    key = json.dumps([design.family, design.given(), catalog_path], sort_keys=True, default=str)
    G = _FABRICS.get(key)
    if G is None:
        G = build_fabric(design)
        if len(_FABRICS) >= _FABRICS_MAX:
            _FABRICS.pop(next(iter(_FABRICS)))
        _FABRICS[key] = G
    return G


def result_row(key: str, values: dict[str, Any], result: FabricResult,
               collectives: Sequence[str]) -> dict[str, Any]:
    """One store row from an evaluation."""
    row: dict[str, Any] = {"key": key, "inputs_json": json.dumps(values, sort_keys=True),
                           "error": result.error, "family": str(values.get("family")),
                           "num_gpus": result.num_gpus}
    if result.bom is not None:
        row["cost_usd"] = result.bom.cost_usd
        row["network_cost_usd"] = result.bom.network_cost_usd
        row["power_w"] = result.bom.power_w
    if not result.built:  # could not be built: its reason is the row's error, no curves
        return row
    times = {}
    for name in collectives:
        curve = result.curve(name)
        times[name] = list(curve.time_s) if not curve.error else curve.error
    row["collective_times_json"] = json.dumps(times, sort_keys=True)
    if result.workload is None:
        # a workload that could not run on this design (its parallel degrees, no price): the
        # design failed for this sweep, and says why (compare says it as a note)
        reason = next((n for n in result.notes if n.startswith("workload not evaluated")), "")
        if reason:
            row["error"] = reason
    if result.workload is not None:
        step, cost = result.workload.step, result.workload.cost
        row["step_time_s"] = step.step_time_s
        row["gpu_utilization"] = step.gpu_utilization
        row["cost_per_useful_gpu_hour_usd"] = cost.cost_per_useful_gpu_hour_usd
        if cost.capex_usd > 0:
            row["utilization_per_musd"] = step.gpu_utilization / (cost.capex_usd / 1e6)
    return row


def evaluate_point(values: dict[str, Any], space: SweepSpace) -> dict[str, Any]:
    """Evaluate one design; any error becomes a row with its one-line message."""
    key = design_key(values)
    try:
        catalog = sweep_catalog(space.catalog)
        design = design_of(values, catalog)
        try:
            G = _fabric(design, space.catalog)
        except InfeasibleError as err:
            result = failed_fabric(str(design.family), int(values["num_gpus"]), err)
        else:
            result = evaluate_fabric(G, family=str(design.family),
                                     requested_gpus=design.num_gpus, catalog=catalog,
                                     workload=_workload(space.workload_path),
                                     collectives=space.collectives,
                                     sizes_bytes=space.sizes_bytes)
        return result_row(key, values, result, space.collectives)
    except Exception as err:  # noqa: BLE001 - a failed design is a row, the sweep goes on
        return {"key": key, "inputs_json": json.dumps(values, sort_keys=True),
                "error": first_line(err) or type(err).__name__,
                "family": str(values.get("family")), "num_gpus": values.get("num_gpus")}


def evaluate_batch(batch: Sequence[dict[str, Any]], space: SweepSpace) -> list[dict[str, Any]]:
    """Evaluate a batch of designs (one Dask task)."""
    return [evaluate_point(values, space) for values in batch]


#: Seconds to wait for an existing Dask scheduler to answer.
SCHEDULER_TIMEOUT_S = 10

#: Dask settings for the workers of the embedded ``LocalCluster``. Each worker's statistical
#: profiler (``distributed.worker.profile``, on by default; the switch came with
#: https://github.com/dask/distributed/pull/6490, 2022) samples the worker thread's stack every
#: 10 ms for the dashboard, taking the GIL from the pure-Python evaluation it samples. On a
#: 2-core VM, two paired runs of one worker over 456 designs made 69% and 83% of a plain loop's
#: designs per second with it on, 87% and 96% with it off. A ``--scheduler`` cluster's workers
#: keep their own config (``docs/sweep.md`` says how to turn it off there).
LOCAL_WORKER_CONFIG: dict[str, Any] = {"distributed.worker.profile.enabled": False}


def local_cluster(workers: int) -> Any:
    """The embedded ``distributed.LocalCluster``: ``workers`` processes of one thread each, with
    :data:`LOCAL_WORKER_CONFIG`, logs below ERROR silenced, the dashboard on a free port."""
    import dask.config
    from distributed import LocalCluster

    with dask.config.set(LOCAL_WORKER_CONFIG):  # each nanny hands its config to its worker
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=":0", silence_logs=logging.ERROR)


def _cost(values: dict[str, Any]) -> float:
    """A design's relative cost for balancing batches: building, routing and pricing a fabric
    grow with its GPUs (a design without a usable count weighs 1)."""
    try:
        return max(1.0, float(values.get("num_gpus", 1)))
    except (TypeError, ValueError):
        return 1.0


def _batches(todo: list[dict[str, Any]], workers: int, batch_size: int | None
             ) -> list[list[dict[str, Any]]]:
    """Dask tasks of at most ``batch_size`` designs, balanced by cost and heaviest first.

    The default is about sixteen tasks per worker, at most 64 designs and at least the largest
    group of designs sharing a fabric: with four per worker, one of 2 workers idled through the
    last 10 % of a 456-design sweep while the other finished its last batch; with sixteen both
    ended within about a second (a task is still seconds of work, against Dask's
    milliseconds per task).

    Designs sharing a fabric stay together (the per-worker fabric cache then hits). Those
    groups, cut to the batch size, go longest first onto the batch with the least cost so far
    that has room, so no batch is left alone at the end while the other workers idle (in space
    order, the largest fabrics of an axis fall in the same batch).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for values in todo:
        key = json.dumps({k: values[k] for k in sorted(values)
                          if k in FabricDesign.__dataclass_fields__}, default=str)
        groups.setdefault(key, []).append(values)
    largest = max((len(g) for g in groups.values()), default=1)
    size = batch_size or max(1, min(64, max(math.ceil(len(todo) / (16 * max(workers, 1))),
                                            largest)))
    chunks = [group[i:i + size] for _, group in sorted(groups.items())
              for i in range(0, len(group), size)]
    chunks.sort(key=lambda c: -sum(_cost(v) for v in c))  # stable: ties keep space order
    count = max(1, math.ceil(len(todo) / size))
    batches: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    load = [0.0] * count
    for chunk in chunks:
        room = [i for i, b in enumerate(batches) if len(b) + len(chunk) <= size]
        if not room:
            batches.append([])
            load.append(0.0)
            room = [len(batches) - 1]
        i = min(room, key=lambda j: (load[j], j))
        batches[i].extend(chunk)
        load[i] += sum(_cost(v) for v in chunk)
    order = sorted((i for i, b in enumerate(batches) if b), key=lambda i: -load[i])
    return [batches[i] for i in order]


class _Progress:
    """A bar with rate and ETA on a terminal; a line every ``every_s`` otherwise."""

    def __init__(self, total: int, stream: TextIO | None, every_s: float = 10.0) -> None:
        self.total, self.done, self.stream, self.every_s = total, 0, stream, every_s
        self.start = self.last = time.monotonic()
        self.tty = bool(stream is not None and stream.isatty())

    def add(self, n: int) -> None:
        self.done += n
        if self.stream is None:
            return
        now = time.monotonic()
        rate = self.done / max(now - self.start, 1e-9)
        eta_s = (self.total - self.done) / rate if rate > 0 else math.inf
        if self.tty:
            filled = int(30 * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
                              f" {rate:.1f} designs/s ETA {eta_s:.0f} s")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif now - self.last >= self.every_s or self.done >= self.total:
            self.last = now
            self.stream.write(f"sweep: {self.done}/{self.total} designs, {rate:.1f}/s, "
                              f"ETA {eta_s:.0f} s\n")
            self.stream.flush()


def _check_context(con: Any, context: dict[str, Any], db_path: str | Path) -> None:
    """Refuse a store whose rows were evaluated with other collectives, sizes, workload or
    catalog: a design's key is its own inputs, so its stored row would be taken for this
    space's result. A store of an older version, without a recorded context, is refused too
    when it holds results (which context made them is unknown). A store of failed rows only
    is emptied instead: they are evaluated again anyway."""
    stored = read_meta(con).get("context")
    rows = con.execute("SELECT COUNT(*) FROM designs WHERE error = ''").fetchone()[0]
    if stored == context:
        return
    if rows == 0:  # only failed rows (a workload that did not fit, fixed since): all rerun
        with con:
            con.execute("DELETE FROM designs")
        return
    if stored is None:
        raise ValueError(f"{str(db_path)!r} holds {rows} rows whose workload, catalog, "
                         "collectives and sizes were not recorded (an older version wrote "
                         "it); give a new -o path")
    changed = [name for name in ("workload_sha256", "catalog_sha256", "collectives",
                                 "sizes_bytes", "builtin_catalog_sha256",
                                 "fabric_modeler_version") if stored.get(name) != context.get(name)]
    labels = {"builtin_catalog_sha256": "built-in catalog",
              "fabric_modeler_version": "modeler version"}
    what = ", ".join(labels.get(n, n.removesuffix("_sha256")) for n in changed) or (
        "evaluation context")
    raise ValueError(f"{str(db_path)!r} holds results evaluated with another {what} than this "
                     f"space's; its rows would be taken for this space's results: give a new "
                     f"-o path, or the space those rows came from")


def run_sweep(space: SweepSpace, db_path: str | Path, *, scheduler: str | None = None,
              workers: int | None = None, batch_size: int | None = None,
              progress: TextIO | None = None,
              on_batch: Callable[[int], None] | None = None) -> SweepSummary:
    """Evaluate every design of ``space`` not yet in the store at ``db_path``.

    Parameters
    ----------
    scheduler
        Address of an existing Dask scheduler; None starts a ``LocalCluster``.
    workers
        LocalCluster worker processes (default: the machine's cores); ignored with ``scheduler``.
    batch_size
        Designs per Dask task (default: about sixteen tasks per worker, at most 64 designs, at
        least the designs that share one fabric).
    progress
        Where to show progress (None: silent).
    on_batch
        Called with the number of batches written so far after each (tests use it).
    """
    cores = os.cpu_count() or 1
    if workers is not None and not 1 <= workers <= 4 * cores:
        raise ValueError(f"workers must be 1..{4 * cores} local processes (4 per core on this "
                         f"machine), got {workers}; use a scheduler address for more")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    designs = space.designs()
    sweep_catalog(space.catalog)  # a catalog that cannot be read fails here, not in every design
    if space.workload_path is not None:
        _workload(space.workload_path)  # a workload file that cannot be read fails here
    from distributed import Client, as_completed

    start = time.monotonic()
    remote = None
    if scheduler is not None:
        # reach the scheduler before the store is created: a wrong address leaves no file
        try:
            remote = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            raise ValueError(f"cannot reach the Dask scheduler {scheduler!r} within "
                             f"{SCHEDULER_TIMEOUT_S} s ({type(err).__name__}: {err}); "
                             "give an address like tcp://host:8786") from None
    context = space.context()
    con = open_store(db_path)
    try:
        _check_context(con, context, db_path)
    except ValueError:
        con.close()
        raise
    done = done_keys(con)
    todo = [v for v in designs if design_key(v) not in done]
    drop_failed(con, [design_key(v) for v in todo])  # evaluated again, their rows replaced
    set_meta(con, {"space_file_sha256": space.file_hash, "context": context,
                   "fabric_modeler_version": __version__,
                   "python_version": platform.python_version(),
                   "catalog": space.catalog or "default",
                   "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                   "finished_utc": None, "designs_total": len(designs)})
    n_workers = workers or cores
    written = failed = 0
    cluster = None
    if not todo:
        set_meta(con, {"finished_utc": datetime.now(UTC).isoformat(timespec="seconds")})
        con.close()
        if remote is not None:
            remote.close()
        return SweepSummary(total=len(designs), skipped=len(designs), written=0, failed=0,
                            elapsed_s=time.monotonic() - start, workers=0)
    if scheduler is None:
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    else:
        assert remote is not None
        client = remote
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    ready = time.monotonic()
    evaluating_s = 0.0
    bar = _Progress(len(todo), progress)
    # the client logs each failed reconnection with a traceback; the error below says it
    client_log = logging.getLogger("distributed.client")
    client_level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        if todo:
            space_future = client.scatter(space, broadcast=True)
            futures = [client.submit(evaluate_batch, batch, space_future, pure=False)
                       for batch in _batches(todo, n_workers, batch_size)]
            for count, future in enumerate(as_completed(futures), start=1):
                try:
                    rows = future.result()
                except CancelledError:
                    # the client cancels every future when it loses its scheduler
                    raise ValueError(
                        f"lost the Dask scheduler {scheduler or 'of the local cluster'} after "
                        f"writing {written} of {len(todo)} designs to {str(db_path)!r}; run "
                        f"the same command again to evaluate the other {len(todo) - written}"
                    ) from None
                written += write_rows(con, rows)
                failed += sum(1 for r in rows if r.get("error"))
                bar.add(len(rows))
                if on_batch is not None:
                    on_batch(count)
            evaluating_s = time.monotonic() - ready
        set_meta(con, {"finished_utc": datetime.now(UTC).isoformat(timespec="seconds")})
    finally:
        client.close()
        client_log.setLevel(client_level)
        if cluster is not None:
            cluster.close()
        con.close()
    return SweepSummary(total=len(designs), skipped=len(designs) - len(todo), written=written,
                        failed=failed, elapsed_s=time.monotonic() - start, workers=n_workers,
                        evaluating_s=evaluating_s)
