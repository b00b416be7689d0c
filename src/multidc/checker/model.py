"""The model seam, as in Porcupine: a model is an initial state, a step (is this operation allowed in this state, and
the state after it), a hashable form of a state, and a partition of a history into independent parts (by key). The
linearizability search below runs on any model; the register (register.py) is one model on it.

The search is Wing & Gong's, with Lowe's memoisation as in Porcupine: walk the time-ordered list of call/return
entries; at a call, try to linearize that operation now (if the model allows it and the pair (set of linearized
operations, state) is new), else look further; at a return of an operation not yet linearized, backtrack. Operations
whose outcome is unknown (`info`) have no return entry: they may take effect any time after their call, or never.
Failed operations took no effect and are dropped.

Complexity: exponential in the worst case (the problem is NP-complete), but the memo bounds the work by the number of
distinct (linearized set, state) pairs reachable; each search step is O(1) plus the model's step (the set is an
incremental hash), so for histories of a few concurrent clients the work grows about linearly with the number of
operations. bench/checker.py measures it.

Pure: operations in, a verdict out.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from itertools import compress
from operator import attrgetter
from typing import Any

from ..history import Operation
from .verdict import KeyVerdict, Verdict

_CALL = attrgetter("call")
_describe = Operation.describe
_RET = attrgetter("ret")


class Undecided(RuntimeError):
    """The search exceeded its budget: neither proven nor refuted."""


# The kinds of a model's table (Model.table): what the search does at an operation's call without calling step.
READ, SET, SWAP, STEP = 0, 1, 2, 3  # state == arg: keep it; set to new; state == arg: set to new; ask model.step


class Model:
    """A sequential specification. Subclass it and give `step` (and `init` when the initial state is not None).

    step(state, op) -> (allowed, state after): whether `op` may take effect in `state`, and the state it leaves; it
    must not change `state` (return a new one). `op.f` and `op.value` say what was asked, `op.output` what came back
    (None when `op.status` is "info": the outcome is unknown, so any answer must be allowed). Failed operations never
    reach step. States must be hashable (tuples, frozensets, numbers, strings), or give `key` to make them so.
    """

    name = "model"

    def init(self) -> Any:
        return None

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        raise NotImplementedError(f"{type(self).__name__}.step: say which operations a state allows")

    def key(self, state: Any) -> Hashable:
        """The state as the search's memo compares it: two states with equal keys must allow the same futures."""
        return state  # type: ignore[no-any-return]

    def partition(self, ops: list[Operation]) -> dict[str, list[Operation]]:
        """Independent parts, each linearizable on its own exactly when the whole is: by default, per key."""
        parts: dict[str, list[Operation]] = defaultdict(list)
        for o in ops:
            parts[o.key].append(o)
        return dict(sorted(parts.items()))

    def table(self, ops: list[Operation]) -> tuple[list[Operation], list[int], list[Any], list[Any]]:
        """The operations the search must consider, each with what to do at its call: kinds (READ, SET, SWAP or STEP),
        args and news (see READ's line). A model whose steps are guarded assignments (a register) says so here and
        the search compares values instead of calling step; by default every operation asks step."""
        kept = [o for o in ops if o.status != "fail"]
        return kept, [STEP] * len(kept), [None] * len(kept), [None] * len(kept)

    # Witness hooks: a model whose operations depend on others (a read on a write of its value) keeps them together.
    def without(self, ops: list[Operation], drop: set[int]) -> list[Operation]:
        """`ops` less the operations whose ids are in `drop` (and whatever needed them)."""
        return [o for o in ops if o.id not in drop]

    def closed(self, ops: list[Operation], everything: list[Operation]) -> list[Operation]:
        """`ops` plus what in `everything` they need to mean anything on their own (by default nothing)."""
        return ops

    def check(self, ops: list[Operation]) -> Verdict:
        """Per part (key): linearizable or not, with a small witness when not."""
        keys = {key: judge_key(self, key, part) for key, part in self.partition(ops).items()}
        anomalies = {"not linearizable": unordered(keys.values())}
        counts = {"operations": len(ops)}
        return Verdict(self.name, all(k.valid for k in keys.values()), counts, anomalies, keys)


