"""Ctrl-C at a safe point. pyroute2 forks a helper for every namespace operation and subprocess forks for every
server; a KeyboardInterrupt raised inside a fork hook is swallowed by Python ("Exception ignored in ...") and a
half-made namespace can appear after cleanup looked. So SIGINT is held back while such a block runs and raised as
KeyboardInterrupt when it ends: an interrupt always stops the command, and cleanup sees everything that was made.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_pending: list[int] = []
_depth = 0


def _hold(signum: int, frame: FrameType | None) -> None:
    _pending.append(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT held back; raise KeyboardInterrupt after it if one arrived meanwhile."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals
        return
    previous = signal.getsignal(signal.SIGINT) if _depth == 0 else None
    if _depth == 0:
        signal.signal(signal.SIGINT, _hold)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
            if _pending:
                _pending.clear()
                raise KeyboardInterrupt
