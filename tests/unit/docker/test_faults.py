"""Docker faults as the commands they run: processes through docker, cuts as routes inside the holders' namespaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multidc.errors import FaultError, PrerequisiteError, TopologyError
from multidc.providers.docker.faults import CUT_DEVICE, DockerFaults
from multidc.runner import RecordingRunner

from .conftest import answers, environment


def faults(tmp_path: Path, running: bool = True) -> tuple[DockerFaults, RecordingRunner]:
    runner = RecordingRunner([answers(running=running)])
    return DockerFaults(environment(tmp_path, runner)), runner


def acts(runner: RecordingRunner) -> list[str]:
    """The commands that change something (not the inspections)."""
    return [c for c in runner.commands if "docker inspect" not in c]


def test_process_faults_act_on_the_server_container_and_are_recorded(tmp_path: Path) -> None:
    f, runner = faults(tmp_path)
    f.kill("primary")
    f.stop("secondary")
    f.pause("tertiary")
    assert json.loads(f.env.paths.state.read_text())["faults"] == {
        "paused": ["tertiary"],
        "stopped": ["primary", "secondary"],
    }
    f.resume("tertiary")
    assert acts(runner) == [
        "docker kill mdc.t.primary",
        "docker stop -t 10 mdc.t.secondary",
        "docker pause mdc.t.tertiary",
        "docker unpause mdc.t.tertiary",
    ]


def test_a_fault_on_an_unknown_dc_is_refused_naming_the_choices(tmp_path: Path) -> None:
    f, runner = faults(tmp_path)
    with pytest.raises(FaultError, match="no datacenter 'nope'; choose one of: primary, secondary, tertiary"):
        f.kill("nope")
    assert runner.commands == []


def test_a_partition_routes_the_other_side_into_the_cut_device_on_both_sides(tmp_path: Path) -> None:
    f, runner = faults(tmp_path)
    f.partition(["tertiary"])
    execs = {c.split()[2]: c for c in runner.commands if c.startswith("docker exec")}
    assert sorted(execs) == ["mdc.t.kms.net", "mdc.t.primary.net", "mdc.t.secondary.net", "mdc.t.tertiary.net"]
    tertiary = execs["mdc.t.tertiary.net"]
    assert f"tunctl -t {CUT_DEVICE}" in tertiary and f"ip link set {CUT_DEVICE} arp off up" in tertiary
    for address in ("172.18.0.2", "172.18.1.128", "172.18.2.128"):  # the KMS and the other DCs' VIPs
        assert f"ip route replace {address}/32 dev {CUT_DEVICE}" in tertiary
    assert "ip route replace 172.18.3.128/32" in execs["mdc.t.primary.net"]
    assert "172.18.2.128" not in execs["mdc.t.primary.net"]  # the majority still reaches itself
    assert f.env.state is not None and f.env.state.faults["partitions"] == [["tertiary"]]
    runner.calls.clear()
    f.heal()
    removed = sorted(c.split()[2] for c in runner.commands if f"tunctl -d {CUT_DEVICE}" in c)
    assert removed == ["mdc.t.kms.net", "mdc.t.primary.net", "mdc.t.secondary.net", "mdc.t.tertiary.net"]
    assert f.env.state.faults == {}


def test_a_one_way_cut_routes_only_on_the_sending_side(tmp_path: Path) -> None:
    f, runner = faults(tmp_path)
    f.cut("primary", "secondary")
    execs = [c for c in runner.commands if c.startswith("docker exec")]
    assert len(execs) == 1 and execs[0].split()[2] == "mdc.t.primary.net"
    assert "ip route replace 172.18.2.128/32" in execs[0]


def test_healing_one_of_two_cuts_takes_only_its_routes_away(tmp_path: Path) -> None:
    f, runner = faults(tmp_path)
    f.cut("primary", "secondary")
    f.cut("primary", "tertiary")
    assert f.env.state is not None and f.env.state.faults["cuts"] == {"primary": ["172.18.2.128", "172.18.3.128"]}
    f.env.state.faults["one-way"] = [["primary", "tertiary"]]
    runner.calls.clear()
    f._apply_cuts()
    (only,) = [c for c in runner.commands if c.startswith("docker exec")]
    assert "ip route del 172.18.2.128/32" in only and "replace" not in only


@pytest.mark.parametrize("action", ["delay", "loss"])
def test_delay_and_loss_are_refused_in_one_line_naming_what_is_missing(tmp_path: Path, action: str) -> None:
    f, runner = faults(tmp_path)
    with pytest.raises(PrerequisiteError, match="sch_netem") as refused:
        f.delay("primary", "secondary", 50) if action == "delay" else f.loss("primary", "secondary", 10.0)
    assert refused.value.exit_code == 2 and "\n" not in str(refused.value)
    assert runner.commands == []


def test_starting_a_running_server_is_refused(tmp_path: Path) -> None:
    f, runner = faults(tmp_path, running=True)
    with pytest.raises(FaultError, match="already running"):
        f.start("primary")
    assert acts(runner) == []


@pytest.mark.parametrize(
    "operation", ["upgrade", "snapshot_save", "snapshot_restore", "recover", "add_dc", "remove_dc"]
)
def test_day2_operations_are_refused_in_one_line_before_any_command(tmp_path: Path, operation: str) -> None:
    runner = RecordingRunner([answers()])
    ops = environment(tmp_path, runner).operations()
    args = {"snapshot_save": [tmp_path / "s"], "snapshot_restore": [tmp_path / "s"], "recover": ["primary"]}
    with pytest.raises(TopologyError, match="the docker provider cannot do this yet") as refused:
        getattr(ops, operation)(*args.get(operation, ["x"] if "dc" in operation else []))
    assert refused.value.exit_code == 2
    assert runner.commands == []
