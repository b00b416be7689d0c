"""Random fault schedules, drawn from a seed: which faults, on whom, when and for how long, possibly overlapping.

Pure: the same seed, datacenters, duration and fault kinds give the same schedule (Python's `random.Random` with an
integer seed is stable across versions), so a run that found something can be replayed from its `schedule.json`.
Rules that keep a schedule runnable: at most two faults at once; never two process faults (kill, pause) on one DC at
once, nor two KMS outages, nor two shapes (delay, loss) on one pair; every fault ends by the end of the run (the run
then heals whatever is left). `leader` as a target is resolved when the fault begins.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MultidcError
from ..providers.base import SHAPES, Fault

KINDS = ("kill", "pause", "partition", "one-way", "bridge", "delay", "loss", "kms")  # what it draws from (no stop)
PROCESS = ("kill", "pause")
MAX_AT_ONCE = 2
VERSION = 1


class ScheduleError(MultidcError):
    """A schedule (or the request for one) that cannot be run; exit 2."""

    exit_code = 2


@dataclass
class Schedule:
    seed: int | None
    duration: float
    datacenters: list[str]
    kinds: list[str]
    faults: list[Fault] = field(default_factory=list)
    workloads: list[str] = field(default_factory=lambda: ["register"])  # what ran with it (a replay runs them again)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "seed": self.seed,
            "duration": self.duration,
            "datacenters": self.datacenters,
            "kinds": self.kinds,
            "workloads": self.workloads,
            "faults": [{k: v for k, v in asdict(f).items() if v or k in ("start", "end")} for f in self.faults],
        }

    def text(self) -> str:
        head = f"schedule (seed {self.seed}, {self.duration:g}s, faults: {', '.join(self.kinds)}):"
        return "\n".join([head, *(f"  {f.start:7.2f}s - {f.end:7.2f}s  {f.label()}" for f in self.faults)])


def kinds_of(text: str) -> list[str]:
    """`--faults kill,pause,...` -> the kinds, each checked."""
    chosen = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise ScheduleError(f"--faults: unknown {', '.join(unknown) or '(none given)'}; choose from {','.join(KINDS)}")
    return list(dict.fromkeys(chosen))


def generate(seed: int, datacenters: list[str], duration: float, kinds: list[str]) -> Schedule:
    if "bridge" in kinds and len(datacenters) < 3:
        raise ScheduleError(f"--faults bridge needs 3 or more datacenters; this environment has {len(datacenters)}")
    if ("partition" in kinds) and len(datacenters) < 2:
        raise ScheduleError("--faults partition needs 2 or more datacenters")
    rng = random.Random(seed)
    unit = _unit(duration)
    places = [*datacenters, "kms"]
    faults: list[Fault] = []
    t = rng.uniform(0.5, 1.5) * unit
    last_end = duration * LAST_START
    while t < last_end:
        kind = rng.choice(kinds)
        length = rng.uniform(SHORTEST, LONGEST) * unit
        fault = _draw(rng, kind, t, min(t + length, duration * LAST_END), datacenters, places)
        if fault is not None and _fits(fault, faults):
            faults.append(fault)
        t += rng.uniform(GAP, 2.0) * unit
    return Schedule(seed, duration, list(datacenters), list(kinds), faults)


# A generated schedule's timing, in units of `_unit(duration)`: faults last SHORTEST-LONGEST (less only when the end
# of the run, LAST_END of it, cuts one short), start GAP or more after the previous one (the first after the run's
# start), and start before LAST_START of the run. A replayed schedule must keep it too.
SHORTEST, LONGEST, GAP = 1.5, 5.0, 0.5
LAST_START, LAST_END = 0.9, 0.95


def _unit(duration: float) -> float:
    return min(1.0, duration / 20)  # short runs get shorter faults and gaps, so they still see several


def _draw(rng: random.Random, kind: str, start: float, end: float, dcs: list[str], places: list[str]) -> Fault | None:
    start, end = round(start, 3), round(end, 3)
    if kind in PROCESS:
        return Fault(kind, start, end, rng.choice([*dcs, "leader"]))
    if kind == "partition":
        size = rng.randint(1, len(dcs) - 1)
        return Fault(kind, start, end, ",".join(sorted(rng.sample(dcs, size))))
    if kind == "one-way":
        a, b = rng.sample(places, 2)
        return Fault(kind, start, end, a, b)
    if kind == "bridge":
        return Fault(kind, start, end, rng.choice(dcs))
    if kind == "delay":
        a, b = sorted(rng.sample(places, 2))
        ms = rng.choice([20, 50, 100, 200])
        return Fault(kind, start, end, a, b, ms=ms, jitter=rng.choice([0, ms // 4, ms // 2]))
    if kind == "loss":
        a, b = sorted(rng.sample(places, 2))
        return Fault(kind, start, end, a, b, loss=float(rng.choice([5, 10, 20, 40])))
    return Fault("kms", start, end)


def _overlap(a: Fault, b: Fault) -> bool:
    return a.start < b.end and b.start < a.end


def _fits(new: Fault, faults: list[Fault]) -> bool:
    during = [f for f in faults if _overlap(f, new)]
    if _most_at_once([*during, new]) > MAX_AT_ONCE:
        return False
    for f in during:
        if new.kind in PROCESS and f.kind in PROCESS and (new.target == f.target or "leader" in (new.target, f.target)):
            return False
        if new.kind == f.kind == "kms":
            return False
        if new.kind in SHAPES and f.kind in SHAPES and {new.target, new.peer} == {f.target, f.peer}:
            return False
    return True


def _most_at_once(faults: list[Fault]) -> int:
    """The most faults in force at one instant (a fault is in force from its start until just before its end)."""
    return max((sum(f.start <= g.start < f.end for f in faults) for g in faults), default=0)


def save(schedule: Schedule, path: Path) -> None:
    path.write_text(json.dumps(schedule.to_dict(), indent=2) + "\n")


MIN_DURATION, MAX_DURATION = 2.0, 3600.0  # what `verify --duration` accepts
# The most faults a schedule may hold: the longest run has at most 6,480 (one every GAP s until LAST_START of it).
MAX_FAULTS = 10_000
# The largest schedule file read: MAX_FAULTS faults as verify writes them take about 3 MiB.
MAX_BYTES = 4 << 20


def load(path: str | Path, datacenters: list[str], workloads: Sequence[str]) -> Schedule:
    """A saved schedule, checked against the environment it is to run on (its DCs, the `workloads` it can run) and
    against the rules a generated one keeps; one line when it cannot be run."""
    where = f"--replay {path}"
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScheduleError(f"{where}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ScheduleError(f"{where}: larger than {MAX_BYTES >> 20} MiB; give a schedule.json that verify wrote")
    try:
        data = json.loads(raw)
    except RecursionError:  # `[[[[...`: the decoder recurses per level
        raise ScheduleError(f"{where}: not JSON (nested too deeply); give a schedule.json that verify wrote") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScheduleError(f"{where}: not JSON ({exc}); give a schedule.json that verify wrote") from None
    try:
        schedule = _parse(data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ScheduleError(
            f"{where}: not a schedule multidc wrote ({exc}); give a schedule.json that verify wrote"
        ) from None
    if sorted(schedule.datacenters) != sorted(datacenters):
        raise ScheduleError(
            f"{where}: the schedule is for datacenters {', '.join(schedule.datacenters)}, this environment "
            f"has {', '.join(datacenters)}; replay it on an environment of the same topology"
        )
    unknown = [w for w in schedule.workloads if w not in workloads]
    if unknown or not schedule.workloads or len(set(schedule.workloads)) != len(schedule.workloads):
        raise ScheduleError(
            f"{where}: workloads {','.join(map(repr, schedule.workloads)) or '(none)'}: name each once, from "
            f"{','.join(workloads)}; give a schedule.json that verify wrote"
        )
    # Faults come in order of start, so the earlier faults a fault can break a rule with are those still in force at
    # its start: a handful (LONGEST / GAP at most), which keeps the check linear.
    in_force: list[Fault] = []
    for i, fault in enumerate(schedule.faults):
        problem = _invalid(fault, schedule, datacenters) or _untimely(fault, schedule, i)
        if problem is None:
            in_force = [f for f in in_force if f.end > fault.start]
            if not _fits(fault, in_force):
                problem = "it breaks the schedule's rules (two faults on one DC, or more than two at once)"
        if problem:
            raise ScheduleError(f"{where}: fault {i + 1} ({fault.kind} at {fault.start}s): {problem}")
        in_force.append(fault)
    return schedule


def _untimely(f: Fault, schedule: Schedule, i: int) -> str | None:
    """Why this fault breaks a generated schedule's timing (None: it keeps it)."""
    unit, slack = _unit(schedule.duration), 0.002  # a schedule's times are rounded to milliseconds
    length, cut_short = f.end - f.start, f.end >= round(schedule.duration * LAST_END, 3) - slack
    if length > LONGEST * unit + slack or (length < SHORTEST * unit - slack and not cut_short):
        return (
            f"it lasts {length:.3f} s; in a {schedule.duration:g} s run a fault lasts "
            f"{SHORTEST * unit:g}-{LONGEST * unit:g} s (less only when the run's end cuts it short)"
        )
    after = schedule.faults[i - 1].start if i else 0.0
    if f.start - after < GAP * unit - slack:
        since = f"fault {i}" if i else "the run's start"
        return f"it starts {f.start - after:.3f} s after {since}; faults start {GAP * unit:g} s apart or more"
    return None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{what} {value!r} is not a number")
    return float(value)


