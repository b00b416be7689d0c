"""Reading a server's log file: its last lines, the lines since a moment, and following it by path, across a restart
of the server (the file appended to again), a truncation or a replacement (reopened from its start). Standard library
only: `multidc logs` must start fast."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

# OpenBao's (hclog's) lines start with an RFC 3339 time: `2026-11-29T09:05:00.123Z [INFO]  core: ...`; lines without
# one (a multi-line error's continuation, the startup banner) belong to the line before.
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration(text: str) -> float:
    """Seconds in a duration such as 30s, 5m, 1h30m, 2d (ValueError, with the accepted form, otherwise)."""
    spaced = text.strip()
    if not spaced or _DURATION.sub("", spaced) != "":
        raise ValueError(f"{text!r} is not a duration; use a number with a unit: 30s, 5m, 1h30m, 2d")
    return sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(spaced))


def stamp(line: str) -> float | None:
    """The line's time (seconds since the epoch), None when it has none."""
    found = _STAMP.match(line)
    if found is None:
        return None
    zone = {None: "", "Z": "+00:00"}.get(found.group(2), found.group(2))  # none: local time (the unsealers')
    if len(zone) == 5:  # +0000
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(found.group(1) + zone).timestamp()
    except ValueError:
        return None


def select(lines: Iterable[str], tail: int | None = None, since: float | None = None) -> list[str]:
    """The lines from the first one stamped at or after `since` (epoch seconds), then the last `tail` of those."""
    kept = list(lines)
    if since is not None:
        start = next((i for i, line in enumerate(kept) if (t := stamp(line)) is not None and t >= since), len(kept))
        kept = kept[start:]
    if tail is not None:
        kept = kept[-tail:] if tail > 0 else []
    return kept


def read(path: Path, tail: int | None = None, since: float | None = None) -> tuple[list[str], int]:
    """The selected lines of the file and the offset its end was at (where following starts)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1  # an unfinished last line is read when it is finished
    return select(data[:end].decode(errors="replace").splitlines(), tail, since), end


def follow(
    path: Path, offset: int = 0, stop: Callable[[], bool] = lambda: False, interval: float = 0.2
) -> Iterator[str]:
    """Every line written to the file from `offset` on, as it is written, until `stop()` says so. The file is followed
    by its path: when it is replaced (another inode) or truncated, reading starts again at its beginning; when it is
    missing (not started yet, or between a removal and a new start), following waits for it."""
    handle = None
    pending = b""
    try:
        while not stop():
            if handle is None:
                try:
                    handle = open(path, "rb")  # noqa: SIM115 - kept open across iterations
                except FileNotFoundError:
                    time.sleep(interval)
                    continue
                size = os.fstat(handle.fileno()).st_size
                handle.seek(offset if offset <= size else 0)
                offset = 0  # a reopened file is read from its start
            chunk = handle.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode(errors="replace")
                continue
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            mine = os.fstat(handle.fileno())
            gone = now is None or mine.st_nlink == 0 or now.st_ino != mine.st_ino  # removed or replaced
            if gone or (now is not None and now.st_size < handle.tell()):
                handle.close()  # replaced, removed or truncated: start again from the path
                handle, pending = None, b""
                continue
            time.sleep(interval)
    finally:
        if handle is not None:
            handle.close()
