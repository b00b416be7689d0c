"""A reader that leaves (`multidc ... | head -1`, `2>&1 | head -1`): what the command prints goes nowhere, the command
does its work and ends with its own exit code, and nothing (no traceback) is printed about the closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], tmp_path: Path, stderr_closed: bool) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m multidc ARGS` with standard output (and standard error) a pipe nobody reads."""
    read, write = os.pipe()
    os.close(read)  # the reader has already gone: every write gets EPIPE
    try:
        return subprocess.run(
            [sys.executable, "-m", "multidc", *args],
            stdout=write,
            stderr=write if stderr_closed else subprocess.PIPE,
            env={**os.environ, "MULTIDC_STATE_DIR": str(tmp_path / "state")},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


def test_a_closed_stdout_is_no_error(tmp_path: Path) -> None:
    done = _run(["plan", "--name", "closedout"], tmp_path, stderr_closed=False)
    assert (done.returncode, done.stderr) == (0, b"")


def test_closed_stdout_and_stderr_keep_the_commands_own_exit_code(tmp_path: Path) -> None:
    assert _run(["plan", "--name", "closedout"], tmp_path, stderr_closed=True).returncode == 0
    assert _run(["plan", "--no-such-option"], tmp_path, stderr_closed=True).returncode == 2
    assert _run(["status", "--name", "closedout"], tmp_path, stderr_closed=True).returncode == 4  # no environment
