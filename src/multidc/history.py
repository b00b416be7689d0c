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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import orjson

from .edn import MAX_DEPTH, EdnError, Keyword, Reader, Tagged, flat_map
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


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of any model: its call and return times (return is +inf when the outcome is unknown).

    `value` is what the invoke asked (a write's value, a cas's [expected, new], an element to add), except for a `read`,
    whose invoke carries nothing: there it is what the read returned. `output` is the completion's value when the
    operation succeeded (None otherwise); `error` why it failed or has an unknown outcome, when the history says."""

    id: int
    process: int
    f: str
    key: str
    value: Any
    status: Status
    call: float
    ret: float
    output: Any = None
    error: str = ""

    def describe(self) -> str:
        if self.f == "read":
            what = f"read {self.key} -> {json.dumps(self.value)}" if self.status == "ok" else f"read {self.key}"
        elif self.f == "write":
            what = f"write {self.key} := {json.dumps(self.value)}"
        elif self.f == "cas":
            what = f"cas {self.key} {json.dumps(self.value[0])} -> {json.dumps(self.value[1])}"
        else:
            answer = f" -> {json.dumps(self.output)}" if self.status == "ok" else ""
            what = f"{self.f} {self.key} {json.dumps(self.value)}{answer}"
        end = "?" if math.isinf(self.ret) else f"{self.ret:.3f}"
        return f"p{self.process} {what} [{self.status}] ({self.call:.3f}..{end})"

    def at(self) -> str:
        """Where and when, for an anomaly's line: the key (a workload's DC) and the call time."""
        return f"through {self.key} at {self.call:.3f}s"


_EDN_START = re.compile(r"[\s,]*(?:#[A-Za-z][\w.-]*)?\{[\s,]*:")  # `{:` (or a record, `#jepsen.history.Op{:`)
_EDN_EXAMPLE = "{:type :invoke, :f :read, :value nil, :process 0, :time 0}"


def parse_line(line: str, number: int) -> dict[str, Any] | None:
    """One JSON line as an event; None for a non-client's line (a string process such as "nemesis": a fault)."""
    # orjson: 0.23 s for 200,000 lines against 0.81 s with json's own C scanner (raw_decode) on one loaded machine, the
    # same for msgspec. It refuses what json accepts (NaN, integers over 64 bits): those, and every error, go through
    # json.loads for its exact answer.
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
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
    if type(event) is not dict:
        raise HistoryError(f"line {number}: expected a JSON object")
    try:  # one lookup each, the checks on what was found: this loop runs 200,000 times for 100,000 operations
        process, kind, f, at = event["process"], event["type"], event["f"], event["time"]
        event["key"]
    except KeyError:
        if type(event.get("process")) is str:
            return None  # the nemesis (Jepsen's name for the fault maker) or another non-client: not an operation
        missing = next(key for key in ("process", "type", "f", "key", "time") if key not in event)
        raise HistoryError(f"line {number}: missing {missing!r}") from None
    if type(process) is str:
        return None
    if kind not in TYPES:
        raise HistoryError(f"line {number}: type {kind!r} is not one of {', '.join(TYPES)}")
    if f not in F:
        raise HistoryError(f"line {number}: f {f!r} is not one of {', '.join(F)}")
    if type(at) is not float and type(at) is not int:
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
    """Match each invoke with the next completion of the same process; an invoke left open counts as info. One pairing
    for every model: the register's history and the set, tokens and pki workloads' alike (events in time order)."""
    open_: dict[Any, tuple[dict[str, Any], int]] = {}
    ops: list[Operation] = []
    append = ops.append
    inf = math.inf
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
        if status == "ok":
            output = event.get("value")
            value = output if f == "read" else invoke.get("value")
            ret = float(event["time"])
        else:
            output = None
            value = event.get("value") if f == "read" else invoke.get("value")
            ret = inf if status == "info" else float(event["time"])
        error = event.get("error") or ""
        append(
            Operation(
                len(ops), process, f, str(invoke["key"]), value, status, float(invoke["time"]), ret, output, error
            )
        )
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
    """Read and pair a history, JSON lines or Jepsen EDN (`fmt` auto: EDN when the first value starts with `{:`, `[`,
    `(`, a tag or a `;` comment); raise HistoryError naming the file, the line and the reason. `keys` is for EDN (see
    KEYS). The file is read a chunk at a time: memory holds the operations, not the text."""
    try:
        lines = _lines(path)
        seen: list[tuple[int, str]] = []  # the lines up to the first that is not blank: they decide the format
        for number, line in lines:
            seen.append((number, line))
            if line and not line.isspace():
                break
        numbered = _chain(seen, lines)
        if fmt == "auto":
            first = seen[-1][1].lstrip() if seen else ""
            fmt = "edn" if _EDN_START.match(first) or first[:1] in (";", "[", "(", "#") else "jsonl"
        if fmt == "jsonl" and keys != "auto":
            raise HistoryError(f"--keys {keys} applies to EDN histories; JSON lines name each operation's key")
        if fmt == "edn":
            events, numbers, found = jepsen_events(edn_values(numbered), keys)
        else:
            events, numbers, found = [], [], 0
            for number, line in numbered:
                if line and not line.isspace():
                    found += 1
                    event = parse_line(line, number)
                    if event is not None:
                        events.append(event)
                        numbers.append(number)
        if not found:
            raise HistoryError("holds no operations; there is nothing to check")
        try:
            return pair(events, numbers)
        except TypeError:  # a process that cannot key pair's dict: a JSON array or object
            at = next((n for e, n in zip(events, numbers, strict=True) if type(e["process"]) in _NESTED), None)
            if at is None:
                raise
            raise HistoryError(f"line {at}: process must be a number, not an array or object") from None
    except IsADirectoryError:
        raise HistoryError(f"{path}: is a directory; give a history file") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from None
    except HistoryError as exc:
        raise HistoryError(f"{path}: {exc}") from None


