"""Compare fabric families for one cluster: each built with the same servers, evaluated alike.

Families are independent, so they are evaluated in worker processes; the result does not depend
on how many.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import topologies
from collectives.calibration import ModelCalibration
from collectives.names import canonical
from collectives.workload import Workload
from fabric.catalog import Catalog
from studies.design import (
    FabricDesign,
    check_options_used,
    design_for_family,
    for_study,
    is_spec_path,
    options_not_taken,
)
from studies.evaluate import FabricResult, evaluate_design

__all__ = [
    "DEFAULT_COLLECTIVES",
    "DEFAULT_FAMILIES",
    "Comparison",
    "compare_fabrics",
]

DEFAULT_FAMILIES: tuple[str, ...] = ("rail-optimized", "rail-only", "clos", "fat-tree",
                                     "single-hop")
DEFAULT_COLLECTIVES: tuple[str, ...] = ("all-reduce", "all-gather", "reduce-scatter",
                                        "all-to-all")


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Families side by side for ``num_gpus`` GPUs at the message ``sizes_bytes``."""

    num_gpus: int
    sizes_bytes: tuple[int, ...]
    placement: str
    flavor: str
    calibrated: bool
    fabrics: tuple[FabricResult, ...]

    @property
    def num_built(self) -> int:
        """Families that could be built."""
        return sum(1 for f in self.fabrics if f.built)


#: Families by how long they take to evaluate, longest first (see compare_fabrics).
_LONGEST_FIRST = {"fat-tree": 0, "clos": 1, "rail-optimized": 2, "rail-only": 3, "single-hop": 4}


def _evaluate_one(design: FabricDesign, num_gpus: int | None, options: dict[str, Any]
                  ) -> FabricResult:
    return evaluate_design(design, requested_gpus=num_gpus, **options)


def compare_fabrics(
    num_gpus: int,
    families: Sequence[str] = DEFAULT_FAMILIES,
    *,
    base: FabricDesign | None = None,
    collectives: Sequence[str] = DEFAULT_COLLECTIVES,
    sizes_bytes: Sequence[int] = (1 << 30,),
    placement: str = "packed",
    flavor: str = "ideal",
    calibration: ModelCalibration | None = None,
    catalog: Catalog | None = None,
    workload: Workload | None = None,
    jobs: int | None = None,
    progress: Callable[[FabricResult], None] | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
) -> Comparison:
    """Build every family for ``num_gpus`` GPUs and evaluate each with :func:`evaluate_fabric`.

    Parameters
    ----------
    num_gpus : int
        GPUs the cluster must hold.
    families : sequence of str
        Family names (:data:`topologies.FAMILIES`) and paths of spec files (YAML, JSON or
        GraphML, e.g. written by ``fabric topology import``), each compared as it is built.
    base : FabricDesign or None
        Options shared by every family (switch, GPUs per node, scale-up, oversubscription ...);
        an option a family does not take is left out for that family. Unset server options
        take :data:`studies.design.STUDY_SERVER` (8 GPUs per server behind NVLink).
    collectives, sizes_bytes, placement, flavor, calibration, catalog, workload, routing,
    routing_seed
        As :func:`studies.evaluate.evaluate_fabric`.
    jobs : int or None
        Worker processes (default: one per core, at most one per family).
    progress : callable or None
        Called with each family's result as it finishes (in the main process).

    Raises
    ------
    ValueError
        An unknown family or collective, or ``num_gpus`` < 2.
    """
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 2:
        raise ValueError(f"--gpus must be an integer >= 2, got {num_gpus!r}")
    if not families:
        raise ValueError("give at least one family to compare")
    if not collectives:
        raise ValueError("give at least one collective to compare")
    # an entry that names a spec file (a `fabric topology import` or `build` output) is a fabric
    # of its own, compared as it is; the rest are families built for num_gpus
    specs = [f for f in dict.fromkeys(families) if is_spec_path(f)]
    names = [topologies.family(f).name for f in dict.fromkeys(families) if f not in specs]
    colls = [canonical(c) for c in dict.fromkeys(collectives)]
    base = base or FabricDesign(family=names[0] if names else DEFAULT_FAMILIES[0])
    options: dict[str, Any] = {
        "collectives": tuple(colls), "sizes_bytes": tuple(int(s) for s in sizes_bytes),
        "placement": placement, "flavor": flavor, "calibration": calibration,
        "catalog": catalog, "workload": workload, "routing": routing,
        "routing_seed": routing_seed,
    }
    check_options_used(base, names, also=[Path(path).name for path in specs])
    designs = [for_study(design_for_family(base, name, num_gpus, catalog)) for name in names]
    designs += [FabricDesign(spec_path=path) for path in specs]
    names += [Path(path).name for path in specs]
    # a spec file is compared as it is: its collectives run over all of its GPUs, as report and
    # predict run them, whatever --gpus the families are built for
    work = [(d, None if d.spec_path is not None else num_gpus, options) for d in designs]
    workers = min(len(work), jobs if jobs is not None else (os.cpu_count() or 1))
    results: dict[int, FabricResult] = {}
    if workers <= 1:
        for i, args in enumerate(work):
            results[i] = _evaluate_one(*args)
            if progress is not None:
                progress(results[i])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        # longest first, so that the last family to finish starts early (LPT scheduling):
        # the fat-tree (at 16,384 GPUs a k=48 tree of 27,648), then clos, rail-optimized,
        # rail-only and single-hop (CPU seconds with the default workload on a 2-core VM: 1.3,
        # 0.7, 0.7, 0.6 and under 0.1 at 16,384 GPUs; 4.5, 4.5, 4.2 and 3.1 at 65,536;
        # docs/performance.md); spec files after them, in the order given
        order = sorted(range(len(work)), key=lambda i: _LONGEST_FIRST.get(names[i], 9))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_evaluate_one, *work[i]): i for i in order}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(results[futures[future]])
    # options only some families take (--planes, --oversubscription...): said per family
    # that built without them, so one table does not mix them unmarked
    skipped = {name: options_not_taken(base, name) for name in names[:len(names) - len(specs)]}
    for i, (design, _, _) in enumerate(work):
        got = results[i]
        left = skipped.get(names[i], []) if design.spec_path is None else []
        if left and got.built:
            results[i] = got = dataclasses.replace(got, notes=(
                *got.notes, f"{', '.join(left)} not taken by this family: built without "
                f"{'it' if len(left) == 1 else 'them'}"))
        if design.spec_path is not None and got.built and got.num_gpus != num_gpus:
            results[i] = dataclasses.replace(got, notes=(
                f"a spec file is compared as it is: its {got.num_gpus:,} GPUs, not the "
                f"{num_gpus:,} asked", *got.notes))
    return Comparison(num_gpus=num_gpus, sizes_bytes=options["sizes_bytes"], placement=placement,
                      flavor=flavor, calibrated=calibration is not None,
                      fabrics=tuple(results[i] for i in range(len(work))))

