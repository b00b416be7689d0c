"""The `multidc` command's entry point: Ctrl-C is one line and exit 130 from the first instant, even while the CLI's
modules are still loading (a traceback there would be the only multi-line error multidc prints).

Standard output and error forgive a reader that leaves (outputs.py).

The command ends without the interpreter's teardown: freeing the modules a command loaded took ~0.1 s of every `up`
(measured: `import multidc.api` then exit 0.32 s, then `os._exit` 0.20 s). By then every file multidc wrote is closed
(each is written in a `with` block) and no thread of it is left working; standard output and error are flushed here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

from .outputs import forgive


def _interrupted(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError):  # stderr's reader may be gone: the exit code still says it
        os.write(2, b"multidc: interrupted\n")
    os._exit(130)  # nothing has been made yet: no cleanup to run


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted)
    forgive("stdout")
    forgive("stderr")
    from .cli import main as cli_main

    signal.signal(signal.SIGINT, previous)
    try:
        cli_main()
        code = 0
    except SystemExit as exc:  # how click ends every command
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    _leave(code)


def _leave(code: int) -> None:
    with contextlib.suppress(OSError):  # a stream `forgive` left as it was, whose reader has gone
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
