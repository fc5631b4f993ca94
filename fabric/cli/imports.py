"""``fabric import``: turn nccl-tests / OSU / IMB logs into a JSON Lines file of records."""

from __future__ import annotations

from typing import Any

import click

from fabric.cli.common import LOG, FlagError, emit_result, format_table, json_flag, one_line
from fabric.cli.options import cluster_from_options, cluster_options
from fabric.units import format_size

__all__ = ["import_command"]

_MAX_WARNED_LINES = 20


def _summary(log: Any) -> dict[str, Any]:
    return {
        "file": log.name,
        "format": log.format,
        "operations": list(log.operations),
        "num_records": len(log.records),
        "min_size_bytes": log.min_size_bytes,
        "max_size_bytes": log.max_size_bytes,
        "num_ranks": list(log.rank_counts),
        "num_hosts": list(log.host_counts),
        "hosts": list(log.hosts),
        "skipped_lines": [{"line_number": s.line_number, "reason": s.reason, "text": s.text}
                          for s in log.skipped],
        "num_wrong_points": len(log.wrong_records),
        "num_zero_size_rows": log.num_zero_size_rows,
        "library": dict(log.library),
        "warnings": list(log.warnings),
        "inferred": list(log.inferred),
    }


def _counts(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


def _skipped_cell(numbers: list[int]) -> str:
    if not numbers:
        return "0"
    shown = ", ".join(str(n) for n in numbers[:5])
    more = f", +{len(numbers) - 5}" if len(numbers) > 5 else ""
    return f"{len(numbers)} (lines {shown}{more})"


def _once(logs: tuple[str, ...]) -> list[str]:
    """``logs`` with a file given twice (by any name) kept once, and a warning."""
    import os

    kept: list[str] = []
    for path in logs:
        twin = next((k for k in kept if os.path.exists(path) and os.path.exists(k)
                     and os.path.samefile(path, k)), None)
        if twin is None:
            kept.append(path)
        else:
            LOG.warning(f"{path} is {twin}, given twice: imported once")
    return kept


def _check_operation_given(logs: tuple[str, ...], records: Any, operation: str | None) -> None:
    """Refuse an --operation that no table of the logs took (each names its own collective, so
    the option would do nothing and say nothing)."""
    if operation is None:
        return
    from collectives.names import canonical

    named = sorted({r.operation for r in records})
    if named and canonical(operation) not in named:
        which = logs[0] if len(logs) == 1 else f"each of the {len(logs)} logs"
        raise FlagError(f"--operation {operation}: {which} names its collective ("
                        f"{', '.join(named)}); drop --operation, which is for tables whose log "
                        f"does not name it")


def _check_counts_given(path: str, records: Any, num_ranks: int | None,
                        num_hosts: int | None) -> None:
    """Refuse --ranks / --hosts that the log's own lines contradict (its rank lines win, so
    the option would do nothing and say nothing)."""
    if num_hosts is not None:
        fewer = sorted({r.num_ranks for r in records if r.num_ranks < num_hosts and not r.hosts})
        if fewer:
            raise FlagError(f"--hosts {num_hosts}: a run of {path} has {fewer[0]} ranks, and "
                            f"every host runs at least one rank")
        uneven = sorted({r.num_ranks for r in records
                         if r.num_ranks % num_hosts and not r.hosts})
        if uneven:
            raise FlagError(f"--hosts {num_hosts}: the {uneven[0]} ranks of a run of {path} do "
                            f"not split evenly over {num_hosts} hosts, and the model lays the "
                            f"same number of ranks on each; give a host count that divides "
                            f"{uneven[0]}")
    for flag, given, field in (("--ranks", num_ranks, "num_ranks"),
                               ("--hosts", num_hosts, "num_hosts")):
        stated = sorted({getattr(r, field) for r in records})
        if given is not None and stated and stated != [given]:
            counts = ", ".join(map(str, stated))
            raise FlagError(f"{flag} {given}: {path} states {counts} (its own lines say so); "
                            f"drop {flag}, which is for logs that do not print their ranks")


@click.command("import")
@click.argument("logs", nargs=-1, required=True, metavar="LOG...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Records file to write (JSON Lines; written atomically, nothing on error).")
@click.option("--format", "log_format", default="auto", show_default=True,
              type=click.Choice(["auto", "nccl-tests", "osu", "imb"]),
              help="Log format; auto detects it from the text.")
@click.option("--ranks", "num_ranks", type=click.IntRange(min=1), default=None,
              help="Ranks of the run, for logs that do not print them (OSU, IMB, excerpts); "
                   "refused when the log states another count.")
@click.option("--hosts", "num_hosts", type=click.IntRange(min=1), default=None,
              help="Hosts of the run, for logs that do not print them; refused when the log "
                   "states another count.")
@click.option("--operation", default=None,
              help="Collective of a table whose log does not name it and whose columns do not "
                   "tell (all-reduce, ...).")
@click.option("--gpu", help="The servers' GPU (catalog key), recorded for calibrate.")
@cluster_options()
@json_flag
def import_command(logs: tuple[str, ...], output: str, log_format: str, num_ranks: int | None,
                   num_hosts: int | None, operation: str | None, as_json: bool,
                   **cluster_flags: Any) -> None:
    """Import nccl-tests, OSU or IMB logs as measurement records.

    Every LOG is parsed first; the records of all of them are then written to OUTPUT in one
    atomic step, so a bad log leaves no file. What a log does not state is inferred where the
    log allows it (the collective from the redop/root columns, busbw/algbw and count vs size;
    the rank count from rank lines, an mpirun/srun line or busbw/algbw) and reported on stderr
    (one "inferred:" line each) and in each record's "inferred" field. Skipped lines and points
    whose validation failed (#wrong > 0) are reported on stderr. A record that fails a sanity
    check (size vs count, time bounds, bus bandwidth above the fastest catalog link) refuses
    the log.
    """
    from fabric.fileio import check_output_path
    from measure.generic_fabric import device_note, with_cluster
    from measure.parsers import parse_log_file
    from measure.records import write_records

    try:
        check_output_path(output, inputs=logs)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if num_ranks is not None and num_hosts is not None and num_hosts > num_ranks:
        raise FlagError(f"--hosts {num_hosts} cannot exceed --ranks {num_ranks} (every host "
                        f"runs at least one rank)")
    parsed = []
    for path in _once(logs):
        try:
            parsed.append(parse_log_file(path, format=log_format, num_ranks=num_ranks,
                                         num_hosts=num_hosts, operation=operation))
        except ValueError as err:
            raise click.ClickException(one_line(err)) from None
        _check_counts_given(path, parsed[-1].records, num_ranks, num_hosts)
    _check_operation_given(logs, [r for log in parsed for r in log.records], operation)
    records = [record for log in parsed for record in log.records]
    cluster = cluster_from_options(cluster_flags)
    records = with_cluster(records, cluster)  # for calibrate
    mismatch = device_note(records, cluster) if cluster is not None else ""
    try:
        write_records(records, output)
    except (OSError, ValueError) as err:
        reason = str(getattr(err, "strerror", None) or err)
        raise click.ClickException(
            reason if reason.startswith("cannot write") else f"cannot write {output!r}: {reason}"
        ) from None
    for log in parsed:
        _warn(log)
    if mismatch:
        LOG.warning(mismatch)
    summaries = [_summary(log) for log in parsed]
    if as_json:
        emit_result("import", None,
                    {"output": output, "num_records": len(records), "files": summaries})
        return
    rows = [[s["file"], s["format"], ",".join(s["operations"]), s["num_records"],
             f"{format_size(s['min_size_bytes'])}..{format_size(s['max_size_bytes'])}",
             _counts(s["num_ranks"]), _counts(s["num_hosts"]),
             _skipped_cell([k["line_number"] for k in s["skipped_lines"]])] for s in summaries]
    click.echo(format_table(["file", "format", "operations", "records", "sizes", "ranks",
                             "hosts", "skipped"], rows, align="lllrlrrl"))
    click.echo(f"wrote {len(records)} records to {output}")


def _warn(log: Any) -> None:
    for line in log.inferred:
        LOG.warning(line, extra={"prefix": "inferred"})
    for warning in log.warnings:
        LOG.warning(warning)
    for skipped in log.skipped[:_MAX_WARNED_LINES]:
        LOG.warning(f"{log.name}:{skipped.line_number}: skipped ({skipped.reason}): "
                    f"{skipped.text}")
    if len(log.skipped) > _MAX_WARNED_LINES:
        more = len(log.skipped) - _MAX_WARNED_LINES
        LOG.warning(f"{log.name}: {more} more skipped lines")
    wrong = log.wrong_records
    if wrong:
        sizes = ", ".join(str(r.size_bytes) for r in wrong[:8])
        LOG.warning(f"{log.name}: {len(wrong)} points report #wrong > 0 (validation "
                    f"failed) at sizes {sizes}{' ...' if len(wrong) > 8 else ''}")
