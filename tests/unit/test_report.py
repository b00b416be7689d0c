"""Scenario figures from a history: failover is measured from the disruption, not from a scenario's background."""

from __future__ import annotations

from multidc import checker
from multidc.history import Operation
from multidc.verify.report import ScenarioResult, Window


def _write(i: int, call: float, ret: float) -> Operation:
    return Operation(id=i, process=i, f="write", key="k1", value=i, status="ok", call=call, ret=ret)


def _result(windows: list[Window]) -> ScenarioResult:
    ops = [_write(1, 0.1, 0.3), _write(2, 1.2, 1.4), _write(3, 2.0, 2.6)]
    return ScenarioResult(
        name="s", duration=3.0, verdict=checker.check(ops), operations=ops, processes={}, windows=windows
    )


def test_failover_counts_from_the_first_disruptive_fault() -> None:
    kill = Window(1.0, 2.0, "primary killed", "kill", "primary")
    assert _result([kill]).failover_time() == 0.4  # the write that began at 1.2 was acknowledged at 1.4


def test_a_wan_delay_set_at_the_start_is_not_the_fault_failed_over_from() -> None:
    wan = Window(0.0, 3.0, "WAN delay +100 ms", "delay")  # between every pair: no one target
    kill = Window(1.5, 2.0, "primary killed", "kill", "primary")
    assert _result([wan, kill]).failover_time() == 1.1  # from 1.5 to the ack at 2.6, not from 0.0
    assert _result([wan]).failover_time() is None


def test_unavailability_is_the_longest_stretch_without_an_acknowledged_write() -> None:
    assert _result([]).unavailability() == 1.2  # 1.4 -> 2.6


def _read(i: int, call: float, ret: float, value: object) -> Operation:
    return Operation(id=i, process=i, f="read", key="k1", value=value, status="ok", call=call, ret=ret)


def _scenario(ops: list[Operation], healthy: bool = True, problems: list[str] | None = None) -> ScenarioResult:
    return ScenarioResult(
        name="s",
        duration=3.0,
        verdict=checker.check(ops),
        operations=ops,
        processes={},
        healthy_after_heal=healthy,
        problems=problems or [],
    )


def test_passed_needs_every_condition_and_each_one_alone_fails_it() -> None:
    good = [_write(1, 0.1, 0.3), _read(2, 0.5, 0.6, 1)]
    assert _scenario(good).passed
    # not linearizable: a read of a value never written
    assert not _scenario([_write(1, 0.1, 0.3), _read(2, 0.5, 0.6, 99)]).passed
    # a lost write: acknowledged, then the final read (after it) does not see it
    lost = [_write(1, 0.1, 0.3), _write(2, 0.4, 0.5), _read(3, 1.0, 1.1, 1)]
    assert not _scenario(lost).passed
    assert not _scenario(good, healthy=False).passed
    assert not _scenario(good, problems=["tertiary was unsealed while the KMS was down"]).passed
    assert not _scenario(good, problems=["tertiary was not back and unsealed 30s after the KMS was"]).passed
