"""Health: the definition `up` waits for and `status` reports. Reads only.

Healthy means every node unsealed; every node reports the same Raft configuration with every DC's node a voter and
the same leader; autopilot healthy; a KV v2 secret written through one DC's VIP reads back through every other DC's
VIP within a bounded replication lag (standbys serve reads, and may lag a little behind the leader).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import hvac
import requests

from .pipeline import wait_until
from .vaultapi import TRANSIENT, client, get

REPLICATION_LAG = 3.0  # seconds a read on another DC may take to see a write


@dataclass
class NodeStatus:
    dc: str
    vip: str
    host_url: str
    reachable: bool = False
    initialized: bool = False
    sealed: bool | None = None  # None: it did not answer, so nobody knows
    role: str = "unknown"  # leader | follower | down | sealed
    voter: bool | None = None  # None: not reachable (the others' Raft configuration is not its own word)
    leader: str = ""  # node id of the leader this node reports
    applied_index: int = 0
    version: str = ""  # the server's own word (seal-status)
    error: str = ""


@dataclass
class Health:
    healthy: bool
    nodes: list[NodeStatus]
    problems: list[str] = field(default_factory=list)
    leader: str = ""
    kms_sealed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Endpoint:
    """Where one DC's server is reached from here: its name, its VIP (LoadBalancer IP) and a URL to it."""

    dc: str
    vip: str
    url: str


def _node_status(ep: Endpoint, ca: str | None, token: str | None) -> tuple[NodeStatus, dict[str, Any] | None]:
    status = NodeStatus(dc=ep.dc, vip=ep.vip, host_url=ep.url)
    c = client(ep.url, ca, token, timeout=2)
    try:
        code, seal = get(c, "/v1/sys/seal-status")
        if code != 200:
            status.error = f"seal-status answered {code}"
            status.role = "down"
            return status, None
        status.reachable = True
        status.version = str(seal.get("version") or "")
        status.initialized = bool(seal.get("initialized"))
        status.sealed = bool(seal.get("sealed", True))
        if status.sealed:
            status.role = "sealed"
            return status, None
        code, leader = get(c, "/v1/sys/leader")
        if code == 200:
            status.role = "leader" if leader.get("is_self") else "follower"
            status.applied_index = int(leader.get("raft_applied_index") or 0)
            status.leader = str(leader.get("leader_address") or "")
        config = None
        if token:
            code, body = get(c, "/v1/sys/storage/raft/configuration")
            if code == 200:
                config = body.get("data", {}).get("config")
    except TRANSIENT as exc:
        status.role = "down"
        status.error = _reason(exc)
        return status, None
    return status, config


