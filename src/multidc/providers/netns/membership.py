"""Membership of a running netns environment: `dc add` and `dc remove`.

Nothing that exists moves. Each DC keeps its slot (interface `E-dc<slot>`, host port base+slot, default pool and node
address; see addressing.py), recorded in the state file on the first change, and the KMS's address is pinned in the
recorded topology then (by default it follows the last node's address). A new DC takes the smallest free slot.

add: checked in full first (name, count, pool, the whole new topology, nothing existing moving, its host port free),
then its certificate and config, its namespace (veth on the bridge, address, VIP), the host ports published again,
its server (and kv mode's unsealer), the join (transit: through the leader's VIP, unsealed with the recovery keys; kv:
its own retry_join and its unsealer), recorded, every other node's config rewritten (their retry_join lists), healthy.
A failure before it is recorded takes back what was made.

remove: the leader steps down first if it is the one; `remove-peer` through the leader; its server (and unsealer)
stopped, its namespace and directory removed, recorded, the others' configs rewritten, the host ports published
again without its port, healthy.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ... import bootstrap, locks, pipeline, pki
from ... import topology as topo_mod
from ...errors import MultidcError, PrerequisiteError, ProviderError, TopologyError
from ...names import check_dc_name
from ...progress import Progress
from ...state import read_secret
from .plan import Node, Plan, make_plan
from .upgrade import STEP_DOWN_TIMEOUT, step_down

if TYPE_CHECKING:
    from .provider import NetnsEnvironment

JOIN_TIMEOUT = 60.0
HEALTHY_TIMEOUT = 90.0


@dataclass
class MembershipReport:
    action: str  # "add" or "remove"
    dc: str
    slot: int
    vip: str
    host_url: str
    datacenters: list[str]  # after the change
    leader: str
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 3)}


# --- checks (nothing is touched)


def _active_faults(env: NetnsEnvironment) -> list[str]:
    assert env.state is not None
    return sorted(kind for kind, what in env.state.faults.items() if what)


def _refuse_faults(env: NetnsEnvironment, what: str) -> None:
    faults = _active_faults(env)
    if faults:
        raise TopologyError(
            f"{what}: faults are active ({', '.join(faults)}); heal first: `multidc chaos clear --name {env.name}`"
        )


def _pinned(env: NetnsEnvironment, datacenters: list[Any]) -> dict[str, Any]:
    """The recorded topology with these datacenters, and the KMS's address pinned where it is now (by default it would
    follow the last node's address, which a change of DC count moves)."""
    assert env.state is not None
    data = copy.deepcopy(env.state.topology)
    data["datacenters"] = datacenters
    data["kms"] = {**(data.get("kms") or {}), "address": str(env.plan.kms.address)}
    return data


def _plan(env: NetnsEnvironment, data: dict[str, Any], slots: dict[str, int], source: str) -> Plan:
    topology = topo_mod.parse(data, source)
    binaries = {n.name: n.binary for n in env.plan.nodes if n.binary is not None and n.name in slots}
    return make_plan(
        topology,
        env.plan.binary,
        env.name,
        state_root=env.root,
        port_base=env.plan.port_base,
        source=source,
        binaries=binaries,
        slots=slots,
    )


def _moved(old: Plan, new: Plan) -> list[str]:
    """What of the existing environment the new plan would move (it must be nothing)."""
    found = []
    if new.gateway != old.gateway:
        found.append(f"the gateway {old.gateway} -> {new.gateway}")
    if new.kms.address != old.kms.address:
        found.append(f"the KMS's address {old.kms.address} -> {new.kms.address}")
    for node in old.nodes:
        try:
            now = new.node(node.name)
        except KeyError:
            continue
        for what in ("address", "vip", "pool", "ifname", "host_port", "namespace"):
            if getattr(now, what) != getattr(node, what):
                found.append(f"{node.name}'s {what} {getattr(node, what)} -> {getattr(now, what)}")
    return found


def _free_slot(used: set[int]) -> int:
    return min(n for n in range(1, topo_mod.MAX_DATACENTERS + 1) if n not in used)


