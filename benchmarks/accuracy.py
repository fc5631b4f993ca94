"""Calibrated accuracy over the repository's public logs (prints figures; no assertions).

    python benchmarks/accuracy.py                  # print the tables
    python benchmarks/accuracy.py --write-docs     # also regenerate docs/accuracy.md's figures

For every log of ``tests/data/logs/CATALOG.json`` (43 public nccl-tests, rccl-tests, OSU and IMB
logs; sources in ``tests/data/logs/SOURCES.md``), parsed with the collective and rank counts the
catalog records, and for each fit (``ideal``; ``nccl`` where the records are nccl-tests'; ``mpi``
where they are OSU / IMB; ``naive``: the plain alpha-beta fit alone) it prints the held-out
median and worst relative error on two splits:

* ``every:3``: fit two sizes of three, predict every third (``--holdout every:3``);
* ``ends``: fit sizes <= 1 MiB and >= 256 MiB, predict the sizes in between.

Then cross-scale pairs: logs of the same ``system`` and collective at two node counts, fitted on
every size of the smaller one, predicting the larger. The goals (issue 10): held-out median
<= 5 % over all points on ``every:3`` and <= 10 % on every log, never worse than naive on the
same log; <= 15 % on ``ends``; cross-scale <= 15 %. ``model`` is the flavor that matches the
records (nccl for NCCL records, mpi for MPI ones, else ideal). The summary also gives the share
of held-out points whose measured time lies inside the calibration's error band (the band a
prediction reports: ``time_low_s`` .. ``time_high_s``; the naive fit has none).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fabric.fileio import atomic_write_text  # noqa: E402
from measure.calibrate import calibrate  # noqa: E402
from measure.calibrate_nccl import MPI_SOURCES, TUNED  # noqa: E402
from measure.fit_data import select_records  # noqa: E402
from measure.fit_naive import fit_naive, naive_time  # noqa: E402
from measure.holdout import parse_holdout  # noqa: E402
from measure.parsers import parse_log_file  # noqa: E402
from measure.records import Record  # noqa: E402
from measure.validate import validate  # noqa: E402

LOGS = ROOT / "tests" / "data" / "logs"
DOC = ROOT / "docs" / "accuracy.md"
BEGIN, END = "<!-- accuracy.py:begin -->", "<!-- accuracy.py:end -->"
MIB = 1 << 20
FITS = ("ideal", "nccl", "mpi", "naive")
FALLBACK: set[str] = set()  # logs parsed with the counts they carry, not the catalog's
TIE = 1e-3  # medians within 0.1 percentage point count as equal


@dataclass
class Outcome:
    """Held-out errors of one fit on one log and split (NaN median: not run, ``why`` says)."""

    median: float = math.nan
    worst: float = math.nan
    errors: tuple[float, ...] = ()
    inside: tuple[bool, ...] = ()  # per held-out point: measured time inside the error band
    why: str = ""


def load(entry: dict) -> list[Record]:
    """The log's records, parsed with the catalog's collective and rank counts.

    Where the log's own device lines disagree with the catalog's counts (the parser refuses
    both), the counts the log carries are used: first with the catalog's host count, then
    alone.
    """
    ops = entry["collective"].split("+")
    op = ops[0] if len(ops) == 1 else None
    tries = [{"num_ranks": entry["num_ranks"], "num_hosts": entry["num_hosts"]},
             {"num_hosts": entry["num_hosts"]}, {}]
    for i, counts in enumerate(tries):
        try:
            records = list(parse_log_file(LOGS / entry["file"], operation=op, **counts).records)
        except ValueError:
            if i == len(tries) - 1:
                raise
            continue
        if i:
            FALLBACK.add(entry["file"])
        return records
    raise AssertionError("unreachable")


def fits_for(records: list[Record]) -> list[str]:
    """ideal and naive always; nccl for NCCL records of a tuned collective; mpi for MPI ones."""
    out = ["ideal"]
    sources = {r.source for r in records}
    if sources & set(MPI_SOURCES):
        out.append("mpi")
    elif any(r.operation in TUNED for r in records):
        out.append("nccl")
    return [*out, "naive"]


def model_fit(records: list[Record]) -> str:
    """The flavor matching the records: mpi, nccl or ideal."""
    f = fits_for(records)
    return f[1] if len(f) > 2 else "ideal"


def ends_spec(records: list[Record]) -> str | None:
    """Hold out the sizes strictly between 1 MiB and 256 MiB (None unless both ends exist)."""
    sizes = sorted({r.size_bytes for r in select_records(records)})
    middle = [s for s in sizes if MIB < s < 256 * MIB]
    if not middle or sizes[0] > MIB or sizes[-1] < 256 * MIB:
        return None  # no middle, or nothing fitted on one side
    return "sizes:" + ",".join(str(s) for s in middle)


def naive_outcome(records: list[Record], spec: str) -> Outcome:
    chosen = select_records(records)
    split = parse_holdout(spec).split([r.size_bytes for r in chosen])
    fit = [r for r in chosen if r.size_bytes in set(split.fitted_sizes_bytes)]
    held = [r for r in chosen if r.size_bytes in set(split.held_out_sizes_bytes)]
    fits, _ = fit_naive([(r.operation, r.num_ranks, r.size_bytes, r.time_s) for r in fit])
    errs = []
    for r in held:
        t = naive_time(fits, r.operation, r.num_ranks, r.size_bytes)
        if t is not None and t > 0:
            errs.append(abs(t / r.time_s - 1))
    return summarize(errs)


def summarize(errs: list[float], inside: list[bool] | None = None) -> Outcome:
    if not errs:
        return Outcome(why="no held-out point")
    return Outcome(median=float(np.median(errs)), worst=float(np.max(errs)), errors=tuple(errs),
                   inside=tuple(inside or ()))


def run_fit(records: list[Record], fit: str, spec: str) -> Outcome:
    """Calibrate ``fit`` on the split's fitted sizes, validate on its held-out sizes."""
    if fit == "naive":
        return naive_outcome(records, spec)
    try:
        cal = calibrate(records, flavor=fit, holdout=spec)
        report = validate(records, cal, holdout=spec)
    except ValueError as err:
        return Outcome(why=str(err).splitlines()[0][:90])
    held = [p for p in report.points if not p.fitted]
    return summarize([abs(p.relative_error) for p in held], [p.within_band for p in held])


