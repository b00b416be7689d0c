"""Linearizability of a compare-and-set register, per key, and the anomalies a user asks about.

The search is Wing & Gong's, with Lowe's memoisation as in Porcupine: walk the time-ordered list of call/return
entries; at a call, try to linearize that operation now (if the register model allows it and the pair (set of
linearized operations, register value) is new), else look further; at a return of an operation not yet linearized,
backtrack. Operations whose outcome is unknown (`info`) have no return entry: they may take effect any time after their
call, or never. Failed operations took no effect and are dropped; so are reads that did not complete.

Complexity: exponential in the worst case (the problem is NP-complete), but the memo bounds the work by the number of
distinct (linearized set, value) pairs reachable; each search step is O(1) (the set is an incremental hash), so for
histories of a few concurrent clients the work grows about linearly with the number of operations (times the number of
calls scanned from the head at each step, bounded by the concurrency). bench/checker.py measures it.

Pure: operations in, a verdict out.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import Any

from .history import Operation

_NONE = object()


@dataclass
class KeyVerdict:
    key: str
    valid: bool
    operations: int
    # When not valid: a small set of operations that cannot be ordered (a 1-minimal sub-history, closed under
    # "a read keeps a write of the value it read").
    witness: list[Operation] = field(default_factory=list)
    undecided: bool = False  # the search exceeded its budget: neither proven nor refuted


@dataclass
class Verdict:
    valid: bool
    keys: dict[str, KeyVerdict]
    stale_reads: list[Operation]
    lost_writes: list[Operation]
    # Stale reads of a client's own past: a value older than one the same client had already written or read (a broken
    # read-your-writes or monotonic-reads guarantee, what X-Vault-Index is for). A subset of stale_reads' kind.
    own_stale_reads: list[Operation] = field(default_factory=list)

    def failing(self) -> list[KeyVerdict]:
        return [k for k in self.keys.values() if not k.valid]


def _step(state: Any, op: Operation) -> tuple[bool, Any]:
    """The register model: (is the operation allowed in this state, the state after it)."""
    if op.f == "read":
        return op.value == state, state
    if op.f == "write":
        return True, op.value
    expected, new = op.value
    return (expected == state), new


def _prepared(ops: Iterable[Operation]) -> tuple[list[Operation], list[int], list[Any], list[Any]]:
    """_relevant's operations, in order, with the register model's view of each, values made hashable once: kinds
    (0 read, 1 write, 2 cas), args (a read's value, a cas's expected value) and news (the value written)."""
    observed = set()
    unknown_cas = []
    unknown = []  # places (in kept) of unknown-outcome writes
    kept: list[Operation] = []
    kinds: list[int] = []
    args: list[Any] = []
    news: list[Any] = []
    ops = list(ops)
    for o, (f, value, status) in zip(ops, map(_FIELDS, ops), strict=True):
        if f == "read":
            if status == "ok":
                arg = value if type(value) in _PLAIN else _hashable(value)
                observed.add(arg)
                kept.append(o)
                kinds.append(0)
                args.append(arg)
                news.append(None)
        elif status != "fail":
            if f == "write":
                kinds.append(1)
                args.append(None)
                news.append(value if type(value) in _PLAIN else _hashable(value))
            else:
                expected, new = value
                if type(expected) not in _PLAIN:
                    expected = _hashable(expected)
                if type(new) not in _PLAIN:
                    new = _hashable(new)
                if status == "ok":
                    observed.add(expected)
                else:
                    unknown_cas.append((expected, new))
                kinds.append(2)
                args.append(expected)
                news.append(new)
            if status != "ok":
                unknown.append(len(kept))
            kept.append(o)
    # A kept unknown-outcome cas observes its expected value too (until nothing changes).
    while True:
        more = {expected for expected, new in unknown_cas if new in observed} - observed
        if not more:
            break
        observed |= more
    dropped = {j for j in unknown if news[j] not in observed}
    if dropped:
        keep = [j for j in range(len(kept)) if j not in dropped]
        kept, kinds = [kept[j] for j in keep], [kinds[j] for j in keep]
        args, news = [args[j] for j in keep], [news[j] for j in keep]
    return kept, kinds, args, news


_PLAIN = frozenset({int, str, float, bool, type(None)})  # values that are their own hashable form
_FIELDS = attrgetter("f", "value", "status")


def _relevant(ops: Iterable[Operation]) -> list[Operation]:
    """What the search must consider: completed operations, and unknown-outcome writes whose value someone saw.

    An unknown-outcome write (or cas) whose value no read returned and no successful cas expected may be assumed never
    to have taken effect: in any order where it did, nothing observed it before the next write, so leaving it out
    keeps that order valid. Dropping them keeps the search small when a fault leaves many writes in doubt.
    """
    return _prepared(ops)[0]


_CALL = attrgetter("call")
_RET = attrgetter("ret")


def linearizable(ops: list[Operation], initial: Any = None, budget: int = 5_000_000) -> tuple[bool, float]:
    """Whether the operations (one key) linearize; when not, the time of the return no order could get past.

    `budget` bounds the search steps; exceeding it raises RuntimeError rather than guessing.
    """
    kept, kinds, args, news = _prepared(ops)
    n = len(kept)
    if n == 0:
        return True, math.inf
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
    state = _hashable(initial)
    linearized = 0
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []  # (op index, state before)
    pos = head
    steps = 0
    furthest = -math.inf
    while True:
        steps += 1
        if steps > budget:
            raise RuntimeError(f"linearizability search exceeded {budget} steps")
        if returns_left == 0 or pos >= m:
            # Beyond here only calls of unknown-outcome operations remain: leaving them out is allowed.
            return True, math.inf
        i = codes[pos]
        if i < n:
            kind = kinds[i]
            if kind == 1:
                new_state = news[i]
            elif args[i] == state:
                new_state = state if kind == 0 else news[i]
            else:
                pos = nxt[pos]
                continue
            if zobrist:
                if (linearized ^ zobrist[i], new_state) in cache:
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
        cache.add((linearized, state))
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


def _hashable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):  # tagged, so that {"a": 1} and [["a", 1]] stay different values
        return dict, tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _writers(ops: list[Operation]) -> dict[Any, list[Operation]]:
    out: dict[Any, list[Operation]] = defaultdict(list)
    for o, (f, value, _) in zip(ops, map(_FIELDS, ops), strict=True):
        if f == "write":
            out[value if type(value) in _PLAIN else _hashable(value)].append(o)
        elif f == "cas":
            out[_hashable(value[1])].append(o)
    return out


def _without(ops: list[Operation], drop: set[int]) -> list[Operation]:
    """Remove operations and, to a fixpoint, every read or cas that needed a value whose writers are all gone (a cas so
    removed writes no more either). A value nobody in `ops` wrote stays needed: such a read is an anomaly of its own."""
    written = set(_writers(ops))
    drop = set(drop)
    while True:
        kept = [o for o in ops if o.id not in drop]
        writers = _writers(kept)
        more = set()
        for o in kept:
            need = o.value if o.f == "read" else (o.value[0] if o.f == "cas" else _NONE)
            if need is not _NONE and _hashable(need) in written and not writers.get(_hashable(need)):
                more.add(o.id)
        if not more:
            return kept
        drop |= more


def minimise(ops: list[Operation], initial: Any = None, probes: int = 400) -> list[Operation]:
    """A small non-linearizable sub-history: cut at the return no order gets past, keep the shortest failing window
    before it, then drop chunks down to single operations (ddmin-style) within a bounded number of probes."""
    current = _relevant(ops)
    ok, fail_at = linearizable(current, initial)
    if ok:
        return []
    everything = current
    current = [o for o in current if o.call <= fail_at]

    def bad(candidate: list[Operation]) -> bool:
        nonlocal probes
        probes -= 1
        try:
            return not linearizable(candidate, initial, budget=200_000)[0]
        except RuntimeError:
            return False

    # Self-contained: a read (or cas) of a value the history writes keeps a writer of it, even one called after the
    # cut (a read of a value from the future shows as that read and that later write, not as a read of nothing); the
    # writers are added transitively. If that made it linearizable, start from the whole history instead. Every later
    # step removes operations with their dependants (_without), so the witness stays self-contained.
    writers_all = _writers(everything)

    def close(ops_: list[Operation]) -> list[Operation]:
        ops_ = list(ops_)
        while True:
            have = _writers(ops_)
            missing = {
                _hashable(need)
                for o in ops_
                if (need := o.value if o.f == "read" else (o.value[0] if o.f == "cas" else _NONE)) is not _NONE
                and writers_all.get(_hashable(need))
                and not have.get(_hashable(need))
            }
            if not missing:
                return ops_
            ops_ += [min(writers_all[v], key=lambda w: w.call) for v in missing]

    closed = close(current)
    current = sorted(closed, key=lambda o: o.call) if len(closed) == len(current) or bad(closed) else everything

    # The latest start time that still fails (operations before it dropped, with the reads that depend on them).
    starts = sorted({o.call for o in current})
    lo, hi = 0, len(starts) - 1
    while lo < hi and probes > 0:
        mid = (lo + hi + 1) // 2
        window = _without(current, {o.id for o in current if o.call < starts[mid]})
        if window and bad(window):
            lo = mid
        else:
            hi = mid - 1
    current = _without(current, {o.id for o in current if o.call < starts[lo]})
    chunk = max(1, len(current) // 2)
    while probes > 0:
        changed = False
        i = 0
        while i < len(current) and probes > 0:
            candidate = _without(current, {o.id for o in current[i : i + chunk]})
            if len(candidate) < len(current) and bad(candidate):
                current = candidate
                changed = True
            else:
                i += chunk
        if chunk == 1 and not changed:
            break
        chunk = max(1, chunk // 2)
    return sorted(current, key=lambda o: o.call)


def stale_reads(ops: list[Operation], initial: Any = None) -> list[Operation]:
    """Reads that returned a value already overwritten before the read began: every write of that value (values may
    repeat) had been followed, before the read's call, by an acknowledged write of another value that began after it
    ended. The initial value counts as written at the start. O(n log n) per key."""
    acked = sorted((o for o in ops if o.status == "ok" and o.f != "read"), key=_CALL)
    # Suffix minima over acked writes ordered by call: the earliest return among those called at index >= i, and the
    # earliest return among those writing another value than that one (so "the first overwrite by a value other than
    # v after time t" is one lookup).
    calls = list(map(_CALL, acked))
    best: list[tuple[float, Any, float]] = [(math.inf, _NONE, math.inf)] * (len(acked) + 1)
    for i in range(len(acked) - 1, -1, -1):
        ret, value = acked[i].ret, _hashable(_new(acked[i]))
        r1, v1, r2 = best[i + 1]
        if ret < r1:
            best[i] = (ret, value, r1 if value != v1 else r2)
        elif value != v1 and ret < r2:
            best[i] = (r1, v1, ret)
        else:
            best[i] = (r1, v1, r2)

    def overwritten(after: float, value: Any) -> float:
        """When the first acknowledged write of another value than `value`, called after `after`, returned."""
        r1, v1, r2 = best[bisect.bisect_right(calls, after)]
        return r1 if v1 != value else r2

    # Per value: the latest time any of its writes can still be the read's source (the max over its writes).
    fresh_until: dict[Any, float] = {}
    bisect_right, minus_inf = bisect.bisect_right, -math.inf
    for w in ops:
        if w.f != "read" and w.status != "fail":
            value = _hashable(_new(w))
            r1, v1, r2 = best[bisect_right(calls, w.ret)]  # overwritten(w.ret, value), inlined
            until = r1 if v1 != value else r2
            if until > fresh_until.get(value, minus_inf):
                fresh_until[value] = until
    start = _hashable(initial)
    fresh_until[start] = max(fresh_until.get(start, -math.inf), overwritten(-math.inf, start))
    found = []
    for r, (f, value, status) in zip(ops, map(_FIELDS, ops), strict=True):
        if f != "read" or status != "ok":
            continue
        fresh = fresh_until.get(value if type(value) in _PLAIN else _hashable(value))
        if fresh is None:
            continue  # a value nobody wrote: the linearizability check reports it
        if fresh < r.call:
            found.append(r)
    return found


def own_stale_reads(ops: list[Operation], initial: Any = None) -> list[Operation]:
    """Reads that returned a value certainly older than the last one the same process had written or read: every
    write of the value read had returned before any write of the value the process already knew began."""
    writers = _writers([o for o in ops if o.f != "read" and o.status != "fail"])
    # Per value: when its last write returned, and when its first write began.
    last_ret = {v: max(map(_RET, ws)) for v, ws in writers.items()}
    first_call = {v: min(map(_CALL, ws)) for v, ws in writers.items()}

    def older(value: Any, than: Any) -> bool:
        began = first_call.get(_hashable(than))
        if began is None:
            return False
        ended = last_ret.get(_hashable(value))
        if value == initial and ended is None:
            return True  # the initial value: older than anything written
        return ended is not None and ended < began

    found = []
    known: dict[int, Any] = {}
    for o in sorted((o for o in ops if o.status == "ok"), key=_CALL):
        seen = o.value if o.f in ("read", "write") else o.value[1]
        if o.f == "read" and o.process in known and older(seen, known[o.process]):
            found.append(o)
            continue  # what it knew stays the newer value
        known[o.process] = seen
    return found


def _new(op: Operation) -> Any:
    return op.value if op.f == "write" else op.value[1]


def lost_writes(ops: list[Operation], initial: Any = None) -> list[Operation]:
    """Acknowledged writes never observed, although they came after the write whose value the last read saw.

    The last successful read of a key (the verify workload makes it after healing) shows the final value; an
    acknowledged write that began after the final value's write had finished, and whose value no read ever saw, was
    lost.
    """
    reads = [o for o in ops if o.f == "read" and o.status == "ok"]
    if not reads:
        return []
    final = max(reads, key=_CALL)
    final_value = _hashable(final.value)
    final_end = min(
        (w.ret for w in ops if w.f != "read" and w.status != "fail" and _hashable(_new(w)) == final_value),
        default=-math.inf,
    )
    # Acknowledged writes between the final value's write and the final read (few), then whether anyone saw them.
    between = [w for w in ops if w.status == "ok" and w.f != "read" and final_end < w.call and w.ret <= final.call]
    if not between:
        return []
    seen = {_hashable(r.value) for r in reads} | {
        _hashable(o.value[0]) for o in ops if o.f == "cas" and o.status == "ok"
    }
    return [w for w in between if _hashable(_new(w)) not in seen]


def check(ops: list[Operation], initial: Any = None) -> Verdict:
    """Per key: linearizable or not (with a witness), plus stale reads and lost writes over the whole history."""
    by_key: dict[str, list[Operation]] = defaultdict(list)
    for o in ops:
        by_key[o.key].append(o)
    keys: dict[str, KeyVerdict] = {}
    stale: list[Operation] = []
    lost: list[Operation] = []
    own: list[Operation] = []
    for key, key_ops in sorted(by_key.items()):
        try:
            ok, _ = linearizable(key_ops, initial)
        except RuntimeError:
            keys[key] = KeyVerdict(key, False, len(key_ops), [], undecided=True)
        else:
            witness = [] if ok else minimise(key_ops, initial)
            keys[key] = KeyVerdict(key, ok, len(key_ops), witness)
        stale += stale_reads(key_ops, initial)
        lost += lost_writes(key_ops, initial)
        own += own_stale_reads(key_ops, initial)
    return Verdict(all(k.valid for k in keys.values()), keys, stale, lost, own)