def check_add(env: NetnsEnvironment, name: str, pool: str | None) -> Plan:
    """The plan with DC `name` added (in the smallest free slot), or a one-line TopologyError/PrerequisiteError (exit
    2) saying what is wrong and how to fix it. Touches nothing."""
    assert env.state is not None
    try:
        check_dc_name(name)
    except ValueError as exc:
        raise TopologyError(f"dc add: {exc}") from None
    dcs = env.datacenters
    if name in dcs:
        raise TopologyError(f"dc add: datacenter {name!r} already exists in {env.name!r}; choose another name")
    if len(dcs) >= topo_mod.MAX_DATACENTERS:
        raise TopologyError(
            f"dc add: {env.name!r} has {len(dcs)} datacenters, the most multidc plans; `multidc dc remove` one first"
        )
    _refuse_faults(env, "dc add")
    slots = {n.name: n.index for n in env.plan.nodes}
    slot = _free_slot(set(slots.values()))
    entries = list(env.state.topology.get("datacenters") or [])
    entries.append({"name": name, **({"pool": pool} if pool is not None else {})})
    try:
        plan = _plan(env, _pinned(env, entries), {**slots, name: slot}, "dc add")
    except TopologyError as exc:
        if any("kms.address" in p for p in exc.problems):  # pinned by multidc, not set by the user: say it as it is
            raise TopologyError(
                f"dc add: --pool {pool} holds the KMS's address {env.plan.kms.address}; choose a pool clear of the "
                "addresses in use"
            ) from None
        raise
    moved = _moved(env.plan, plan)
    if moved:
        raise TopologyError(
            f"dc add: --pool {plan.node(name).pool} would move {moved[0]}; choose a pool clear of the addresses in use"
        )
    _check_port(env, plan.node(name))
    return plan


def _check_port(env: NetnsEnvironment, node: Node) -> None:
    from .provider import _port_free, claimed_ports

    claims = claimed_ports(env.root, env.name, env.host.owned())
    if node.host_port in claims or not _port_free(node.host_port):
        who = f"environment {claims[node.host_port]!r}" if node.host_port in claims else "another process"
        raise PrerequisiteError(
            f"dc add: host port 127.0.0.1:{node.host_port} (slot {node.index}) is used by {who}; free it, try again"
        )


def check_remove(env: NetnsEnvironment, name: str) -> Plan:
    """The plan without DC `name`, or a one-line TopologyError (exit 2). Touches nothing."""
    assert env.state is not None
    dcs = env.datacenters
    if name not in dcs:
        raise TopologyError(f"dc remove: no datacenter {name!r} in {env.name!r}; choose one of: {', '.join(dcs)}")
    if len(dcs) == 1:
        raise TopologyError(f"dc remove: {name!r} is the last datacenter of {env.name!r}; use `multidc down` instead")
    _refuse_faults(env, "dc remove")
    slots = {n.name: n.index for n in env.plan.nodes if n.name != name}
    entries = [
        e for e in env.state.topology.get("datacenters") or [] if (e if isinstance(e, str) else e.get("name")) != name
    ]
    return _plan(env, _pinned(env, entries), slots, "dc remove")


# --- the changes


def _record(env: NetnsEnvironment, plan: Plan) -> None:
    """The plan is the environment's from now on: in memory and in the state file (topology, slots, binaries)."""
    assert env.state is not None
    env.plan = plan
    env.state.topology = plan.topology.model_dump(mode="json")
    env.state.slots = {n.name: n.index for n in plan.nodes}
    env.state.binaries = {n.name: plan.server_dict(n) for n in plan.nodes if n.binary is not None}
    env._save()


def _members(env: NetnsEnvironment) -> set[str]:
    c = env.client(env.leader_node(), env.root_token(), timeout=5)
    config = c.adapter.get("/v1/sys/storage/raft/configuration")["data"]["config"]
    return {str(s["node_id"]) for s in config["servers"]}


def _remove_peer(env: NetnsEnvironment, dc: str) -> None:
    c = env.client(env.leader_node(), env.root_token(), timeout=10)
    c.adapter.post("/v1/sys/storage/raft/remove-peer", json={"server_id": dc})


def _stop(env: NetnsEnvironment, dc: str) -> None:
    """Stop the DC's server (ours: recorded PIDs whose command line names the environment's directory).
    SIGKILL: the server is out of the Raft configuration (or never got in) and its data goes next. A server that
    stepped down less than 10 s ago would take those 10 s to stop on SIGTERM (measured: its HA loop sleeps after a
    step-down and its shutdown waits for that loop)."""
    assert env.state is not None
    marker = str(env.paths.root)
    for key in (f"node:{dc}",):
        pid = env.state.pids.pop(key, None)
        if pid is not None and env.host.belongs(pid, marker):
            survivors = env.host.terminate([pid])
            if survivors:
                raise ProviderError(f"could not stop {dc}'s {key.split(':')[0]} (pid {pid})")
    env._save()


