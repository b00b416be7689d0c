"""One command at a time per environment: an advisory lock (flock) per environment name, and one for host ports.

`up`, `down`, `chaos`, `configure` and `verify` hold their environment's lock; a second one waits (`up`) or refuses
with one line naming the holder. As root, locks live in /run/multidc/locks: an environment's namespaces and host
ports are host-wide, so two state directories must not both drive a name. Otherwise (kind/kube as a user) they live
in `<state root>/.locks/`. Either way outside the environment's directory, so a `down` can hold its lock while the
directory goes. Re-entrant within a process (verify applies chaos; a failed `up` runs `down`). The kernel drops a
lock when its holder dies, so a SIGKILLed command never leaves one behind.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BusyError
from .paths import make_private_dir, state_root

LOCKS = ".locks"
HOST_DIR = Path("/run/multidc")
PORTS = ".ports"  # the host-port table's lock (a dot: never an environment's name)


_held: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth) in this process
_guard = threading.RLock()


def folder(root: Path | None = None) -> Path:
    return HOST_DIR / "locks" if os.geteuid() == 0 else (root or state_root()) / LOCKS


def _path(name: str, root: Path | None) -> Path:
    where = folder(root)
    make_private_dir(where)
    return where / f"{name}.lock"


HOLDER_PATIENCE = 0.5  # seconds to wait for a new holder to write who it is (it does so right after locking)


def _holder(path: Path) -> str:
    """Who holds the lock, as it wrote itself into the file; a holder that has just locked has not written yet, so an
    empty file is read again for a moment before the answer falls back to "another multidc command"."""
    deadline = time.monotonic() + HOLDER_PATIENCE
    while True:
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        if text or time.monotonic() >= deadline:
            return text or "another multidc command"
        time.sleep(0.02)


def _acquire(path: Path, wait: float, what: str, label: str, on_wait: Callable[[str], None] | None) -> int:
    deadline = time.monotonic() + wait
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if on_wait is not None and not told and wait > 0:
                on_wait(f"Waiting for {_holder(path)} to finish with {label}")
                told = True
            if time.monotonic() >= deadline:
                raise BusyError(
                    f"{label} is busy: {_holder(path)} holds it; wait for that to finish and try again"
                ) from None
            time.sleep(0.05)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # removed by a `down` between our open and our lock: take the new file instead
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`multidc {what}` (pid {os.getpid()})\n".encode(), 0)
        return fd


@contextmanager
def hold(
    name: str,
    what: str,
    root: Path | None = None,
    wait: float = 0.0,
    label: str = "",
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock `name` (an environment's name, or PORTS) while the block runs. `wait`: seconds to wait for a
    holder to finish before BusyError. The lock file is deleted on release (a waiter that opened it before notices
    and takes the new one), so no lock file outlives its command."""
    path = _path(name, root)
    key = str(path)
    with _guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if not reentered:
        fd = _acquire(path, wait, what, label or f"environment {name!r}", on_wait)
        with _guard:
            _held[key] = (fd, 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                del _held[key]
                path.unlink(missing_ok=True)
                os.close(fd)  # releases the flock
