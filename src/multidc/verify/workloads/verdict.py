"""The verdict of an invariant workload (set, tokens, pki): valid or not, counts, and the anomalies found by kind.

Pure data; the report and the CLI render it. Every anomaly kind a checker knows is present, empty when none was found,
so a report can show "0 lost adds" rather than nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOWN = 3  # anomalies quoted per kind in the one-line summary


@dataclass
class InvariantVerdict:
    workload: str
    valid: bool
    counts: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, list[str]] = field(default_factory=dict)

    def found(self) -> dict[str, list[str]]:
        """The anomaly kinds with at least one finding."""
        return {kind: items for kind, items in self.anomalies.items() if items}

    def summary(self) -> str:
        """One line for people: the workload, valid or not, the main counts, the anomalies (a few quoted)."""
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items() if "@" not in k)
        if self.valid:
            return f"{self.workload}: valid ({counts})"
        parts = []
        for kind, items in self.found().items():
            quoted = "; ".join(items[:SHOWN]) + (f"; ... {len(items) - SHOWN} more" if len(items) > SHOWN else "")
            parts.append(f"{len(items)} {kind} ({quoted})")
        return f"{self.workload}: NOT valid: {', '.join(parts)} ({counts})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "valid": self.valid,
            "counts": dict(self.counts),
            "anomalies": {k: list(v) for k, v in self.anomalies.items()},
        }


def verdict(workload: str, counts: dict[str, int], anomalies: dict[str, list[str]]) -> InvariantVerdict:
    return InvariantVerdict(workload, not any(anomalies.values()), counts, anomalies)
