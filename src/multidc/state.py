"""The per-environment state file: what `up` made (PIDs, ports, the topology), so status/env/down can find it."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ProviderError
from .paths import EnvPaths, write_private

_saving = threading.Lock()


@dataclass
class State:
    env: str
    topology: dict[str, Any]
    port_base: int
    binary: dict[str, str]
    phase: str = "creating"  # creating -> up
    pids: dict[str, int] = field(default_factory=dict)  # "kms", "forwarder", "node:<dc>", "unsealers", "delayer:<side>"
    created_at: float = 0.0
    provider: str = "netns"
    made: dict[str, Any] = field(default_factory=dict)  # kind/kube: clusters, container, contexts, endpoints
    faults: dict[str, Any] = field(default_factory=dict)  # active faults: stopped, paused, cuts, kms
    binaries: dict[str, dict[str, str]] = field(default_factory=dict)  # netns: DCs running another server than `binary`
    # netns: each DC's slot (interface, host port, default pool, address) once `dc add`/`dc remove` changed the
    # membership; empty: slots 1..n in topology order.
    slots: dict[str, int] = field(default_factory=dict)

    def host_ports(self) -> range:
        """The host ports this environment claims: the KMS's (port_base) to the highest slot's."""
        highest = max(self.slots.values(), default=len(self.topology.get("datacenters") or [1, 2, 3]))
        return range(self.port_base, self.port_base + highest + 1)

    def save(self, paths: EnvPaths) -> None:
        """Written whole, then renamed over the record: a command killed while saving leaves the previous record, never
        an empty or truncated one (`dc add` and `up` record their intent there before they make anything)."""
        part = paths.state.with_name(f"{paths.state.name}.{os.getpid()}.part")
        with _saving:  # kind's clusters are made (and recorded) by threads of one process: the last save wins whole
            write_private(part, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
            os.replace(part, paths.state)


class StateError(ProviderError):
    """The state file is not one multidc wrote (corrupt, truncated, or from an incompatible version)."""


def load(paths: EnvPaths) -> State | None:
    try:
        data = json.loads(paths.state.read_text())
        return State(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise StateError(
            f"{paths.state}: not a state file multidc can read ({str(exc).splitlines()[0][:120]}); "
            f"`multidc down --name {paths.root.name}` removes what it can find without it"
        ) from None


def read_secret(paths: EnvPaths, name: str) -> str | None:
    try:
        return paths.secret(name).read_text().strip()
    except FileNotFoundError:
        return None


def write_secret(paths: EnvPaths, name: str, value: str) -> None:
    write_private(paths.secret(name), value + "\n")
