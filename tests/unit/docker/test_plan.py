"""The docker plan: pools carved from the docker network's subnet as the seed carves MetalLB pools, names, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from multidc import topology
from multidc.errors import TopologyError
from multidc.providers.base import Request
from multidc.providers.docker.provider import DockerProvider
from multidc.runner import RecordingRunner

from .conftest import plan_of


def test_each_vip_is_the_first_address_of_its_pool_carved_from_the_docker_subnet(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, subnet="172.21.0.0/16")
    assert [(str(n.pool), str(n.vip)) for n in plan.nodes] == [
        ("172.21.1.128/25", "172.21.1.128"),
        ("172.21.2.128/25", "172.21.2.128"),
        ("172.21.3.128/25", "172.21.3.128"),
    ]
    primary = plan.primary
    assert plan.container(primary) == "mdc.t.primary"
    assert plan.pod(primary) == "mdc.t.primary.net"
    assert plan.volume(primary) == "mdc.t.primary.data"
    assert plan.publish(primary) == "127.0.0.1::8200"  # docker chooses the port, on loopback only
    config = plan.node_config(primary, "tok")
    assert config["api_addr"] == "https://172.21.1.128:8200"
    assert config["seal"]["transit"]["address"] == "https://172.18.0.2:8200"
    assert [j["leader_api_addr"] for j in config["storage"]["raft"]["retry_join"]] == [
        "https://172.21.2.128:8200",
        "https://172.21.3.128:8200",
    ]


def test_a_pool_outside_the_docker_subnet_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match=r"10\.9\.0\.128/25 is outside the network 172\.21\.0\.0/16"):
        plan_of(tmp_path, {"datacenters": [{"name": "a", "pool": "10.9.0.128/25"}]}, subnet="172.21.0.0/16")


def test_a_host_port_base_publishes_fixed_ports(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, {"host_port_base": 30000})
    assert [plan.publish(p) for p in plan.places] == [
        "127.0.0.1:30001:8200",
        "127.0.0.1:30002:8200",
        "127.0.0.1:30003:8200",
        "127.0.0.1:30000:8200",
    ]


@pytest.mark.parametrize(
    ("data", "server_binary", "contexts", "said"),
    [
        ({"unseal": "kv"}, None, [], "unseal: kv"),
        ({}, "/usr/bin/vault", [], "server_binary"),
        ({}, None, ["ctx"], "--context"),
        ({"docker": {"image": "openbao/openbao:2.7.2"}, "version": "2.6.2"}, None, [], "version with docker.image"),
    ],
)
def test_what_docker_cannot_honour_is_refused_before_any_docker_command(
    data: dict,
    server_binary: str | None,
    contexts: list[str],
    said: str,  # type: ignore[type-arg]
) -> None:
    runner = RecordingRunner()
    request = Request(topology=topology.parse(data), name="t", server_binary=server_binary, contexts=contexts)
    with pytest.raises(TopologyError, match=said) as refused:
        DockerProvider(runner).up(request, progress=None, retain=False)  # type: ignore[arg-type]
    assert refused.value.exit_code == 2
    assert runner.commands == []
