"""Running a scenario: the workload and the nemesis run side by side; then everything is healed, the cluster must be
healthy again, final reads go through the leader, and the checker judges the history."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from .. import checker, pipeline
from ..api import Environment
from ..consistency import Consistency
from ..errors import StartFailed
from ..history import dump, pair
from ..paths import write_private
from ..progress import Progress
from ..providers.base import Faults
from ..vaultapi import client, get
from .report import ScenarioResult, Window, timeline_svg
from .scenarios import SCENARIOS, Scenario, Step
from .workload import Recorder, Workload

OPENERS = {
    "kill": "killed",
    "stop": "stopped",
    "pause": "paused",
    "partition": "cut off",
    "kms-down": "KMS down",
    "delay-all": "WAN delay",
}
BACK_TIMEOUT = 30.0  # seconds a server may take to come back unsealed once the KMS is back
CLOSERS = {"start": ("kill", "stop"), "resume": ("pause",), "heal": ("partition", "delay-all"), "kms-up": ("kms-down",)}


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


def run_scenario(
    env: Environment,
    scenario: Scenario,
    duration: float,
    report: Path | None = None,
    per_dc: int = 2,
    keys: int = 3,
    progress: Progress | None = None,
    consistency: Consistency = "eventual",
) -> ScenarioResult:
    progress = progress or Progress(quiet=True)
    env.wait_healthy()
    token = env.root_token
    faults = env.faults
    dcs = env.datacenters
    recorder = Recorder()
    workload = Workload(
        endpoints={dc: env.address(dc) for dc in dcs},
        ca=env.ca_cert,
        token=token,
        keys=[f"k{i}" for i in range(1, keys + 1)],
        prefix=f"multidc-verify/{scenario.name}-{time.time_ns()}",
        recorder=recorder,
        per_dc=per_dc,
        consistency=consistency,
    )
    stop = threading.Event()
    watch = LeaderWatch(env, recorder, stop)
    leader = watch.current() or env.primary
    follower = next(dc for dc in dcs if dc != leader) if len(dcs) > 1 else leader
    targets = {"leader": leader, "follower": follower, "primary": env.primary, "": ""}
    windows: list[Window] = []
    problems: list[str] = []
    checks: dict[str, object] = {}
    watch.start()
    threads = workload.run(stop)
    with progress.step(f"{scenario.name}: workload and faults for {duration:.0f}s"):
        for step in sorted(scenario.steps, key=lambda s: s.at):
            time.sleep(max(0.0, step.at * duration - recorder.now()))
            target = targets[step.target]
            at = recorder.now()
            try:
                if step.action == "check-sealed":
                    state = seal_state(env, target)
                    checks[f"{target}_while_kms_down"] = state
                    if state == "unsealed":
                        problems.append(f"{target} was unsealed while the KMS was down")
                    continue
                if step.action == "check-back":
                    waited = wait_unsealed(env, target, BACK_TIMEOUT)
                    checks[f"{target}_unsealed_after_kms_up_s"] = waited
                    if waited is None:
                        problems.append(f"{target} was not back and unsealed {BACK_TIMEOUT:.0f}s after the KMS was")
                    continue
                _apply(faults, step, target, dcs)
            except StartFailed as exc:
                # Expected under transit while the KMS is down: the server exits, and kms-up starts it again.
                checks[f"{target}_start_while_kms_down"] = f"exited at once: {exc}"[:300]
            except Exception as exc:  # noqa: BLE001 - a fault that cannot be applied is a finding, not a crash
                problems.append(f"{step.action} {target}: {exc}")
                continue
            if step.action in OPENERS:
                label = f"{target} {OPENERS[step.action]}{f' +{step.ms} ms' if step.ms else ''}".strip()
                windows.append(Window(at, None, label, step.action, target))
            for w in windows:
                closes = CLOSERS.get(step.action)
                if (
                    w.end is None
                    and closes
                    and w.kind in closes
                    and (step.action in ("heal", "kms-up") or w.target == target)
                ):
                    w.end = at
        time.sleep(max(0.0, duration - recorder.now()))
        stop.set()
        for t in threads:
            t.join(timeout=workload.timeout + 3)
    with progress.step(f"{scenario.name}: healing and waiting for healthy"):
        healthy, time_to_healthy = _heal(env, faults, problems)
        for w in windows:
            if w.end is None:
                w.end = recorder.now()
    final = workload._new_process("final")
    if healthy:
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
    folder = report / scenario.name if report is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        dump(events, folder / "history.jsonl")  # first, so a history survives whatever follows
    operations = pair(events)
    verdict = checker.check(operations)
    result = ScenarioResult(
        name=scenario.name,
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
    )
    if folder is not None:
        (folder / "verdict.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        (folder / "timeline.svg").write_text(timeline_svg(result))
    return result


def standby_reads(env: Environment) -> str:
    """The servers' setting: `served` (OpenBao's default: a standby answers reads from its own copy) or `disabled`."""
    return "disabled" if env.topology.server.disable_standby_reads else "served"


def _apply(faults: Faults, step: Step, target: str, dcs: list[str]) -> None:
    action = step.action
    if action == "delay-all":
        for i, a in enumerate(dcs):
            for b in dcs[i + 1 :]:
                faults.delay(a, b, step.ms)
    elif action == "partition":
        faults.partition([target])
    elif action == "heal":
        faults.heal()
    elif action == "kms-down":
        faults.kms_down()
    elif action == "kms-up":
        faults.kms_up()
    else:
        getattr(faults, action)(target)


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
) -> list[ScenarioResult]:
    results = []
    for name in names:
        results.append(run_scenario(env, SCENARIOS[name], duration, report, progress=progress, consistency=consistency))
    if report is not None:
        summary = {
            "environment": env.name,
            "client_consistency": consistency,
            "server_standby_reads": standby_reads(env),
            "passed": all(r.passed for r in results),
            "scenarios": [r.to_dict() for r in results],
        }
        write_private(report / "summary.json", json.dumps(summary, indent=2) + "\n")
    return results
