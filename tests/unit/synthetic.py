"""A verify report of a given shape, made up (for the page's size and rendering tests): histories of every workload
with the clients, rates, latencies and unknown outcomes of a real run, fault windows, leader changes and anomalies.
The rates give the README's 10-minute run's counts (register 59,091 operations, set 33,666 adds, tokens 12,074
creates and 4,962 revokes then 36,222 lookups, pki 33,017 issues, 255 faults): 360,000 events in 600 s."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

DCS = ("primary", "secondary", "tertiary")
CYCLE = {"register": 0.052, "set": 0.092, "tokens": 0.18, "pki": 0.093}  # seconds per operation per client
FAULTS_PER_S = 255 / 600


def _describe(process: int, f: str, key: str, value: Any, status: str, call: float, ret: float | None) -> str:
    """The checker's Operation.describe, for the verdict's lines."""
    if f == "read":
        what = f"read {key} -> {json.dumps(value)}" if status == "ok" else f"read {key}"
    elif f == "write":
        what = f"write {key} := {json.dumps(value)}"
    else:
        what = f"cas {key} {json.dumps(value[0])} -> {json.dumps(value[1])}"
    end = "?" if ret is None or status == "info" else f"{ret:.3f}"
    return f"p{process} {what} [{status}] ({call:.3f}..{end})"


def _client(rng: random.Random, duration: float, cycle: float) -> list[tuple[float, float, str]]:
    """(call, completion, outcome) of one client's operations: log-normal latencies, a few timeouts and refusals."""
    out = []
    t = rng.uniform(0, cycle)
    while t < duration:
        latency = min(1.5, rng.lognormvariate(math.log(cycle * 0.6), 0.7))
        r = rng.random()
        status = "info" if r < 0.01 else "fail" if r < 0.04 else "ok"
        out.append((t, t + (1.5 if status == "info" else latency), status))
        t += latency + cycle * 0.4
    return out


def register(rng: random.Random, duration: float) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """The register's events, its processes' DCs, and the describe lines of its stale reads (one in 150 reads)."""
    events: list[dict[str, Any]] = []
    processes: dict[str, str] = {}
    stale: list[str] = []
    pid = 0
    value = 0
    for dc in DCS:
        for _slot in range(2):
            processes[str(pid)] = dc
            for call, done, status in _client(rng, duration, CYCLE["register"]):
                f = rng.choices(["read", "write", "cas"], weights=[5, 3, 2])[0]
                key = f"k{rng.randint(1, 3)}"
                value += 1
                asked: Any = None if f == "read" else value if f == "write" else [value - 3, value]
                got = value - 1 if f == "read" else asked
                events.append({"process": pid, "type": "invoke", "f": f, "key": key, "value": asked, "time": call})
                events.append({"process": pid, "type": status, "f": f, "key": key, "value": got, "time": done})
                if f == "read" and status == "ok" and rng.random() < 1 / 150:
                    stale.append(_describe(pid, f, key, got, status, call, done))
                if status == "info":  # a process with an unknown outcome never issues another operation
                    pid += 1
                    processes[str(pid)] = dc
            pid += 1
    processes[str(pid)] = "final"
    for i in range(3):
        t = duration + 1 + i * 0.01
        events.append({"process": pid, "type": "invoke", "f": "read", "key": f"k{i + 1}", "value": None, "time": t})
        events.append({"process": pid, "type": "ok", "f": "read", "key": f"k{i + 1}", "value": 1, "time": t + 0.005})
    return sorted(events, key=lambda e: (e["time"], e["type"] != "invoke")), processes, stale