def _reason(exc: BaseException) -> str:
    """A short reason: the forwarder accepts and closes when nothing listens behind it, which TLS calls an EOF."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.split("certificate verify failed:", 1)[-1].split("(")[0].strip(" )'\"") or "not trusted"
        return f"TLS verification failed ({detail}): its certificate is not one the environment's CA signed"
    if isinstance(exc, requests.exceptions.SSLError) and "EOF" in text:
        return "no answer from its server (not running?)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out (paused, or cut off?)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "timed out" in text or "Read timed out" in text:
            return "timed out (paused, or cut off?)"
        return "no answer from its server (not running?)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out (paused, or cut off?)"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def check_endpoints(
    eps: list[Endpoint], ca: str | None, token: str | None, probe_write: bool = True, written: bool = False
) -> Health:
    """Check every rule of the health definition; problems name the DC and the rule that failed. `written`: the
    write probe has just passed (`replication`, run while waiting for something else), so it is not run again."""
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, len(eps))) as pool:  # every DC at once: 9 DCs take as long as one
        results = list(pool.map(lambda ep: _node_status(ep, ca, token), eps))
    nodes = [r[0] for r in results]
    for n in nodes:
        if n.role == "down":
            problems.append(f"{n.dc}: not reachable at {n.host_url}: {n.error or 'no answer'}")
        elif not n.initialized:
            problems.append(f"{n.dc}: not initialised (not joined to the cluster)")
        elif n.sealed:
            problems.append(f"{n.dc}: sealed")
    configs = [(n, cfg) for n, cfg in results if cfg is not None]
    leader_id = ""
    if configs:
        shapes = {tuple(sorted((s["node_id"], s["address"], s["voter"]) for s in cfg["servers"])) for _, cfg in configs}
        if len(shapes) > 1:
            problems.append("nodes report different Raft configurations")
        servers = {s["node_id"]: s for s in configs[0][1]["servers"]}
        for n in nodes:
            member = servers.get(n.dc)
            if n.role == "down":
                continue  # already a problem; whether it votes is unknown while it cannot answer
            if member is None:
                problems.append(f"{n.dc}: not a member of the Raft configuration")
                continue
            n.voter = bool(member.get("voter"))
            if not n.voter:
                problems.append(f"{n.dc}: in the Raft configuration but not a voter yet")
            if member.get("leader"):
                leader_id = member["node_id"]
        extra = set(servers) - {n.dc for n in nodes}
        if extra:
            problems.append(f"unexpected Raft members: {', '.join(sorted(extra))}")
    elif not problems:
        problems.append("no node returned the Raft configuration (is the root token valid?)")
    leaders = {n.leader for n in nodes if n.leader}
    if len(leaders) > 1:
        problems.append(f"nodes disagree on the leader: {', '.join(sorted(leaders))}")
    clients = [(ep.dc, client(ep.url, ca, token, timeout=3)) for ep in eps]
    if not problems and token:
        problems += _autopilot(clients)
    if not problems and token and probe_write and not written:
        problems += _replication(clients)
    return Health(healthy=not problems, nodes=nodes, problems=problems, leader=leader_id)


def _autopilot(clients: list[tuple[str, hvac.Client]]) -> list[str]:
    name, c = clients[0]
    try:
        code, body = get(c, "/v1/sys/storage/raft/autopilot/state")
    except TRANSIENT as exc:
        return [f"autopilot state unreadable through {name}: {exc}"]
    data = body.get("data", body)
    if code != 200 or not data.get("healthy"):
        unhealthy = [sid for sid, s in (data.get("servers") or {}).items() if not s.get("healthy")]
        return [f"autopilot reports unhealthy servers: {', '.join(unhealthy) or 'unknown'}"]
    return []


def replication(eps: list[Endpoint], ca: str | None, token: str | None) -> list[str]:
    """The write probe alone: its problems (none: a write through the first DC was read back through every other)."""
    return _replication([(ep.dc, client(ep.url, ca, token, timeout=3)) for ep in eps])


def _replication(clients: list[tuple[str, hvac.Client]]) -> list[str]:
    """Write a random value through the first DC's VIP; every other DC must read it back within REPLICATION_LAG."""
    writer_name, writer = clients[0]
    value = secrets.token_hex(8)
    try:
        writer.secrets.kv.v2.create_or_update_secret(
            path="multidc/health", secret={"value": value}, mount_point="secret"
        )
    except TRANSIENT as exc:
        return [f"{writer_name}: a write through its VIP failed: {str(exc).splitlines()[0][:160]}"]

    def read_back(named: tuple[str, hvac.Client]) -> str | None:
        name, reader = named

        def replicated() -> bool:
            read = reader.secrets.kv.v2.read_secret_version(
                path="multidc/health", mount_point="secret", raise_on_deleted_version=True
            )
            return bool(read["data"]["data"].get("value") == value)

        try:
            wait_until(replicated, REPLICATION_LAG, f"the write through {writer_name}", interval=0.02)
        except TimeoutError:
            return f"{name}: a write through {writer_name} was not readable through {name} within {REPLICATION_LAG:g}s"
        return None

    with ThreadPoolExecutor(max_workers=max(1, len(clients))) as pool:  # every DC reads at once
        return [p for p in pool.map(read_back, clients[1:]) if p is not None]


def leader_of(asked: list[tuple[str, str, Callable[[], hvac.Client]]]) -> str | None:
    """The DC whose node leads Raft now, asked through every DC (its name, its node's API address as Raft names it,
    a client to it) until one knows; None if none can tell."""
    by_addr = {addr: name for name, addr, _ in asked}
    for _, _, make in asked:
        try:
            code, body = get(make(), "/v1/sys/leader")
        except Exception:  # noqa: BLE001 - a node that cannot answer cannot tell
            continue
        if code == 200 and body.get("leader_address") in by_addr:
            return by_addr[body["leader_address"]]
    return None
