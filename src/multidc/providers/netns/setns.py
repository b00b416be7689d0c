"""Entering a named network namespace: setns(2) with the standard library only.

Kept apart from `namespaces` (netlink, the plan) so that the small processes started inside an environment, such as
the host-port forwarder, start in a few tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def enter(namespace: str) -> None:
    """Move the calling thread into a named network namespace (setns(2))."""
    fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {namespace}: {os.strerror(err)}")
    finally:
        os.close(fd)


def unshare() -> None:
    """Move the calling process into a new network namespace of its own, unnamed (unshare(2)): for a child about to
    exec, which `namespaces.create_site` names later (pyroute2's `netns.attach`, as `ip netns attach` does)."""
    if _libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare of the network namespace: {os.strerror(err)}")


def remove(namespace: str) -> None:
    """Remove a named network namespace as `ip netns delete` (and pyroute2) do: detach its bind mount, unlink the file.
    The namespace itself, with its links, goes once no process lives in it."""
    path = NETNS_DIR / namespace
    _libc.umount2(str(path).encode(), MNT_DETACH)  # an error here (not mounted) is the unlink's to report
    os.unlink(path)


def listed() -> list[str]:
    """The named network namespaces (the files in /run/netns)."""
    try:
        return os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
