"""The ``fabric`` command line: one module per command group, each thin over one library call.

Each command parses its options, calls one study or library function and renders the result.
Commands are loaded when used (``fabric kv`` does not import the probes or plotly), so the
table below is the one place a command is added. Nothing imports this package except the
console script and tests.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from fabric import __version__
from fabric.cli.common import FabricGroup

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
def cli() -> None:
    """Model AI-cluster fabrics, predict collective and KV-cache times, measure, calibrate, plan."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fabric")