def _parse(data: Any) -> Schedule:
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
    seed = data["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed {seed!r} is not a non-negative integer")
    duration = _number(data["duration"], "duration")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise ValueError(f"duration {duration:g} s is outside {MIN_DURATION:g}-{MAX_DURATION:g}")
    names = data["datacenters"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("datacenters is not a list of names")
    kinds = data["kinds"]
    if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"kinds {kinds!r} are not among {', '.join(KINDS)}")
    workloads = data.get("workloads", ["register"])
    if not isinstance(workloads, list) or not all(isinstance(w, str) for w in workloads):
        raise ValueError("workloads is not a list of names")
    if not isinstance(data["faults"], list) or len(data["faults"]) > MAX_FAULTS:
        raise ValueError(f"faults is not a list of at most {MAX_FAULTS:,}")
    faults = []
    for f in data["faults"]:
        fault = Fault(**f)
        for text in (fault.kind, fault.target, fault.peer):
            if not isinstance(text, str):
                raise ValueError(f"{text!r} is not a name")
        _number(fault.start, "start"), _number(fault.end, "end"), _number(fault.loss, "loss")
        for whole in (fault.ms, fault.jitter):
            if isinstance(whole, bool) or not isinstance(whole, int):
                raise ValueError(f"{whole!r} is not a whole number of milliseconds")
        if fault.kind not in kinds:
            raise ValueError(f"fault kind {fault.kind!r} is not among the schedule's kinds ({', '.join(kinds)})")
        faults.append(fault)
    return Schedule(seed, duration, list(names), kinds, faults, list(workloads))