def _remove_files(env: NetnsEnvironment, node: Node) -> None:
    """The DC's directory (made by multidc inside the environment's own)."""
    where = node.paths.dir
    if where.parent == env.paths.root / "nodes" and where.is_dir() and not where.is_symlink():
        shutil.rmtree(where)


def _remove_namespace(env: NetnsEnvironment, node: Node) -> None:
    """The DC's namespace (its veth goes with it), and its addresses' ARP entries everywhere else: the next DC in
    this slot takes the same addresses with another MAC."""
    stuck = env.host.remove_node(env.plan, node)
    if stuck:
        raise ProviderError(f"could not remove namespace {node.namespace}")
    _forget(env, node)


def _forget(env: NetnsEnvironment, node: Node) -> None:
    """The node's addresses' ARP entries in every other namespace of the environment."""
    others = [n for n in env.plan.namespaces if n != node.namespace and env.host.namespace_exists(n)]
    env.host.forget_neighbours(others, [str(node.address), str(node.vip)])


def _wait_member(env: NetnsEnvironment, node: Node) -> None:
    try:
        pipeline.wait_until(lambda: node.name in _members(env), JOIN_TIMEOUT, f"{node.name} to join")
    except TimeoutError as exc:
        raise ProviderError(
            f"{node.name} did not join within {JOIN_TIMEOUT:.0f}s: {env._log_tail(node) or exc}"
        ) from None


def _said(what: str, change: Callable[[], MembershipReport]) -> MembershipReport:
    """Whatever a change raises reaches the user as one line naming the change (an HTTP error, a timeout, ...)."""
    try:
        return change()
    except MultidcError:
        raise
    except pipeline.STEP_ERRORS as exc:
        raise ProviderError(f"{what}: {pipeline.reason(exc)}") from exc


def add(
    env: NetnsEnvironment, name: str, pool: str | None = None, progress: Progress | None = None
) -> MembershipReport:
    """Add DC `name` (pool: its load-balancer pool, default the slot's) to the running environment; healthy after."""
    return _said(f"dc add {name}", lambda: _add(env, name, pool, progress))


def remove(env: NetnsEnvironment, name: str, progress: Progress | None = None) -> MembershipReport:
    """Remove DC `name` from the running environment (out of Raft first, then its server, namespace and files);
    healthy after."""
    return _said(f"dc remove {name}", lambda: _remove(env, name, progress))


