"""Random fault schedules: the same seed gives the same schedule, the rules that keep one runnable hold, a saved one
loads back (or is refused in one line), and the run ends each fault without ending the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multidc.verify import nemesis
from multidc.verify.nemesis import Fault, Schedule, ScheduleError
from multidc.verify.run import _end

DCS = ["primary", "secondary", "tertiary"]


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


def test_a_schedule_prints_one_line_per_fault_and_round_trips_through_its_file(tmp_path: Path) -> None:
    s = nemesis.generate(7, DCS, 30, ["kill", "one-way", "loss", "bridge"])
    lines = s.text().splitlines()
    assert lines[0] == "schedule (seed 7, 30s, faults: kill, one-way, loss, bridge):"
    assert len(lines) == 1 + len(s.faults)
    nemesis.save(s, tmp_path / "schedule.json")
    assert nemesis.load(tmp_path / "schedule.json", list(reversed(DCS))) == s


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
        (_schedule(faults=[_f("pause", target="primary")] * 3), "fault 2 .* breaks the schedule's rules"),
        (_schedule(faults=[{**_f("kill", target="primary"), "ms": True}]), "True is not a whole number"),
    ],
)
def test_a_schedule_that_cannot_run_is_one_line(tmp_path: Path, content: bytes | str, message: str) -> None:
    path = tmp_path / "schedule.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ScheduleError, match=message) as err:
        nemesis.load(path, DCS)
    assert "\n" not in str(err.value) and err.value.exit_code == 2
    with pytest.raises(ScheduleError, match="cannot read it"):
        nemesis.load(tmp_path / "missing.json", DCS)


def test_bad_fault_kinds_and_topologies_are_refused() -> None:
    assert nemesis.kinds_of("kill, pause,kill") == ["kill", "pause"]
    with pytest.raises(ScheduleError, match="--faults: unknown meteor; choose from kill,pause"):
        nemesis.kinds_of("kill,meteor")
    with pytest.raises(ScheduleError, match="bridge needs 3 or more datacenters; this environment has 2"):
        nemesis.generate(1, ["a", "b"], 10, ["bridge"])


class Recording:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        def call(*args: object, **kw: object) -> None:
            words = [*map(str, args), *(f"{k}={v}" for k, v in kw.items())]
            self.calls.append(f"{name} {' '.join(words)}".strip())

        return call


def test_ending_a_cut_heals_and_sets_again_the_network_faults_still_in_force() -> None:
    faults = Recording()
    cut = Fault("one-way", 1, 3, "primary", "secondary")
    others = [(Fault("delay", 2, 5, "kms", "tertiary", ms=50, jitter=10), "kms"), (Fault("kill", 2, 4, "leader"), "x")]
    _end(faults, cut, "primary", others)  # type: ignore[arg-type]
    assert faults.calls == ["heal", "delay kms tertiary 50 10"]  # the killed server stays killed
    faults.calls.clear()
    _end(faults, Fault("kill", 1, 2, "leader"), "secondary", [])  # type: ignore[arg-type]
    _end(faults, Fault("loss", 1, 2, "kms", "primary", loss=5), "kms", [])  # type: ignore[arg-type]
    assert faults.calls == ["start secondary wait=False", "loss kms primary 0"]


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
