"""The docker provider through a recording runner: every docker command recorded, read-only ones answered."""

from __future__ import annotations

import json
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

from multidc import topology
from multidc.providers.docker.plan import DockerPlan, make_plan
from multidc.providers.docker.provider import DockerEnvironment
from multidc.runner import Completed, RecordingRunner
from multidc.state import State

IMAGE = "multidc/openbao:2.7.2"


def answers(
    running: bool = True, labelled: dict[str, list[str]] | None = None, subnet: str = "172.18.0.0/16"
) -> Callable[[tuple[str, ...], str | None], Completed | None]:
    """Plausible answers: an engine that runs, containers running (or not), what carries the labels, a subnet."""
    found = labelled or {}

    def answer(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        joined = " ".join(argv)
        if argv[:2] == ("docker", "version"):
            return Completed(argv, 0, "20.10.24\n")
        if "{{.State.Running}}" in joined:
            return Completed(argv, 0, "true\n" if running else "false\n")
        if argv[:3] == ("docker", "network", "inspect"):
            return Completed(argv, 0, json.dumps([{"Subnet": subnet, "Gateway": subnet.replace("0/16", "1")}]))
        if argv[:3] == ("docker", "ps", "-a") or (len(argv) > 2 and argv[2] == "ls"):
            kind = "container" if argv[1] == "ps" else argv[1]
            if "{{.Label" in joined:
                return Completed(argv, 0, "".join(f"{env}\n" for env in found.get("envs", [])))
            return Completed(argv, 0, "".join(f"{n}\n" for n in found.get(kind, [])))
        return None

    return answer


def plan_of(tmp_path: Path, data: dict | None = None, subnet: str = "172.18.0.0/16") -> DockerPlan:  # type: ignore[type-arg]
    topo = topology.parse(data or {})
    images = {dc.name: IMAGE for dc in topo.datacenters} | {"kms": IMAGE}
    return make_plan(topo, "t", images, IMAGE, IPv4Network(subnet), kms_address="172.18.0.2", state_root=tmp_path)


def environment(tmp_path: Path, runner: RecordingRunner, data: dict | None = None) -> DockerEnvironment:  # type: ignore[type-arg]
    plan = plan_of(tmp_path, data)
    env = DockerEnvironment(plan, runner)
    plan.paths.root.mkdir(parents=True)
    recorded = plan.topology.model_dump(mode="json")
    env.state = State(env="t", topology=recorded, port_base=0, binary={}, provider="docker")
    env.state.made["ports"] = {p.name: 40000 + p.slot for p in plan.places}
    return env
