"""The netns provider, assembled: the environment (`NetnsEnvironment`: the view, its servers, its health, with faults
and day-2 on top), `up` (a new environment through the steps in steps.py, or a running one reconciled) and the
provider's adapter. The rooms, in import order: plan, host and ports; running (the read-only view); servers; site, kms
and changes; environment (health, reconcile); faults and day-2 (membership, recovery, snapshots, upgrade); steps;
teardown and planning; this module."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ... import binaries, health, locks, pipeline
from ...errors import TopologyError
from ...paths import finish_removals, make_private_dir
from ...progress import Progress
from ...state import State, load
from ..base import Capabilities, Request, Row, UpOutcome
from .environment import Environment
from .host import LINUX, Host
from .plan import Plan
from .planning import NetnsPlanned, existing_plan, planner, refuse
from .ports import choose_port_base
from .steps import Up, steps
from .teardown import down, environments, remains

if TYPE_CHECKING:
    from .faults import Faults
    from .operations import Operations

PORTS_WAIT = 60.0  # seconds to wait while another `up` chooses its host ports


@dataclass
class UpResult:
    plan: Plan
    health: health.Health
    already: bool = False
    restarted: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


class NetnsEnvironment(Environment):
    """One environment: the view, its servers and its health; faults and day-2 operations on it."""

    def faults(self) -> Faults:
        from .faults import Faults

        return Faults(self)

    def operations(self) -> Operations:
        from .operations import Operations

        return Operations(self)


def up(
    plan_for: Callable[[int], Plan], first_port: int, explicit_ports: bool, progress: Progress, host: Host = LINUX
) -> UpResult:
    """Bring an environment up (or back to running), and return once it is healthy."""
    started = time.monotonic()
    host.check()
    probe = plan_for(first_port)
    finish_removals(probe.paths.root.parent)
    existing = load(probe.paths)
    if existing is not None and existing.phase == "up":
        if existing.topology != probe.topology.model_dump(mode="json"):
            raise TopologyError(
                f"environment {probe.env!r} is already up with a different topology; run `multidc down --name "
                f"{probe.env}` first, or use another --name"
            )
        if existing.binary.get("path") != probe.binary.path:
            raise TopologyError(
                f"--server-binary: environment {probe.env!r} runs {existing.binary.get('path')}, not "
                f"{probe.binary.path}; run `multidc down --name {probe.env}` first, or use another --name"
            )
        env = NetnsEnvironment(plan_for(existing.port_base), progress, host)
        restarted = env.reconcile()
        if restarted:
            progress.say(f"Restarted {', '.join(restarted)}")
        from .membership import resume

        finished = resume(env, progress)  # a `dc add`/`dc remove` that did not finish, recorded before it began
        if finished:
            progress.say(finished[1])
            restarted.append(finished[0])
        with progress.step("Waiting for healthy"):
            result = env.wait_healthy()
        return UpResult(
            env.plan,
            result,
            already=not restarted,
            restarted=restarted,
            durations=progress.durations,
            seconds=time.monotonic() - started,
        )
    host.check_owner(probe.paths)
    if existing is not None or host.namespaces_of(probe.env) or os.path.lexists(probe.paths.root):
        progress.say(f"Removing leftovers of an interrupted `up` of {probe.env!r}")
        down(probe.env, probe.paths.root.parent, host)
    # Choosing the host ports and recording the claim (the state file) is one atomic step among multidc processes.
    with locks.hold(locks.PORTS, "up", probe.paths.root.parent, wait=PORTS_WAIT, label="the host-port table"):
        plan = choose_port_base(plan_for, explicit_ports, first_port, host)
        env = NetnsEnvironment(plan, progress, host)
        env.state = State(
            env=plan.env,
            topology=plan.topology.model_dump(mode="json"),
            port_base=plan.port_base,
            binary={"path": plan.binary.path, "flavour": plan.binary.flavour, "version": plan.binary.version},
            binaries={n.name: plan.server_dict(n) for n in plan.nodes if n.binary is not None},
            created_at=time.time(),
        )
        make_private_dir(plan.paths.root)
        env.save()
        host.record_owner(plan.paths)  # inside the lock: the claim is then seen from every state root
    healthy = pipeline.run(steps(Up(env)), progress)["Waiting for healthy"]
    assert isinstance(healthy, health.Health)
    result = healthy
    assert env.state is not None
    env.state.phase = "up"
    env.save()
    return UpResult(plan, result, durations=progress.durations, seconds=time.monotonic() - started)


class NetnsProvider:
    """Each DC and the KMS in its own network namespace on this machine, the real server binary in each."""

    name = "netns"

    def __init__(self, host: Host | None = None) -> None:
        self.host: Host = host or LINUX

    def check_host(self) -> None:
        self.host.check()
        binaries.resolve(None)

    def capabilities(self) -> Capabilities:
        return Capabilities()  # every fault kind and day-2 operation

    def refuse(self, request: Request) -> None:
        refuse(request)

    def plan(self, request: Request) -> NetnsPlanned:
        plan_for, first, _ = planner(request)
        return NetnsPlanned(plan_for(first))

    def up(self, request: Request, progress: Progress, retain: bool) -> UpOutcome:
        result = up(*planner(request), progress, self.host)
        plan = result.plan
        rows = [Row(n.name, plan.host_url(n), f"VIP {n.vip}") for n in plan.nodes]
        rows.append(Row("kms", plan.host_url(plan.kms), str(plan.kms.address)))
        return UpOutcome(
            plan.env,
            self.name,
            result.health,
            result.seconds,
            result.durations,
            rows,
            plan.host_url(plan.kms),
            str(plan.paths.ca_cert) if plan.topology.tls else None,
            already=result.already,
            restarted=result.restarted,
        )

    def attach(self, env: str) -> NetnsEnvironment:
        return NetnsEnvironment(existing_plan(env), host=self.host)

    def remains(self, env: str) -> list[str]:
        return remains(env, host=self.host)

    def down(self, env: str, contexts: list[str] | None = None) -> str:
        if contexts:
            raise TopologyError("--context: only the kube provider uses kubeconfig contexts")
        result = down(env, host=self.host)
        what = "removed" if (result.processes or result.namespaces or result.removed_dir) else "nothing to remove"
        return f"{env}: {what} ({result.processes} process(es), {len(result.namespaces)} namespace(s))"

    def environments(self) -> list[str]:
        return environments(host=self.host)
