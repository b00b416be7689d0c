"""Random fault schedules: the same seed gives the same schedule, the rules that keep one runnable hold, a saved one
loads back (or is refused in one line), and the run ends each fault without ending the others."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multidc.providers.base import Interpreter
from multidc.verify import nemesis
from multidc.verify.nemesis import Fault, Schedule, ScheduleError
from multidc.verify.run import Nemesis, _end, run_schedule
from multidc.verify.workload import Recorder
from multidc.verify.workloads import WORKLOADS as OTHER_WORKLOADS

DCS = ["primary", "secondary", "tertiary"]
WORKLOADS = ("register", *OTHER_WORKLOADS)  # what `verify --replay` may run


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    a = nemesis.generate(42, DCS, 60, list(nemesis.KINDS))
    b = nemesis.generate(42, DCS, 60, list(nemesis.KINDS))
    assert a == b and a.to_dict() == b.to_dict() and len(a.faults) >= 10
    assert nemesis.generate(43, DCS, 60, list(nemesis.KINDS)).faults != a.faults
    assert {f.kind for f in a.faults} >= {"kill", "partition", "delay"}  # several kinds over a minute


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    duration=st.floats(2, 600),
    kinds=st.lists(st.sampled_from(nemesis.KINDS), min_size=1, unique=True),
)
def test_every_schedule_keeps_the_rules(seed: int, duration: float, kinds: list[str]) -> None:
    s = nemesis.generate(seed, DCS, duration, kinds)
    for f in s.faults:
        assert f.kind in kinds and 0 <= f.start < f.end <= duration
        at_once = [g for g in s.faults if g.start <= f.start < g.end]
        assert len(at_once) <= nemesis.MAX_AT_ONCE
        during = [g for g in s.faults if g is not f and g.start < f.end and f.start < g.end]
        for g in during:
            if f.kind in nemesis.PROCESS and g.kind in nemesis.PROCESS:
                assert f.target != g.target and "leader" not in (f.target, g.target)
            assert not (f.kind == g.kind == "kms")
    assert nemesis.generate(seed, DCS, duration, kinds) == s
    with tempfile.TemporaryDirectory() as tmp:  # and a replay takes it as it is: it keeps the rules a replay checks
        nemesis.save(s, Path(tmp) / "schedule.json")
        assert nemesis.load(Path(tmp) / "schedule.json", DCS, WORKLOADS) == s


def test_a_schedule_prints_one_line_per_fault_and_round_trips_through_its_file(tmp_path: Path) -> None:
    s = nemesis.generate(7, DCS, 30, ["kill", "one-way", "loss", "bridge"])
    lines = s.text().splitlines()
    assert lines[0] == "schedule (seed 7, 30s, faults: kill, one-way, loss, bridge):"
    assert len(lines) == 1 + len(s.faults)
    nemesis.save(s, tmp_path / "schedule.json")
    assert nemesis.load(tmp_path / "schedule.json", list(reversed(DCS)), WORKLOADS) == s


def _f(kind: str, **fields: object) -> dict[str, object]:
    return {"kind": kind, "start": 1.0, "end": 2.0, **fields}


def _schedule(**fields: object) -> str:
    base = {"version": 1, "seed": 1, "duration": 5, "datacenters": DCS, "kinds": list(nemesis.KINDS), "faults": []}
    return json.dumps({**base, **fields})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"{", "not JSON"),
        (b'{"version": 9}', "not a schedule multidc wrote \\(version 9, expected 1\\)"),
        (b'{"version": 1, "duration": 5}', "not a schedule multidc wrote"),
        (
            json.dumps(
                {"version": 1, "seed": 1, "duration": 5, "datacenters": ["a", "b"], "kinds": ["kill"], "faults": []}
            ),
            "the schedule is for datacenters a, b, this environment has primary, secondary, tertiary",
        ),
        (
            json.dumps(
                {
                    "version": 1,
                    "seed": 1,
                    "duration": 5,
                    "datacenters": DCS,
                    "kinds": ["kill"],
                    "faults": [{"kind": "kill", "start": 1, "end": 9, "target": "primary"}],
                }
            ),
            "fault 1 \\(kill at 1s\\): its times 1-9 s are not a window inside the 5 s run",
        ),
        (_schedule(faults=[{"kind": "kill", "start": 1, "end": 2, "target": "../../etc"}]), "is not a DC"),
        (_schedule(seed="/../../tmp/escaped"), "seed '/../../tmp/escaped' is not a non-negative integer"),
        (_schedule(seed=-1), "seed -1 is not a non-negative integer"),
        (_schedule(kinds=["nuke"]), "kinds \\['nuke'\\] are not among"),
        (_schedule(duration=1e9), "duration 1e\\+09 s is outside 2-3600"),
        (
            _schedule(faults=[{"kind": "kill", "start": "x", "end": 2, "target": "primary"}]),
            "start 'x' is not a number",
        ),
        (_schedule(faults=[_f("loss", target="primary", peer="secondary", loss=150)]), "loss 150% is out of range"),
        (_schedule(faults=[_f("delay", target="primary", peer="kms", ms=10, jitter=50)]), "delay 10 ms ± 50 ms"),
        (_schedule(faults=[_f("delay", target="primary", peer="primary", ms=10)]), "not two different places"),
        (_schedule(faults=[_f("pause", target="kms")]), "target 'kms' is not a DC of this environment"),
        (_schedule(faults=[_f("bridge", target="kms")]), "bridge via 'kms' needs a DC"),
        (_schedule(faults=[_f("partition", target="primary,primary")]), "is not a proper group"),
        (
            _schedule(faults=[_f("pause", target="primary"), {**_f("pause", target="primary"), "start": 1.2}]),
            "fault 2 .* breaks the schedule's rules",
        ),
        (_schedule(faults=[{**_f("kill", target="primary"), "ms": True}]), "True is not a whole number"),
    ],
)
def test_a_schedule_that_cannot_run_is_one_line(tmp_path: Path, content: bytes | str, message: str) -> None:
    path = tmp_path / "schedule.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ScheduleError, match=message) as err:
        nemesis.load(path, DCS, WORKLOADS)
    assert "\n" not in str(err.value) and err.value.exit_code == 2
    with pytest.raises(ScheduleError, match="cannot read it"):
        nemesis.load(tmp_path / "missing.json", DCS, WORKLOADS)


def test_bad_fault_kinds_and_topologies_are_refused() -> None:
    assert nemesis.kinds_of("kill, pause,kill") == ["kill", "pause"]
    with pytest.raises(ScheduleError, match="--faults: unknown meteor; choose from kill,pause"):
        nemesis.kinds_of("kill,meteor")
    with pytest.raises(ScheduleError, match="bridge needs 3 or more datacenters; this environment has 2"):
        nemesis.generate(1, ["a", "b"], 10, ["bridge"])


class Recording(Interpreter):
    """A provider's fault verbs, recorded; `apply`/`undo` are the one interpreter every provider has."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        def call(*args: object, **kw: object) -> str:
            words = [*map(str, args), *(f"{k}={v}" for k, v in kw.items())]
            self.calls.append(f"{name} {' '.join(words)}".strip())
            return f"did {name}"

        return call


