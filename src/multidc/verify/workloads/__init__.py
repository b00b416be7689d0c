"""Workloads beside the register, each a client part and a pure checker: `set` (acknowledged adds last and reach every
DC), `tokens` (created tokens stay valid, revoked ones do not) and `pki` (unique serials, every certificate listed).

    w = make("set", endpoints={dc: env.address(dc) for dc in env.datacenters}, ca=env.ca_cert,
             token=env.root_token, prefix=f"multidc-verify/set-{time.time_ns()}", recorder=Recorder())
    w.setup(); threads = w.run(stop); ...; stop.set(); [t.join() for t in threads]
    (heal, wait healthy) w.final(); print(w.verdict().summary()); w.cleanup()

The history (`w.recorder.history()`) is the register's event format with each workload's own `f`s; `key` is the DC an
operation went through (invariants.py lists them).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from ..workload import Recorder
from .certificates import PkiWorkload
from .clients import Clients
from .invariants import CHECKERS, check_pki, check_set, check_tokens
from .kvset import SetWorkload
from .tokens import TokenWorkload
from .verdict import InvariantVerdict


class Workload(Protocol):
    """What a scenario runs. Constructed with keywords: endpoints ({DC: URL}), ca, token (root), prefix (unique per
    run), recorder, and optionally per_dc, timeout, pause, seed, consistency ("eventual" | "index"), final_timeout."""

    @property
    def name(self) -> str: ...  # "set" | "tokens" | "pki"

    @property
    def mutations(self) -> tuple[str, ...]: ...  # the `f`s that change the cluster (failover, availability)

    recorder: Recorder
    processes_by_dc: dict[int, str]  # process number -> the DC its operations went through
    timeout: float  # per client request: a client thread ends within about this after `stop` is set
    caught_up: dict[str, float | None]  # after final(): seconds each DC took to apply what the leader had committed
    cleanup_problems: list[str]  # after cleanup(): what could not be removed

    def setup(self) -> None:
        """Make what the workload needs (mounts, a CA, a role, a parent token), through the leader; idempotent."""

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        """Start per_dc clients per DC, each through its own DC's endpoint; they end once `stop` is set."""

    def final(self) -> None:
        """After the cluster is healed and healthy: observe through every DC (recorded as events too)."""

    def verdict(self) -> InvariantVerdict:
        """The pure checker on the recorded history."""

    def cleanup(self) -> None:
        """Best effort: remove what setup and the clients made (never judged, never raises; see cleanup_problems)."""


WORKLOADS: dict[str, type[Clients]] = {w.name: w for w in (SetWorkload, TokenWorkload, PkiWorkload)}


def make(name: str, **kwargs: Any) -> Workload:
    """The workload called `name` ("set", "tokens", "pki"), built with the keywords of Workload."""
    if name not in WORKLOADS:
        raise ValueError(f"workload {name!r}: choose one of {', '.join(WORKLOADS)} (or the register)")
    return WORKLOADS[name](**kwargs)


__all__ = [
    "CHECKERS",
    "WORKLOADS",
    "InvariantVerdict",
    "PkiWorkload",
    "SetWorkload",
    "TokenWorkload",
    "Workload",
    "check_pki",
    "check_set",
    "check_tokens",
    "make",
]
