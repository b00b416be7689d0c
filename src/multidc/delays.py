"""Latency faults as data: which pairs of places (DCs, `kms`) are delayed and by how much. Both providers keep the
same record in their state (`faults["delays"]`, {"a,b": ms}) and shape their network from it."""

from __future__ import annotations

from .errors import FaultError

MAX_MS = 60_000


def check(a: str, b: str, ms: int, places: list[str]) -> None:
    """One clear line for a delay that cannot be set."""
    for name in (a, b):
        if name not in places:
            raise FaultError(f"no datacenter {name!r}; choose from: {', '.join(places)}")
    if a == b:
        raise FaultError(f"delay needs two different places, got {a!r} twice")
    if not 0 <= ms <= MAX_MS:
        raise FaultError(f"delay of {ms} ms is out of range; give 0 (remove) to {MAX_MS} ms")


def updated(delays: dict[str, int], a: str, b: str, ms: int) -> dict[str, int] | None:
    """The record after setting a-b to ms (0 removes it); None when asked to remove a delay that is not set."""
    result = dict(delays)
    key = ",".join(sorted((a, b)))
    if ms:
        result[key] = ms
    elif result.pop(key, None) is None:
        return None
    return result


def peers(side: str, delays: dict[str, int]) -> list[tuple[str, int]]:
    """The places side is delayed to, with their delays, in name order."""
    found = []
    for key, ms in delays.items():
        first, second = key.split(",")
        if side in (first, second):
            found.append((second if side == first else first, ms))
    return sorted(found)


def sides(delays: dict[str, int]) -> list[str]:
    """Every place that has a delay to something."""
    return sorted({side for key in delays for side in key.split(",")})