def nemesis_over(faults: Recording) -> Nemesis:
    return Nemesis(None, faults, Recorder(), None)  # type: ignore[arg-type]


def test_ending_a_cut_heals_and_sets_again_the_network_faults_still_in_force() -> None:
    faults = Recording()
    n = nemesis_over(faults)
    cut = Fault("one-way", 1, 3, "primary", "secondary")
    others = [(Fault("delay", 2, 5, "kms", "tertiary", ms=50, jitter=10), "kms"), (Fault("kill", 2, 4, "leader"), "x")]
    _end(n, cut, "primary", others)
    assert faults.calls == ["heal", "delay kms tertiary 50 10"]  # the killed server stays killed
    faults.calls.clear()
    _end(n, Fault("kill", 1, 2, "leader"), "secondary", [])
    _end(n, Fault("loss", 1, 2, "kms", "primary", loss=5), "kms", [])
    assert faults.calls == ["start secondary wait=False", "loss kms primary 0"]


def test_each_fault_is_in_the_history_as_jepsen_writes_the_nemesis_ops() -> None:
    n = nemesis_over(Recording())
    n.fault(Fault("partition", target="primary,kms"))
    n.fault(Fault("partition", target="primary,kms"), undo=True)
    assert [(e["process"], e["type"], e["f"]) for e in n.ops] == [
        ("nemesis", "invoke", "start-partition"),
        ("nemesis", "info", "start-partition"),
        ("nemesis", "invoke", "stop-partition"),
        ("nemesis", "info", "stop-partition"),
    ]
    assert n.ops[0]["value"] == {"kind": "partition", "target": "primary,kms"} and n.ops[1]["value"] == "did partition"


def test_an_unknown_fault_kind_is_an_error_never_the_kms_going_down() -> None:
    faults = Recording()
    n = nemesis_over(faults)
    run_schedule(n, Schedule(1, 2.0, DCS, ["meteor"], [Fault("meteor", 0.0, 0.5, "primary")]))
    assert faults.calls == []  # before: `kms_down` (an unknown kind fell through to the KMS going down)
    assert n.problems == [
        "at 0.00s, meteor primary: unknown fault kind 'meteor'; choose from kill, stop, pause, "
        "partition, one-way, bridge, delay, loss, kms"
    ]
    assert [e["type"] for e in n.ops] == ["invoke", "info"] and "unknown fault kind" in str(n.ops[1]["error"])


