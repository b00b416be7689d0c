"""The checker on small hand-written histories, and on random histories that are linearizable by construction."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multidc import checker
from multidc.history import HistoryError, Operation, pair, parse_line


def h(*events: tuple[int, str, str, Any, float], key: str = "k") -> list[Operation]:
    """Events as (process, type, f, value, time)."""
    return pair([{"process": p, "type": t, "f": f, "key": key, "value": v, "time": tm} for p, t, f, v, tm in events])


def test_sequential_history_is_valid() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1), (1, "invoke", "read", None, 2), (1, "ok", "read", 1, 3)
    )
    verdict = checker.check(ops)
    assert verdict.valid and verdict.stale_reads == [] and verdict.lost_writes == []


def test_stale_read_is_invalid_and_named() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0),
        (0, "ok", "write", 1, 1),
        (0, "invoke", "write", 2, 2),
        (0, "ok", "write", 2, 3),
        (1, "invoke", "read", None, 4),
        (1, "ok", "read", 1, 5),
    )
    verdict = checker.check(ops)
    assert not verdict.valid
    assert [o.describe() for o in verdict.stale_reads] == ["p1 read k -> 1 [ok] (4.000..5.000)"]
    witness = verdict.keys["k"].witness
    assert {o.f for o in witness} == {"write", "read"} and len(witness) == 3  # write 1, write 2, the stale read


def test_concurrent_overlap_allows_either_order() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0),
        (1, "invoke", "read", None, 0.5),
        (1, "ok", "read", 1, 0.6),
        (0, "ok", "write", 1, 2),
        (2, "invoke", "read", None, 0.1),
        (2, "ok", "read", None, 0.7),
    )
    assert checker.check(ops).valid


def test_read_of_a_value_never_written_is_invalid() -> None:
    ops = h((0, "invoke", "read", None, 0), (0, "ok", "read", 7, 1))
    assert not checker.check(ops).valid


def test_info_write_may_take_effect_late_or_never() -> None:
    late = h(
        (0, "invoke", "write", 1, 0),
        (0, "info", "write", 1, 1),
        (1, "invoke", "read", None, 2),
        (1, "ok", "read", None, 3),
        (1, "invoke", "read", None, 4),
        (1, "ok", "read", 1, 5),
    )
    assert checker.check(late).valid
    never = h(
        (0, "invoke", "write", 1, 0),
        (0, "info", "write", 1, 1),
        (1, "invoke", "read", None, 2),
        (1, "ok", "read", None, 3),
    )
    assert checker.check(never).valid
    # but once seen, it cannot be un-seen
    flip = h(
        (0, "invoke", "write", 1, 0),
        (0, "info", "write", 1, 1),
        (1, "invoke", "read", None, 2),
        (1, "ok", "read", 1, 3),
        (1, "invoke", "read", None, 4),
        (1, "ok", "read", None, 5),
    )
    assert not checker.check(flip).valid


def test_failed_write_took_no_effect() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0),
        (0, "fail", "write", 1, 1),
        (1, "invoke", "read", None, 2),
        (1, "ok", "read", 1, 3),
    )
    assert not checker.check(ops).valid


def test_cas_semantics() -> None:
    good = h(
        (0, "invoke", "write", 1, 0),
        (0, "ok", "write", 1, 1),
        (1, "invoke", "cas", [1, 2], 2),
        (1, "ok", "cas", [1, 2], 3),
        (2, "invoke", "cas", [1, 3], 4),
        (2, "fail", "cas", [1, 3], 5),
        (0, "invoke", "read", None, 6),
        (0, "ok", "read", 2, 7),
    )
    assert checker.check(good).valid
    bad = h(
        (0, "invoke", "write", 1, 0),
        (0, "ok", "write", 1, 1),
        (1, "invoke", "cas", [5, 2], 2),
        (1, "ok", "cas", [5, 2], 3),
    )
    assert not checker.check(bad).valid
    # two concurrent cas from the same expected value cannot both succeed
    both = h(
        (0, "invoke", "write", 1, 0),
        (0, "ok", "write", 1, 1),
        (1, "invoke", "cas", [1, 2], 2),
        (2, "invoke", "cas", [1, 3], 2),
        (1, "ok", "cas", [1, 2], 3),
        (2, "ok", "cas", [1, 3], 3),
    )
    assert not checker.check(both).valid


def test_lost_write() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0),
        (0, "ok", "write", 1, 1),
        (0, "invoke", "write", 2, 2),
        (0, "ok", "write", 2, 3),
        (1, "invoke", "read", None, 10),
        (1, "ok", "read", 1, 11),
    )
    verdict = checker.check(ops)
    assert [o.value for o in verdict.lost_writes] == [2]


def test_keys_are_independent() -> None:
    a = h((0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1), key="a")
    b = h((1, "invoke", "read", None, 0), (1, "ok", "read", 1, 1), key="b")
    verdict = checker.check(
        a + [Operation(o.id + 10, o.process, o.f, o.key, o.value, o.status, o.call, o.ret) for o in b]
    )
    assert verdict.keys["a"].valid and not verdict.keys["b"].valid and not verdict.valid


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 1: not JSON"),
        ('{"process": 1, "type": "go", "f": "read", "key": "k", "time": 1}', "type 'go' is not one of"),
        ('{"process": 1, "type": "invoke", "f": "cas", "key": "k", "value": 3, "time": 1}', "[expected, new]"),
        ('{"process": 1, "type": "invoke", "f": "read", "key": "k"}', "missing 'time'"),
    ],
)
def test_malformed_lines(line: str, message: str) -> None:
    with pytest.raises(HistoryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_line(line, 1)


def test_two_outstanding_operations_of_one_process_are_rejected() -> None:
    with pytest.raises(HistoryError, match="still outstanding"):
        pair(
            [
                {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 0},
                {"process": 1, "type": "invoke", "f": "read", "key": "k", "time": 1},
            ]
        )


def simulate(seed: int, processes: int, steps: int) -> list[Operation]:
    return pair(simulate_events(seed, processes, steps))


def simulate_events(
    seed: int,
    processes: int,
    steps: int | None = None,
    *,
    keys: Sequence[str] = ("k",),
    unknown: float = 0.25,
    operations: int | None = None,
) -> list[dict[str, Any]]:
    """A random concurrent history that is linearizable by construction: each op takes effect at one instant inside
    its [call, return] window, applied to a real register per key in that order.

    `processes` clients each run one operation at a time on a key drawn from `keys`; a fraction `unknown` of the
    outcomes is unknown (`info`; half of those took effect, half never did), and, as in Jepsen, the client then goes on
    as a new process (p + processes), never reusing the old one. The history stops after `steps` scheduler steps
    (operations still running stay open) or, with `operations`, once that many operations have been called and have
    all completed.
    """
    rng = random.Random(seed)
    register: dict[str, Any] = dict.fromkeys(keys)
    clock = 0.0
    ident = list(range(processes))  # client slot -> its current process number
    busy: dict[int, tuple[str, str, Any, float]] = {}  # slot -> (key, f, value, call)
    events: list[dict[str, Any]] = []
    pending: list[tuple[float, int, str, str, Any]] = []  # (effect time, slot, key, f, value)
    next_value = 1
    called = 0
    step = 0
    while (steps is None or step < steps) and (operations is None or called < operations or busy):
        step += 1
        clock += rng.random()
        slot = rng.randrange(processes)
        if slot not in busy and (operations is None or called < operations):
            key = keys[0] if len(keys) == 1 else rng.choice(keys)
            f = rng.choice(["read", "write", "cas"])
            if f == "write":
                value: Any = next_value
                next_value += 1
            elif f == "cas":
                value = [rng.choice([register[key], next_value - 1, None]), next_value]
                next_value += 1
            else:
                value = None
            effect = clock + rng.random() * 3
            busy[slot] = (key, f, value, clock)
            called += 1
            events.append({"process": ident[slot], "type": "invoke", "f": f, "key": key, "value": value, "time": clock})
            pending.append((effect, slot, key, f, value))
        # apply effects whose time has come, in effect order
        pending.sort()
        while pending and pending[0][0] <= clock:
            effect, q, key, f, value = pending.pop(0)
            call = busy[q][3]
            kind = "info" if rng.random() < unknown else "ok"
            applied = kind == "ok" or rng.random() < 0.5  # an unknown outcome may or may not have taken effect
            if f == "read":
                result, outcome = register[key], kind
            elif f == "write":
                result, outcome = value, kind
                if applied:
                    register[key] = value
            elif register[key] == value[0]:
                result, outcome = value, kind
                if applied:
                    register[key] = value[1]
            else:
                result, outcome = value, "fail"
            done = max(clock, effect) + rng.random()
            clock = done
            events.append(
                {
                    "process": ident[q],
                    "type": outcome,
                    "f": f,
                    "key": key,
                    "value": result if f == "read" else value,
                    "time": done,
                }
            )
            del busy[q]
            if outcome == "info":
                ident[q] += processes
            assert call <= effect <= done
    return events


@given(
    seed=st.integers(0, 10**6),
    processes=st.integers(1, 6),
    steps=st.integers(1, 120),
    keys=st.sampled_from([("k",), ("a", "b", "c")]),
    unknown=st.sampled_from([0.0, 0.05, 0.25, 0.6]),
)
@settings(max_examples=150, deadline=None)
def test_random_linearizable_histories_are_never_flagged(
    seed: int, processes: int, steps: int, keys: tuple[str, ...], unknown: float
) -> None:
    ops = pair(simulate_events(seed, processes, steps, keys=keys, unknown=unknown))
    verdict = checker.check(ops)
    assert verdict.valid, [o.describe() for o in ops]
    assert verdict.stale_reads == [] and verdict.lost_writes == []


def test_the_simulator_can_stop_at_a_number_of_operations_with_every_one_completed() -> None:
    events = simulate_events(3, 6, keys=("a", "b", "c"), unknown=0.05, operations=500)
    ops = pair(events)
    assert len(ops) == 500 and len(events) == 1000 and {o.key for o in ops} == {"a", "b", "c"}
    crashed = [o for o in ops if o.status == "info"]
    assert crashed and not [o for o in ops for c in crashed if o.process == c.process and o.call > c.call]
    assert checker.check(ops).valid


def test_a_stale_read_of_a_clients_own_past_is_told_apart_from_another_clients() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0),
        (0, "ok", "write", 1, 1),
        (0, "invoke", "write", 2, 2),
        (0, "ok", "write", 2, 3),
        (1, "invoke", "read", None, 4),  # p1 never saw 2: stale, but not of its own past
        (1, "ok", "read", 1, 5),
        (0, "invoke", "read", None, 6),  # p0 wrote 2 itself, then reads 1: read-your-writes broken
        (0, "ok", "read", 1, 7),
        (1, "invoke", "read", None, 8),
        (1, "ok", "read", 2, 9),
        (1, "invoke", "read", None, 10),  # p1 has read 2, then reads 1: monotonic reads broken
        (1, "ok", "read", 1, 11),
    )
    verdict = checker.check(ops)
    assert len(verdict.stale_reads) == 3
    assert [o.describe() for o in verdict.own_stale_reads] == [
        "p0 read k -> 1 [ok] (6.000..7.000)",
        "p1 read k -> 1 [ok] (10.000..11.000)",
    ]


def test_a_value_whose_write_overlapped_is_not_called_older() -> None:
    ops = h(
        (0, "invoke", "write", 1, 0),
        (1, "invoke", "write", 2, 1),
        (0, "ok", "write", 1, 2),  # both writes overlap: either order is possible
        (1, "ok", "write", 2, 3),
        (0, "invoke", "read", None, 4),
        (0, "ok", "read", 2, 5),
        (1, "invoke", "read", None, 6),
        (1, "ok", "read", 2, 7),
    )
    assert checker.check(ops).own_stale_reads == []
