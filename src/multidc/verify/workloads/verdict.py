"""The verdict of an invariant workload (set, tokens, pki): the one Verdict every checker gives (multidc.checker), by
the name the workloads have always used."""

from __future__ import annotations

from ...checker.verdict import SHOWN, Verdict, verdict

InvariantVerdict = Verdict

__all__ = ["SHOWN", "InvariantVerdict", "verdict"]