def _chain(first: list[tuple[int, str]], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield from first
    yield from rest


# Characters in one line: an operation takes a few hundred; a longer line (a binary or sparse file, a value no checker
# could print) is refused before it is held whole, so reading takes at most a few MiB more than the history itself.
MAX_LINE = 1 << 20
_CHUNK = 1 << 20


def _lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """The file's lines with their numbers, as str.splitlines splits them, read a chunk at a time: memory bounded by
    MAX_LINE."""
    count = 0
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
                _too_long(count + next(i for i, line in enumerate(part) if len(line) > MAX_LINE) + 1)
            yield from enumerate(part, start=count + 1)
            count += len(part)
            if not chunk:
                return
            offset, tail = offset + cut, buf[cut:]
            if len(tail) > 4 * MAX_LINE:  # more than MAX_LINE characters, however they are encoded
                _too_long(count + 1)


def _too_long(number: int) -> NoReturn:
    raise HistoryError(
        f"line {number}: longer than {MAX_LINE:,} characters; a history holds one operation a line "
        "(is it a history file?)"
    )


def edn_values(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, Any]]:
    """Each top-level EDN value of a history with the line it starts on: one map per line, maps over several lines, or
    the whole file one vector or list of maps (Knossos's and jepsen.history's shape), whose elements come one at a
    time. `;` comments, `#_` discards and commas are whitespace. Errors name the line and the column."""
    outer = ""  # the closing bracket of a whole-file vector or list while it is open
    state = "start"  # start: nothing read; values: top-level values; inside: in the whole-file collection; done
    pending = ""  # the text of a value not complete at the end of its line
    pending_line = pending_indent = 0  # where it starts: its line, and the characters before it on that line
    for number, line in lines:
        if not pending and state != "done":
            flat = flat_map(line)  # the fast path: one flat op map alone on its line
            if flat is not None:
                state = "values" if state == "start" else state
                yield number, flat
                continue
        text = pending + line + "\n"
        base, indent = (pending_line, pending_indent) if pending else (number, 0)
        pending = ""
        reader = Reader(text)
        while True:
            reader.skip()
            at = reader.pos
            if at >= len(text):
                break
            char = text[at]
            if state == "start" and char in "[(":
                outer, state, reader.pos = ("]" if char == "[" else ")"), "inside", at + 1
                continue
            if state == "inside" and char == outer:
                state, reader.pos = "done", at + 1
                continue
            if state == "done":
                _edn_error(text, base, at, f"more after the {outer} that closes the history", indent=indent)
            state = "values" if state == "start" else state
            try:
                if text.startswith("#_", at):
                    reader.pos += 2
                    reader.value()
                    continue
                value = reader.value()
            except EdnError as exc:
                if exc.incomplete:
                    pending, (pending_line, column) = text[at:], _place(text, base, at, indent)
                    pending_indent = column - 1
                    if len(pending) > MAX_LINE:
                        _too_long(pending_line)
                    break
                _edn_error(text, base, exc.column - 1, exc.reason, exc.opened, indent)
            yield base + text.count("\n", 0, at), value
    if pending:
        try:
            Reader(pending).value()
        except EdnError as exc:
            _edn_error(pending, pending_line, exc.column - 1, exc.reason, exc.opened, pending_indent)
    if state == "inside":
        raise HistoryError(f"the history's {'[' if outer == ']' else '('} is not closed (no {outer} at its end)")


def _place(text: str, base: int, at: int, indent: int) -> tuple[int, int]:
    """The line and column (1-based) of offset `at` in `text`, which starts on line `base` after `indent` characters."""
    newline = text.rfind("\n", 0, at)
    return base + text.count("\n", 0, at), at - newline + (indent if newline < 0 else 0)


def _edn_error(text: str, base: int, at: int, reason: str, opened: int | None = None, indent: int = 0) -> NoReturn:
    """A reading error at offset `at` of `text`, which starts on line `base` after `indent` characters of it: its
    line and column (and those of the bracket a wrong closing one was meant for, when that is on another line)."""
    line, column = _place(text, base, at, indent)
    if opened is not None and _place(text, base, opened - 1, indent)[0] != line:
        reason += " for the one opened on line {}, column {}".format(*_place(text, base, opened - 1, indent))
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    shown = text[start : end if end >= 0 else len(text)]
    hint = (
        "it looks like JSON: use --format jsonl"
        if shown.lstrip().startswith('{"')
        else f"a history holds Jepsen operation maps such as {_EDN_EXAMPLE}"
    )
    raise HistoryError(f"line {line}: not EDN ({reason}, column {column}); {hint}")


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


def jepsen_events(values: Iterable[tuple[int, Any]], keys: str = "auto") -> tuple[list[dict[str, Any]], list[int], int]:
    """A Jepsen history's values (see edn_values) as events, their line numbers, and how many values there were.

    `keys`: "single" (one register, named SINGLE_KEY), "independent" (every :value is jepsen.independent's [key
    value]) or "auto": independent when every invoke's :value is a [key value] pair and every cas's value inside it is
    [expected new] (a single register's reads are invoked with nil, its writes with a plain value).
    """
    ops: list[tuple[int, dict[Any, Any]]] = []
    count = 0
    for count, (number, item) in enumerate(values, start=1):  # noqa: B007 - `count` is used after the loop
        op = item
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
    return events, numbers, count


def dump(events: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
