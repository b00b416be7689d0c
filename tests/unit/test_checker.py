"""The checker on small hand-written histories, and on random histories that are linearizable by construction."""

from __future__ import annotations

import random
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


def simulate_events(seed: int, processes: int, steps: int) -> list[dict[str, Any]]:
    """A random concurrent history that is linearizable by construction: each op takes effect at one instant inside
    its [call, return] window, applied to a real register in that order."""
    rng = random.Random(seed)
    register: Any = None
    clock = 0.0
    busy: dict[int, tuple[str, Any, float, float]] = {}  # process -> (f, value, call, effect time)
    events: list[dict[str, Any]] = []
    pending: list[tuple[float, int, str, Any]] = []  # (effect time, process, f, value)
    next_value = 1
    for _ in range(steps):
        clock += rng.random()
        p = rng.randrange(processes)
        if p not in busy:
            f = rng.choice(["read", "write", "cas"])
            if f == "write":
                value: Any = next_value
                next_value += 1
            elif f == "cas":
                value = [rng.choice([register, next_value - 1, None]), next_value]
                next_value += 1
            else:
                value = None
            effect = clock + rng.random() * 3
            busy[p] = (f, value, clock, effect)
            events.append({"process": p, "type": "invoke", "f": f, "key": "k", "value": value, "time": clock})
            pending.append((effect, p, f, value))
        # apply effects whose time has come, in effect order
        pending.sort()
        while pending and pending[0][0] <= clock:
            effect, q, f, value = pending.pop(0)
            call = busy[q][2]
            kind = rng.choice(["ok", "ok", "ok", "info"])
            if f == "read":
                result, outcome = register, "ok" if kind == "ok" else "info"
            elif f == "write":
                register, result, outcome = value, value, kind
            else:
                if register == value[0]:
                    register, result, outcome = value[1], value, kind
                else:
                    result, outcome = value, "fail"
            done = max(clock, effect) + rng.random()
            clock = done
            events.append(
                {
                    "process": q,
                    "type": outcome,
                    "f": f,
                    "key": "k",
                    "value": result if f == "read" else value,
                    "time": done,
                }
            )
            del busy[q]
            assert call <= effect <= done
    return events


@given(seed=st.integers(0, 10**6), processes=st.integers(1, 6), steps=st.integers(1, 120))
@settings(max_examples=150, deadline=None)
def test_random_linearizable_histories_are_never_flagged(seed: int, processes: int, steps: int) -> None:
    ops = simulate(seed, processes, steps)
    verdict = checker.check(ops)
    assert verdict.valid, [o.describe() for o in ops]
    assert verdict.stale_reads == []


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