def invariant(rng: random.Random, workload: str, duration: float, start_pid: int) -> list[dict[str, Any]]:
    """A set, tokens or pki workload's events (key: the DC), and its final observations per DC."""
    fs = {"set": ["add"], "tokens": ["create", "create", "revoke"], "pki": ["issue"]}[workload]
    final = {"set": "read", "tokens": "lookup", "pki": "list"}[workload]
    events: list[dict[str, Any]] = []
    pid = start_pid
    for dc in DCS:
        for _slot in range(2):
            for call, done, status in _client(rng, duration, CYCLE[workload]):
                f = rng.choice(fs)
                events.append({"process": pid, "type": "invoke", "f": f, "key": dc, "value": None, "time": call})
                events.append({"process": pid, "type": status, "f": f, "key": dc, "value": pid, "time": done})
                if status == "info":
                    pid += 1
            pid += 1
    lookups = 12_074 * duration / 600 if workload == "tokens" else 1
    t = duration + 2
    for dc in DCS:
        for _ in range(int(lookups)):
            events.append({"process": pid, "type": "invoke", "f": final, "key": dc, "value": None, "time": t})
            events.append({"process": pid, "type": "ok", "f": final, "key": dc, "value": True, "time": t + 0.004})
            t += 0.005
        pid += 1
    return events


def report(folder: Path, duration: float, workloads: tuple[str, ...] = ("register",), seed: int = 1) -> Path:
    """Write a report folder (summary.json, one random-N scenario with its histories and schedule) like verify's."""
    rng = random.Random(seed)
    name = f"random-{seed}"
    where = folder / name
    where.mkdir(parents=True)
    events, processes, stale = register(rng, duration)
    with open(where / "history.jsonl", "w") as out:
        out.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
    invariants = {}
    for i, w in enumerate(x for x in workloads if x != "register"):
        with open(where / f"history-{w}.jsonl", "w") as out:
            lines = (json.dumps(e, separators=(",", ":")) + "\n" for e in invariant(rng, w, duration, 1000 * (i + 1)))
            out.writelines(lines)
        invariants[w] = {"workload": w, "valid": True, "counts": {"ops": 1}, "anomalies": {"lost adds": []}}
    faults, windows = [], []
    t = 1.0
    while t < duration * 0.9 and len(faults) < FAULTS_PER_S * duration:
        end = min(t + rng.uniform(1.5, 5.0), duration * 0.95)
        dc = rng.choice(DCS)
        faults.append({"kind": "kill", "start": round(t, 3), "end": round(end, 3), "target": dc})
        windows.append({"start": t + 0.05, "end": end + 0.05, "label": f"{dc} killed", "kind": "kill", "target": dc})
        t += rng.uniform(0.5, 2.0)
    leaders = [{"time": w["start"] + 1.5, "leader": rng.choice(DCS)} for w in windows[::4]]
    verdict = {
        "scenario": name,
        "seed": seed,
        "duration_s": duration,
        "passed": not stale,
        "client_consistency": "eventual",
        "server_standby_reads": "served",
        "valid": not stale,
        "operations": len(events) // 2,
        "ok": sum(e["type"] == "ok" for e in events),
        "info": sum(e["type"] == "info" for e in events),
        "fail": sum(e["type"] == "fail" for e in events),
        "non_linearizable_keys": {"k1": stale[:2]} if stale else {},
        "stale_reads": stale,
        "own_stale_reads": [],
        "lost_writes": [],
        "failover_time_s": 1.9,
        "unavailability_window_s": 3.2,
        "time_to_healthy_after_heal_s": 0.2,
        "checking_s": 1.0,
        "healthy_after_heal": True,
        "faults": windows,
        "leader_changes": leaders,
        "checks": {},
        "problems": [],
        "workloads": list(workloads),
        "invariants": invariants,
        "processes": processes,
    }
    (where / "verdict.json").write_text(json.dumps(verdict, indent=2) + "\n")
    schedule = {
        "version": 1,
        "seed": seed,
        "duration": duration,
        "datacenters": list(DCS),
        "kinds": ["kill"],
        "workloads": list(workloads),
        "faults": faults,
    }
    (where / "schedule.json").write_text(json.dumps(schedule, indent=2) + "\n")
    summary = {
        "environment": "synthetic",
        "client_consistency": "eventual",
        "server_standby_reads": "served",
        "workloads": list(workloads),
        "passed": verdict["passed"],
        "peak_rss_mb": 100.0,
        "scenarios": [verdict],
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return where
