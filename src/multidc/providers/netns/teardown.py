"""Removing an environment (`down`), what of it remains on the host, and which environments there are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ... import locks
from ...errors import ProviderError
from ...names import is_env_name
from ...paths import env_paths, finish_removals, retire_env_dir, state_root
from ...state import StateError, load
from .host import LINUX, Host


@dataclass
class DownResult:
    env: str
    processes: int
    namespaces: list[str]
    removed_dir: bool


def down(env: str, root: Path | None = None, host: Host = LINUX) -> DownResult:
    """Stop every process and remove every namespace and file of the environment. Idempotent, and restartable: a
    `down` interrupted at any point is finished by the next one (or by `down --all`)."""
    host.check()
    paths = env_paths(env, root)
    with locks.hold(env, "down", paths.root.parent):
        host.check_owner(paths)
        try:
            st = load(paths)
        except StateError:
            st = None  # unreadable: its namespaces and their processes are still found below
        # The directory goes first (renamed to a tombstone): whatever a killed `down` leaves after this point is
        # namespaces and the processes living in them, which the next `up` or `down` finds without the directory.
        tomb = retire_env_dir(paths)
        names = host.namespaces_of(env)
        pids = set(host.pids_in(names))
        if st is not None:
            marker = str(paths.root)
            pids |= {pid for pid in st.pids.values() if host.belongs(pid, marker)}
        survivors = host.terminate(sorted(pids))
        if survivors:
            raise ProviderError(f"could not stop process(es) {survivors} of {env!r}")
        stuck = host.remove_namespaces(names)
        if stuck:
            raise ProviderError(f"could not remove namespace(s) {', '.join(stuck)}")
        finish_removals(paths.root.parent)
        host.forget_owner(paths)
    return DownResult(env, len(pids), names, tomb is not None)


def remains(env: str, root: Path | None = None, host: Host = LINUX) -> list[str]:
    """What of the environment is still on this host (namespaces, processes, its directory): empty after `down`."""
    paths = env_paths(env, root)
    names = host.namespaces_of(env)
    found = [f"namespace {n}" for n in names]
    found += [f"process {pid}" for pid in host.pids_in(names)]
    found += [f"process {pid}" for pid in host.pids_marked(str(paths.root))]
    if os.path.lexists(paths.root):
        found.append(f"directory {paths.root}")
    return found


def environments(root: Path | None = None, host: Host = LINUX) -> list[str]:
    """Every environment on this host: with a state directory (complete or not) or with a namespace. Finishes the
    removals an interrupted `down` left behind."""
    base = root or state_root()
    found = set(host.environments())
    finish_removals(base)
    if base.is_dir():
        found |= {d.name for d in base.iterdir() if is_env_name(d.name) and d.is_dir() and not d.is_symlink()}
    # Names whose namespaces another live state directory owns are that directory's to manage, not leftovers.
    return sorted(n for n in found if is_env_name(n) and not host.foreign_owner(env_paths(n, base)))
