"""Histories: what a workload did, one JSON object per line, or a Jepsen history (EDN, one map per line).

    {"process": 3, "type": "invoke"|"ok"|"fail"|"info", "f": "read"|"write"|"cas",
     "key": "k1", "value": V, "time": 12.031}

A read's invoke has value null and its ok carries the value read (null if absent); a write's value is the value
written; a cas's value is [expected, new]; `info` means the outcome is unknown. A process has at most one operation
outstanding. Pairing invokes with completions gives Operations, the checker's input. Lines of process "nemesis" are
the faults (`{"process": "nemesis", "type": "invoke"|"info", "f": "start-kill"|"stop-kill"|..., "value": ...}`, as
Jepsen writes its nemesis's ops): skipped.

Jepsen's history.edn maps onto the same events (`jepsen_events`): `{:type :invoke, :f :cas, :value [1 2], :process 3,
:time 123456789}`; :time in nanoseconds (without it, the line number is the time); lines whose :process is not an
integer (`:nemesis`) are fault events and skipped; a history of `jepsen.independent` keys (`:value [k v]`) is told
apart from a single register's by its values, and the single register is called `register`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from .edn import MAX_DEPTH, EdnError, Keyword, Tagged, read
from .errors import MultidcError

Status = Literal["ok", "fail", "info"]
F = ("read", "write", "cas")
TYPES = ("invoke", "ok", "fail", "info")
FORMATS = ("auto", "jsonl", "edn")
KEYS = ("auto", "single", "independent")  # EDN: one register, or jepsen.independent's [key value] tuples
SINGLE_KEY = "register"
NEMESIS = "nemesis"  # the process of a history's fault events (verify writes them as Jepsen does); not checked


class HistoryError(MultidcError):
    """A history file that is not well formed (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Operation:
    """One operation: its call and return times (return is +inf when the outcome is unknown)."""

    id: int
    process: int
    f: str
    key: str
    value: Any  # write: value; cas: [expected, new]; read: the value read (None when absent or not known)
    status: Status
    call: float
    ret: float

    def describe(self) -> str:
        if self.f == "read":
            what = f"read {self.key} -> {json.dumps(self.value)}" if self.status == "ok" else f"read {self.key}"
        elif self.f == "write":
            what = f"write {self.key} := {json.dumps(self.value)}"
        else:
            what = f"cas {self.key} {json.dumps(self.value[0])} -> {json.dumps(self.value[1])}"
        end = "?" if math.isinf(self.ret) else f"{self.ret:.3f}"
        return f"p{self.process} {what} [{self.status}] ({self.call:.3f}..{end})"


_EDN_START = re.compile(r"[\s,]*(?:#[A-Za-z][\w.-]*)?\{[\s,]*:")  # `{:` (or a record, `#jepsen.history.Op{:`)
_EDN_EXAMPLE = "{:type :invoke, :f :read, :value nil, :process 0, :time 0}"


_raw_decode = json.JSONDecoder().raw_decode
_REQUIRED = frozenset({"process", "type", "f", "key", "time"})


def parse_line(line: str, number: int) -> dict[str, Any] | None:
    # raw_decode is json.loads' own C scanner without the checks around it (0.39 s against 0.66 s for 200,000 lines);
    # anything unusual (leading space, data after the value, an error) goes through json.loads for its exact answer.
    try:
        event, end = _raw_decode(line)
        clean = end == len(line) or line[end:].isspace()
    except (json.JSONDecodeError, RecursionError):
        clean = False
    if not clean:
        try:
            event = json.loads(line)
        except RecursionError:  # `[[[[...`: the decoder recurses per level
            raise HistoryError(
                f"line {number}: not JSON that can be read (nested too deeply); each line must be one JSON object"
            ) from None
        except json.JSONDecodeError as exc:
            hint = (
                "it looks like EDN: use --format edn"
                if _EDN_START.match(line)
                else "each line must be one JSON object (or the file a Jepsen EDN history)"
            )
            raise HistoryError(f"line {number}: not JSON ({exc.msg}, column {exc.colno}); {hint}") from None
    if not isinstance(event, dict):
        raise HistoryError(f"line {number}: expected a JSON object")
    if not event.keys() >= _REQUIRED:
        if event.get("process") == NEMESIS:
            return None  # a fault, as Jepsen writes the nemesis's ops (they have no key): not an operation
        for key in ("process", "type", "f", "key", "time"):
            if key not in event:
                raise HistoryError(f"line {number}: missing {key!r}")
    if event["type"] not in TYPES:
        raise HistoryError(f"line {number}: type {event['type']!r} is not one of {', '.join(TYPES)}")
    if event["f"] not in F:
        raise HistoryError(f"line {number}: f {event['f']!r} is not one of {', '.join(F)}")
    if not isinstance(event["time"], (int, float)) or isinstance(event["time"], bool):
        raise HistoryError(f"line {number}: time must be a number")
    if len(line) > 2 * MAX_DEPTH and line.count("[") + line.count("{") > MAX_DEPTH:  # else it cannot nest that deep
        _check_nesting(event, number)
    if event["f"] == "cas" and event["type"] == "invoke":
        value = event.get("value")
        if not (isinstance(value, list) and len(value) == 2):
            raise HistoryError(f"line {number}: a cas invoke's value must be [expected, new]")
    return event


_NESTED = (list, dict)


def _check_nesting(event: dict[str, Any], number: int) -> None:
    """What the checker walks (recursively) nests no deeper than an EDN line may."""
    for nested in ("value", "key"):
        if _deeper_than(event.get(nested), MAX_DEPTH - 1):
            raise HistoryError(f"line {number}: {nested!r} nests lists or objects more than {MAX_DEPTH - 1} deep")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects in `value` nest more than `limit` deep (level by level: no recursion)."""
    level = [value] if type(value) in _NESTED else []
    for _ in range(limit):
        level = [v for x in level for v in (x.values() if type(x) is dict else x) if type(v) in _NESTED]
        if not level:
            return False
    return True


def pair(events: list[dict[str, Any]], numbers: list[int] | None = None) -> list[Operation]:
    """Match each invoke with the next completion of the same process; an invoke left open counts as info."""
    open_: dict[Any, tuple[dict[str, Any], int]] = {}
    ops: list[Operation] = []
    append = ops.append
    for event, number in zip(events, numbers or range(1, len(events) + 1), strict=True):
        process = event["process"]
        if event["type"] == "invoke":
            if process in open_:
                raise HistoryError(
                    f"line {number}: process {process} invokes while its line {open_[process][1]} is still outstanding"
                )
            open_[process] = (event, number)
            continue
        found = open_.pop(process, None)
        if found is None:
            raise HistoryError(f"line {number}: {event['type']} for process {process} without an invoke")
        invoke, at = found
        f = invoke["f"]
        if f != event["f"] or invoke["key"] != event["key"]:
            raise HistoryError(
                f"line {number}: completes {event['f']} {event['key']} but line {at} invoked {f} {invoke['key']}"
            )
        if event["time"] < invoke["time"]:
            raise HistoryError(f"line {number}: completes before its invoke (line {at})")
        status: Status = event["type"]
        value = event.get("value") if f == "read" else invoke.get("value")
        ret = math.inf if status == "info" else float(event["time"])
        append(Operation(len(ops), process, f, str(invoke["key"]), value, status, float(invoke["time"]), ret))
    for invoke, _ in open_.values():
        value = None if invoke["f"] == "read" else invoke.get("value")
        append(
            Operation(
                len(ops),
                invoke["process"],
                invoke["f"],
                str(invoke["key"]),
                value,
                "info",
                float(invoke["time"]),
                math.inf,
            )
        )
    return ops


def load(path: str | Path, fmt: str = "auto", keys: str = "auto") -> list[Operation]:
    """Read and pair a history, JSON lines or Jepsen EDN (`fmt` auto: EDN when the first line starts with `{:`);
    raise HistoryError naming the file, the line and the reason. `keys` is for EDN (see KEYS)."""
    try:
        lines = _read_lines(path)
    except IsADirectoryError:
        raise HistoryError(f"{path}: is a directory; give a history file") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from None
    except HistoryError as exc:
        raise HistoryError(f"{path}: {exc}") from None
    if fmt == "auto":
        first = next((line for line in lines if line and not line.isspace()), "")
        fmt = "edn" if _EDN_START.match(first) or first.lstrip().startswith(";") else "jsonl"
    if fmt == "jsonl" and keys != "auto":
        raise HistoryError(f"{path}: --keys {keys} applies to EDN histories; JSON lines name each operation's key")
    try:
        if fmt == "edn":
            events, numbers = jepsen_events(lines, keys)
        else:
            events, numbers = [], []
            for number, line in enumerate(lines, start=1):
                if line and not line.isspace():
                    event = parse_line(line, number)
                    if event is not None:
                        events.append(event)
                        numbers.append(number)
        if not events:
            raise HistoryError("holds no operations; there is nothing to check")
        try:
            return pair(events, numbers)
        except TypeError:  # a process that cannot key pair's dict: a JSON array or object
            at = next((n for e, n in zip(events, numbers, strict=True) if type(e["process"]) in _NESTED), None)
            if at is None:
                raise
            raise HistoryError(f"line {at}: process must be a number, not an array or object") from None
    except HistoryError as exc:
        raise HistoryError(f"{path}: {exc}") from None


# Characters in one line: an operation takes a few hundred; a longer line (a binary or sparse file, a value no checker
# could print) is refused before it is held whole, so reading takes at most a few MiB more than the history itself.
MAX_LINE = 1 << 20
_CHUNK = 1 << 20


def _read_lines(path: str | Path) -> list[str]:
    """The file's lines, as str.splitlines splits them, read a chunk at a time: memory bounded by MAX_LINE."""
    lines: list[str] = []
    tail = b""  # the line being read, not ended yet
    offset = 0  # where `tail` begins in the file
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            buf = tail + chunk
            cut = buf.rfind(b"\n") + 1 if chunk else len(buf)  # a newline never lies inside a UTF-8 character
            try:
                part = buf[:cut].decode("utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise HistoryError(
                    f"byte {offset + exc.start}: not UTF-8 text (is it a binary file?); give a history, JSON lines "
                    "or Jepsen EDN"
                ) from None
            if part and max(map(len, part)) > MAX_LINE:
                _too_long(len(lines) + next(i for i, line in enumerate(part) if len(line) > MAX_LINE) + 1)
            lines += part
            if not chunk:
                return lines
            offset, tail = offset + cut, buf[cut:]
            if len(tail) > 4 * MAX_LINE:  # more than MAX_LINE characters, however they are encoded
                _too_long(len(lines) + 1)


def _too_long(number: int) -> NoReturn:
    raise HistoryError(
        f"line {number}: longer than {MAX_LINE:,} characters; a history holds one operation a line "
        "(is it a history file?)"
    )


_NAMES = {name: name for name in (*TYPES, *F)}


def _keyword(value: Any) -> str | None:
    """The name of an EDN keyword :type or :f may have (a plain str), else None."""
    return _NAMES.get(value) if type(value) is Keyword else None


def _edn_text(value: Any) -> str:
    """A value as EDN writes it, for messages and key names."""
    if isinstance(value, Keyword):
        return f":{value}"
    if isinstance(value, Tagged):
        return f"#{value.tag} {_edn_text(value.value)}"
    if isinstance(value, frozenset):
        return "#{" + " ".join(_edn_text(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_edn_text(k)} {_edn_text(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_edn_text(v) for v in value) + "]"
    return str(value)


def _key_name(value: Any) -> str:
    """A jepsen.independent key as the checker names it: a string as it is, anything else as EDN writes it."""
    return value if type(value) is str else _edn_text(value)


_SCALARS = (type(None), bool, int, float, str, Keyword)


def _register_value(value: Any) -> bool:
    """nil, a boolean, a number, a string or keyword, or a vector of them: what the checker compares and prints."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and all(_register_value(v) for v in value)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def jepsen_events(lines: list[str], keys: str = "auto") -> tuple[list[dict[str, Any]], list[int]]:
    """A Jepsen history (one EDN operation map per line) as events and their line numbers.

    `keys`: "single" (one register, named SINGLE_KEY), "independent" (every :value is jepsen.independent's [key
    value]) or "auto": independent when every invoke's :value is a [key value] pair and every cas's value inside it is
    [expected new] (a single register's reads are invoked with nil, its writes with a plain value).
    """
    ops: list[tuple[int, dict[Any, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():
            continue
        try:
            op = read(line)
        except EdnError as exc:
            hint = (
                "it looks like JSON: use --format jsonl"
                if line.lstrip().startswith('{"')
                else f"each line must be one Jepsen operation map such as {_EDN_EXAMPLE}"
            )
            raise HistoryError(f"line {number}: not EDN ({exc.reason}, column {exc.column}); {hint}") from None
        if isinstance(op, Tagged) and isinstance(op.value, dict):
            op = op.value  # a record: #jepsen.history.Op{...}
        if not isinstance(op, dict):
            raise HistoryError(f"line {number}: expected an operation map such as {_EDN_EXAMPLE}")
        if "process" not in op:
            raise HistoryError(f"line {number}: missing :process (an integer, or :nemesis for a fault)")
        process = op["process"]
        if isinstance(process, int) and not isinstance(process, bool):
            ops.append((number, op))
        # else: the nemesis (or another non-client): a fault event, not an operation on the register
    timed = [number for number, op in ops if "time" in op]
    if timed and len(timed) != len(ops):
        untimed = next(number for number, op in ops if "time" not in op)
        raise HistoryError(
            f"line {untimed}: no :time, but line {timed[0]} has one; give :time on every operation or on none "
            "(then the line order is the time)"
        )
    if keys == "auto":
        invokes = [op for _, op in ops if _keyword(op.get("type")) == "invoke"]
        independent = bool(invokes) and all(
            _is_pair(op.get("value")) and (_keyword(op.get("f")) != "cas" or _is_pair(op["value"][1])) for op in invokes
        )
    else:
        independent = keys == "independent"
    events: list[dict[str, Any]] = []
    numbers: list[int] = []
    open_keys: dict[int, str] = {}
    for number, op in ops:
        kind, f = _keyword(op.get("type")), _keyword(op.get("f"))
        if kind not in TYPES:
            found = _edn_text(op["type"]) if "type" in op else "missing"
            raise HistoryError(f"line {number}: :type {found} is not one of :invoke, :ok, :fail, :info")
        if f not in F:
            found = _edn_text(op["f"]) if "f" in op else "missing"
            raise HistoryError(
                f"line {number}: :f {found} is not one of :read, :write, :cas (a register history; "
                "other workloads are not checked)"
            )
        if timed:
            at = op["time"]
            if type(at) is not int and type(at) is not float:
                raise HistoryError(f"line {number}: :time {_edn_text(at)} is not a number of nanoseconds")
            at = at / 1e9
        else:
            at = float(number)
        value: Any = op.get("value")
        process = op["process"]
        key = SINGLE_KEY
        if independent:
            if type(value) is list and len(value) == 2:
                key, value = _key_name(value[0]), value[1]
                if kind == "invoke":
                    open_keys[process] = key
            elif kind == "invoke" or (kind == "ok" and f == "read"):
                raise HistoryError(
                    f"line {number}: :value {_edn_text(value)} is not [key value], as every operation of a "
                    "jepsen.independent history has (for a single register, use --keys single)"
                )
            else:
                key, value = open_keys.get(process, SINGLE_KEY), None  # an :info or :fail without its key
        if (kind == "invoke" and f != "read") or (kind == "ok" and f == "read"):
            if type(value) not in _SCALARS and not _register_value(value):
                raise HistoryError(
                    f"line {number}: :value {_edn_text(value)} is not a register value "
                    "(nil, a number, a string, a keyword, or a vector of them)"
                )
            if kind == "invoke" and f == "cas" and not _is_pair(value):
                raise HistoryError(
                    f"line {number}: a cas invoke's :value must be [expected new], not {_edn_text(value)}"
                )
        events.append({"process": process, "type": kind, "f": f, "key": key, "value": value, "time": at})
        numbers.append(number)
    return events, numbers


def dump(events: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
