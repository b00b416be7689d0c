"""The checker interface as a user meets it: a model of one's own on the seam (a toy counter and a FIFO queue),
`multidc check --model` for every workload's history, and `verify` judging exactly the workloads it ran."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from multidc import checker
from multidc.checker import Model, check
from multidc.cli import cli
from multidc.cli.judge import MODELS
from multidc.history import Operation, dump, pair
from multidc.verify.report import ScenarioResult
from multidc.verify.run import judge
from multidc.verify.workloads import check_set
from tests.unit.test_invariants import set_history


class Counter(Model):
    """add n (any outcome), read (returns the total)."""

    name = "counter"

    def init(self) -> int:
        return 0

    def step(self, state: int, op: Operation) -> tuple[bool, int]:
        if op.f == "add":
            return True, state + op.value
        return op.status == "info" or op.output == state, state


class Queue(Model):
    """enqueue x; dequeue returns the oldest element (None when empty). The state is a tuple, hashable as it is."""

    name = "queue"

    def init(self) -> tuple[Any, ...]:
        return ()

    def step(self, state: tuple[Any, ...], op: Operation) -> tuple[bool, tuple[Any, ...]]:
        if op.f == "enqueue":
            return True, (*state, op.value)
        if op.status == "info":  # its answer is unknown: it took the head, or nothing if it never happened
            return True, state[1:]
        head = state[0] if state else None
        return op.output == head, state[1:]


def ops_of(*rows: tuple[int, str, Any, Any, float, float], key: str = "k") -> list[Operation]:
    """(process, f, asked, answered, call, ret): ret None means the outcome is unknown."""
    events: list[dict[str, Any]] = []
    for p, f, asked, answered, call, ret in rows:
        events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": asked, "time": call})
        if ret is not None:
            events.append({"process": p, "type": "ok", "f": f, "key": key, "value": answered, "time": ret})
    return pair(sorted(events, key=lambda e: e["time"]))


def test_a_counter_model_checks_concurrent_adds_and_names_an_impossible_read() -> None:
    good = ops_of(
        (0, "add", 1, 1, 0, 2), (1, "add", 2, 2, 1, 3), (2, "read", None, 1, 1.5, 4), (2, "read", None, 3, 5, 6)
    )
    verdict = check(good, Counter())
    assert verdict.valid and verdict.model == "counter"
    bad = ops_of((0, "add", 1, 1, 0, 1), (1, "add", 2, 2, 2, 3), (2, "read", None, 1, 4, 5))
    verdict = check(bad, Counter())
    assert not verdict.valid
    (key,) = verdict.failing()
    # 1-minimal: the read of 1 alone cannot be ordered (a model says nothing of which add a value came from)
    assert [(o.f, o.output) for o in key.witness] == [("read", 1)]
    assert verdict.found()["not linearizable"][0].startswith("key k: ")


def test_an_unknown_outcome_may_take_effect_or_not() -> None:
    ops = ops_of((0, "add", 5, None, 0, None), (1, "read", None, 0, 1, 2), (1, "read", None, 5, 3, 4))
    assert check(ops, Counter()).valid
    assert not check([*ops, *ops_of((1, "read", None, 0, 5, 6))], Counter()).valid  # took effect, then undone


def test_a_queue_model_with_tuple_states_and_keys_judged_apart() -> None:
    fifo = ops_of((0, "enqueue", "a", None, 0, 1), (0, "enqueue", "b", None, 2, 3), (1, "dequeue", None, "a", 4, 5))
    lifo = ops_of((0, "enqueue", "a", None, 0, 1), (0, "enqueue", "b", None, 2, 3), (1, "dequeue", None, "b", 4, 5))
    for o in lifo:
        object.__setattr__(o, "id", o.id + 100)
    verdict = check(
        fifo + [Operation(o.id, o.process, o.f, "q2", o.value, o.status, o.call, o.ret, o.output) for o in lifo],
        Queue(),
    )
    assert [k.key for k in verdict.failing()] == ["q2"] and verdict.keys["k"].valid


def test_a_model_without_step_says_what_to_give() -> None:
    with pytest.raises(NotImplementedError, match="step"):
        check(ops_of((0, "add", 1, 1, 0, 1)), Model())


def test_the_cli_offers_every_checker_by_name() -> None:
    assert MODELS == checker.NAMES
    assert all(checker.named(n).name == n for n in checker.NAMES)


def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.output


def test_check_model_set_judges_a_saved_set_history(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    dump(set_history({"a": [1, 2], "b": [1, 2, 4]}).events, good)
    dump(set_history({"a": [1], "b": [1, 2]}).events, bad)
    code, out = run_check(str(good), "--model", "set")
    assert code == 0 and "set: valid" in out, out
    code, out = run_check(str(bad), "--model", "set")
    assert code == 1 and "lost adds" in out and "missing through a" in out, out
    code, out = run_check(str(bad), "--model", "set", "-o", "json")
    assert code == 1 and json.loads(out)["anomalies"]["lost adds"], out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("not json\n", (), "line 1: not JSON"),
        ('{"process": 0, "type": "ok", "f": "add", "key": "a", "value": 1, "time": 0}\n', (), "without an invoke"),
        ('{"process": 0, "f": "add", "key": "a", "time": 0}\n', (), "missing 'type'"),
        ("", ("--format", "edn"), "--format goes with --model register"),
    ],
)
def test_check_model_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, content: str, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(content)
    code, out = run_check(str(path), "--model", "tokens", *args)
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out


def test_verify_judges_exactly_the_workloads_it_ran() -> None:
    # a set alone: no register verdict (its empty history proves nothing), and availability from the set's adds
    events = set_history({"a": [1, 2], "b": [1, 2]}).events
    register, changes = judge(("set",), [], {"set": (("add",), events)})
    assert register is None and changes == [0.1, 0.2]
    result = ScenarioResult(
        name="s",
        duration=3.0,
        verdict=register,
        operations=[],
        processes={},
        healthy_after_heal=True,
        workloads=["set"],
        invariants=[check_set(events)],
        changes=changes,
    )
    saved = result.to_dict()
    assert result.passed and "valid" not in saved and "stale_reads" not in saved
    assert saved["unavailability_window_s"] == 2.8  # from the last add to the end, not the whole run
    assert "linearizable" not in result.summary() and "set: valid" in result.summary()
    # the register beside it is judged, and its writes count too
    write = ops_of((0, "write", 1, None, 0.0, 0.5))
    register, changes = judge(("register", "set"), write, {"set": (("add",), events)})
    assert register is not None and register.valid and changes == [0.1, 0.2, 0.5]
    assert not math.isinf(changes[-1])
