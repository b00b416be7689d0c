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

Either change is recorded in the state file before anything is made or removed (as `up` records its intent): the
change, and the record as it was. An add records the new DC at once, so every command sees it (and `down` removes
it). A command killed midway leaves that record: `status` names the change, `up` finishes it (an add: what it made is
taken back and made again; a remove: its remaining steps), `dc remove` of an unfinished add takes it back, and any
other change is refused until then.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ... import binaries, bootstrap, interrupts, locks, pipeline, pki
from ... import topology as topo_mod
from ...errors import MultidcError, PrerequisiteError, ProviderError, TopologyError
from ...names import check_dc_name
from ...progress import Progress
from ...state import read_secret
from ..results import MembershipReport
from . import kms, ports, site
from .changes import PENDING, pending, unfinished
from .plan import Node, Plan, make_plan
from .upgrade import STEP_DOWN_TIMEOUT, step_down

if TYPE_CHECKING:
    from .environment import Environment

T = TypeVar("T")

JOIN_TIMEOUT = 60.0
HEALTHY_TIMEOUT = 90.0


def _intend(env: Environment, action: str, dc: str) -> None:
    """Note the change, and the record as it is (what an add that is taken back puts back); the caller saves it, in
    the same write as an add's new DC."""
    assert env.state is not None
    before = {"topology": env.state.topology, "slots": env.state.slots, "binaries": env.state.binaries}
    env.state.made[PENDING] = {"action": action, "dc": dc, "pid": os.getpid(), "before": copy.deepcopy(before)}


def _settle(env: Environment) -> None:
    assert env.state is not None
    env.state.made.pop(PENDING, None)
    env.save()


def _refuse_unfinished(env: Environment, what: str, dc: str) -> None:
    """Another change is unfinished: it comes first (a `dc remove` of the same DC finishes or takes it back)."""
    found = pending(env)
    if found is not None and not (what == "dc remove" and found["dc"] == dc):
        raise TopologyError(f"{what}: {unfinished(env)}")


def _before(env: Environment, found: dict[str, Any]) -> Plan:
    """The plan of the record as it was before the change."""
    record = found["before"]
    binaries_of = {
        dc: binaries.ServerBinary(b["path"], b["flavour"], b["version"]) for dc, b in record["binaries"].items()
    }
    return _plan(env, record["topology"], record["slots"], str(env.paths.state), binaries_of)


# --- checks (nothing is touched)


def _active_faults(env: Environment) -> list[str]:
    assert env.state is not None
    return sorted(kind for kind, what in env.state.faults.items() if what)


def _refuse_faults(env: Environment, what: str) -> None:
    faults = _active_faults(env)
    if faults:
        raise TopologyError(
            f"{what}: faults are active ({', '.join(faults)}); heal first: `multidc chaos clear --name {env.name}`"
        )


def _pinned(env: Environment, datacenters: list[Any]) -> dict[str, Any]:
    """The recorded topology with these datacenters, and the KMS's address pinned where it is now (by default it would
    follow the last node's address, which a change of DC count moves)."""
    assert env.state is not None
    data = copy.deepcopy(env.state.topology)
    data["datacenters"] = datacenters
    data["kms"] = {**(data.get("kms") or {}), "address": str(env.plan.kms.address)}
    return data


