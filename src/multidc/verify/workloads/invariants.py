"""Pure checkers of the set, tokens and pki workloads: a history (the Recorder's events) in, an InvariantVerdict out.

The events are the register's format (`process`, `type` invoke|ok|fail|info, `f`, `key`, `value`, `time`, optional
`error`); here `key` is the DC an operation went through, the invoke's `value` is what was asked and the completion's
`value` what came back. `fail` means the operation certainly took no effect, `info` that it may have (or not).

    set     add     invoke: the element            ok: the element
            read    (final, per DC) invoke: null   ok: every element listed
    tokens  create  invoke: null                   ok: the new token's accessor (never the token)
            revoke  invoke: the accessor           ok: the accessor
            lookup  (final, per DC) invoke: the accessor   ok: {"accessor": A, "valid": true|false}, with
                    "pending": true when the accessor's token is in revocation (invalid)
    pki     ca      (setup) invoke: null           ok: the CA certificate's serial
            issue   invoke: the common name        ok: the certificate's serial
            list    (final, per DC) invoke: null   ok: every serial the mount lists

A final observation is judged against every operation acknowledged before it began. Every DC an operation went through
or a final observation was made through must have a successful final observation ("unobserved" otherwise): an
invariant nobody could check is not taken for one that holds. Operations with an unknown outcome are never held
against the cluster, whichever way they went.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

from ...history import TYPES, HistoryError, Operation, pair
from .verdict import InvariantVerdict, verdict

_CALL = attrgetter("call")


def operations(events: Iterable[dict[str, Any]]) -> list[Operation]:
    """The events (in any order) paired as every model's are (history.pair), ordered by call: an invoke left open is
    `info`, a completion carries the answer in `output`. Raises ValueError for a completion without an invoke or a
    second invoke while one is outstanding."""
    ordered = sorted(events, key=lambda e: (e["time"], e["type"] != "invoke"))
    try:
        ops = pair(ordered)
    except HistoryError as exc:
        raise ValueError(str(exc)) from None
    return sorted(ops, key=_CALL)


@dataclass(frozen=True)
class Invariants:
    """A workload's checker (multidc.checker's Checker protocol): its name and the rule that judges its operations."""

    name: str
    rule: Callable[[list[Operation]], InvariantVerdict]

    def check(self, ops: list[Operation]) -> InvariantVerdict:
        return self.rule(sorted(ops, key=_CALL))

    def __call__(self, events: Iterable[dict[str, Any]]) -> InvariantVerdict:
        """The verdict on a recorded history (events, as the Recorder keeps them)."""
        return self.rule(operations(events))


def _outcomes(ops: list[Operation], f: str, prefix: str) -> dict[str, int]:
    mine = [o for o in ops if o.f == f]
    return {
        prefix: len(mine),
        f"{prefix} ok": sum(o.status == "ok" for o in mine),
        f"{prefix} failed": sum(o.status == "fail" for o in mine),
        f"{prefix} unknown": sum(o.status == "info" for o in mine),
    }


def _per_dc(ops: list[Operation], fs: tuple[str, ...]) -> dict[str, int]:
    """Acknowledged operations per DC (keys `ok@DC`), for the report and "every DC took part"."""
    out: dict[str, int] = defaultdict(int)
    for o in ops:
        if o.f in fs and o.status == "ok":
            out[f"ok@{o.key}"] += 1
    return dict(sorted(out.items()))


def _finals(ops: list[Operation], f: str, what: str) -> tuple[dict[str, list[Operation]], list[str]]:
    """The successful final observations per DC, and "unobserved" for each DC without one."""
    dcs = sorted({o.key for o in ops})
    done: dict[str, list[Operation]] = {dc: [] for dc in dcs}
    unobserved = []
    for o in ops:
        if o.f == f and o.status == "ok":
            done[o.key].append(o)
    for dc in dcs:
        if not done[dc]:
            failed = [o for o in ops if o.f == f and o.key == dc]
            why = f" ({failed[-1].error or failed[-1].status})" if failed else ""
            unobserved.append(f"no final {what} through {dc}{why}")
    return done, unobserved


def _dcs(names: Iterable[str]) -> str:
    return ", ".join(sorted(set(names)))


# --- set


def _set(ops: list[Operation]) -> InvariantVerdict:
    """Every acknowledged add is in every final read ("lost adds"); nothing read was never attempted ("unexpected") or
    certainly failed ("failed but present"). Elements compare as strings (a LIST answers names)."""
    adds = [o for o in ops if o.f == "add"]
    acked = {str(o.value): o for o in adds if o.status == "ok"}
    attempted = {str(o.value) for o in adds}
    maybe = {str(o.value) for o in adds if o.status in ("ok", "info")}
    failed = {str(o.value): o for o in adds if o.status == "fail" and str(o.value) not in maybe}
    finals, unobserved = _finals(ops, "read", "read")
    lost: dict[str, list[str]] = defaultdict(list)
    unexpected: dict[str, list[str]] = defaultdict(list)
    failed_present: dict[str, list[str]] = defaultdict(list)
    for dc, reads in finals.items():
        for r in reads:
            present = {str(e) for e in (r.output or [])}
            for element, add in acked.items():
                if add.ret <= r.call and element not in present:
                    lost[element].append(dc)
            for element in present - attempted:
                unexpected[element].append(dc)
            for element in present & failed.keys():
                failed_present[element].append(dc)
    counts = {
        **_outcomes(ops, "add", "adds"),
        "final reads": sum(len(r) for r in finals.values()),
        "elements read": max((len(r.output or []) for rs in finals.values() for r in rs), default=0),
        **_per_dc(ops, ("add",)),
    }
    anomalies = {
        "lost adds": [
            f"{e} (acknowledged, added {acked[e].at()}): missing through {_dcs(dcs)}" for e, dcs in lost.items()
        ],
        "unexpected": [f"{e} (never added): read through {_dcs(dcs)}" for e, dcs in sorted(unexpected.items())],
        "failed but present": [
            f"{e} (add failed {failed[e].at()}: {failed[e].error}): read through {_dcs(dcs)}"
            for e, dcs in sorted(failed_present.items())
        ],
        "unobserved": unobserved,
    }
    return verdict("set", counts, anomalies)


# --- tokens


def _tokens(ops: list[Operation]) -> InvariantVerdict:
    """Every acknowledged token looks up valid through every DC unless a revoke of it may have happened ("lost
    tokens"); no token whose revoke was acknowledged looks up valid ("revoked but valid").

    A create with an unknown outcome is not judged: its accessor was never seen, so nobody can look it up. A revoke with
    an unknown outcome allows either answer; a failed one (certainly not done) leaves the token that must be valid."""
    created = {str(o.output): o for o in ops if o.f == "create" and o.status == "ok"}
    revokes: dict[str, list[Operation]] = defaultdict(list)
    for o in ops:
        if o.f == "revoke":
            revokes[str(o.value)].append(o)
    finals, unobserved = _finals(ops, "lookup", "lookup")
    lost: dict[str, list[str]] = defaultdict(list)
    still_valid: dict[str, list[str]] = defaultdict(list)
    for dc, lookups in finals.items():
        looked = set()
        for lk in lookups:
            accessor = str(lk.value)
            looked.add(accessor)
            valid = bool((lk.output or {}).get("valid"))
            tries = [r for r in revokes.get(accessor, []) if r.call <= lk.call]
            done = [r for r in tries if r.status == "ok" and r.ret <= lk.call]
            maybe_revoked = any(r.status in ("ok", "info") for r in tries)
            if done and valid:
                still_valid[accessor].append(dc)
            elif accessor in created and created[accessor].ret <= lk.call and not valid and not maybe_revoked:
                lost[accessor].append(dc)
        began = min((lk.call for lk in lookups), default=-math.inf)  # the list of accessors was taken then
        missing = [a for a, c in created.items() if a not in looked and c.ret <= began]
        if lookups and missing:
            failed = [o for o in ops if o.f == "lookup" and o.key == dc and str(o.value) in missing]
            why = f": {failed[0].error or failed[0].status}" if failed else ""
            unobserved.append(f"{len(missing)} acknowledged tokens not looked up through {dc} (e.g. {missing[0]}{why})")
    revoked_at = {a: ok[0] for a, rs in revokes.items() if (ok := [r for r in rs if r.status == "ok"])}
    counts = {
        **_outcomes(ops, "create", "creates"),
        **_outcomes(ops, "revoke", "revokes"),
        "final lookups": sum(len(v) for v in finals.values()),
        # A lookup answered 403: the accessor is there, its token in revocation (invalid, and worth knowing).
        "revocations pending": sum(bool((lk.output or {}).get("pending")) for v in finals.values() for lk in v),
        **_per_dc(ops, ("create", "revoke")),
    }
    anomalies = {
        "lost tokens": [
            f"{a} (created {created[a].at()}, never revoked): invalid through {_dcs(dcs)}" for a, dcs in lost.items()
        ],
        "revoked but valid": [
            f"{a} (revoke acknowledged {revoked_at[a].at()}): valid through {_dcs(dcs)}"
            for a, dcs in still_valid.items()
        ],
        "unobserved": unobserved,
    }
    return verdict("tokens", counts, anomalies)


# --- pki


def serial(value: Any) -> str:
    """A certificate serial as OpenBao writes it in answers and LISTs: lower-case hex pairs joined by colons."""
    return str(value).strip().lower().replace("-", ":")


def _pki(ops: list[Operation]) -> InvariantVerdict:
    """Every acknowledged certificate's serial is unique, also against the CA's own ("duplicate serials"), and is in
    every final LIST of the mount's certificates ("lost issues"). A LIST may hold certificates nobody saw issued only
    as many as there were issues with an unknown outcome ("unaccounted certificates")."""
    issued = [o for o in ops if o.f == "issue" and o.status == "ok"]
    unknown = sum(1 for o in ops if o.f == "issue" and o.status == "info")
    cas = {serial(o.output) for o in ops if o.f == "ca" and o.status == "ok"}
    by_serial: dict[str, list[Operation]] = defaultdict(list)
    for o in issued:
        by_serial[serial(o.output)].append(o)
    duplicates = []
    for s, its in by_serial.items():
        if len(its) > 1 or s in cas:
            where = "; ".join(o.at() for o in its) + ("; and the CA's own certificate" if s in cas else "")
            duplicates.append(f"{s} issued {len(its)} times ({where})")
    finals, unobserved = _finals([o for o in ops if o.f != "ca"], "list", "list")
    lost: dict[str, list[str]] = defaultdict(list)
    unaccounted = []
    for dc, lists in finals.items():
        for lst in lists:
            present = {serial(s) for s in (lst.output or [])}
            for s, its in by_serial.items():
                if s not in present and min(o.ret for o in its) <= lst.call:
                    lost[s].append(dc)
            extra = sorted(present - by_serial.keys() - cas)
            if len(extra) > unknown:
                unaccounted += [
                    f"{s} listed through {dc}, issued by no acknowledged request "
                    f"({len(extra)} such, {unknown} issues with an unknown outcome)"
                    for s in extra
                ]
    counts = {
        **_outcomes(ops, "issue", "issues"),
        "final lists": sum(len(v) for v in finals.values()),
        "certificates listed": max((len(x.output or []) for xs in finals.values() for x in xs), default=0),
        **_per_dc(ops, ("issue",)),
    }
    anomalies = {
        "duplicate serials": duplicates,
        "lost issues": [
            f"{s} (issued {by_serial[s][0].at()}): not listed through {_dcs(dcs)}" for s, dcs in lost.items()
        ],
        "unaccounted certificates": unaccounted,
        "unobserved": unobserved,
    }
    return verdict("pki", counts, anomalies)


check_set, check_tokens, check_pki = Invariants("set", _set), Invariants("tokens", _tokens), Invariants("pki", _pki)
CHECKERS = {c.name: c for c in (check_set, check_tokens, check_pki)}


def load(path: str | Path) -> list[Operation]:
    """A saved workload history (`verify --report`'s history-NAME.jsonl: one JSON event a line) as operations, ordered
    by call; HistoryError (exit 2) naming the file, the line and the reason."""
    events: list[dict[str, Any]] = []
    numbers: list[int] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                    raise HistoryError(f"line {number}: not JSON ({reason}); one JSON event a line") from None
                missing = [k for k in _FIELDS if not isinstance(event, dict) or k not in event]
                if missing:
                    raise HistoryError(f"line {number}: missing {missing[0]!r} (each line: an event with {_NAMED})")
                if event["type"] not in TYPES or not isinstance(event["time"], (int, float)):
                    raise HistoryError(f"line {number}: type must be one of {', '.join(TYPES)} and time a number")
                events.append(event)
                numbers.append(number)
        order = sorted(range(len(events)), key=lambda j: (events[j]["time"], events[j]["type"] != "invoke"))
        ops = pair([events[j] for j in order], [numbers[j] for j in order])
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not UTF-8 text; give a workload history (JSON lines)") from None
    except HistoryError as exc:
        raise HistoryError(f"{path}: {exc}") from None
    return sorted(ops, key=_CALL)


_FIELDS = ("process", "type", "f", "key", "time")
_NAMED = ", ".join(_FIELDS)