def cross_pairs(catalog: list[dict]) -> list[tuple[dict, dict]]:
    """(smaller, larger) logs of one system and collective at two node counts."""
    by: dict[tuple[str, str, str], list[dict]] = {}
    for e in catalog:
        if e.get("system") and e.get("num_hosts"):
            by.setdefault((e["system"], e["collective"], e["format"]), []).append(e)
    pairs = []
    for group in by.values():
        group = sorted(group, key=lambda e: e["num_hosts"])
        small = group[0]
        pairs += [(small, big) for big in group[1:] if big["num_hosts"] > small["num_hosts"]]
    return pairs


def cross_outcome(small: list[Record], big: list[Record], fit: str) -> tuple[Outcome, str]:
    if fit == "naive":
        return Outcome(why="alpha-beta does not carry to another rank count"), ""
    try:
        cal = calibrate(small, flavor=fit)
        report = validate(big, cal)
    except ValueError as err:
        return Outcome(why=str(err).splitlines()[0][:90]), ""
    band = np.median([p.time_high_s / p.predicted_time_s - 1 for p in report.points])
    return summarize([abs(p.relative_error) for p in report.points]), f"+-{band:.0%}"


def pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.1%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-docs", action="store_true", help="regenerate docs/accuracy.md")
    ap.add_argument("--only", metavar="TEXT", help="only logs whose file name contains TEXT")
    args = ap.parse_args()
    start = time.perf_counter()
    catalog = json.loads((LOGS / "CATALOG.json").read_text())
    lines: list[str] = []
    pooled: dict[tuple[str, str], list[float]] = {}
    covered: dict[tuple[str, str], list[bool]] = {}
    per_log: dict[tuple[str, str], list[float]] = {}
    not_worse = [0, 0]
    skipped = []
    for split in ("every:3", "ends"):
        lines += [f"\n### Held-out error, split `{split}` (median / worst per log)\n",
                  "| Log | ideal | nccl | mpi | naive | model <= naive |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for e in catalog:
            if args.only and args.only not in e["file"]:
                continue
            try:
                records = load(e)
            except ValueError as err:
                if split == "every:3":
                    skipped.append((e["file"], str(err).splitlines()[0].split(": ", 1)[-1][:80]))
                continue
            spec = "every:3" if split == "every:3" else ends_spec(records)
            if spec is None:
                continue
            cells = {}
            for fit in fits_for(records):
                out = run_fit(records, fit, spec)
                cells[fit] = out
                key = ("model" if fit == model_fit(records) else fit, split)
                pooled.setdefault(key, []).extend(out.errors)
                covered.setdefault(key, []).extend(out.inside)
                if math.isfinite(out.median):
                    per_log.setdefault(key, []).append(out.median)
            m, n = cells[model_fit(records)], cells["naive"]
            verdict = "-"
            if math.isfinite(m.median) and math.isfinite(n.median):
                ok = m.median <= n.median + TIE
                verdict = "yes" if ok else "**no**"
                if split == "every:3":
                    not_worse[0] += ok
                    not_worse[1] += 1
            row = [f"`{e['file']}`" + (" (a)" if e["file"] in FALLBACK else "")]
            for fit in FITS:
                c = cells.get(fit)
                row.append("" if c is None else (f"{pct(c.median)} / {pct(c.worst)}"
                                                 if math.isfinite(c.median) else f"({c.why})"))
            lines.append("| " + " | ".join([*row, verdict]) + " |")
    lines += ["\n### Cross-scale (fit every size of the smaller log, predict the larger)\n",
              "| System | Fitted -> predicted | ideal | model | band (model, median) |",
              "| --- | --- | --- | --- | --- |"]
    cross: dict[str, list[float]] = {}
    for small_e, big_e in cross_pairs(catalog):
        if args.only and args.only not in small_e["file"] + big_e["file"]:
            continue
        try:
            small, big = load(small_e), load(big_e)
        except ValueError:
            continue
        fit = model_fit(small)
        ideal, _ = cross_outcome(small, big, "ideal")
        model, band = cross_outcome(small, big, fit)
        mark = " (a)" if {small_e["file"], big_e["file"]} & FALLBACK else ""
        for name, out in (("ideal", ideal), ("model", model)):
            if not mark:  # host counts in doubt: shown, not counted
                cross.setdefault(name, []).extend(out.errors)
        lines.append(f"| {small_e['system']}{mark} ({fit}) | {small_e['num_hosts']} -> "
                     f"{big_e['num_hosts']} nodes | "
                     + " | ".join(f"{pct(o.median)} / {pct(o.worst)}" if math.isfinite(o.median)
                                  else f"({o.why})" for o in (ideal, model)) + f" | {band} |")
    summary = ["\n### Summary\n", "| Fit | every:3 median, all points | every:3 worst log median | "
               "ends median, all points | ends worst log median | inside the band, every:3 / "
               "ends |",
               "| --- | --- | --- | --- | --- | --- |"]
    for fit in ("model", "ideal", "naive"):
        cells = []
        for split in ("every:3", "ends"):
            allp, logs = pooled.get((fit, split), []), per_log.get((fit, split), [])
            cells += [pct(float(np.median(allp))) if allp else "-",
                      pct(max(logs)) if logs else "-"]
        bands = [covered.get((fit, split), []) for split in ("every:3", "ends")]
        cells.append(" / ".join(pct(float(np.mean(b))) for b in bands) if all(bands) else "-")
        summary.append(f"| {fit} | " + " | ".join(cells) + " |")
    summary.append(f"\nModel no worse than naive (every:3): {not_worse[0]} of {not_worse[1]} logs. "
                   f"Cross-scale median over all points (pairs without (a)): model "
                   f"{pct(float(np.median(cross['model']))) if cross.get('model') else '-'}, ideal "
                   f"{pct(float(np.median(cross['ideal']))) if cross.get('ideal') else '-'}.")
    if FALLBACK:
        summary.append(f"\n(a) {len(FALLBACK)} log(s) refuse the catalog's rank and host counts "
                       f"(their device lines disagree), so they were parsed with the counts the "
                       f"log carries; their host counts may be wrong (a GB200 NVL72 rack reads "
                       f"as one host), which matters for cross-scale pairs.")
    if skipped:
        summary.append(f"\nNot imported with the catalog's flags ({len(skipped)}): "
                       + "; ".join(f"`{f}` ({why})" for f, why in skipped) + ".")
    text = "\n".join(summary + lines) + "\n"
    print(text)
    print(f"# {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.write_docs:
        write_docs(text)


def write_docs(text: str) -> None:
    """Replace the figures between the markers of docs/accuracy.md (append them if absent)."""
    doc = DOC.read_text(encoding="utf-8")
    block = (f"{BEGIN}\n_Generated by `python benchmarks/accuracy.py --write-docs`; do not edit "
             f"by hand._\n{text}{END}")
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        title = "## Calibrated accuracy over the public logs"
        doc = doc.rstrip("\n") + f"\n\n{title}\n\n" + block + "\n"
    atomic_write_text(DOC, doc)
    print(f"wrote {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
