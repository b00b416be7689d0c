"""What every command shares: the group, the common options, and the one error rule (one line, an exit code)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from ..errors import MultidcError
from ..names import DEFAULT_NAME, check_env_name
from ..providers import registry

OUTPUT = click.Choice(["text", "json"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Multi-datacenter Vault/OpenBao Raft clusters for testing, on one Linux machine."""


def fail(exc: MultidcError) -> NoReturn:
    for line in str(exc).splitlines() or [type(exc).__name__]:
        click.echo(f"multidc: {line}", err=True)
    sys.exit(exc.exit_code)


def env_name(name: str | None) -> str:
    return name or DEFAULT_NAME


def _checked_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A name is checked when parsed: it becomes a directory, namespaces and links, so nothing may escape with it."""
    if value is None:
        return None
    try:
        return check_env_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--name", "-n", default=None, callback=_checked_name, help="Environment name (default: multidc)."
    )(f)


def provider_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--provider", "provider_name", type=click.Choice(registry.NAMES), default=None, help=help_text)


PROVIDER = provider_option(
    "netns (default): namespaces on this machine; kind: kind clusters + MetalLB + Bank-Vaults; kube: existing "
    "clusters. An existing environment keeps the provider that made it."
)
CONTEXTS = click.option(
    "--context", "contexts", multiple=True, help="kube: a kubeconfig context per datacenter, in order (repeat)."
)


def finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value != value:  # NaN passes every range comparison
        raise click.BadParameter("nan is not a number")
    return value
