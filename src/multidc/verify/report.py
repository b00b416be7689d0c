"""The verdict of a run as JSON and a human summary (the pictures and the page: charts.py, page.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checker import Verdict
from ..errors import MultidcError
from ..history import Operation
from .workloads import InvariantVerdict


class ReportError(MultidcError):
    """The report directory cannot be written; nothing was run (exit 2)."""

    exit_code = 2


def prepare(folder: Path) -> Path:
    """Make the report directory (or a run's folder in it) before anything runs; one line when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".multidc-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ReportError(
            f"--report {folder}: cannot write there ({exc.strerror or exc}); give a directory you can write"
        ) from None
    return folder


BACKGROUND = ("delay", "loss")  # on every pair (no one target): a scenario's conditions, not the disruption it measures


@dataclass
class Window:
    start: float
    end: float | None
    label: str
    kind: str = ""  # the fault that opened it
    target: str = ""


@dataclass
class ScenarioResult:
    name: str
    duration: float
    verdict: Verdict | None  # the register's (None when it did not run)
    operations: list[Operation]
    processes: dict[int, str]  # process -> DC
    windows: list[Window] = field(default_factory=list)
    leaders: list[tuple[float, str]] = field(default_factory=list)  # (time, DC) at each change
    healthy_after_heal: bool = False
    time_to_healthy: float | None = None
    problems: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    consistency: str = "eventual"  # the workload's clients: eventual, or index (X-Vault-Index, per client)
    standby_reads: str = "served"  # the servers': served (OpenBao's default), or disabled (disable_standby_reads)
    seed: int | None = None  # a random schedule's (its schedule.json is beside the verdict)
    workloads: list[str] = field(default_factory=lambda: ["register"])
    invariants: list[InvariantVerdict] = field(default_factory=list)  # set, tokens, pki: one verdict each
    checking_s: float | None = None  # the checkers' time, every workload's (pairing the history included)
    ended: float | None = None  # when the clients were stopped and the heal began (the history's clock)
    started: float | None = None  # when the faults' clock (a schedule's times) began, on the history's clock
    # When each acknowledged change of every workload that ran returned (the register's writes, a set's adds, ...);
    # None: the register's writes alone.
    changes: list[float] | None = None

    @property
    def register(self) -> bool:
        return "register" in self.workloads

    @property
    def passed(self) -> bool:
        register = self.verdict is None or (self.verdict.valid and not self.verdict.lost_writes)
        return register and all(i.valid for i in self.invariants) and self.healthy_after_heal and not self.problems

    def writes_ok(self) -> list[float]:
        if self.changes is not None:
            return sorted(self.changes)
        return sorted(o.ret for o in self.operations if o.f in ("write", "cas") and o.status == "ok")

    def failover_time(self) -> float | None:
        """From the first disruptive fault to the first acknowledged write that began after it (a WAN delay is the
        scenario's background, not the fault the cluster fails over from)."""
        disruptive = [w for w in self.windows if w.kind not in BACKGROUND or w.target]
        if not disruptive:
            return None
        fault = disruptive[0].start
        after = [t for t in self.writes_ok() if t >= fault]  # acknowledged (returned) after the fault
        return round(min(after) - fault, 3) if after else None

    def unavailability(self) -> float:
        """The longest stretch with no acknowledged write (from the start to the end of the run)."""
        times = [0.0, *self.writes_ok(), self.duration]
        return round(max(b - a for a, b in zip(times, times[1:], strict=False)), 3)

    def to_dict(self) -> dict[str, Any]:
        head = {
            "scenario": self.name,
            "seed": self.seed,
            "duration_s": self.duration,
            "started_s": self.started,
            "ended_s": self.ended,
            "passed": self.passed,
            "client_consistency": self.consistency,
            "server_standby_reads": self.standby_reads,
        }
        return (
            head
            | self._register()
            | {
                "failover_time_s": self.failover_time(),
                "unavailability_window_s": self.unavailability(),
                "time_to_healthy_after_heal_s": self.time_to_healthy,
                "checking_s": self.checking_s,
                "healthy_after_heal": self.healthy_after_heal,
                "faults": [
                    {"start": w.start, "end": w.end, "label": w.label, "kind": w.kind, "target": w.target}
                    for w in self.windows
                ],
                "leader_changes": [{"time": t, "leader": dc} for t, dc in self.leaders],
                "checks": self.checks,
                "problems": self.problems,
                "workloads": self.workloads,
                "invariants": {i.workload: i.to_dict() for i in self.invariants},
                "processes": {
                    str(p): dc for p, dc in self.processes.items()
                },  # the register's: which DC each went through
            }
        )

    def _register(self) -> dict[str, Any]:
        """The register's part of the verdict: nothing when it did not run (an empty history proves nothing)."""
        v = self.verdict
        if v is None:
            return {}
        return {
            "valid": v.valid,
            "operations": len(self.operations),
            "ok": sum(1 for o in self.operations if o.status == "ok"),
            "info": sum(1 for o in self.operations if o.status == "info"),
            "fail": sum(1 for o in self.operations if o.status == "fail"),
            "non_linearizable_keys": {k.key: [o.describe() for o in k.witness] for k in v.failing()},
            "stale_reads": [o.describe() for o in v.stale_reads],
            "own_stale_reads": [o.describe() for o in v.own_stale_reads],
            "lost_writes": [o.describe() for o in v.lost_writes],
        }

    def summary(self) -> str:
        d = self.to_dict()
        mark = "PASS" if self.passed else "FAIL"
        head = f"{mark} {self.name} (clients {self.consistency}, standby reads {self.standby_reads}): "
        if self.register:
            head += (
                f"{d['operations']} ops ({d['ok']} ok, {d['fail']} fail, {d['info']} unknown), "
                f"linearizable: {'yes' if d['valid'] else 'NO'}, stale reads: {len(d['stale_reads'])} "
                f"({len(d['own_stale_reads'])} of a client's own past), "
                f"lost writes: {len(d['lost_writes'])}, failover {d['failover_time_s']}s, "
                f"longest write outage {d['unavailability_window_s']}s, "
            )
        lines = [head + f"healthy again after {d['time_to_healthy_after_heal_s']}s"]
        lines += [f"    {i.summary()}" for i in self.invariants]
        for key, ops in d.get("non_linearizable_keys", {}).items():
            lines.append(f"    key {key}: these operations cannot be ordered:")
            lines += [f"      {o}" for o in ops[:8]]
        stale = d.get("stale_reads", [])
        for o in stale[:5]:
            lines.append(f"    stale read: {o}")
        if len(stale) > 5:
            lines.append(f"    ... and {len(stale) - 5} more stale reads")
        for o in d.get("lost_writes", [])[:5]:
            lines.append(f"    lost write: {o}")
        for p in self.problems:
            lines.append(f"    problem: {p}")
        for step in (self.checks.get("upgrade") or {}).get("steps", []):
            was = " (was leader)" if step["was_leader"] else ""
            lines.append(
                f"    upgrade {step['dc']} {step['before']} -> {step['after']}{was}: {step['seconds']}s to healthy, "
                f"longest write outage {step.get('longest_write_outage_s')}s"
            )
        if "write_without_quorum" in self.checks:
            lines.append(f"    a write through the survivor without a quorum: {self.checks['write_without_quorum']}")
        if "recover" in self.checks:
            r = self.checks["recover"]
            lines.append(f"    recovered {r['survivor']} in {r['seconds']}s; re-added {', '.join(r['readded'])} fresh")
        skipped = self.checks.get("skipped", [])
        if skipped:
            lines.append(f"    skipped {len(skipped)} fault(s) earlier faults made moot: " + "; ".join(skipped[:3]))
        return "\n".join(lines)
