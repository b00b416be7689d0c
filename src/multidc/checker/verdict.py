"""The one verdict every checker gives (the register's linearizability, the set, tokens and pki workloads' invariants, a
user's own model): valid or not, counts, the anomalies found by kind, and per key the linearizability search's answer.

Pure data; the CLI and the report render it. Every anomaly kind a checker knows is present, empty when none was found,
so a report can show "0 lost adds" rather than nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..history import Operation

SHOWN = 3  # anomalies quoted per kind in the one-line summary


@dataclass
class KeyVerdict:
    """The linearizability search's answer for one key (one partition of the history)."""

    key: str
    valid: bool
    operations: int
    # When not valid: a small set of operations that cannot be ordered (1-minimal within the search's probes).
    witness: list[Operation] = field(default_factory=list)
    undecided: bool = False  # the search exceeded its budget: neither proven nor refuted


@dataclass
class Verdict:
    model: str  # what judged: "register", "set", "tokens", "pki", or a user's model's name
    valid: bool
    counts: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, list[str]] = field(default_factory=dict)  # kind -> one line per finding
    keys: dict[str, KeyVerdict] = field(default_factory=dict)  # models searched for linearizability: per key
    # The register's anomalies as operations (anomalies holds their lines): reads of a value already overwritten;
    # acknowledged writes never observed; stale reads of a client's own past (a broken read-your-writes guarantee).
    stale_reads: list[Operation] = field(default_factory=list)
    lost_writes: list[Operation] = field(default_factory=list)
    own_stale_reads: list[Operation] = field(default_factory=list)

    @property
    def workload(self) -> str:
        return self.model

    def failing(self) -> list[KeyVerdict]:
        return [k for k in self.keys.values() if not k.valid]

    def found(self) -> dict[str, list[str]]:
        """The anomaly kinds with at least one finding."""
        return {kind: items for kind, items in self.anomalies.items() if items}

    def summary(self) -> str:
        """One line for people: the model, valid or not, the main counts, the anomalies (a few quoted)."""
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items() if "@" not in k)
        if self.valid:
            return f"{self.model}: valid ({counts})"
        parts = []
        for kind, items in self.found().items():
            quoted = "; ".join(items[:SHOWN]) + (f"; ... {len(items) - SHOWN} more" if len(items) > SHOWN else "")
            parts.append(f"{len(items)} {kind} ({quoted})")
        return f"{self.model}: NOT valid: {', '.join(parts)} ({counts})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.model,
            "valid": self.valid,
            "counts": dict(self.counts),
            "anomalies": {k: list(v) for k, v in self.anomalies.items()},
        }


def verdict(model: str, counts: dict[str, int], anomalies: dict[str, list[str]]) -> Verdict:
    """A verdict that is valid exactly when no anomaly was found."""
    return Verdict(model, not any(anomalies.values()), counts, anomalies)