def test_schedules_of_the_cli_are_checked_before_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from multidc.cli import cli

    runner = CliRunner()
    out = runner.invoke(cli, ["verify", "--seed", "3", "--name", "nosuch"])
    assert out.exit_code == 2 and "--seed goes with --nemesis random" in out.output
    out = runner.invoke(cli, ["verify", "--nemesis", "random", "--scenario", "leader-kill", "--name", "nosuch"])
    assert out.exit_code == 2 and "does not go with --nemesis random" in out.output
    out = runner.invoke(cli, ["verify", "--nemesis", "random", "--faults", "kill,quake", "--name", "nosuch"])
    assert out.exit_code == 2 and "--faults: unknown quake" in out.output
    out = runner.invoke(cli, ["verify", "--replay", str(tmp_path / "s.json"), "--duration", "5", "--name", "nosuch"])
    assert out.exit_code == 2 and "leave out --duration and --nemesis" in out.output
    out = runner.invoke(cli, ["verify", "--report", "/proc/nowhere/r", "--name", "nosuch"])
    assert out.exit_code == 2 and "--report /proc/nowhere/r: cannot write there" in out.output
    out = runner.invoke(cli, ["verify", "--workload", "set,quake", "--name", "nosuch"])
    assert out.exit_code == 2 and "--workload: unknown quake" in out.output
    assert isinstance(Schedule(1, 1, DCS, []).text(), str)


def _faults(count: int, every: float, lasting: float, first: float = 1.0) -> list[dict[str, object]]:
    """`count` kills, one every `every` s from `first`, each `lasting` s, on the DCs in turn."""
    return [
        {
            "kind": "kill",
            "start": round(first + i * every, 3),
            "end": round(first + i * every + lasting, 3),
            "target": DCS[i % 3],
        }
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # what the README promises of a generated schedule: faults 1.5-5 s long (scaled down under 20 s), 0.5 s apart
        (_schedule(duration=600, faults=_faults(5000, 0.1, 0.01)), "fault 1 .*it lasts 0.010 s; in a 600 s run a"),
        (_schedule(duration=60, faults=_faults(1, 1, 6)), "fault 1 .*it lasts 6.000 s; .* lasts 1.5-5 s"),
        (_schedule(duration=60, faults=_faults(2, 0.2, 2)), "fault 2 .*starts 0.200 s after fault 1; .* 0.5 s apart"),
        (_schedule(duration=60, faults=_faults(1, 1, 2, first=0.1)), "fault 1 .*starts 0.100 s after the run's start"),
        (_schedule(duration=60, faults=_faults(2, -2, 2, first=9)), "fault 2 .*starts -2.000 s after fault 1"),
        (_schedule(duration=600, faults=_faults(10_001, 0.05, 0.01)), "faults is not a list of at most 10,000"),
        (_schedule(workloads=["../x"]), "workloads '../x': name each once, from register,"),
        (_schedule(workloads=[]), "workloads \\(none\\): name each once"),
        (_schedule(workloads=["set", "set"]), "workloads 'set','set': name each once"),
        ("[" * 100_000, "not JSON \\(nested too deeply\\)"),
        ('{"a": ' * 100_000, "not JSON \\(nested too deeply\\)"),
        ("{:faults " + "[" * 100_000, "not JSON"),
    ],
)
def test_a_replay_that_breaks_the_rules_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(content)
    with pytest.raises(ScheduleError, match=message) as err:
        nemesis.load(path, DCS, WORKLOADS)
    assert "\n" not in str(err.value) and err.value.exit_code == 2


def test_a_huge_schedule_file_is_refused_unread(tmp_path: Path) -> None:
    sparse = tmp_path / "schedule.json"
    with open(sparse, "wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB that takes no disk
    with pytest.raises(ScheduleError, match="larger than 4 MiB"):
        nemesis.load(sparse, DCS, WORKLOADS)


def test_a_long_schedule_is_checked_fault_by_fault_against_those_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(_schedule(duration=3600, faults=_faults(3000, 1, 1.5)))  # two at once from start to end
    compared = []
    overlap = nemesis._overlap
    monkeypatch.setattr(nemesis, "_overlap", lambda a, b: compared.append(1) or overlap(a, b))
    assert len(nemesis.load(path, DCS, WORKLOADS).faults) == 3000
    assert len(compared) < 10 * 3000  # each against the few still in force, not every earlier one (4.5 million)
