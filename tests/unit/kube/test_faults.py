from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from multidc import topology
from multidc.errors import FaultError
from multidc.paths import EnvPaths
from multidc.providers.kube.faults import KindFaults
from multidc.providers.kube.manifests import KIND, make_kube_plan
from multidc.runner import Completed, RecordingRunner
from multidc.state import State

from .conftest import FakeKms


def faults(paths: EnvPaths) -> tuple[KindFaults, RecordingRunner]:
    plan = make_kube_plan(topology.parse({}), "t", KIND, IPv4Network("172.18.0.0/16"))
    runner = RecordingRunner()
    state = State(env="t", topology={}, port_base=0, binary={}, provider="kind", made={"kms_url": "http://kms:8200"})
    return KindFaults(plan, runner, state, paths, FakeKms()), runner


def test_kms_up_from_python_unseals_the_kms_and_every_fault_is_recorded(tmp_path: Path) -> None:
    paths = EnvPaths(tmp_path / "t")
    f, runner = faults(paths)
    f.kms_down()
    assert json.loads(paths.state.read_text())["faults"] == {"kms": ["down"]}
    f.kms_up()
    assert f.kms.prepared == ["http://kms:8200"]  # type: ignore[union-attr]
    assert json.loads(paths.state.read_text())["faults"] == {}


def test_kind_faults_are_docker_commands_on_the_node_containers(tmp_path: Path) -> None:
    f, runner = faults(EnvPaths(tmp_path / "t"))
    f.kill("primary")
    f.start("primary")
    f.pause("secondary")
    f.resume("secondary")
    f.partition(["tertiary", "secondary"])
    assert f.state.faults == {"disconnected": ["secondary", "tertiary"]}
    f.heal()
    f.kms_down()
    f.kms_up()
    assert runner.commands == [
        "docker kill primary-control-plane",
        "docker start primary-control-plane",
        "docker pause secondary-control-plane",
        "docker unpause secondary-control-plane",
        "docker network disconnect kind tertiary-control-plane",
        "docker network disconnect kind secondary-control-plane",
        "docker network connect kind secondary-control-plane",
        "docker network connect kind tertiary-control-plane",
        "docker stop t-central-vault",
        "docker start t-central-vault",
    ]
    assert f.state.faults == {}


def test_unknown_dc_is_refused(tmp_path: Path) -> None:
    f, runner = faults(EnvPaths(tmp_path / "t"))
    with pytest.raises(FaultError, match="no datacenter 'moon'"):
        f.kill("moon")
    assert runner.commands == []


