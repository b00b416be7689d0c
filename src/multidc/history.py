"""Histories: what a workload did, one JSON object per line.

    {"process": 3, "type": "invoke"|"ok"|"fail"|"info", "f": "read"|"write"|"cas",
     "key": "k1", "value": V, "time": 12.031}

A read's invoke has value null and its ok carries the value read (null if absent); a write's value is the value
written; a cas's value is [expected, new]; `info` means the outcome is unknown. A process has at most one operation
outstanding. Pairing invokes with completions gives Operations, the checker's input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import MultidcError

Status = Literal["ok", "fail", "info"]
F = ("read", "write", "cas")
TYPES = ("invoke", "ok", "fail", "info")


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


def parse_line(line: str, number: int) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"line {number}: not JSON ({exc.msg})") from None
    if not isinstance(event, dict):
        raise HistoryError(f"line {number}: expected a JSON object")
    for key in ("process", "type", "f", "key", "time"):
        if key not in event:
            raise HistoryError(f"line {number}: missing {key!r}")
    if event["type"] not in TYPES:
        raise HistoryError(f"line {number}: type {event['type']!r} is not one of {', '.join(TYPES)}")
    if event["f"] not in F:
        raise HistoryError(f"line {number}: f {event['f']!r} is not one of {', '.join(F)}")
    if not isinstance(event["time"], (int, float)) or isinstance(event["time"], bool):
        raise HistoryError(f"line {number}: time must be a number")
    if event["f"] == "cas" and event["type"] == "invoke":
        value = event.get("value")
        if not (isinstance(value, list) and len(value) == 2):
            raise HistoryError(f"line {number}: a cas invoke's value must be [expected, new]")
    return event


def pair(events: list[dict[str, Any]], numbers: list[int] | None = None) -> list[Operation]:
    """Match each invoke with the next completion of the same process; an invoke left open counts as info."""
    numbers = numbers or list(range(1, len(events) + 1))
    open_: dict[Any, tuple[dict[str, Any], int]] = {}
    ops: list[Operation] = []
    for event, number in zip(events, numbers, strict=True):
        process = event["process"]
        if event["type"] == "invoke":
            if process in open_:
                raise HistoryError(
                    f"line {number}: process {process} invokes while its line {open_[process][1]} is still outstanding"
                )
            open_[process] = (event, number)
            continue
        if process not in open_:
            raise HistoryError(f"line {number}: {event['type']} for process {process} without an invoke")
        invoke, at = open_.pop(process)
        if (invoke["f"], invoke["key"]) != (event["f"], event["key"]):
            raise HistoryError(
                f"line {number}: completes {event['f']} {event['key']} but line {at} invoked "
                f"{invoke['f']} {invoke['key']}"
            )
        if event["time"] < invoke["time"]:
            raise HistoryError(f"line {number}: completes before its invoke (line {at})")
        status: Status = event["type"]
        value = event.get("value") if invoke["f"] == "read" else invoke.get("value")
        ret = math.inf if status == "info" else float(event["time"])
        ops.append(
            Operation(len(ops), process, invoke["f"], str(invoke["key"]), value, status, float(invoke["time"]), ret)
        )
    for invoke, _ in open_.values():
        value = None if invoke["f"] == "read" else invoke.get("value")
        ops.append(
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


def load(path: str | Path) -> list[Operation]:
    """Read and pair a JSONL history; raise HistoryError naming the line and the reason."""
    events, numbers = [], []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise HistoryError(f"{path}: is a directory; give a history.jsonl file") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(
            f"{path}: byte {exc.start}: not UTF-8 text (is it a binary file?); give a history.jsonl"
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            events.append(parse_line(line, number))
            numbers.append(number)
    if not events:
        raise HistoryError(f"{path}: holds no operations; there is nothing to check")
    return pair(events, numbers)


def dump(events: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