def unordered(keys: Iterable[KeyVerdict]) -> list[str]:
    """A line per key that does not linearize: its witness, or that the search gave up."""
    return [
        f"key {k.key}: "
        + ("undecided (the search exceeded its budget)" if k.undecided else "; ".join(map(_describe, k.witness)))
        for k in keys
        if not k.valid
    ]


def judge_key(model: Model, key: str, ops: list[Operation]) -> KeyVerdict:
    try:
        ok, _ = linearizable(ops, model)
    except Undecided:
        return KeyVerdict(key, False, len(ops), [], undecided=True)
    return KeyVerdict(key, ok, len(ops), [] if ok else minimise(ops, model))


def linearizable(ops: list[Operation], model: Model, budget: int = 5_000_000) -> tuple[bool, float]:
    """Whether the operations (one part) linearize on `model`; when not, the time of the return no order could get
    past. `budget` bounds the search steps; exceeding it raises Undecided rather than guessing."""
    kept, kinds, args, news = model.table(ops)
    n = len(kept)
    if n == 0:
        return True, math.inf
    step = model.step
    keyf: Callable[[Any], Hashable] | None = None if type(model).key is Model.key else model.key
    # Entries: a call per operation and a return per operation with a known outcome, numbered by their place in
    # `times` (j < n: the call of operation j; j >= n: the return of operation returning[j - n]) and sorted by time:
    # calls before returns at equal times (touching operations count as concurrent), then by operation (the sort is
    # stable over calls, then returns, each in operation order). Built with C-level passes: this is most of the work
    # when the search itself hardly backtracks.
    rets = list(map(_RET, kept))
    returning = list(compress(range(n), map(math.inf.__ne__, rets)))
    times = list(map(_CALL, kept)) + list(map(rets.__getitem__, returning))
    m = len(times)
    codes = sorted(range(m), key=times.__getitem__)
    at = list(map(times.__getitem__, codes))
    place = [0] * m  # the inverse permutation: entry j is at place[j]
    for pos, j in enumerate(codes):
        place[j] = pos
    call_at = place[:n]
    ret_at = [-1] * n
    for i, r in zip(returning, place[n:], strict=True):
        ret_at[i] = r
    nxt = list(range(1, m + 1))
    prv = list(range(-1, m - 1))
    head = 0
    returns_left = len(returning)

    # The memo key is the set of linearized operations, kept as an incremental 96-bit Zobrist hash so each step costs
    # O(1) instead of O(n) for a bitset (a false match has probability ~ steps^2 / 2^96). The memo holds the states a
    # backtrack abandoned, added when it pops them: a state on the current path can never come again (its set is
    # strictly smaller than any set reached from here), so this finds exactly what keeping every visited state would,
    # and a search that never backtracks (most of a valid history) pays nothing for it: not even the hash, which is
    # made at the first backtrack, from the operations on the path then.
    zobrist: list[int] = []
    state = model.init()
    linearized = 0
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []  # (op index, state before)
    pos = head
    steps = 0
    furthest = -math.inf
    while True:
        steps += 1
        if steps > budget:
            raise Undecided(f"linearizability search exceeded {budget} steps")
        if returns_left == 0 or pos >= m:
            # Beyond here only calls of unknown-outcome operations remain: leaving them out is allowed.
            return True, math.inf
        i = codes[pos]
        if i < n:
            kind = kinds[i]
            if kind == SET:
                new_state = news[i]
            elif kind == STEP:
                allowed, new_state = step(state, kept[i])
                if not allowed:
                    pos = nxt[pos]
                    continue
            elif args[i] == state:
                new_state = state if kind == READ else news[i]
            else:
                pos = nxt[pos]
                continue
            if zobrist:
                if (linearized ^ zobrist[i], new_state if keyf is None else keyf(new_state)) in cache:
                    pos = nxt[pos]
                    continue
                linearized ^= zobrist[i]
            stack.append((i, state))
            state = new_state
            # Unlink the call entry (it is `pos`) and the return entry, if any.
            p, q = prv[pos], nxt[pos]
            if p >= 0:
                nxt[p] = q
            else:
                head = q
            if q < m:
                prv[q] = p
            r = ret_at[i]
            if r >= 0:
                p, q = prv[r], nxt[r]
                if p >= 0:
                    nxt[p] = q
                else:
                    head = q
                if q < m:
                    prv[q] = p
                returns_left -= 1
            pos = head
            continue
        # A return entry of an operation not yet linearized: undo the last choice and try the next entry after it.
        furthest = max(furthest, at[pos])
        if not stack:
            # Every visited entry lies at or before `furthest`: the operations called by then cannot be ordered.
            return False, furthest
        if not zobrist:
            rng = random.Random(0x6D64)
            zobrist = [rng.getrandbits(96) for _ in range(n)]
            for j, _ in stack:
                linearized ^= zobrist[j]
        cache.add((linearized, state if keyf is None else keyf(state)))
        i, state = stack.pop()
        linearized ^= zobrist[i]
        # Relink in the reverse order of unlinking (the return entry, then the call entry).
        r = ret_at[i]
        if r >= 0:
            p, q = prv[r], nxt[r]
            if p >= 0:
                nxt[p] = r
            else:
                head = r
            if q < m:
                prv[q] = r
            returns_left += 1
        c = call_at[i]
        p, q = prv[c], nxt[c]
        if p >= 0:
            nxt[p] = c
        else:
            head = c
        if q < m:
            prv[q] = c
        pos = nxt[c]


