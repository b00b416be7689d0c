"""The containers `up` runs for a place: the holder of its network namespace and its server."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest

from multidc import topology
from multidc.providers.docker.plan import make_plan
from multidc.providers.docker.provider import DockerEnvironment, images
from multidc.runner import Completed, RecordingRunner
from multidc.state import State

from .conftest import answers


def port(argv: tuple[str, ...], _input: str | None) -> Completed | None:
    return Completed(argv, 0, "127.0.0.1:32790\n") if argv[:2] == ("docker", "port") else None


def test_a_user_image_runs_the_servers_and_our_image_holds_the_namespaces(tmp_path: Path) -> None:
    runner = RecordingRunner([port, answers()])
    topo = topology.parse({"docker": {"image": "openbao/openbao:2.7.2"}})
    chosen, base = images(runner, topo, build=False)
    assert set(chosen.values()) == {"openbao/openbao:2.7.2"} and base.startswith("multidc/openbao:")
    plan = make_plan(topo, "t", chosen, base, IPv4Network("172.18.0.0/16"), state_root=tmp_path)
    env = DockerEnvironment(plan, runner)
    env.state = State(env="t", topology={}, port_base=0, binary={}, provider="docker")
    env.run_pod(plan.primary)
    env.run_server(plan.primary)
    holder, _, server = runner.commands
    assert holder.startswith("docker run -d --name mdc.t.primary.net --label multidc.io/environment=t")
    assert "--network mdc.t --ip 172.18.1.128 --hostname primary -p 127.0.0.1::8200" in holder
    assert "--cap-add NET_ADMIN --device /dev/net/tun --entrypoint /bin/busybox" in holder
    assert holder.endswith(f"{base} sleep 2147483647")
    assert "--network container:mdc.t.primary.net" in server
    assert (
        "--mount type=volume,source=mdc.t.primary.data,target=/multidc-data,"
        "volume-label=multidc.io/environment=t,volume-label=multidc.io/provider=docker" in server
    )
    assert server.endswith("--entrypoint bao openbao/openbao:2.7.2 server -config=/multidc/config.json")
    assert env.state is not None and env.state.made["ports"] == {"primary": 32790}


def test_naming_the_images_of_an_environment_fetches_and_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fetch(version: str, offline: bool = False) -> None:
        raise AssertionError(f"fetched {version}")

    monkeypatch.setattr("multidc.binaries.openbao", fetch)
    runner = RecordingRunner()
    topo = topology.parse({"datacenters": ["a", {"name": "b", "version": "2.6.2"}]})
    chosen, _ = images(runner, topo, build=False)
    assert chosen["b"] == "multidc/openbao:2.6.2" and chosen["a"] == chosen["kms"] != chosen["b"]
    assert runner.commands == []
