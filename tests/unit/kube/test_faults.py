from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from multidc import topology
from multidc.errors import FaultError
from multidc.providers.kube.faults import KindFaults
from multidc.providers.kube.manifests import make_kube_plan
from multidc.runner import RecordingRunner
from multidc.state import State


def faults() -> tuple[KindFaults, RecordingRunner]:
    plan = make_kube_plan(topology.parse({}), "t", "kind", IPv4Network("172.18.0.0/16"))
    runner = RecordingRunner()
    return KindFaults(plan, runner, State(env="t", topology={}, port_base=0, binary={}, provider="kind")), runner


def test_kind_faults_are_docker_commands_on_the_node_containers() -> None:
    f, runner = faults()
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


def test_unknown_dc_is_refused() -> None:
    f, runner = faults()
    with pytest.raises(FaultError, match="no datacenter 'moon'"):
        f.kill("moon")
    assert runner.commands == []
