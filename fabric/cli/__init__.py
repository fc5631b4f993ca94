"""The ``fabric`` command line: one module per command group, each thin over one library call.

Each command parses its options, calls one study or library function and renders the result.
Commands are loaded when used (``fabric kv`` does not import the probes or plotly), so the
table below is the one place a command is added. Nothing imports this package except the
console script and tests.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click

from fabric import __version__
from fabric.cli.common import FabricGroup, configure_logging

__all__ = ["cli", "main", "COMMANDS"]

#: command name -> "module:attribute" of its click command, in the order of the help listing.
COMMANDS: dict[str, str] = {
    "topology": "fabric.cli.topology:topology",
    "predict": "fabric.cli.predict:predict_command",
    "compare": "fabric.cli.predict:compare_command",
    "kv": "fabric.cli.kv:kv",
    "report": "fabric.cli.report:report",
    "measure": "fabric.cli.measure:measure",
    "import": "fabric.cli.imports:import_command",
    "calibrate": "fabric.cli.calibrate:calibrate_command",
    "validate": "fabric.cli.calibrate:validate_command",
    "emulate": "fabric.cli.emulate:emulate",
    "sweep": "fabric.cli.sweep:sweep",
}


class _LazyGroup(FabricGroup):
    """The root group: imports a command's module only when that command runs (or help lists it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command: Any = getattr(importlib.import_module(module), attribute)
        return command if isinstance(command, click.Command) else None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fabric")
@click.option("-v", "--verbose", count=True,
              help="More on stderr: progress bars off a terminal, info (-v), debug (-vv).")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors only on stderr: no warnings, notes or progress.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Model AI-cluster fabrics, predict collective and KV-cache times, measure, calibrate, plan.

    \b
    Numbers: sizes take B, K/M/G (x1024, as nccl-tests' -b/-e), KiB/MiB/GiB (x1024) or
    KB/MB/GB (x1000); counts (--gpus, --context) take k/M/G (x1024): 16k = 16,384.
    Every --json document is {"schema_version", "command", "inputs", "results"} (docs/cli.md).
    """
    if verbose and quiet:
        raise click.UsageError("give -q or -v, not both")
    level = -1 if quiet else verbose
    ctx.meta["fabric.verbosity"] = level
    configure_logging({-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        level, logging.DEBUG))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fabric")
