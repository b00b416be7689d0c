"""Judging: `verify` (a workload under faults on a live environment, any provider with Faults) and `check` (a saved
history)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from .. import locks
from ..errors import MultidcError, TopologyError
from .common import OUTPUT, cli, env_name, fail, finite, name_option

MIN_DURATION, MAX_DURATION = 2.0, 3600.0  # verify: seconds per scenario (its steps are fractions of it)
MODELS = ("register", "set", "tokens", "pki")  # multidc.checker.NAMES (a test keeps them equal)


@cli.command("verify")
@name_option
@click.option("--scenario", "scenarios", multiple=True, help="Scenario to run (repeat); default: all.")
@click.option(
    "--nemesis",
    type=click.Choice(["scenarios", "random"]),
    default="scenarios",
    show_default=True,
    help="The named scenarios, or a random schedule of overlapping faults drawn from --seed.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="--nemesis random: the seed (default: drawn, printed).")
@click.option(
    "--faults",
    "fault_kinds",
    help="--nemesis random: the fault kinds to draw from, comma-separated "
    "(kill,pause,partition,one-way,bridge,delay,loss,kms; default: all that fit the topology).",
)
@click.option(
    "--workload",
    "workload_names",
    default="register",
    show_default=True,
    help="What the clients do, comma-separated, run side by side: register (reads, writes, compare-and-set on 3 "
    "keys), set (unique adds), tokens (create, revoke), pki (issue certificates).",
)
@click.option(
    "--replay",
    type=click.Path(dir_okay=False),
    help="Run the faults of a saved schedule.json again (its duration too).",
)
@click.option(
    "--duration",
    type=click.FloatRange(MIN_DURATION, MAX_DURATION),
    callback=finite,
    default=10.0,
    show_default=True,
    help="Seconds of workload per scenario.",
)
@click.option(
    "--report",
    type=click.Path(file_okay=False),
    help="Write histories, verdicts, timelines and one page to open in a browser (DIR/index.html) here.",
)
@click.option(
    "--consistency",
    type=click.Choice(["index", "eventual"]),  # consistency.CONSISTENCIES (a test keeps them equal)
    default="eventual",
    show_default=True,
    help="The workload's clients: eventual (plain), or index (each sends the X-Vault-Index it last saw).",
)
def verify_cmd(
    name: str | None,
    scenarios: tuple[str, ...],
    nemesis: str,
    seed: int | None,
    fault_kinds: str | None,
    workload_names: str,
    replay: str | None,
    duration: float,
    report: str | None,
    consistency: str,
) -> None:
    """Run a workload while faults are applied, heal, and judge the history (exit 0 only when every scenario passes).

    Scenarios: leader-kill, minority-partition, leader-partition, primary-isolated, kms-down-restart, leader-pause,
    wan-leader-kill. Or `--nemesis random --seed N`: a random, replayable schedule (saved as schedule.json in the
    report; `--replay` runs it again). Runs on every provider with faults (netns; kind through docker).
    """
    from .. import api
    from ..progress import Progress
    from ..providers import registry
    from ..verify import nemesis as nemeses
    from ..verify import report as reports
    from ..verify.run import can_run, refuse_unable, verify
    from ..verify.scenarios import SCENARIOS
    from ..verify.workloads import WORKLOADS

    ctx = click.get_current_context()
    given = {
        p
        for p in ("duration", "nemesis", "workload_names")
        if ctx.get_parameter_source(p) is ParameterSource.COMMANDLINE
    }
    if replay and given & {"duration", "nemesis"}:
        fail(
            TopologyError(
                "--replay runs the schedule's own faults for its own duration; leave out --duration and --nemesis"
            )
        )
    chosen_workloads = tuple(dict.fromkeys(w.strip() for w in workload_names.split(",") if w.strip()))
    known = ("register", *WORKLOADS)
    if not chosen_workloads or any(w not in known for w in chosen_workloads):
        bad = ", ".join(w for w in chosen_workloads if w not in known) or "(none given)"
        fail(TopologyError(f"--workload: unknown {bad}; choose from {','.join(known)} (several: comma-separated)"))
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        fail(TopologyError(f"--scenario: unknown {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"))
    random_only = [o for o, v in (("--seed", seed), ("--faults", fault_kinds)) if v is not None]
    if nemesis != "random" and random_only:
        fail(TopologyError(f"{random_only[0]} goes with --nemesis random"))
    if (nemesis == "random" or replay) and scenarios:
        fail(TopologyError("--scenario runs named scenarios; it does not go with --nemesis random or --replay"))
    folder = Path(report) if report else None
    try:
        if folder is not None:
            reports.prepare(folder)
        kinds = nemeses.kinds_of(fault_kinds) if fault_kinds is not None else None
        env = api.attach(env_name(name))
        able = registry.capabilities(env.name)  # what its provider cannot do is refused before anything
        for kind in kinds or []:
            able.refuse(kind, f"--faults {kind}")
        for scenario in scenarios:
            refuse_unable(able, SCENARIOS[scenario])
        with locks.hold(env.name, "verify", env.running.root):
            env = api.attach(env.name)  # the state as it is now, read under the lock
            schedule = None
            if replay:
                schedule = nemeses.load(replay, env.datacenters, known)
                for kind in dict.fromkeys(f.kind for f in schedule.faults):
                    able.refuse(kind, f"--replay {replay}: {kind}")
                duration = schedule.duration
                if "workload_names" not in given:
                    chosen_workloads = tuple(schedule.workloads)
            elif nemesis == "random":
                if seed is None:
                    seed = int.from_bytes(os.urandom(4), "big")
                if kinds is None:  # every kind its provider makes that fits the topology
                    fits = [k for k in nemeses.KINDS if k != "bridge" or len(env.datacenters) >= 3]
                    kinds = [k for k in fits if k in able.faults]
                    if not kinds:
                        able.refuse("kill", "--nemesis random")
                schedule = nemeses.generate(seed, env.datacenters, duration, kinds)
                schedule.workloads = list(chosen_workloads)
            if schedule is not None:
                click.echo(schedule.text())
                if replay:
                    click.echo(f"workloads: {','.join(chosen_workloads)}")
            defaults = [s.name for s in SCENARIOS.values() if s.by_default]
            chosen = list(scenarios) or [s for s in defaults if can_run(able, SCENARIOS[s])]
            if not scenarios and not schedule and not chosen:  # it makes none of their faults (kube)
                refuse_unable(able, SCENARIOS[defaults[0]])
            if not scenarios and not schedule and len(chosen) < len(defaults):
                left = ", ".join(s for s in defaults if s not in chosen)
                click.echo(f"multidc: left out {left}: the {env.provider} provider cannot make its faults", err=True)
            progress = Progress()
            results = verify(
                env,
                chosen,
                duration,
                folder,
                progress,
                consistency,  # type: ignore[arg-type]
                schedule,
                chosen_workloads,
            )
            if folder is not None:
                from ..export import remember_report

                remember_report(env.name, folder)  # `export logs` bundles the last report
    except MultidcError as exc:
        fail(exc)
    for r in results:
        click.echo(r.summary())
    passed = all(r.passed for r in results)
    if any(r.verdict and r.verdict.stale_reads for r in results):
        click.echo(
            "Stale reads: OpenBao serves reads on standby nodes by default; set `server: "
            "{disable_standby_reads: true}` in the topology for linearizable reads (index clients, "
            "`--consistency index`, only stop a client reading older than its own past)."
        )
    if report:
        click.echo(
            f"Report: {report}/summary.json and per scenario history.jsonl, verdict.json, timeline.svg"
            + (" and schedule.json (replay it with --replay)" if nemesis == "random" or replay else "")
        )
    click.echo(f"{sum(r.passed for r in results)} passed, {sum(not r.passed for r in results)} failed")
    if folder is not None:
        click.echo(f"Page: {(folder / 'index.html').resolve()}")
    sys.exit(0 if passed else 1)


@cli.command("report")
@click.argument("folder", type=click.Path(file_okay=False))
def report_cmd(folder: str) -> None:
    """Write the page of a saved `verify --report` again (FOLDER/index.html) from its files, and print its path."""
    from ..verify.page import report_page

    try:
        page = report_page(Path(folder))
    except MultidcError as exc:
        fail(exc)
    click.echo(str(page.resolve()))


@cli.command("check")
@click.argument("history_file", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "edn"]),
    default="auto",
    show_default=True,
    help=(
        "jsonl: multidc's history; edn: a Jepsen history.edn; auto: EDN when the first value starts with `{:`, "
        "`[`, `(`, `#` or `;`."
    ),
)
@click.option(
    "--keys",
    type=click.Choice(["auto", "single", "independent"]),
    default="auto",
    show_default=True,
    help="EDN only: one register, or jepsen.independent's [key value] values; auto tells them apart by the values.",
)
@click.option("--html", "html", type=click.Path(dir_okay=False), help="Also write a page with the history's pictures.")
@click.option(
    "--model",
    type=click.Choice(MODELS),
    default="register",
    show_default=True,
    help="What the history is of: the register (read, write, cas; JSON lines or EDN), or a verify workload's saved "
    "history-NAME.jsonl (set, tokens, pki: their invariants).",
)
def check_cmd(history_file: str, output: str, fmt: str, keys: str, html: str | None, model: str) -> None:
    """Check a saved history (JSON lines, or a Jepsen EDN history): exit 0 when linearizable (or, for --model set,
    tokens, pki: when the workload's invariants hold), 1 when not, 2 when the file is malformed."""
    import gc

    from .. import checker, history
    from ..verify.page import PageError

    if model != "register":
        _check_workload(history_file, output, fmt, keys, html, model)

    # A short-lived process that builds a few hundred thousand objects with no cycles among them: the cyclic collector
    # would only scan them again and again (0.46 s of 1.24 s of loading a 100,000-operation history).
    gc.disable()
    if html is not None and not Path(html).absolute().parent.is_dir():
        fail(PageError(f"--html {html}: its directory does not exist; give a file in an existing directory"))
    try:
        ops = history.load(history_file, fmt, keys)
    except MultidcError as exc:
        fail(exc)
    verdict = checker.check(ops)
    judged = {
        "valid": verdict.valid,
        "operations": len(ops),
        "non_linearizable_keys": {k.key: [o.describe() for o in k.witness] for k in verdict.failing()},
        "stale_reads": [o.describe() for o in verdict.stale_reads],
        "lost_writes": [o.describe() for o in verdict.lost_writes],
    }
    if html is not None:
        from ..verify.page import history_page

        try:
            history_page(Path(history_file), ops, judged, Path(html))
        except OSError as exc:
            fail(PageError(f"--html {html}: cannot write it ({exc.strerror or exc}); give a file you can write"))
    if output == "json":
        click.echo(json.dumps(judged, indent=2))
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


def _check_workload(history_file: str, output: str, fmt: str, keys: str, html: str | None, model: str) -> None:
    """`check --model set|tokens|pki`: a workload's saved history judged by its checker (exit 0 valid, 1 not)."""
    from .. import checker
    from ..verify.workloads.invariants import load

    given = [o for o, v in (("--format", fmt != "auto"), ("--keys", keys != "auto"), ("--html", html)) if v]
    if given:
        fail(TopologyError(f"{given[0]} goes with --model register; a {model} history is JSON lines, drawn by verify"))
    try:
        ops = load(history_file)
    except MultidcError as exc:
        fail(exc)
    verdict = checker.check(ops, checker.named(model))
    if output == "json":
        click.echo(json.dumps({**verdict.to_dict(), "operations": len(ops)}, indent=2))
    else:
        click.echo(f"{len(ops)} operations: {verdict.summary()}")
        for kind, items in verdict.found().items():
            click.echo(f"{kind}:")
            for item in items:
                click.echo(f"  {item}")
    sys.exit(0 if verdict.valid else 1)