def test_kind_delay_is_netem_on_both_node_containers(tmp_path: Path) -> None:
    f, runner = faults(EnvPaths(tmp_path / "t"))
    addresses = {
        "primary-control-plane": "172.18.0.2",
        "secondary-control-plane": "172.18.0.3",
        "t-central-vault": "172.18.0.9",
    }

    def inspect(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        return Completed(argv, 0, addresses[argv[-1]] + "\n") if argv[:2] == ("docker", "inspect") else None

    runner.responders.append(inspect)
    said = f.delay("primary", "secondary", 80)
    assert "by 80 ms each way" in said
    assert f.state.faults == {"links": {"primary,secondary": {"ms": 80}}}
    tc = [c for c in runner.commands if " tc " in c]
    assert tc == [
        "docker exec primary-control-plane tc qdisc del dev eth0 root",
        "docker exec primary-control-plane tc qdisc add dev eth0 root handle 1: prio bands 4 priomap "
        "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1",
        "docker exec primary-control-plane tc qdisc add dev eth0 parent 1:4 handle 40: netem delay 80ms",
        "docker exec primary-control-plane tc filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst "
        "172.18.0.3/32 flowid 1:4",
        "docker exec primary-control-plane tc filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst "
        "172.18.2.128/32 flowid 1:4",
        "docker exec secondary-control-plane tc qdisc del dev eth0 root",
        "docker exec secondary-control-plane tc qdisc add dev eth0 root handle 1: prio bands 4 priomap "
        "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1",
        "docker exec secondary-control-plane tc qdisc add dev eth0 parent 1:4 handle 40: netem delay 80ms",
        "docker exec secondary-control-plane tc filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst "
        "172.18.0.2/32 flowid 1:4",
        "docker exec secondary-control-plane tc filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst "
        "172.18.1.128/32 flowid 1:4",
    ]
    # A second pair on primary: its tree is rebuilt with a band per peer; the KMS has no VIP.
    runner.calls.clear()
    f.delay("kms", "primary", 30)
    primary = [c for c in runner.commands if c.startswith("docker exec primary-control-plane")]
    assert "prio bands 5" in primary[1]
    assert any("parent 1:4 handle 40: netem delay 30ms" in c for c in primary)  # kms sorts first
    assert any("parent 1:5 handle 50: netem delay 80ms" in c for c in primary)
    assert any("match ip dst 172.18.0.9/32 flowid 1:4" in c for c in primary)
    # heal puts the default qdisc back on every delayed container
    runner.calls.clear()
    assert "removed 2 shaped link(s)" in f.heal()
    assert runner.commands == [
        "docker exec t-central-vault tc qdisc del dev eth0 root",
        "docker exec primary-control-plane tc qdisc del dev eth0 root",
        "docker exec secondary-control-plane tc qdisc del dev eth0 root",
    ]
    assert f.state.faults == {}


def test_kind_delay_refuses_bad_input_before_running_anything(tmp_path: Path) -> None:
    f, runner = faults(EnvPaths(tmp_path / "t"))
    for a, b, ms, message in [
        ("primary", "moon", 5, "no datacenter 'moon'"),
        ("primary", "primary", 5, "two different places"),
        ("primary", "secondary", -1, "out of range"),
    ]:
        with pytest.raises(FaultError, match=message):
            f.delay(a, b, ms)
    assert runner.commands == []
    assert "no delay between primary and secondary" in f.delay("primary", "secondary", 0)


def test_kind_one_way_cuts_bridges_jitter_and_loss_are_tc_drop_filters_and_netem(tmp_path: Path) -> None:
    f, runner = faults(EnvPaths(tmp_path / "t"))
    addresses = {
        "primary-control-plane": "172.18.0.2",
        "secondary-control-plane": "172.18.0.3",
        "tertiary-control-plane": "172.18.0.4",
    }

    def inspect(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        return Completed(argv, 0, addresses[argv[-1]] + "\n") if argv[:2] == ("docker", "inspect") else None

    runner.responders.append(inspect)
    f.cut("primary", "secondary")
    tc = [c for c in runner.commands if " tc " in c]
    assert tc == [
        "docker exec primary-control-plane tc qdisc del dev eth0 root",
        "docker exec primary-control-plane tc qdisc add dev eth0 root handle 1: prio bands 3 priomap "
        "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1",
        "docker exec primary-control-plane tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst "
        "172.18.0.3/32 action drop",
        "docker exec primary-control-plane tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst "
        "172.18.2.128/32 action drop",
    ]  # secondary's container is not touched: its packets to primary pass
    runner.calls.clear()
    f.delay("primary", "secondary", 50, jitter=10)
    f.loss("primary", "secondary", 5)
    primary = [c for c in runner.commands if c.startswith("docker exec primary-control-plane tc qdisc add")]
    assert primary[-1].endswith("parent 1:4 handle 40: netem delay 50ms 10ms loss random 5%")
    assert any("172.18.0.3/32 action drop" in c for c in runner.commands)  # the cut is kept when rebuilding
    runner.calls.clear()
    assert "cut primary off from tertiary" in f.bridge("secondary")
    assert any(
        c.startswith("docker exec tertiary-control-plane") and "172.18.0.2/32 action drop" in c for c in runner.commands
    )
    assert f.state.faults["bridges"] == [{"via": "secondary", "halves": [["primary"], ["tertiary"]]}]
    runner.calls.clear()
    f.heal()
    assert sorted(runner.commands) == [
        f"docker exec {dc}-control-plane tc qdisc del dev eth0 root" for dc in ("primary", "secondary", "tertiary")
    ]
    assert f.state.faults == {}