def _plan(
    env: Environment,
    data: dict[str, Any],
    slots: dict[str, int],
    source: str,
    servers: dict[str, binaries.ServerBinary] | None = None,
) -> Plan:
    """The plan of this topology and these slots; each DC's own server binary (default: as the environment runs it
    now)."""
    topology = topo_mod.parse(data, source)
    if servers is None:
        servers = {n.name: n.binary for n in env.plan.nodes if n.binary is not None and n.name in slots}
    return make_plan(
        topology,
        env.plan.binary,
        env.name,
        state_root=env.root,
        port_base=env.plan.port_base,
        source=source,
        binaries=servers,
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


def check_add(env: Environment, name: str, pool: str | None) -> Plan:
    """The plan with DC `name` added (in the smallest free slot), or a one-line TopologyError/PrerequisiteError (exit
    2) saying what is wrong and how to fix it. Touches nothing."""
    assert env.state is not None
    try:
        check_dc_name(name)
    except ValueError as exc:
        raise TopologyError(f"dc add: {exc}") from None
    _refuse_unfinished(env, "dc add", name)
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


def _check_port(env: Environment, node: Node) -> None:
    claims = ports.claimed_ports(env.root, env.name, env.host.owned())
    if node.host_port in claims or not (ports.port_free(node.host_port) or _published(env, node.host_port)):
        who = f"environment {claims[node.host_port]!r}" if node.host_port in claims else "another process"
        raise PrerequisiteError(
            f"dc add: host port 127.0.0.1:{node.host_port} (slot {node.index}) is used by {who}; free it, try again"
        )


def _published(env: Environment, port: int) -> bool:
    """Our own forwarder (by its recorded PID) publishes this port (an interrupted add published it)."""
    assert env.state is not None
    pid = env.state.pids.get("forwarder")
    if pid is None or not env.host.belongs(pid, str(env.paths.root)):
        return False
    try:
        routes = json.loads(env.paths.forwarder_spec.read_text())["routes"]
    except (OSError, ValueError, KeyError):
        return False
    return any(route.get("port") == port for route in routes)


def check_remove(env: Environment, name: str) -> Plan:
    """The plan without DC `name`, or a one-line TopologyError (exit 2). Touches nothing."""
    assert env.state is not None
    _refuse_unfinished(env, "dc remove", name)
    dcs = env.datacenters
    if name not in dcs:
        raise TopologyError(f"dc remove: no datacenter {name!r} in {env.name!r}; choose one of: {', '.join(dcs)}")
    if len(dcs) == 1:
        raise TopologyError(f"dc remove: {name!r} is the last datacenter of {env.name!r}; use `multidc down` instead")
    _refuse_faults(env, "dc remove")
    return _without(env, name)


# --- the changes


def _record(env: Environment, plan: Plan) -> None:
    """The plan is the environment's from now on: in memory and in the state file (topology, slots, binaries)."""
    assert env.state is not None
    env.plan = plan
    env.state.topology = plan.topology.model_dump(mode="json")
    env.state.slots = {n.name: n.index for n in plan.nodes}
    env.state.binaries = {n.name: plan.server_dict(n) for n in plan.nodes if n.binary is not None}
    env.save()


def _members(env: Environment) -> set[str]:
    c = env.client(env.leader_node(), env.root_token(), timeout=5)
    config = c.adapter.get("/v1/sys/storage/raft/configuration")["data"]["config"]
    return {str(s["node_id"]) for s in config["servers"]}


def _remove_peer(env: Environment, dc: str) -> None:
    c = env.client(env.leader_node(), env.root_token(), timeout=10)
    c.adapter.post("/v1/sys/storage/raft/remove-peer", json={"server_id": dc})


def _stop(env: Environment, node: Node) -> None:
    """Stop the DC's server: its recorded PID if ours (its command line names the environment's directory), and
    whatever runs in its namespace (a server spawned by a command killed before it recorded the PID).
    SIGKILL: the server is out of the Raft configuration (or never got in) and its data goes next. A server that
    stepped down less than 10 s ago would take those 10 s to stop on SIGTERM (measured: its HA loop sleeps after a
    step-down and its shutdown waits for that loop)."""
    assert env.state is not None
    pids = set(env.host.pids_in([node.namespace])) if env.host.namespace_exists(node.namespace) else set()
    pid = env.state.pids.get(f"node:{node.name}")
    if pid is not None and env.host.belongs(pid, str(env.paths.root)):
        pids.add(pid)
    if env.host.terminate(sorted(pids)):
        raise ProviderError(f"could not stop {node.name}'s server (pid {', '.join(map(str, sorted(pids)))})")
    env.state.pids.pop(f"node:{node.name}", None)
    env.save()


def _remove_files(env: Environment, node: Node) -> None:
    """The DC's directory (made by multidc inside the environment's own)."""
    where = node.paths.dir
    if where.parent == env.paths.root / "nodes" and where.is_dir() and not where.is_symlink():
        shutil.rmtree(where)


def _remove_namespace(env: Environment, node: Node) -> None:
    """The DC's namespace (its veth goes with it), and its addresses' ARP entries everywhere else: the next DC in
    this slot takes the same addresses with another MAC."""
    if env.host.namespace_exists(node.namespace) and env.host.remove_node(env.plan, node):
        raise ProviderError(f"could not remove namespace {node.namespace}")
    _forget(env, node)


def _forget(env: Environment, node: Node) -> None:
    """The node's addresses' ARP entries in every other namespace of the environment."""
    others = [n for n in env.plan.namespaces if n != node.namespace and env.host.namespace_exists(n)]
    env.host.forget_neighbours(others, [str(node.address), str(node.vip)])


def _wait_member(env: Environment, node: Node) -> None:
    try:
        pipeline.wait_until(lambda: node.name in _members(env), JOIN_TIMEOUT, f"{node.name} to join")
    except TimeoutError as exc:
        raise ProviderError(
            f"{node.name} did not join within {JOIN_TIMEOUT:.0f}s: {env.log_tail(node) or exc}"
        ) from None


def _leave(env: Environment, dc: str) -> None:
    """Out of the Raft configuration (a DC that never got in, or was taken out already, has nothing to leave)."""
    if dc in _members(env):
        _remove_peer(env, dc)
    pipeline.wait_until(lambda: dc not in _members(env), JOIN_TIMEOUT, f"{dc} to leave")


def _take_back(env: Environment, node: Node) -> None:
    """Whatever an add made of the DC, in any state: out of Raft, its server, its namespace, its files."""
    _leave(env, node.name)
    _stop(env, node)
    _remove_namespace(env, node)
    _remove_files(env, node)


def _said(what: str, change: Callable[[], T]) -> T:
    """Whatever a change raises reaches the user as one line naming the change (an HTTP error, a timeout, ...)."""
    try:
        return change()
    except MultidcError:
        raise
    except pipeline.STEP_ERRORS as exc:
        raise ProviderError(f"{what}: {pipeline.reason(exc)}") from exc


def add(env: Environment, name: str, pool: str | None = None, progress: Progress | None = None) -> MembershipReport:
    """Add DC `name` (pool: its load-balancer pool, default the slot's) to the running environment; healthy after."""
    return _said(f"dc add {name}", lambda: _add(env, name, pool, progress))


def remove(env: Environment, name: str, progress: Progress | None = None) -> MembershipReport:
    """Remove DC `name` from the running environment (out of Raft first, then its server, namespace and files);
    healthy after. An unfinished `dc add` of `name` is taken back; an unfinished `dc remove` of it, finished."""
    return _said(f"dc remove {name}", lambda: _remove(env, name, progress))


def resume(env: Environment, progress: Progress | None = None) -> tuple[str, str] | None:
    """Finish the membership change a killed command left (`up` runs this): an add is taken back and made again (or
    only taken back if it was being taken back), a remove runs its remaining steps. Returns (the DC, what was done),
    or None when no change was unfinished."""
    found = pending(env)
    if found is None:
        return None
    dc = str(found["dc"])
    if found["action"] == "remove":
        _said(f"dc remove {dc}", lambda: _remove(env, dc, progress))
        return dc, f"Finished the interrupted `dc remove {dc}`"
    old = _before(env, found)
    node = env.plan.node(dc)
    step = (progress or Progress(quiet=True)).step
    with step(f"Taking back what the interrupted `dc add {dc}` made"):
        if found.get("undoing"):  # it was being taken back when it was interrupted
            if not _said(f"dc add {dc}", lambda: _undo_add(env, old, node)):
                _kept(dc)
            return dc, f"Took back the interrupted `dc add {dc}`"
        _said(f"dc add {dc}", lambda: _take_back(env, node))
    _said(f"dc add {dc}", lambda: _build(env, old, node, progress))
    return dc, f"Completed the interrupted `dc add {dc}`"


def _kept(dc: str) -> None:
    raise ProviderError(
        f"could not take back what `dc add {dc}` made (is the cluster healthy?); try again, or `multidc down`"
    )


def _report(env: Environment, action: str, node: Node) -> MembershipReport:
    return MembershipReport(action, node.name, node.index, str(node.vip), env.plan.host_url(node), [], "")


def _add(env: Environment, name: str, pool: str | None, progress: Progress | None) -> MembershipReport:
    assert env.state is not None
    plan = check_add(env, name, pool)
    health = env.status(probe_write=False)
    if not health.healthy:
        raise ProviderError(f"dc add: {env.name!r} is not healthy ({'; '.join(health.problems)}); fix that first")
    old = env.plan
    _intend(env, "add", name)
    _record(env, plan)  # one write: the new DC and the intent, before anything is made
    return _build(env, old, plan.node(name), progress)


def _build(env: Environment, old: Plan, node: Node, progress: Progress | None) -> MembershipReport:
    """Make the recorded DC `node` and join it; on a failure take back what was made and the record."""
    assert env.state is not None
    started = time.monotonic()
    step = (progress or Progress(quiet=True)).step
    plan, name = env.plan, node.name
    leader = env.leader_node()
    report = _report(env, "add", node)
    try:
        t = time.monotonic()
        with step(f"Creating {name} (slot {node.index}, VIP {node.vip})"):
            node.paths.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            node.paths.data.mkdir(parents=True, exist_ok=True, mode=0o700)
            if plan.topology.tls:
                env.issue_certificate(pki.load_ca(env.paths.ca_cert, env.paths.ca_key), node)
            env.write_node_config(node)
            env.host.add_nodes(plan, [node])
            _forget(env, node)  # whoever had this slot before left its MAC in the others' ARP caches
            # Under the host-port table's lock, as `up` chooses ports: no other environment takes this port meanwhile.
            with locks.hold(locks.PORTS, "dc add", env.root, wait=60.0, label="the host-port table"):
                _check_port(env, node)
                site.republish_ports(env)
        report.steps["created_s"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        with step(f"Starting {name}"):
            with interrupts.deferred():  # the PID recorded before a Ctrl-C is raised
                env.state.pids[f"node:{name}"] = env.spawn_server(node)
                env.save()
            if plan.topology.unseal == "kv":
                kms.restart_unsealers(env)  # one process for every DC's unsealer: now with this DC's thread
            env.started(node, f"node:{name}")
        with step(f"Joining {name} through {leader.name}"):
            if plan.topology.unseal == "transit":
                ca_pem = env.paths.ca_cert.read_text() if plan.topology.tls else None
                recovery = (read_secret(env.paths, "recovery-keys") or "").split()
                bootstrap.join(env.client(node), plan.api_addr(leader), ca_pem)
                bootstrap.unseal_joined(env.client(node), recovery, timeout=JOIN_TIMEOUT)
            # kv: its own retry_join joins and its unsealer supplies the keys (a manual join could deadlock it)
            _wait_member(env, node)
        report.steps["joined_s"] = round(time.monotonic() - t, 3)
        for other in plan.nodes:  # their retry_join lists it (read at their next start)
            if other.name != name:
                env.write_node_config(other)
        _settle(env)
    except BaseException:
        _undo_add(env, old, node)
        raise
    return _healthy(env, report, step, started)


def _undo_add(env: Environment, old: Plan, node: Node) -> bool:
    """Take back a half-made add: what `_take_back` removes, the host ports, unsealers and configs as they were, and
    the record as it was. False when the DC could not be taken back: the add stays recorded as unfinished (being
    taken back), for `dc remove` or `up` to finish."""
    assert env.state is not None
    found = pending(env)
    if found is not None:
        found["undoing"] = True
        with contextlib.suppress(Exception):
            env.save()
    try:
        _take_back(env, node)
    except Exception:  # noqa: BLE001 - the add stays recorded: whoever runs next takes it back
        return False
    env.plan = old
    if old.topology.unseal == "kv":
        with contextlib.suppress(Exception):
            kms.restart_unsealers(env)
    with contextlib.suppress(Exception):
        pid = env.state.pids.get("forwarder")
        spec = env.paths.forwarder_spec.read_text()
        if str(node.host_port) in spec or pid is None or not env.host.belongs(pid, str(env.paths.root)):
            site.republish_ports(env)
    for other in old.nodes:
        with contextlib.suppress(Exception):
            env.write_node_config(other)
    if found is not None:
        env.state.topology = found["before"]["topology"]
        env.state.slots = found["before"]["slots"]
        env.state.binaries = found["before"]["binaries"]
    _settle(env)
    return True


def _remove(env: Environment, name: str, progress: Progress | None) -> MembershipReport:
    assert env.state is not None
    started = time.monotonic()
    step = (progress or Progress(quiet=True)).step
    found = pending(env)
    if found is not None and found["dc"] == name and found["action"] == "add":
        old = _before(env, found)
        node = env.plan.node(name)
        with step(f"Taking back the unfinished `dc add {name}`"):
            if not _undo_add(env, old, node):
                _kept(name)
        return _healthy(env, _report(env, "remove", node), step, started)
    if found is not None and found["dc"] == name:  # an unfinished remove: its remaining steps
        node = _before(env, found).node(name)
        plan = _without(env, name)
    else:
        plan = check_remove(env, name)
        node = env.plan.node(name)
    report = _report(env, "remove", node)
    t = time.monotonic()
    if name in env.datacenters:
        if env.leader() == name:
            with step(f"Stepping {name} down"):
                try:
                    step_down(env, name)
                except ProviderError:
                    raise ProviderError(
                        f"dc remove: no other DC took the lead from {name} within {STEP_DOWN_TIMEOUT:.0f}s; nothing "
                        "was changed"
                    ) from None
        if found is None:  # a step-down changes nothing to finish; from here on the removal is recorded
            _intend(env, "remove", name)
            env.save()
        with step(f"Removing {name} from the Raft configuration"):
            _leave(env, name)
        report.steps["left_s"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        with step(f"Removing {name}'s server, namespace and files"):
            _stop(env, node)
            _remove_namespace(env, node)
            _remove_files(env, node)
            _record(env, plan)
    with step(f"Publishing the changed environment without {name}"):
        for other in plan.nodes:
            env.write_node_config(other)
        site.republish_ports(env)
        if plan.topology.unseal == "kv":
            kms.restart_unsealers(env)  # without the removed DC's thread
        _settle(env)
    report.steps["removed_s"] = round(time.monotonic() - t, 3)
    return _healthy(env, report, step, started)


def _without(env: Environment, name: str) -> Plan:
    """The recorded plan without DC `name` (the same when it is no longer recorded)."""
    assert env.state is not None
    slots = {n.name: n.index for n in env.plan.nodes if n.name != name}
    entries = [
        e for e in env.state.topology.get("datacenters") or [] if (e if isinstance(e, str) else e.get("name")) != name
    ]
    return _plan(env, _pinned(env, entries), slots, "dc remove")


def _healthy(env: Environment, report: MembershipReport, step: Any, started: float) -> MembershipReport:
    t = time.monotonic()
    with step("Waiting for healthy"):
        health = env.wait_healthy(HEALTHY_TIMEOUT)
    report.steps["healthy_s"] = round(time.monotonic() - t, 3)
    report.datacenters = env.datacenters
    report.leader = health.leader
    report.seconds = time.monotonic() - started
    return report
