"""What every command shares: the group, the common options, and the one error rule (one line, an exit code)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
from click.shell_completion import CompletionItem

from ..errors import MultidcError
from ..names import DEFAULT_NAME, check_env_name
from ..providers import registry

OUTPUT = click.Choice(["text", "json"])


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """multidc's version and the server it would use (netns: the binary; kind/kube: the image)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    from .. import binaries
    from ..providers.kube import versions

    try:
        mine = version("multidc")
    except PackageNotFoundError:
        from .. import __version__ as mine
    click.echo(f"multidc {mine}")
    try:
        found = binaries.resolve(None)
        click.echo(f"server: {'OpenBao' if found.flavour == 'openbao' else 'Vault'} {found.version} ({found.path})")
    except MultidcError as exc:
        click.echo(f"server: none found: {exc}")
    click.echo(f"kind/kube image: {versions.OPENBAO_IMAGE}")
    ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show multidc's version and the server binary (flavour, version) it would use.",
)
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


def complete_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion: the environments whose state directories exist (never raises: a shell is waiting)."""
    from ..names import is_env_name
    from ..paths import state_root

    try:
        found = sorted(d.name for d in state_root().iterdir() if is_env_name(d.name) and (d / "state.json").is_file())
    except OSError:
        return []
    return [CompletionItem(n) for n in found if n.startswith(incomplete)]


def complete_datacenters(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion: the DCs of the environment named so far on the line (default: multidc), and `kms`."""
    from .. import topology
    from ..paths import env_paths
    from ..state import load

    try:
        st = load(env_paths(ctx.params.get("name") or DEFAULT_NAME))
        found = topology.parse(st.topology, "state").datacenter_names if st is not None else []
    except Exception:  # noqa: BLE001 - a completion never fails the shell
        return []
    return [CompletionItem(n) for n in [*found, "kms"] if found and n.startswith(incomplete)]


def name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--name",
        "-n",
        default=None,
        callback=_checked_name,
        shell_complete=complete_names,
        help="Environment name (default: multidc).",
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
