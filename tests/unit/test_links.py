"""The network-fault record both providers keep: shaping a pair (delay, jitter, loss), and which directed pairs the
partitions, one-way cuts and bridges drop."""

from __future__ import annotations

import pytest

from multidc import links
from multidc.errors import FaultError
from multidc.links import Shape

PLACES = ["primary", "secondary", "tertiary", "kms"]


def test_a_pair_is_set_changed_and_removed_whatever_the_order_of_its_names() -> None:
    record = links.updated({}, "secondary", "primary", ms=50)
    assert record == {"primary,secondary": Shape(ms=50)}
    record = links.updated(record, "primary", "secondary", ms=20, jitter=5)  # type: ignore[arg-type]
    assert record == {"primary,secondary": Shape(ms=20, jitter=5)}
    record = links.updated(record, "primary", "secondary", loss=10.0)  # type: ignore[arg-type]
    assert record == {"primary,secondary": Shape(ms=20, jitter=5, loss=10.0)}
    # removing the delay keeps the loss, and removing the loss then removes the pair
    record = links.updated(record, "secondary", "primary", ms=0, jitter=0)  # type: ignore[arg-type]
    assert record == {"primary,secondary": Shape(loss=10.0)}
    assert links.updated(record, "secondary", "primary", ms=0, jitter=0) is None  # type: ignore[arg-type]
    assert links.updated(record, "secondary", "primary", loss=0) == {}  # type: ignore[arg-type]
    assert links.updated({}, "primary", "secondary", ms=0, jitter=0) is None  # nothing to remove


def test_the_record_round_trips_through_the_state_and_reads_older_delay_records() -> None:
    faults: dict[str, object] = {"delays": {"kms,primary": 40}}
    shapes = links.record(faults)
    assert shapes == {"kms,primary": Shape(ms=40)}
    shapes["primary,secondary"] = Shape(ms=10, jitter=2, loss=1.5)
    links.store(faults, shapes)
    assert faults == {"links": {"kms,primary": {"ms": 40}, "primary,secondary": {"ms": 10, "jitter": 2, "loss": 1.5}}}
    assert links.record(faults) == shapes
    links.store(faults, {})
    assert faults == {}


def test_peers_and_sides() -> None:
    record = {"primary,secondary": Shape(ms=50), "kms,primary": Shape(loss=3), "secondary,tertiary": Shape(ms=5)}
    assert links.peers("primary", record) == [("kms", Shape(loss=3)), ("secondary", Shape(ms=50))]
    assert links.peers("secondary", record) == [("primary", Shape(ms=50)), ("tertiary", Shape(ms=5))]
    assert links.peers("nowhere", record) == []
    assert links.sides(record) == ["kms", "primary", "secondary", "tertiary"]


def test_directed_cuts_of_partitions_one_way_cuts_and_bridges() -> None:
    assert links.directed({"partitions": [["tertiary"]]}, PLACES) == {
        (a, b) for x in ("primary", "secondary", "kms") for a, b in (("tertiary", x), (x, "tertiary"))
    }
    assert links.directed({"one-way": [["primary", "secondary"]]}, PLACES) == {("primary", "secondary")}
    left, right = links.bridge_halves("secondary", PLACES)
    assert (left, right) == (["primary"], ["tertiary"])  # the KMS stays reachable from everywhere
    bridge = {"bridges": [{"via": "secondary", "halves": [left, right]}]}
    assert links.directed(bridge, PLACES) == {("primary", "tertiary"), ("tertiary", "primary")}
    five = ["a", "b", "c", "d", "e", "kms"]
    assert links.bridge_halves("c", five) == (["a", "b"], ["d", "e"])


def test_descriptions_for_people() -> None:
    assert links.describe("links", {"primary,tertiary": {"ms": 40, "jitter": 10}}) == (
        "links: primary-tertiary +40 ms ±10 ms"
    )
    assert links.describe("links", {"kms,primary": {"loss": 5.0}}) == "links: kms-primary 5% loss"
    assert links.describe("one-way", [["primary", "kms"]]) == "one-way cuts: primary -> kms dropped"
    assert links.describe("bridges", [{"via": "secondary", "halves": [["primary"], ["tertiary"]]}]) == (
        "bridges: primary | tertiary cut, secondary reaches both"
    )
    assert links.describe("stopped", ["primary"]) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: links.check_pair("primary", "moon", PLACES), "no datacenter 'moon'; choose from: primary, second"),
        (lambda: links.check_pair("kms", "kms", PLACES), "two different places, got 'kms' twice"),
        (lambda: links.check_delay(60_001, 0), "out of range; give 0 \\(remove\\) to 60000 ms"),
        (lambda: links.check_delay(10, 11), "jitter of 11 ms is out of range; give 0 to 10 \\(the delay\\)"),
        (lambda: links.check_loss(101), "loss of 101% is out of range; give 0 \\(remove\\) to 100"),
        (lambda: links.check_loss(float("nan")), "loss of nan% is out of range"),
        (lambda: links.check_loss("5"), "loss '5' is not a number"),
        (lambda: links.check_delay(True, 0), "delay True is not a whole number of milliseconds"),  # type: ignore[arg-type]
        (lambda: links.check_delay(10, 1.5), "jitter 1.5 is not a whole number"),  # type: ignore[arg-type]
        (lambda: links.bridge_halves("kms", PLACES), "no datacenter 'kms' to bridge through"),
        (lambda: links.bridge_halves("primary", ["primary", "secondary", "kms"]), "needs at least 3 datacenters"),
    ],
)
def test_bad_link_faults_get_one_clear_line(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FaultError, match=message):
        call()