def _invalid(f: Fault, schedule: Schedule, dcs: list[str]) -> str | None:
    """Why this fault cannot run on these DCs (None: it can)."""
    if not 0 <= f.start < f.end <= schedule.duration:
        return f"its times {f.start}-{f.end} s are not a window inside the {schedule.duration:g} s run"
    places = [*dcs, "kms"]
    if f.kind in PROCESS:
        return (
            None if f.target in [*dcs, "leader"] else f"target {f.target!r} is not a DC of this environment or leader"
        )
    if f.kind == "partition":
        group = f.target.split(",")
        ok = len(set(group)) == len(group) and set(group) <= set(dcs) and 0 < len(group) < len(dcs)
        return None if ok else f"group {f.target!r} is not a proper group of this environment's DCs"
    if f.kind == "bridge":
        return None if f.target in dcs and len(dcs) >= 3 else f"bridge via {f.target!r} needs a DC of 3 or more"
    if f.kind in ("one-way", *SHAPES) and (f.target not in places or f.peer not in places or f.target == f.peer):
        return f"pair {f.target!r}-{f.peer!r} is not two different places of this environment"
    if f.kind == "delay" and not (0 < f.ms <= 60_000 and 0 <= f.jitter <= f.ms):
        return f"delay {f.ms} ms ± {f.jitter} ms is out of range (1-60000 ms, jitter up to the delay)"
    if f.kind == "loss" and not 0 < f.loss <= 100:
        return f"loss {f.loss}% is out of range (0-100)"
    return None
