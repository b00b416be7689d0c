"""Lost-quorum recovery on a netns environment, as OpenBao documents it for integrated storage: stop the survivor,
write raft/peers.json naming only itself, start it (it comes back as a one-node cluster and takes the lead), then
bring every other DC back as a fresh node (empty data) that joins the survivor.

Every other DC's data is wiped, so the survivor must be the DC whose Raft log is the newest (as Raft orders logs: the
last entry's term, then its index), read from each DC's data directory, running or not: that log holds every
acknowledged write (a write is acknowledged once a majority logged it, and the newest log contains all such). An
older survivor is refused before anything changes, unless the caller accepts losing what only the others hold."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from ... import bootstrap, pipeline
from ...errors import FaultError, ProviderError
from ...paths import write_private
from ...progress import Progress
from ...state import read_secret
from ...vaultapi import get
from ..results import RecoveryReport
from .plan import CLUSTER_PORT
from .raftlog import Position, Unreadable, last_position

if TYPE_CHECKING:
    from .environment import Environment
    from .plan import Node

LEAD_TIMEOUT = 60.0
JOIN_TIMEOUT = 60.0


def _running(env: Environment, dc: str) -> int | None:
    assert env.state is not None
    pid = env.state.pids.get(f"node:{dc}")
    return pid if pid is not None and env.host.belongs(pid, str(env.paths.root)) else None


def _wipe(node: Node) -> None:
    """Remove a node's Raft data (the directory multidc made inside the environment's own directory)."""
    data = node.paths.data
    if data.is_dir() and not data.is_symlink():
        shutil.rmtree(data)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)


def _leads(env: Environment, node: Node) -> bool:
    try:
        code, body = get(env.client(node, timeout=2), "/v1/sys/leader")
    except Exception:  # noqa: BLE001 - not yet
        return False
    return code == 200 and bool(body.get("is_self"))


def logs(env: Environment, allow_data_loss: bool) -> dict[str, Position]:
    """Where each DC's Raft log ends, read from its data directory. One that cannot be read is refused (FaultError,
    exit 2), or with `allow_data_loss` left out."""
    found = {}
    for node in env.plan.nodes:
        try:
            found[node.name] = last_position(node.paths.data)
        except Unreadable as exc:
            if not allow_data_loss:
                raise FaultError(
                    f"recover: cannot tell how new {node.name}'s data is ({exc}); nothing was changed "
                    f"(add --allow-data-loss to recover without {node.name}'s data)"
                ) from None
    return found


def choose(env: Environment, dc: str | None, allow_data_loss: bool) -> tuple[str, dict[str, Position]]:
    """The survivor: `dc`, refused if another DC's log is newer (unless `allow_data_loss`); else the newest DC
    (a running one first among equals, then the DC order)."""
    positions = logs(env, allow_data_loss)
    newest = max(positions, key=lambda n: (positions[n], _running(env, n) is not None), default=dc)
    if newest is None:
        raise FaultError("recover: no DC's Raft data can be read; name the DC to recover")
    if dc is None:
        return newest, positions
    if not allow_data_loss and positions[newest] > positions[dc]:
        raise FaultError(
            f"recover: {newest}'s Raft log is newer than {dc}'s ({positions[newest]}; {dc}'s {positions[dc]}): "
            f"recovering {dc} would wipe writes only {newest} holds; run `multidc recover {newest} --name "
            f"{env.name}` (or add --allow-data-loss to lose them)"
        )
    return dc, positions


def recover(
    env: Environment, dc: str | None, progress: Progress | None = None, allow_data_loss: bool = False
) -> RecoveryReport:
    """Make `dc` (default: the DC with the newest Raft log) a one-node cluster with its own data (peers.json), then
    re-add every other DC fresh."""
    if dc == "kms":
        raise FaultError("recover: the KMS is not a Raft member of the cluster; name a datacenter")
    if dc is not None:
        env.place(dc)
    running = [n.name for n in env.plan.nodes if _running(env, n.name) is not None]
    if len(running) * 2 > len(env.plan.nodes):
        raise FaultError(
            f"recover: {len(running)} of {len(env.plan.nodes)} DCs' servers run ({', '.join(running)}), a quorum; "
            "recover is for a majority gone for good (it wipes every other DC): stop or kill them first"
        )
    dc, positions = choose(env, dc, allow_data_loss)
    survivor = env.plan.node(dc)
    report = RecoveryReport(dc, logs={n: asdict(p) for n, p in positions.items()})
    started = time.monotonic()
    others = [n for n in env.plan.nodes if n.name != dc]

    step = (progress or Progress(quiet=True)).step

    t = time.monotonic()
    with step(f"Stopping every other DC for good ({', '.join(n.name for n in others)})"):
        for node in others:
            pid = _running(env, node.name)
            if pid is not None:
                env.host.terminate([pid])
            env.mark_fault("stopped", node.name, True)
            _wipe(node)
    with step(f"Restarting {dc} with peers.json naming only itself"):
        pid = _running(env, dc)
        if pid is not None:
            env.host.terminate([pid], grace=10.0)
        peers = [{"id": dc, "address": f"{survivor.service_address}:{CLUSTER_PORT}", "non_voter": False}]
        write_private(survivor.paths.data / "raft" / "peers.json", json.dumps(peers))
        env.restart_node(survivor)
        env.started(survivor, f"node:{dc}")
        for kind in ("stopped", "exited", "paused"):
            env.mark_fault(kind, dc, False)
        try:
            pipeline.wait_until(lambda: _leads(env, survivor), LEAD_TIMEOUT, f"{dc} leading")
        except TimeoutError:
            raise ProviderError(
                f"recover: {dc} did not lead within {LEAD_TIMEOUT:.0f}s: {env.log_tail(survivor)}"
            ) from None
    report.steps["survivor_leads_s"] = round(time.monotonic() - t, 3)
    t = time.monotonic()
    with step(f"Re-adding {', '.join(n.name for n in others)} fresh"):
        ca_pem = env.paths.ca_cert.read_text() if env.plan.topology.tls else None
        recovery = (read_secret(env.paths, "recovery-keys") or "").split()
        for node in others:
            env.restart_node(node)
            env.started(node, f"node:{node.name}")
            env.mark_fault("stopped", node.name, False)
            env.mark_fault("exited", node.name, False)
            if env.plan.topology.unseal == "transit":
                bootstrap.join(env.client(node), env.plan.api_addr(survivor), ca_pem)
                bootstrap.unseal_joined(env.client(node), recovery, timeout=JOIN_TIMEOUT)
            report.readded.append(node.name)
        env.wait_healthy(JOIN_TIMEOUT)
    report.steps["readded_healthy_s"] = round(time.monotonic() - t, 3)
    report.seconds = time.monotonic() - started
    return report
