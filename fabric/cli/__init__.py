"""The ``fabric`` command: the root group that gathers the commands of ``fabric/cmd_*.py``.

Nothing imports this module; it is the console script's entry point.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from fabric import __version__
from fabric.cliutil import FabricGroup


@click.group(cls=FabricGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fabric")
def cli() -> None:
    """Model AI-cluster fabrics, predict collective and KV-cache times, measure, calibrate, plan."""


def _register() -> None:
    """Add the ``COMMANDS`` of every ``fabric/cmd_*.py`` module, in name order."""
    package = Path(__file__).parent
    for path in sorted(package.glob("cmd_*.py")):
        module = importlib.import_module(f"fabric.{path.stem}")
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fabric")


if __name__ == "__main__":
    main()
