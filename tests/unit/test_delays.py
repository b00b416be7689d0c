"""The delay record both providers keep: setting, changing and removing a pair, and who is delayed to whom."""

from __future__ import annotations

import pytest

from multidc import delays
from multidc.errors import FaultError

PLACES = ["primary", "secondary", "tertiary", "kms"]


def test_a_pair_is_set_changed_and_removed_whatever_the_order_of_its_names() -> None:
    record = delays.updated({}, "secondary", "primary", 50)
    assert record == {"primary,secondary": 50}
    record = delays.updated(record, "primary", "secondary", 20)  # type: ignore[arg-type]
    assert record == {"primary,secondary": 20}
    assert delays.updated(record, "secondary", "primary", 0) == {}  # type: ignore[arg-type]
    assert delays.updated({}, "primary", "secondary", 0) is None  # nothing to remove


def test_peers_and_sides() -> None:
    record = {"primary,secondary": 50, "kms,primary": 10, "secondary,tertiary": 5}
    assert delays.peers("primary", record) == [("kms", 10), ("secondary", 50)]
    assert delays.peers("secondary", record) == [("primary", 50), ("tertiary", 5)]
    assert delays.peers("nowhere", record) == []
    assert delays.sides(record) == ["kms", "primary", "secondary", "tertiary"]


@pytest.mark.parametrize(
    ("a", "b", "ms", "message"),
    [
        ("primary", "moon", 5, "no datacenter 'moon'; choose from: primary, secondary, tertiary, kms"),
        ("kms", "kms", 5, "two different places, got 'kms' twice"),
        ("primary", "kms", 60_001, "out of range; give 0 \\(remove\\) to 60000 ms"),
    ],
)
def test_bad_delays_get_one_clear_line(a: str, b: str, ms: int, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        delays.check(a, b, ms, PLACES)
