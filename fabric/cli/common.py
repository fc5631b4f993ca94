"""Shared pieces of the command line: parameter types, output (JSON envelope, table formats,
progress), verbosity, error handling.

The package :mod:`fabric.cli` is the only place that imports click. Every command's ``--json``
document is one envelope (:func:`emit_result`)::

    {"schema_version": "1", "command": "predict", "inputs": {...}, "results": ...}

with unit-suffixed keys (``_bytes``, ``_s``, ``_bytes_per_s``, ``_usd``, ``_w``); its JSON Schema is
``docs/schemas/<command>.schema.json`` (spaces in the command become ``-``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import click
from click.core import ParameterSource

from fabric import units
from fabric.errors import first_line

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
    "json_flag",
    "status",
    "heading",
    "emit_json",
    "emit_result",
    "command_inputs",
    "SCHEMA_VERSION",
    "TABLE_FORMATS",
    "format_table",
    "to_jsonable",
    "hidden_alias",
    "refuse_unless",
    "configure_logging",
    "verbosity",
    "progress",
    "LOG",
]

#: The version of the ``--json`` envelope; bumped when a key moves or changes meaning.
SCHEMA_VERSION = "1"
#: ``--format`` choices of every command that prints a table (``--json`` = ``--format json``).
TABLE_FORMATS = ("table", "csv", "markdown", "json")
#: The command line's logger: warnings go to stderr as ``warning: ...`` (hidden by ``-q``).
LOG = logging.getLogger("fabric.cli")
_META_FORMAT = "fabric.format"
_META_VERBOSITY = "fabric.verbosity"


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
        # imported here, not with this module: the package loads only click and the standard
        # library before click's main runs, so that a Ctrl-C while the libraries load is
        # click's Abort (one line), not a traceback from the console script's import
        from studies.design import DesignError

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


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that refuses nan and inf (their comparisons pass every bound)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        out = super().convert(value, param, ctx)
        if not math.isfinite(out):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return out


class CountType(_Parsed):
    """A token count: ``131072``, ``128k``, ``1M``."""

    name = "count"
    parser = staticmethod(units.parse_count)


def _root_meta() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().meta if ctx is not None else {}


def verbosity() -> int:
    """-1 with ``fabric -q``, 0 by default, 1 with ``-v``, 2 with ``-vv``."""
    return int(_root_meta().get(_META_VERBOSITY, 0))


class _EchoHandler(logging.Handler):
    """Log records as one line on click's stderr (the one a test runner captures)."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = getattr(record, "prefix", None)
        if prefix is None:
            prefix = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        text = record.getMessage()
        click.echo(f"{prefix}: {text}" if prefix else text, err=True)


def configure_logging(level: int) -> None:
    """Send :data:`LOG` (``fabric.cli``) and the library's ``logging`` to stderr at ``level``.

    ``fabric -q``: errors only; default: warnings and "wrote FILE" lines; ``-v``: also progress
    and info; ``-vv``: debug.
    """
    for name in ("fabric", "collectives", "topologies", "measure", "reports", "studies"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _EchoHandler)]:
            logger.removeHandler(handler)
        logger.addHandler(_EchoHandler())
        logger.setLevel(level)
        logger.propagate = False


def hidden_alias(dest: str, *flags: str, **option: Any) -> Callable[[Callable[..., Any]], Any]:
    """Accept ``flags`` (old names, hidden from --help) as another spelling of option ``dest``.

    Giving both the option and its alias is refused (exit 2). ``option`` are click.option
    arguments for the alias (``type``, ``multiple``), matching the option's.
    """
    alias_dest = f"{dest}__alias"

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(alias_dest, None)
            if value not in (None, ()):
                ctx = click.get_current_context()
                main_flag = next((max(p.opts, key=len) for p in ctx.command.params
                                  if p.name == dest), "--" + dest.replace("_", "-"))
                if ctx.get_parameter_source(dest) == ParameterSource.COMMANDLINE:
                    raise FlagError(f"give {main_flag} or {'/'.join(flags)}, not both "
                                    f"({'/'.join(flags)} is the old name of {main_flag})")
                kwargs[dest] = ctx.params[dest] = value
            return func(*args, **kwargs)

        return click.option(*flags, alias_dest, hidden=True, default=None, **option)(wrapper)

    return decorate


def refuse_unless(condition: bool, flag: str, reason: str) -> None:
    """Refuse an option that does nothing in this mode: ``Error: FLAG REASON``, exit 2."""
    if not condition:
        raise FlagError(f"{flag} {reason}")


def status(text: str) -> None:
    """A line on stderr about what was done (``wrote FILE``): shown unless ``fabric -q``."""
    LOG.warning(text, extra={"prefix": ""})