def _add(env: NetnsEnvironment, name: str, pool: str | None, progress: Progress | None) -> MembershipReport:
    assert env.state is not None
    started = time.monotonic()
    step = (progress or Progress(quiet=True)).step
    plan = check_add(env, name, pool)
    node = plan.node(name)
    health = env.status(probe_write=False)
    if not health.healthy:
        raise ProviderError(f"dc add: {env.name!r} is not healthy ({'; '.join(health.problems)}); fix that first")
    old = env.plan
    leader = env.leader_node()
    report = MembershipReport("add", name, node.index, str(node.vip), plan.host_url(node), [], "")
    recorded = False
    try:
        t = time.monotonic()
        with step(f"Creating {name} (slot {node.index}, VIP {node.vip})"):
            node.paths.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            node.paths.data.mkdir(parents=True, exist_ok=True, mode=0o700)
            env.plan = plan
            if plan.topology.tls:
                env.issue_certificate(pki.load_ca(env.paths.ca_cert, env.paths.ca_key), node)
            env.write_node_config(node)
            env.host.add_nodes(plan, [node])
            _forget(env, node)  # whoever had this slot before left its MAC in the others' ARP caches
            # Under the host-port table's lock, as `up` chooses ports: no other environment takes this port meanwhile.
            with locks.hold(locks.PORTS, "dc add", env.root, wait=60.0, label="the host-port table"):
                _check_port(env, node)
                env.republish_ports()
        report.steps["created_s"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        with step(f"Starting {name}"):
            env.state.pids[f"node:{name}"] = env._spawn_server(node)
            if plan.topology.unseal == "kv":
                env.restart_unsealers()  # one process for every DC's unsealer: now with this DC's thread
            env._save()
            env._started(node, f"node:{name}")
        with step(f"Joining {name} through {leader.name}"):
            if plan.topology.unseal == "transit":
                ca_pem = env.paths.ca_cert.read_text() if plan.topology.tls else None
                recovery = (read_secret(env.paths, "recovery-keys") or "").split()
                bootstrap.join(env.client(node), plan.api_addr(leader), ca_pem)
                bootstrap.unseal_joined(env.client(node), recovery, timeout=JOIN_TIMEOUT)
            # kv: its own retry_join joins and its unsealer supplies the keys (a manual join could deadlock it)
            _wait_member(env, node)
        report.steps["joined_s"] = round(time.monotonic() - t, 3)
        _record(env, plan)
        recorded = True
    except BaseException:
        if not recorded:
            _undo_add(env, old, node)
        raise
    t = time.monotonic()
    with step("Waiting for healthy"):
        for other in plan.nodes:
            if other.name != name:
                env.write_node_config(other)
        health = env.wait_healthy(HEALTHY_TIMEOUT)
    report.steps["healthy_s"] = round(time.monotonic() - t, 3)
    report.datacenters = env.datacenters
    report.leader = health.leader
    report.seconds = time.monotonic() - started
    return report


def _undo_add(env: NetnsEnvironment, old: Plan, node: Node) -> None:
    """Take back a half-made add: out of the Raft configuration if it got in, its processes, namespace and files, the
    host ports as they were."""
    assert env.state is not None
    with contextlib.suppress(Exception):
        if node.name in _members(env):
            _remove_peer(env, node.name)
    with contextlib.suppress(Exception):
        _stop(env, node.name)
    with contextlib.suppress(Exception):
        if env.host.namespace_exists(node.namespace):
            _remove_namespace(env, node)
    with contextlib.suppress(Exception):
        _remove_files(env, node)
    env.plan = old
    if old.topology.unseal == "kv":
        with contextlib.suppress(Exception):
            env.restart_unsealers()
    with contextlib.suppress(Exception):
        pid = env.state.pids.get("forwarder")
        spec = env.paths.forwarder_spec.read_text()
        if str(node.host_port) in spec or pid is None or not env.host.belongs(pid, str(env.paths.root)):
            env.republish_ports()
    env._save()


def _remove(env: NetnsEnvironment, name: str, progress: Progress | None) -> MembershipReport:
    assert env.state is not None
    started = time.monotonic()
    step = (progress or Progress(quiet=True)).step
    plan = check_remove(env, name)
    node = env.plan.node(name)
    report = MembershipReport("remove", name, node.index, str(node.vip), env.plan.host_url(node), [], "")
    t = time.monotonic()
    if env.leader() == name:
        with step(f"Stepping {name} down"):
            try:
                step_down(env, name)
            except ProviderError:
                raise ProviderError(
                    f"dc remove: no other DC took the lead from {name} within {STEP_DOWN_TIMEOUT:.0f}s; nothing was "
                    "changed"
                ) from None
    with step(f"Removing {name} from the Raft configuration"):
        if name in _members(env):  # a DC that never got in (or was taken out by hand) is only torn down
            _remove_peer(env, name)
        pipeline.wait_until(lambda: name not in _members(env), JOIN_TIMEOUT, f"{name} to leave")
    report.steps["left_s"] = round(time.monotonic() - t, 3)
    t = time.monotonic()
    with step(f"Removing {name}'s server, namespace and files"):
        _stop(env, name)
        _remove_namespace(env, node)
        _remove_files(env, node)
        _record(env, plan)
        for other in plan.nodes:
            env.write_node_config(other)
        env.republish_ports()
        if plan.topology.unseal == "kv":
            env.restart_unsealers()  # without the removed DC's thread
    report.steps["removed_s"] = round(time.monotonic() - t, 3)
    t = time.monotonic()
    with step("Waiting for healthy"):
        health = env.wait_healthy(HEALTHY_TIMEOUT)
    report.steps["healthy_s"] = round(time.monotonic() - t, 3)
    report.datacenters = env.datacenters
    report.leader = health.leader
    report.seconds = time.monotonic() - started
    return report
