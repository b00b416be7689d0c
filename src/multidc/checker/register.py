"""The compare-and-set register, one model on the seam (model.py), per key, and the anomalies a user asks about:
stale reads, lost writes, stale reads of a client's own past.

Reads that did not complete took no effect and are dropped; so are unknown-outcome writes nobody observed (see
Register.table). Pure: operations in, a verdict out.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from ..history import Operation
from .model import READ, SET, SWAP, Model, judge_key, unordered
from .verdict import Verdict

_NONE = object()


class Register(Model):
    """read (allowed when the value read is the state), write (sets it), cas [expected, new] (allowed when the state is
    `expected`; sets `new`). Values compare as JSON values (lists as tuples, objects as sorted pairs)."""

    name = "register"

    def __init__(self, initial: Any = None) -> None:
        self.initial = initial

    def init(self) -> Any:
        return _hashable(self.initial)

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "read":
            return _hashable(op.value) == state, state
        if op.f == "write":
            return True, _hashable(op.value)
        expected, new = op.value
        return _hashable(expected) == state, _hashable(new)

    def table(self, ops: list[Operation]) -> tuple[list[Operation], list[int], list[Any], list[Any]]:
        """What the search must consider: completed operations, and unknown-outcome writes whose value someone saw.

        An unknown-outcome write (or cas) whose value no read returned and no successful cas expected may be assumed
        never to have taken effect: in any order where it did, nothing observed it before the next write, so leaving
        it out keeps that order valid. Dropping them keeps the search small when a fault leaves many writes in doubt.
        Every step is a guarded assignment: the search compares values (READ, SET, SWAP) and never calls step."""
        return _prepared(ops)

    def without(self, ops: list[Operation], drop: set[int]) -> list[Operation]:
        return _without(ops, drop)

    def closed(self, ops: list[Operation], everything: list[Operation]) -> list[Operation]:
        """A read (or cas) of a value the history writes keeps a writer of it, even one called after the cut (a read of
        a value from the future shows as that read and that later write, not as a read of nothing), transitively."""
        writers_all = _writers(everything)
        ops = list(ops)
        while True:
            have = _writers(ops)
            missing = {
                _hashable(need)
                for o in ops
                if (need := _needs(o)) is not _NONE
                and writers_all.get(_hashable(need))
                and not have.get(_hashable(need))
            }
            if not missing:
                return ops
            ops += [min(writers_all[v], key=_CALL) for v in missing]

    def check(self, ops: list[Operation]) -> Verdict:
        """Per key: linearizable or not (with a witness), plus stale reads and lost writes over the whole history."""
        keys = {}
        stale: list[Operation] = []
        lost: list[Operation] = []
        own: list[Operation] = []
        initial = self.initial
        for key, key_ops in self.partition(ops).items():
            keys[key] = judge_key(self, key, key_ops)
            stale += stale_reads(key_ops, initial)
            lost += lost_writes(key_ops, initial)
            own += own_stale_reads(key_ops, initial)
        failing = [k for k in keys.values() if not k.valid]
        own_ids = {o.id for o in own}
        anomalies = {
            "not linearizable": unordered(failing),
            "stale reads": [o.describe() for o in stale if o.id not in own_ids],
            "stale reads of a client's own past": [o.describe() for o in own],
            "lost writes": [o.describe() for o in lost],
        }
        counts = {"operations": len(ops), "keys": len(keys)}
        return Verdict("register", not failing, counts, anomalies, keys, stale, lost, own)


def _needs(o: Operation) -> Any:
    """The value an operation needs the register to hold: a read's, a cas's expected one (else _NONE)."""
    return o.value if o.f == "read" else (o.value[0] if o.f == "cas" else _NONE)


def _prepared(ops: Iterable[Operation]) -> tuple[list[Operation], list[int], list[Any], list[Any]]:
    """Register.table: the operations kept, in order, with the register's view of each, values made hashable once:
    kinds (READ, SET for a write, SWAP for a cas), args (a read's value, a cas's expected one) and news (the value
    written)."""
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
                kinds.append(READ)
                args.append(arg)
                news.append(None)
        elif status != "fail":
            if f == "write":
                kinds.append(SET)
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
                kinds.append(SWAP)
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


_CALL = attrgetter("call")
_RET = attrgetter("ret")


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
            need = _needs(o)
            if need is not _NONE and _hashable(need) in written and not writers.get(_hashable(need)):
                more.add(o.id)
        if not more:
            return kept
        drop |= more


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
        ret, value = acked[i].ret, _new_hashable(acked[i])
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
            value = _new_hashable(w)
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

    # One pass in call order, values made hashable once, the comparison inlined (a third of `check` otherwise).
    start = _hashable(initial)
    plain = _PLAIN
    found = []
    known: dict[int, Any] = {}  # per process: the newest value it wrote or read
    for o in sorted((o for o in ops if o.status == "ok"), key=_CALL):
        f, seen = o.f, o.value
        if f == "cas":
            seen = seen[1]
        if type(seen) not in plain:
            seen = _hashable(seen)
        if f == "read":
            than = known.get(o.process, _NONE)
            began = None if than is _NONE else first_call.get(than)
            if began is not None:
                ended = last_ret.get(seen)
                # older: every write of it returned before the first write of what the process knew began (the
                # initial value, never written, is older than anything written)
                if (ended is None and seen == start) or (ended is not None and ended < began):
                    found.append(o)
                    continue  # what it knew stays the newer value
        known[o.process] = seen
    return found


def _new(op: Operation) -> Any:
    return op.value if op.f == "write" else op.value[1]


def _new_hashable(op: Operation) -> Any:
    """_hashable(_new(op)) with one call for the usual plain value."""
    value = op.value if op.f == "write" else op.value[1]
    return value if type(value) in _PLAIN else _hashable(value)


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
        (w.ret for w in ops if w.f != "read" and w.status != "fail" and _new_hashable(w) == final_value),
        default=-math.inf,
    )
    # Acknowledged writes between the final value's write and the final read (few), then whether anyone saw them.
    between = [w for w in ops if w.status == "ok" and w.f != "read" and final_end < w.call and w.ret <= final.call]
    if not between:
        return []
    seen = {_hashable(r.value) for r in reads} | {
        _hashable(o.value[0]) for o in ops if o.f == "cas" and o.status == "ok"
    }
    return [w for w in between if _new_hashable(w) not in seen]