def minimise(ops: list[Operation], model: Model, probes: int = 400) -> list[Operation]:
    """A small non-linearizable sub-history: cut at the return no order gets past, keep the shortest failing window
    before it, then drop chunks down to single operations (ddmin-style) within a bounded number of probes. The model's
    `closed` and `without` keep what its operations depend on, so the witness means something on its own."""
    everything = model.table(ops)[0]
    ok, fail_at = linearizable(everything, model)
    if ok:
        return []
    current = [o for o in everything if o.call <= fail_at]

    def bad(candidate: list[Operation]) -> bool:
        nonlocal probes
        probes -= 1
        try:
            return not linearizable(candidate, model, budget=200_000)[0]
        except Undecided:
            return False

    # What the cut keeps may need operations called after it (a read of a value written later): add them; if that made
    # it linearizable, start from the whole history instead.
    closed = model.closed(current, everything)
    current = sorted(closed, key=_CALL) if len(closed) == len(current) or bad(closed) else everything
    # The latest start time that still fails (operations before it dropped, with what depends on them).
    without = model.without
    starts = sorted({o.call for o in current})
    lo, hi = 0, len(starts) - 1
    while lo < hi and probes > 0:
        mid = (lo + hi + 1) // 2
        window = without(current, {o.id for o in current if o.call < starts[mid]})
        if window and bad(window):
            lo = mid
        else:
            hi = mid - 1
    current = without(current, {o.id for o in current if o.call < starts[lo]})
    chunk = max(1, len(current) // 2)
    while probes > 0:
        changed = False
        i = 0
        while i < len(current) and probes > 0:
            candidate = without(current, {o.id for o in current[i : i + chunk]})
            if len(candidate) < len(current) and bad(candidate):
                current = candidate
                changed = True
            else:
                i += chunk
        if chunk == 1 and not changed:
            break
        chunk = max(1, chunk // 2)
    return sorted(current, key=_CALL)
