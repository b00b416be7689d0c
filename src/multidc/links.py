"""Network faults as data, the same record for every provider: how each pair of places (DCs, `kms`) is shaped
(delay, jitter, loss, each way) and which directed pairs are cut. Providers shape their network from it.

State: `faults["links"]` = {"a,b": {"ms": 40, "jitter": 10, "loss": 5.0}} (only what is set; a pair with nothing set is
not listed), `faults["one-way"]` = [["a", "b"]] (a's packets to b are dropped), `faults["bridges"]` =
[{"via": "b", "halves": [["a"], ["c"]]}], `faults["partitions"]` = [["a"]] (the group, cut both ways from the rest).
Jitter is uniform: each packet waits MS + U(-J, +J) milliseconds (netem's default when no distribution table is
given), so packets of one flow may overtake each other, as with netem. Loss drops each packet with the given
probability, independently, in each direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import FaultError

MAX_MS = 60_000


@dataclass(frozen=True)
class Shape:
    ms: int = 0  # added to every packet, each way
    jitter: int = 0  # +- this many ms, uniform
    loss: float = 0.0  # percent of packets dropped, each way

    @classmethod
    def of(cls, value: Any) -> Shape:
        if isinstance(value, int):  # a state file written before jitter and loss: the delay alone
            return cls(ms=value)
        return cls(ms=int(value.get("ms", 0)), jitter=int(value.get("jitter", 0)), loss=float(value.get("loss", 0)))

    @property
    def empty(self) -> bool:
        return not (self.ms or self.jitter or self.loss)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("ms", self.ms), ("jitter", self.jitter), ("loss", self.loss)) if v}

    def describe(self) -> str:
        parts = []
        if self.ms or self.jitter:
            parts.append(f"+{self.ms} ms" + (f" ±{self.jitter} ms" if self.jitter else ""))
        if self.loss:
            parts.append(f"{self.loss:g}% loss")
        return ", ".join(parts)


def check_pair(a: str, b: str, places: list[str]) -> None:
    for name in (a, b):
        if name not in places:
            raise FaultError(f"no datacenter {name!r}; choose from: {', '.join(places)}")
    if a == b:
        raise FaultError(f"a link needs two different places, got {a!r} twice")


def _whole(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{what} {value!r} is not a whole number of milliseconds")


def check_delay(ms: int, jitter: int) -> None:
    _whole(ms, "delay")
    _whole(jitter, "jitter")
    if not 0 <= ms <= MAX_MS:
        raise FaultError(f"delay of {ms} ms is out of range; give 0 (remove) to {MAX_MS} ms")
    if not 0 <= jitter <= ms:
        raise FaultError(
            f"jitter of {jitter} ms is out of range; give 0 to {ms} (the delay): each packet waits the delay ± jitter"
        )


def check_loss(percent: float) -> None:
    if isinstance(percent, bool) or not isinstance(percent, (int, float)):
        raise FaultError(f"loss {percent!r} is not a number (a percentage, 0 to 100)")
    if not 0 <= percent <= 100 or percent != percent:
        raise FaultError(f"loss of {percent}% is out of range; give 0 (remove) to 100")


def set_delay(a: str, b: str, ms: int, jitter: int, places: list[str], apply: Callable[..., bool]) -> str:
    """Check, then apply(a, b, ms=, jitter=) (False: nothing to remove); one line for people."""
    check_pair(a, b, places)
    check_delay(ms, jitter)
    if not apply(a, b, ms=ms, jitter=jitter):
        return f"no delay between {a} and {b} to remove"
    if not ms:
        return f"removed the delay between {a} and {b}"
    spread = f" ± {jitter} ms (uniform)" if jitter else ""
    return f"delayed every packet between {a} and {b} by {ms} ms{spread} each way (round trip +{2 * ms} ms)"


def set_loss(a: str, b: str, percent: float, places: list[str], apply: Callable[..., bool]) -> str:
    """Check, then apply(a, b, loss=) (False: nothing to remove); one line for people."""
    check_pair(a, b, places)
    check_loss(percent)
    if not apply(a, b, loss=percent):
        return f"no loss between {a} and {b} to remove"
    if not percent:
        return f"removed the loss between {a} and {b}"
    return f"dropping {percent:g}% of the packets between {a} and {b}, each way"


def key(a: str, b: str) -> str:
    return ",".join(sorted((a, b)))


def record(faults: dict[str, Any]) -> dict[str, Shape]:
    """The shaped pairs of a state file's faults (also reads the `delays` record of older state files)."""
    found = {pair: Shape(ms=ms) for pair, ms in faults.get("delays", {}).items()}
    found.update({pair: Shape.of(value) for pair, value in faults.get("links", {}).items()})
    return found


