"""What a newcomer does after the README's command 1, in a shell whose PATH does not hold the venv."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Live

pytestmark = pytest.mark.integration


def test_the_hint_up_prints_works_as_printed_in_a_shell_without_the_venv(live: Callable[[], Live]) -> None:
    env = live()
    env.env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"  # a fresh shell: .venv/bin is not on it
    up = env.run("up")
    (hint,) = [line for line in up.stdout.splitlines() if line.startswith("Use it:")]
    command = hint.removeprefix("Use it:").strip()
    assert str(Path(sys.executable).parent) in command, hint
    shell = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env.env, timeout=60)
    assert shell.returncode == 0, f"{command!r} exited {shell.returncode}: {shell.stderr}"
    assert "Sealed" in shell.stdout and "false" in shell.stdout, shell.stdout
