"""`multidc list`: every environment on this host in one line each: name, provider, DCs, health in a word, age.

Health in a word: healthy; degraded (a leader, but problems: a node down, sealed, a non-voter, a fault); no-leader
(nodes answer, none leads); down (no node answers); creating (an `up` is running now); leftover (a crashed `up` or
an interrupted `down`: `multidc down --name NAME` removes it); unreadable (a state file multidc cannot read). Each
live environment is asked read-only (no write probe), all of them at once.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import locks
from .errors import MultidcError
from .paths import env_paths
from .providers import registry
from .state import StateError, load


@dataclass
class Entry:
    name: str
    provider: str
    datacenters: list[str]
    health: str
    age: float | None  # seconds since `up` made it (None: unknown)
    detail: str = ""
    leader: str = ""
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _up_running(name: str, root: Path) -> str | None:
    """Who runs an `up` of this environment now: its lock file names the holder and lives only while it is held."""
    try:
        path = locks.folder(root) / f"{name}.lock"
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.startswith("`multidc up`") or "(pid " not in text:
        return None
    try:
        pid = int(text.rsplit("(pid ", 1)[1].rstrip(")"))
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass
    return text


def _word(nodes: list[Any], healthy: bool, leader: str) -> str:
    if healthy:
        return "healthy"
    if not any(n.reachable for n in nodes):
        return "down"
    return "degraded" if leader else "no-leader"


def entry(name: str) -> Entry:
    paths = env_paths(name)
    root = paths.root.parent
    try:
        st = load(paths)
    except StateError as exc:
        return Entry(name, "?", [], "unreadable", None, str(exc))
    age = time.time() - st.created_at if st is not None and st.created_at else None
    if st is None or st.phase != "up":
        holder = _up_running(name, root)
        listed = (st.topology.get("datacenters") or []) if st else []
        dcs = [d if isinstance(d, str) else str(d.get("name", "?")) for d in listed]
        provider = st.provider if st else registry.remover(name).name  # what finds its leftovers
        if holder:
            return Entry(name, provider, dcs, "creating", age, f"{holder} is making it")
        what = "no state file" if st is None else "`up` never finished"
        return Entry(name, provider, dcs, "leftover", age, f"{what}; `multidc down --name {name}` removes it")
    try:
        running = registry.get(st.provider).attach(name)
        result = running.status(probe_write=False)
    except MultidcError as exc:
        return Entry(name, st.provider, [], "unreadable", age, str(exc).splitlines()[0])
    faults = {k: v for k, v in st.faults.items() if k != "cuts" and v}
    problems = list(result.problems) + [f"fault: {k} {v}" for k, v in faults.items()]
    word = _word(result.nodes, result.healthy, result.leader)
    return Entry(name, st.provider, running.datacenters, word, age, "", result.leader, problems)


def entries() -> list[Entry]:
    """Every environment on this host (registry.environments()), each checked at the same time as the others."""
    names = registry.environments()
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return list(pool.map(entry, names))


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