def store(faults: dict[str, Any], shapes: dict[str, Shape]) -> None:
    faults.pop("delays", None)
    if shapes:
        faults["links"] = {pair: shape.to_dict() for pair, shape in sorted(shapes.items())}
    else:
        faults.pop("links", None)


def updated(shapes: dict[str, Shape], a: str, b: str, **change: Any) -> dict[str, Shape] | None:
    """The record after changing a-b's delay/jitter (ms, jitter) or loss; None when asked to remove what is not set."""
    result = dict(shapes)
    pair = key(a, b)
    old = result.get(pair, Shape())
    new = Shape(**{**old.__dict__, **change})
    if new == old and all(not v for v in change.values()):
        return None
    if new.empty:
        result.pop(pair, None)
    else:
        result[pair] = new
    return result


def peers(side: str, shapes: dict[str, Shape]) -> list[tuple[str, Shape]]:
    """The places side's link to is shaped, with their shapes, in name order."""
    found = []
    for pair, shape in shapes.items():
        first, second = pair.split(",")
        if side in (first, second):
            found.append((second if side == first else first, shape))
    return sorted(found, key=lambda p: p[0])


def sides(shapes: dict[str, Shape]) -> list[str]:
    """Every place that has a shaped link to something."""
    return sorted({side for pair in shapes for side in pair.split(",")})


# --- cuts


def bridge_halves(via: str, places: list[str]) -> tuple[list[str], list[str]]:
    """Jepsen's bridge: every DC but `via` split in two halves (in order) that cannot reach each other; `via` reaches
    both. The KMS is not a DC: it stays reachable from everywhere."""
    rest = [p for p in places if p != via and p != "kms"]
    if via not in places or via == "kms":
        raise FaultError(
            f"no datacenter {via!r} to bridge through; choose from: {', '.join(p for p in places if p != 'kms')}"
        )
    if len(rest) < 2:
        raise FaultError("a bridge needs at least 3 datacenters (two halves and the DC between them)")
    middle = (len(rest) + 1) // 2
    return rest[:middle], rest[middle:]


def add_partition(faults: dict[str, Any], group: list[str], places: list[str]) -> list[str]:
    """Record a partition of `group` (cut both ways from every other place); returns the other side."""
    group = list(dict.fromkeys(group))
    for name in group:
        if name not in places:
            raise FaultError(f"no datacenter {name!r}; choose from: {', '.join(places)}")
    rest = [p for p in places if p not in group]
    if not group or not rest:
        raise FaultError("a partition needs at least one member on each side")
    faults["partitions"] = [*faults.get("partitions", []), sorted(group)]
    return rest


def add_one_way(faults: dict[str, Any], a: str, b: str, places: list[str]) -> None:
    """Record a one-way cut: a's packets to b are dropped."""
    check_pair(a, b, places)
    one_way = list(faults.get("one-way", []))
    if [a, b] not in one_way:
        one_way.append([a, b])
    faults["one-way"] = one_way


def add_bridge(faults: dict[str, Any], via: str, places: list[str]) -> tuple[list[str], list[str]]:
    """Record a bridge through `via`; returns its two halves."""
    left, right = bridge_halves(via, places)
    faults["bridges"] = [*faults.get("bridges", []), {"via": via, "halves": [left, right]}]
    return left, right


def directed(faults: dict[str, Any], places: list[str]) -> set[tuple[str, str]]:
    """Every (source, destination) pair the recorded cuts drop packets on."""
    found: set[tuple[str, str]] = set()
    for group in faults.get("partitions", []):
        rest = [p for p in places if p not in group]
        found |= {(a, b) for a in group for b in rest} | {(b, a) for a in group for b in rest}
    for a, b in faults.get("one-way", []):
        found.add((a, b))
    for bridge in faults.get("bridges", []):
        left, right = bridge["halves"]
        found |= {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}
    return found


def describe(kind: str, value: Any) -> str | None:
    """A network fault of the state file for people; None for a kind that is not one."""
    if kind == "partitions":
        return "partitions: " + " | ".join(",".join(group) for group in value)
    if kind == "one-way":
        return "one-way cuts: " + ", ".join(f"{a} -> {b} dropped" for a, b in value)
    if kind == "bridges":
        return "bridges: " + ", ".join(
            f"{','.join(b['halves'][0])} | {','.join(b['halves'][1])} cut, {b['via']} reaches both" for b in value
        )
    if kind in ("links", "delays"):
        shapes = record({kind: value})
        return "links: " + ", ".join(
            f"{pair.replace(',', '-')} {shape.describe()}" for pair, shape in sorted(shapes.items())
        )
    return None
