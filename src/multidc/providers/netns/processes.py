"""Starting processes inside a namespace and ending them again, strictly by PID.

A process counts as ours when its network namespace is one of the environment's namespaces, or when its command line
names the environment's state directory (the forwarder before it enters the site namespace).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ... import interrupts
from . import namespaces


def spawn(
    argv: Sequence[str],
    namespace: str | None,
    log: Path,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    apart: bool = False,
) -> int:
    """Start a detached process (its own session, output to log) inside a network namespace (`apart`: a new one of
    its own, unnamed); return its PID."""
    if apart:
        preexec = namespaces.unshare
    elif namespace:
        preexec = lambda: namespaces.enter(namespace)  # noqa: E731
    else:
        preexec = None
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = open(log, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        with interrupts.deferred():  # a Ctrl-C inside the fork would be swallowed, or lose the child's PID
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                pass_fds=tuple(pass_fds),
                env=env if env is not None else _base_env(),
                preexec_fn=preexec,  # noqa: PLW1509
            )
            _children.append(proc)
    finally:
        out.close()
    return proc.pid


# Popen objects of what this process started, so exited children are reaped and never linger as zombies.
_children: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    for proc in list(_children):
        if proc.poll() is not None:
            with contextlib.suppress(ValueError):  # another thread (the joins wait for several servers) took it
                _children.remove(proc)


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k in keep}


def alive(pid: int) -> bool:
    _reap()
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [p.decode(errors="replace") for p in handle.read().split(b"\0") if p]
    except (FileNotFoundError, ProcessLookupError):
        return []


def belongs(pid: int, marker: str) -> bool:
    """True when the live process's command line names a path inside marker (the state dir): guards against reused
    PIDs. `<root>/t1` must not claim the processes of `<root>/t12`."""
    inside = marker.rstrip("/") + "/"
    return alive(pid) and any(inside in part or part.endswith(marker) for part in cmdline(pid))


def in_namespaces(names: Iterable[str]) -> list[int]:
    """PIDs of every process living in one of the named network namespaces."""
    wanted = {f"net:[{ino}]" for ino in (namespaces.inode(n) for n in names) if ino is not None}
    if not wanted:
        return []
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") in wanted:
                found.append(int(entry))
        except OSError:
            continue
    return found


def with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose command line names marker (an environment's state directory)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and belongs(int(entry), marker):
            found.append(int(entry))
    return found


def terminate(pids: Iterable[int], grace: float = 0.0, sig: signal.Signals = signal.SIGTERM) -> list[int]:
    """Signal each PID (SIGKILL after grace seconds if still alive); wait for them to go; return survivors."""
    pids = [p for p in pids if alive(p)]
    first = sig if grace > 0 else signal.SIGKILL
    for pid in pids:
        _signal(pid, first)
    deadline = time.monotonic() + grace
    while grace > 0 and any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in pids:
        if alive(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [p for p in pids if alive(p)]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
