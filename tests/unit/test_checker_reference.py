"""The checker against references it cannot share a bug with: a brute-force linearizability search, and the original
quadratic stale-read rule, on small generated histories, valid and invalid (ties, unknown outcomes, failures,
repeated values). Hypothesis draws the operations themselves, so a failing case shrinks to a small one."""

from __future__ import annotations

import math
from itertools import combinations, permutations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from multidc import checker
from multidc.checker import register as reg
from multidc.checker.model import STEP
from multidc.history import Operation

VALUES = st.sampled_from([0, 1, 2])


@st.composite
def histories(draw: st.DrawFn, max_ops: int = 6, unique: bool = False) -> list[Operation]:
    n = draw(st.integers(1, max_ops))
    ops = []
    fresh = iter(range(100, 1000))
    for i in range(n):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        status = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        call = float(draw(st.integers(0, 8)))
        ret = math.inf if status == "info" else call + draw(st.integers(0, 4))
        if f == "read":
            value: Any = draw(st.one_of(st.none(), VALUES))
            status = "ok" if status == "info" else status
            ret = call + 1 if math.isinf(ret) else ret
        elif f == "write":
            value = next(fresh) if unique else draw(VALUES)
        else:
            value = [draw(st.one_of(st.none(), VALUES)), next(fresh) if unique else draw(VALUES)]
        ops.append(Operation(i, i, f, "k", value, status, call, ret))  # type: ignore[arg-type]
    return ops


def step(state: Any, op: Operation) -> tuple[bool, Any]:
    """The register, written out on its own (values here are plain numbers and None)."""
    if op.f == "read":
        return op.value == state, state
    if op.f == "write":
        return True, op.value
    expected, new = op.value
    return expected == state, new


def brute_force(ops: list[Operation], initial: Any = None) -> bool:
    """Some subset of the unknown-outcome operations plus every completed one, in some order that respects real time
    (a before b when a returned before b was called), is a legal register history."""
    ops = [o for o in ops if o.status != "fail" and not (o.f == "read" and o.status != "ok")]
    must = [o for o in ops if o.status == "ok"]
    maybe = [o for o in ops if o.status == "info"]
    for k in range(len(maybe) + 1):
        for extra in combinations(maybe, k):
            chosen = must + list(extra)
            for order in permutations(chosen):
                at = {o.id: i for i, o in enumerate(order)}
                if any(a.ret < b.call and at[a.id] > at[b.id] for a in chosen for b in chosen):
                    continue
                state, legal = initial, True
                for o in order:
                    allowed, state = step(state, o)
                    if not allowed:
                        legal = False
                        break
                if legal:
                    return True
    return False


@given(histories())
@settings(max_examples=400, deadline=None)
def test_linearizable_agrees_with_brute_force(ops: list[Operation]) -> None:
    assert checker.linearizable(ops)[0] == brute_force(ops)


class SteppedRegister(reg.Register):
    """The register on the seam's general path: every operation asks step (no table of guarded assignments), and the
    memo sees states through `key`."""

    def table(self, ops: list[Operation]) -> tuple[list[Operation], list[int], list[Any], list[Any]]:
        kept = [o for o in ops if o.status != "fail" and not (o.f == "read" and o.status != "ok")]
        return kept, [STEP] * len(kept), [None] * len(kept), [None] * len(kept)

    def key(self, state: Any) -> Any:
        return ("state", state)


@given(histories(max_ops=7))
@settings(max_examples=400, deadline=None)
def test_the_register_through_step_gives_the_tables_and_the_brute_force_verdicts(ops: list[Operation]) -> None:
    expected = brute_force(ops)
    assert checker.linearizable(ops, SteppedRegister())[0] == expected
    assert checker.linearizable(ops)[0] == expected
    if not expected:  # the witness, found through step alone, is no more linearizable by the brute force
        assert not brute_force(checker.minimise(ops, SteppedRegister()))


@given(histories())
@settings(max_examples=300, deadline=None)
def test_every_witness_is_self_contained_not_linearizable_and_1_minimal(ops: list[Operation]) -> None:
    if brute_force(ops):
        return
    witness = checker.minimise(ops)
    assert witness, "a non-linearizable history must have a witness"
    assert not brute_force(witness)
    written = set(reg._writers([o for o in ops if o.status != "fail"]))  # a failed write wrote nothing
    for o in witness:  # every value read or expected that the history wrote is written inside the witness
        need = o.value if o.f == "read" else (o.value[0] if o.f == "cas" else None)
        if o.f != "write" and reg._hashable(need) in written and need is not None:
            assert reg._writers(witness).get(reg._hashable(need)), (
                o.describe(),
                [w.describe() for w in witness],
            )
    for o in witness:
        assert brute_force(reg._without(witness, {o.id})), f"dropping {o.describe()} keeps it non-linearizable"


def quadratic_stale_reads(ops: list[Operation], initial: Any = None) -> list[Operation]:
    """The original rule (unique values): a read whose value's write ended before another acknowledged write that
    began after it and ended before the read began."""
    acked = [o for o in ops if o.status == "ok" and o.f in ("write", "cas")]
    writers = reg._writers([o for o in ops if o.f in ("write", "cas") and o.status != "fail"])
    found = []
    for r in ops:
        if r.f != "read" or r.status != "ok":
            continue
        sources = writers.get(reg._hashable(r.value), [])
        end = min((w.ret for w in sources), default=-math.inf if r.value == initial else None)
        if end is None:
            continue
        new = reg._new
        if any(w.call > end and w.ret < r.call and new(w) != r.value for w in acked):
            found.append(r)
    return found


@given(histories(max_ops=12, unique=True))
@settings(max_examples=400, deadline=None)
def test_stale_reads_match_the_quadratic_rule_when_values_are_unique(ops: list[Operation]) -> None:
    assert [o.id for o in checker.stale_reads(ops)] == [o.id for o in quadratic_stale_reads(ops)]


def op(i: int, f: str, value: Any, call: float, ret: float, status: str = "ok") -> Operation:
    return Operation(i, i, f, "k", value, status, call, ret)  # type: ignore[arg-type]


def test_a_repeated_value_read_from_its_latest_write_is_not_stale() -> None:
    ops = [op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3), op(2, "write", 1, 4, 5), op(3, "read", 1, 6, 7)]
    assert checker.stale_reads(ops) == [] and checker.check(ops).valid
    # ... while the same read after a write of another value is stale, whichever write of 1 it came from
    ops.append(op(4, "write", 3, 8, 9))
    ops.append(op(5, "read", 1, 10, 11))
    assert [o.id for o in checker.stale_reads(ops)] == [5]


def test_a_witness_never_leans_on_a_value_nothing_in_it_writes() -> None:
    # cas 1->2 needs write 1; a read of 2 needs that cas; dropping write 1 must take both with it
    ops = [
        op(0, "write", 1, 0, 1),
        op(1, "cas", [1, 2], 2, 3),
        op(2, "read", 2, 4, 5),
        op(3, "write", 5, 6, 7),
        op(4, "read", 2, 8, 9),  # stale: 5 was written before this read began
    ]
    witness = checker.minimise(ops)
    ids = {o.id for o in witness}
    assert 4 in ids and 3 in ids and 1 in ids and 0 in ids, [o.describe() for o in witness]
    assert not checker.linearizable(witness)[0]
