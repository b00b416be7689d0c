"""The `multidc` command's entry point: Ctrl-C is one line and exit 130 from the first instant, even while the CLI's
modules are still loading (a traceback there would be the only multi-line error multidc prints)."""

from __future__ import annotations

import os
import signal
from types import FrameType


def _interrupted(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"multidc: interrupted\n")
    os._exit(130)  # nothing has been made yet: no cleanup to run


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted)
    from .cli import main as cli_main

    signal.signal(signal.SIGINT, previous)
    cli_main()
