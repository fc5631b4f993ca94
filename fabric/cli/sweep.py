"""``fabric sweep SPACE -o results.db`` and ``fabric sweep show results.db``.

Dask is imported by :mod:`studies.sweep` only when a sweep runs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from fabric.cli.common import (
    FabricGroup,
    emit_result,
    format_table,
    heading,
    json_option,
    status,
    verbosity,
)

__all__ = ["sweep"]


class _SweepGroup(FabricGroup):
    """``fabric sweep SPACE ...`` runs; ``fabric sweep show DB`` prints the front."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "run")
        return super().resolve_command(ctx, args)


@click.group("sweep", cls=_SweepGroup)
def sweep() -> None:
    """Sweep a design space on Dask into SQLite; `show` prints the Pareto front."""


@sweep.command("run")
@click.argument("space_path", metavar="SPACE")
@click.option("-o", "--output", required=True, metavar="DB", help="SQLite results file.")
@click.option("--scheduler", metavar="ADDRESS", help="Existing Dask scheduler (default: local).")
@click.option("--workers", type=int, help="Local worker processes (default: all cores).")
@click.option("--batch-size", type=int, help="Designs per Dask task.")
@click.option("--parquet", metavar="FILE", help="Also export the table as Parquet.")
def run_command(space_path: str, output: str, scheduler: str | None, workers: int | None,
                batch_size: int | None, parquet: str | None) -> None:
    """Evaluate every design of SPACE not yet in DB (re-running resumes)."""
    from studies.sweep import run_sweep
    from studies.sweep_space import load_space

    space = load_space(space_path)
    if parquet is not None:
        from fabric.fileio import check_output_path

        _check_parquet()
        check_output_path(parquet, inputs=[space_path, output])
    try:
        summary = run_sweep(space, output, scheduler=scheduler, workers=workers,
                            batch_size=batch_size,
                            progress=None if verbosity() < 0 else sys.stderr)
    except KeyboardInterrupt:
        click.echo("sweep: interrupted; finished designs are kept, re-run to resume", err=True)
        sys.exit(130)
    except OSError as err:
        raise click.ClickException(f"scheduler {scheduler!r}: {err}") from None
    status(f"sweep: {summary.total} designs, {summary.skipped} already done, "
           f"{summary.written} written ({summary.failed} failed) in {summary.elapsed_s:.1f} s "
           f"on {summary.workers} workers -> {output}")
    if parquet is not None:
        _export_parquet(output, parquet)
    if summary.written and summary.failed == summary.written:
        raise click.ClickException(_all_failed(output, summary.failed))


def _all_failed(db: str, failed: int) -> str:
    """The line for a run whose every design failed: how many, and the first reason."""
    from studies.sweep_store import read_rows, read_store

    con = read_store(db)
    try:
        errors = [r["error"] for r in read_rows(con) if r.get("error")]
    finally:
        con.close()
    first = f": {errors[0]}" if errors else ""
    return (f"every design of this run failed ({failed}), their rows are in {db}; the first"
            f"{first}")


def _decoded(row: Mapping[str, Any]) -> dict[str, Any]:
    """A results row with its JSON-text columns as JSON: ``inputs_json`` -> ``design``,
    ``collective_times_json`` -> ``collective_times_s`` (collective -> time per size)."""
    import json

    out = {k: v for k, v in row.items() if k not in ("inputs_json", "collective_times_json")}
    out["design"] = json.loads(row.get("inputs_json") or "{}")
    out["collective_times_s"] = json.loads(row.get("collective_times_json") or "{}")
    return out


def _check_parquet() -> None:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        raise click.ClickException("--parquet needs pandas and pyarrow (pip install pandas "
                                   "pyarrow); nothing ran: without --parquet the sweep writes "
                                   "the same table to its SQLite file") from None


def _export_parquet(db: str, path: str) -> None:
    import pandas as pd

    from fabric.fileio import atomic_write_bytes
    from studies.sweep_store import read_rows, read_store

    con = read_store(db)
    try:
        frame = pd.DataFrame(read_rows(con))
    finally:
        con.close()
    atomic_write_bytes(path, frame.to_parquet(index=False))


@sweep.command("show")
@click.argument("db", metavar="DB")
@click.option("--where", "where", multiple=True, metavar="COLUMN=VALUE",
              help="Keep rows whose COLUMN equals VALUE (repeatable), e.g. family=fat-tree.")
@json_option
def show_command(db: str, where: tuple[str, ...], as_json: bool) -> None:
    """Print the Pareto front: capex vs step time vs utilization per dollar."""
    from fabric.units import parse_count
    from studies.sweep_pareto import filter_rows, pareto_front
    from studies.sweep_store import COLUMNS, read_rows, read_store

    filters: dict[str, str] = {}
    for item in where:
        column, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--where {item!r}: expected COLUMN=VALUE")
        if column not in ("key", "error", *COLUMNS):
            raise click.UsageError(f"--where {item!r}: no column {column!r}; columns are key, "
                                   f"error, {', '.join(COLUMNS)}")
        if column == "num_gpus":  # a count as --gpus takes it: 1k = 1024
            try:
                value = str(parse_count(value))
            except ValueError as err:
                raise click.UsageError(f"--where {item!r}: {err}") from None
        filters[column] = value
    con = read_store(db)
    try:
        rows = read_rows(con)
    finally:
        con.close()
    front = pareto_front(filter_rows(rows, filters))
    failed = sum(1 for r in rows if r.get("error"))
    if as_json:
        emit_result("sweep show", None, {"front": [_decoded(r) for r in front],
                                         "num_designs": len(rows), "num_failed": failed})
        return
    table = [[r["family"], r["num_gpus"], r["inputs_json"], f"{r['cost_usd'] / 1e6:.2f}",
              f"{r['step_time_s']:.3f}", f"{r['gpu_utilization']:.3f}",
              f"{r['utilization_per_musd']:.4f}"] for r in front]
    click.echo(format_table(["family", "GPUs", "inputs", "capex M$", "step s", "util",
                             "util/M$"], table))
    heading(f"{len(front)} on the front of {len(rows)} designs ({failed} failed)")
