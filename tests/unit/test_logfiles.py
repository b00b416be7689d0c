"""Reading and following a log file: durations, time stamps, tail and since, following across a restart (appended),
a truncation and a replacement."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import pytest

from multidc import logfiles

LINES = [
    "==> OpenBao server configuration:",
    "2026-11-29T09:00:00.000Z [INFO]  core: one",
    "2026-11-29T09:05:00.000Z [ERROR] core: two",
    "  continuation of two",
    "2026-11-29T09:10:00.000Z [INFO]  core: three",
]


def test_durations() -> None:
    assert logfiles.duration("30s") == 30
    assert logfiles.duration("5m") == 300
    assert logfiles.duration("1h30m") == 5400
    assert logfiles.duration("2d") == 172800
    assert logfiles.duration("250ms") == 0.25
    for bad in ("", "5", "soon", "5 m", "-5m", "5mx"):
        with pytest.raises(ValueError, match="use a number with a unit"):
            logfiles.duration(bad)


def test_stamps_utc_offsets_and_local_time() -> None:
    assert logfiles.stamp(LINES[1]) == 1795942800.0
    assert logfiles.stamp("2026-11-29T10:00:00.000+01:00 x") == 1795942800.0
    assert logfiles.stamp(LINES[0]) is None and logfiles.stamp("  continuation") is None
    assert logfiles.stamp("2026-11-29T09:00:00 unsealer: x") == time.mktime((2026, 11, 29, 9, 0, 0, 0, 0, -1))


def test_select_since_keeps_continuations_and_tail_counts_lines() -> None:
    at_0905 = 1795942800.0 + 300
    assert logfiles.select(LINES, since=at_0905) == LINES[2:]
    assert logfiles.select(LINES, since=at_0905 + 1) == LINES[4:]
    assert logfiles.select(LINES, since=at_0905 + 3600) == []
    assert logfiles.select(LINES, tail=2) == LINES[-2:]
    assert logfiles.select(LINES, tail=0) == []
    assert logfiles.select(LINES, tail=10, since=at_0905) == LINES[2:]


def test_read_leaves_an_unfinished_line_for_following(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("a\nb\npart")
    lines, end = logfiles.read(log)
    assert lines == ["a", "b"] and end == 4
    assert logfiles.read(tmp_path / "missing.log") == ([], 0)


def follower(path: Path, offset: int) -> tuple[queue.Queue[str], threading.Event]:
    got: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        for line in logfiles.follow(path, offset, stop.is_set, interval=0.01):
            got.put(line)

    threading.Thread(target=run, daemon=True).start()
    return got, stop


def test_follow_across_append_truncation_and_replacement(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("old\n")
    got, stop = follower(log, 4)
    try:
        with open(log, "a") as handle:  # a restarted server appends to the same file
            handle.write("started again\nhalf")
            handle.flush()
            assert got.get(timeout=10) == "started again"
            handle.write(" a line\n")
        assert got.get(timeout=10) == "half a line"
        log.write_text("")  # truncated in place (what `: > server.log` does)
        with open(log, "a") as handle:
            handle.write("after truncation\n")
        assert got.get(timeout=10) == "after truncation"
        replacement = tmp_path / "new.log"
        replacement.write_text("a new file\n")
        os.replace(replacement, log)  # replaced (another inode): read from its start
        assert got.get(timeout=10) == "a new file"
        log.unlink()  # removed, then made again: followed when it appears
        log.write_text("made again\n")
        assert got.get(timeout=10) == "made again"
    finally:
        stop.set()
    assert got.empty()
