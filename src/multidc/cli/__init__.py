"""The `multidc` command line. Commands live by theme (lifecycle, chaos, judge); rendering in `render`; this module
runs them with the one error rule: every error, the parser's included, is one line on stderr and an exit code."""

from __future__ import annotations

import sys

import click

from ..errors import MultidcError
from . import chaos, day2, everyday, judge, lifecycle, membership  # noqa: F401 - each registers its commands
from .common import cli, fail

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error, the parser's included, is one line on stderr and an exit code (2: bad input)."""
    try:
        code = cli.main(args=argv, prog_name="multidc", standalone_mode=False)
    except click.UsageError as exc:
        where = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
        if isinstance(exc, click.MissingParameter):
            message = " ".join(exc.format_message().split()).rstrip(".")  # "Missing argument 'B'"
        elif isinstance(exc, click.BadParameter) and exc.param is not None and exc.param.opts:
            message = f"{exc.param.opts[0]}: {' '.join(exc.message.split()).rstrip('.')}"  # where, then what
        else:
            message = " ".join(exc.format_message().split()).rstrip(".")
        click.echo(f"multidc: {message}{where}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"multidc: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("multidc: interrupted", err=True)
        sys.exit(130)
    except MultidcError as exc:
        fail(exc)
    sys.exit(code if isinstance(code, int) else 0)
