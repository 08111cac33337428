"""The ``archmodel`` command: a Click group whose subcommands are loaded lazily.

Errors caused by user input (archmodel's own errors, missing files) print one line on stderr
and exit with status 1 (2 for usage errors); no traceback. ``-v`` raises the log level.
"""
from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from archmodel._version import __version__

#: command name -> "module:attribute" (imported only when the command runs)
COMMANDS: dict[str, str] = {
    "data": "archmodel.cli.data:data",
    "space": "archmodel.cli.space:space",
    "train": "archmodel.cli.predict:train",
    "score": "archmodel.cli.predict:score",
    "evaluate": "archmodel.cli.predict:evaluate",
    "pim": "archmodel.cli.pim:pim",
    "export": "archmodel.cli.export:export",
    "net": "archmodel.cli.net:net",
    "zeroshot": "archmodel.cli.zeroshot:zeroshot",
    "search": "archmodel.cli.search:search",
    "explain": "archmodel.cli.explain:explain",
    "report": "archmodel.cli.report:report",
    "disguise": "archmodel.cli.disguise:disguise",
    "attack": "archmodel.cli.disguise:attack",
    "supernet": "archmodel.cli.supernet:supernet",
}


class ArchModelGroup(click.Group):
    """A group that loads subcommands lazily and turns library errors into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        from archmodel.errors import ArchModelError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ArchModelError as exc:
            raise click.ClickException(str(exc)) from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename}" if getattr(exc, "filename", None) else str(exc)) from None


@click.group(cls=ArchModelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="archmodel")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less log output on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """archmodel: learn how architectures map to performance, from the shell."""
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(stream=sys.stderr, level=max(logging.DEBUG, level),
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet > 0


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="archmodel")