def json_flag(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json`` alone, for commands whose ``--format`` means something else (``import``)
    or whose table is streamed row by row (``measure``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[_META_FORMAT] = "json" if kwargs.get("as_json") else "table"
        return func(*args, **kwargs)

    return click.option(
        "--json", "as_json", is_flag=True,
        help="Print one JSON document (schema_version, command, inputs, results; "
             "unit-suffixed keys) instead of a table.",
    )(wrapper)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--format table|csv|markdown|json`` and ``--json`` (= ``--format json``).

    The command receives ``as_json``; tables printed with :func:`format_table` follow the
    chosen format.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.pop("output_format", None)
        if kwargs.get("as_json") and fmt not in (None, "json"):
            raise FlagError(f"give --json or --format {fmt}, not both")
        if fmt == "json":
            kwargs["as_json"] = True
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[_META_FORMAT] = "json" if kwargs.get("as_json") else (fmt or "table")
        return func(*args, **kwargs)

    wrapper = click.option(
        "--format", "output_format", type=click.Choice(TABLE_FORMATS), default=None,
        help="Output: a table (default), csv, markdown, or json (same as --json).",
    )(wrapper)
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON document (schema_version, command, inputs, results; "
             "unit-suffixed keys) instead of a table.",
    )(wrapper)


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


_UNIT_SUFFIX = {"size": "_bytes", "sizes": "_bytes", "rate": "_bytes_per_s", "time": "_s"}


def command_inputs(ctx: click.Context | None = None, *,
                   drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options a command ran with, for the envelope's ``inputs``: every parameter that is
    set (not None/False/empty), keyed by its name with the unit suffix of its type (``--sizes``
    -> ``sizes_bytes``, ``--alpha`` -> ``alpha_s``, ``--tier-bandwidth`` ->
    ``tier_bandwidth_bytes_per_s``); hidden aliases and output flags are left out.
    """
    ctx = ctx if ctx is not None else click.get_current_context()
    out: dict[str, Any] = {}
    for param in ctx.command.params:
        name = param.name
        if (name is None or name in drop or name in ("as_json", "output_format")
                or name.endswith("__alias") or getattr(param, "hidden", False)):
            continue
        value = ctx.params.get(name)
        if value is None or value is False or value == ():
            continue
        suffix = _UNIT_SUFFIX.get(getattr(param.type, "name", ""), "")
        name = name.removesuffix("_text")  # options parsed in the body (report --gpus 1k,4k)
        key = name if name.endswith(suffix) else name + suffix
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def emit_result(command: str, inputs: Mapping[str, Any] | None, results: Any) -> None:
    """Write the one ``--json`` envelope: ``schema_version``, ``command``, ``inputs``
    (:func:`command_inputs` when None) and ``results`` (the command's numbers)."""
    emit_json({"schema_version": SCHEMA_VERSION, "command": command,
               "inputs": command_inputs() if inputs is None else dict(inputs),
               "results": results})


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar with ETA on stderr, for work that can take over a second.

    Shown on a terminal, or anywhere with ``fabric -v``; never with ``-q``. Yields
    ``advance(n)``; ``advance.total(n)`` resets the total when the work turns out another size.
    """
    level = verbosity()
    stream = sys.stderr
    if level < 0 or not (level > 0 or stream.isatty()):
        def nothing(n: int = 1) -> None:
            return None

        nothing.total = lambda n: None  # type: ignore[attr-defined]
        yield nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream, stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=max(total, 1))

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        # the work turns out larger or smaller than first counted: advance.total(n) says so
        advance.total = lambda n: bar.update(task, total=max(n, 1))  # type: ignore[attr-defined]
        yield advance


def format_table(headers: list[str], rows: list[list[Any]], *, align: str | None = None,
                 fmt: str | None = None) -> str:
    """A table in the command's ``--format`` (``fmt`` overrides it): ``table`` (rich, no colour
    when not on a terminal), ``csv`` or ``markdown``. ``align`` is ``l``/``r`` per column
    (default: numbers right)."""
    fmt = fmt or _root_or_current_format()
    cells = [[str(c) for c in row] for row in rows]
    if align is None:
        align = "".join(
            "r" if rows and isinstance(rows[0][i], (int, float)) else "l"
            for i in range(len(headers))
        )
    if fmt == "csv":
        import csv

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buffer.getvalue().rstrip("\n")
    if fmt == "markdown":
        def md(values: list[str]) -> str:
            return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

        rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
        return "\n".join([md(headers), rule] + [md(r) for r in cells])
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1),
                  collapse_padding=True)
    for header, a in zip(headers, align, strict=False):
        table.add_column(header, justify="right" if a == "r" else "left", no_wrap=True)
    for row in cells:
        table.add_row(*row)
    widest = sum(max([len(h)] + [len(r[i]) for r in cells]) + 3 for i, h in enumerate(headers))
    buffer = io.StringIO()
    Console(file=buffer, width=max(widest, 40), no_color=True, highlight=False,
            color_system=None, emoji=False, markup=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()
                     if line.strip())


def heading(text: str) -> None:
    """A line of text around a table (a ``# ...`` title, a note, a summary): on stdout for
    ``table`` and ``markdown``; on stderr for ``csv`` (blank lines dropped), so that stdout
    holds only CSV rows."""
    if _root_or_current_format() != "csv":
        click.echo(text)
    elif text.strip():
        LOG.warning(text.strip("\n"), extra={"prefix": ""})


def _root_or_current_format() -> str:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        fmt = ctx.meta.get(_META_FORMAT)
        if fmt is not None:
            return "table" if fmt == "json" else str(fmt)
        ctx = ctx.parent
    return "table"
