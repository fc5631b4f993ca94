"""Shared pieces of the command line: parameter types, JSON output, error handling.

The package :mod:`fabric.cli` is the only place that imports click.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import click

from fabric import units
from studies.design import DesignError
from studies.evaluate import first_line

__all__ = [
    "one_line",
    "FlagError",
    "FabricGroup",
    "SizeType",
    "SizeListType",
    "RateType",
    "TimeType",
    "CountType",
    "json_option",
    "emit_json",
    "format_table",
    "to_jsonable",
]


one_line = first_line


class FlagError(click.ClickException):
    """Options that do not fit together or do not fit the fabric: one line, exit 2 (usage)."""

    exit_code = 2


class FabricGroup(click.Group):
    """A click group that turns a user's mistake into one line on stderr.

    ValueError / OSError from the library: ``Error: ...`` and exit 1. Usage errors (unknown
    option, bad value for a typed option): ``Error: ... (see 'fabric CMD -h')`` and exit 2,
    instead of click's multi-line usage block.
    """

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        import sys

        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except click.ClickException as err:
            message = " ".join(err.format_message().split())
            ctx = getattr(err, "ctx", None)
            if isinstance(err, click.UsageError) and ctx is not None:
                message += f" (see '{ctx.command_path} -h')"
            click.echo(f"Error: {message}", err=True)
            sys.exit(err.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except DesignError as err:
            raise FlagError(one_line(err)) from None
        except ValueError as err:
            raise click.ClickException(one_line(err)) from None
        except OSError as err:
            where = f" {err.filename!r}" if getattr(err, "filename", None) else ""
            raise click.ClickException(f"{err.strerror or err}{where}") from None
        except OverflowError as err:  # a number too large for a float or an array
            raise click.ClickException(f"a value is too large to compute with ({err})") from None
        except RecursionError:
            raise click.ClickException("an input is nested too deeply to read") from None
        except MemoryError:
            raise click.ClickException("out of memory: the request is too large for this "
                                       "machine (try fewer GPUs or sizes)") from None


class _Parsed(click.ParamType):
    parser: Callable[[str], Any]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return type(self).parser(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


class SizeType(_Parsed):
    """A byte count: ``8``, ``64KB``, ``1GiB``."""

    name = "size"
    parser = staticmethod(units.parse_size)


class SizeListType(_Parsed):
    """Sizes: ``8B:8GiB`` (x2), ``1KiB:1GiB:4``, or ``8,1MiB``."""

    name = "sizes"
    parser = staticmethod(units.parse_size_list)


class RateType(_Parsed):
    """A rate: ``400Gbps`` or ``50GB/s``."""

    name = "rate"
    parser = staticmethod(units.parse_rate)


class TimeType(_Parsed):
    """A duration: ``1.5us``, ``2ms``."""

    name = "time"
    parser = staticmethod(units.parse_time)


class CountType(_Parsed):
    """A token count: ``131072``, ``128k``, ``1M``."""

    name = "count"
    parser = staticmethod(units.parse_count)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json``: one JSON document on stdout instead of a table."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON document (unit-suffixed keys, sorted) instead of a table.",
    )(func)


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from dataclasses, numpy scalars, tuples; NaN/inf become null."""
    import dataclasses

    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit_json(data: Any) -> None:
    """Write exactly one JSON document to stdout, keys sorted."""
    click.echo(json.dumps(to_jsonable(data), sort_keys=True, indent=2, allow_nan=False))


def format_table(headers: list[str], rows: list[list[Any]], *, align: str | None = None) -> str:
    """A plain text table; ``align`` is one of ``l``/``r`` per column (default: numbers right)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    if align is None:
        align = "".join(
            "r" if rows and isinstance(rows[0][i], (int, float)) else "l"
            for i in range(len(headers))
        )

    def line(values: list[str]) -> str:
        out = []
        for i, v in enumerate(values):
            out.append(v.rjust(widths[i]) if align[i] == "r" else v.ljust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in cells])
