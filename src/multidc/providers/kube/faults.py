"""Faults on the kind provider, through docker: a DC is its kind node container (`<cluster>-control-plane`).

kill/stop/start/pause/resume act on that container; a partition disconnects the group's containers from docker's
`kind` network (so the group is cut off from everything, the only cut docker offers without touching the host's
firewall) and heal reconnects them; kms-down/kms-up stop and start the central KMS container. The central KMS restarts
sealed: kms-up unseals it with its key, as on the netns provider. Delay, jitter and loss are netem on the containers'
eth0, and one-way cuts and bridges are u32 filters that drop what goes to the peer's addresses (`tc` of the kind node
image's iproute2; the host's kernel must have sch_netem, and where it has not, tc's error is the message).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ... import links
from ...errors import FaultError
from ...paths import EnvPaths
from ...runner import Runner
from ...state import State
from ..base import Interpreter
from .manifests import KubePlan

NETWORK = "kind"
PRIOMAP = ["priomap", "1", "2", "2", "2", "1", "2", "0", "0", "1", "1", "1", "1", "1", "1", "1", "1"]  # prio's default


class KmsUnsealer(Protocol):
    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]: ...


@dataclass
class KindFaults(Interpreter):
    """kind faults. With `paths` (the environment's directory) every fault is recorded in the state file at once and
    `kms_up` unseals the restarted KMS itself, so the Python API and the CLI behave alike."""

    plan: KubePlan
    runner: Runner
    state: State
    paths: EnvPaths | None = None
    kms: KmsUnsealer | None = None

    def _container(self, dc: str) -> str:
        for d in self.plan.dcs:
            if d.name == dc:
                return f"{d.cluster}-control-plane"
        names = ", ".join(d.name for d in self.plan.dcs)
        raise FaultError(f"no datacenter {dc!r}; choose one of: {names}")

    def _mark(self, kind: str, name: str, on: bool) -> None:
        items = set(self.state.faults.get(kind, []))
        (items.add if on else items.discard)(name)
        if items:
            self.state.faults[kind] = sorted(items)
        else:
            self.state.faults.pop(kind, None)
        self._save()

    def _save(self) -> None:
        if self.paths is not None:
            self.state.save(self.paths)

    def kill(self, dc: str) -> str:
        self.runner.run(["docker", "kill", self._container(dc)])
        self._mark("stopped", dc, True)
        return f"killed {dc}'s kind node (docker kill)"

    def stop(self, dc: str) -> str:
        self.runner.run(["docker", "stop", self._container(dc)])
        self._mark("stopped", dc, True)
        return f"stopped {dc}'s kind node (docker stop)"

    def start(self, dc: str, wait: bool = True) -> str:
        self.runner.run(["docker", "start", self._container(dc)])
        self._mark("stopped", dc, False)
        return f"started {dc}'s kind node (docker start)"

    def pause(self, dc: str) -> str:
        self.runner.run(["docker", "pause", self._container(dc)])
        self._mark("paused", dc, True)
        return f"paused {dc}'s kind node (docker pause)"

    def resume(self, dc: str) -> str:
        self.runner.run(["docker", "unpause", self._container(dc)])
        self._mark("paused", dc, False)
        return f"resumed {dc}'s kind node (docker unpause)"

    def partition(self, group: list[str]) -> str:
        for dc in group:
            self.runner.run(["docker", "network", "disconnect", NETWORK, self._container(dc)])
            self._mark("disconnected", dc, True)
        return f"disconnected {', '.join(group)} from docker's {NETWORK} network"

    def heal(self) -> str:
        """Reconnect every disconnected node and remove every delay."""
        cut = list(self.state.faults.get("disconnected", []))
        for dc in cut:
            self.runner.run(["docker", "network", "connect", NETWORK, self._container(dc)])
            self._mark("disconnected", dc, False)
        shaped = self._shaped_sides()
        shapes = links.record(self.state.faults)
        links.store(self.state.faults, {})
        for kind in ("one-way", "bridges"):
            self.state.faults.pop(kind, None)
        for side in shaped:
            self._shape(side)
        self._save()
        if not cut and not shaped:
            return "no partitions, cuts or shaped links to heal"
        return f"reconnected {', '.join(cut) or 'nothing'}; removed {len(shapes)} shaped link(s) and every one-way cut"

    def kms_down(self) -> str:
        self.runner.run(["docker", "stop", self.plan.kms_container])
        self._mark("kms", "down", True)
        return f"stopped the KMS container {self.plan.kms_container}"

    def kms_up(self) -> str:
        """Start the KMS container; it comes back sealed, so unseal it with its key (what the seal needs)."""
        self.runner.run(["docker", "start", self.plan.kms_container])
        if self.kms is None or self.paths is None:
            raise FaultError("started the KMS container but cannot unseal it: no KMS client and state given")
        self.kms.prepare(self.state.made["kms_url"], self.plan, self.paths)
        self._mark("kms", "down", False)
        return f"started the KMS container {self.plan.kms_container} and unsealed it with its key"

    def clear(self) -> list[str]:
        """Undo every fault: reconnect and remove delays, unpause, start what was stopped, the KMS up."""
        problems: list[str] = []
        undo = [("heal", None)]
        undo += [("kms_up", None)] if self.state.faults.get("kms") else []  # first: a starting node may need it
        undo += [("resume", dc) for dc in self.state.faults.get("paused", [])]
        undo += [("start", dc) for dc in self.state.faults.get("stopped", [])]
        for action, dc in undo:
            try:
                getattr(self, action)(*([dc] if dc else []))
            except Exception as exc:  # noqa: BLE001 - every other undo is still tried
                problems.append(f"{action.replace('_', '-')} {dc or ''}".strip() + f": {exc}")
        return problems

    # --- latency: netem inside the node containers (they share the host's kernel, which must have sch_netem)

    def _places(self) -> list[str]:
        return [d.name for d in self.plan.dcs] + ["kms"]

    def _box(self, name: str) -> str:
        """The container a place lives in: a DC's kind node, or the central KMS."""
        return self.plan.kms_container if name == "kms" else self._container(name)

    def _addresses(self, name: str) -> list[str]:
        """Where packets to a place go on the kind network: its container's address, and a DC's LoadBalancer IP."""
        box = self._box(name)
        found = self.runner.run(
            ["docker", "inspect", "-f", '{{(index .NetworkSettings.Networks "' + NETWORK + '").IPAddress}}', box]
        ).stdout.strip()
        if not found:
            raise FaultError(f"{box} has no address on docker's {NETWORK} network (is it running and connected?)")
        vip = next((d.vip for d in self.plan.dcs if d.name == name), None)
        return [found, *([vip] if vip else [])]

    def _shaped_sides(self) -> list[str]:
        """Every place whose eth0 carries a qdisc of ours (a shaped link or a dropped destination)."""
        drops = {src for src, _ in links.directed(self._cuts(), self._places())}
        return sorted(drops | set(links.sides(links.record(self.state.faults))))

    def _cuts(self) -> dict[str, object]:
        """The cuts done with tc (partitions are docker disconnects here, not in this record)."""
        return {k: v for k, v in self.state.faults.items() if k in ("one-way", "bridges")}

    def delay(self, a: str, b: str, ms: int, jitter: int = 0) -> str:
        """netem on each side's eth0 for packets to the other side: a prio qdisc with one netem band per peer."""
        return links.set_delay(a, b, ms, jitter, self._places(), self._change) + " (netem in the node containers)"

    def loss(self, a: str, b: str, percent: float) -> str:
        return links.set_loss(a, b, percent, self._places(), self._change) + " (netem in the node containers)"

    def cut(self, a: str, b: str) -> str:
        """One way: a's packets to b are dropped (a u32 filter on a's eth0); b's to a pass."""
        links.check_pair(a, b, self._places())
        one_way = list(self.state.faults.get("one-way", []))
        if [a, b] not in one_way:
            one_way.append([a, b])
        self.state.faults["one-way"] = one_way
        self._shape(a)
        self._save()
        return f"dropping every packet from {a} to {b} (one way, tc in the node container: {b}'s packets to {a} pass)"

    def bridge(self, via: str) -> str:
        left, right = links.bridge_halves(via, self._places())
        self.state.faults["bridges"] = [*self.state.faults.get("bridges", []), {"via": via, "halves": [left, right]}]
        for side in left + right:
            self._shape(side)
        self._save()
        return f"cut {', '.join(left)} off from {', '.join(right)} (both directions, tc); {via} reaches both"

    def _change(self, a: str, b: str, **change: float) -> bool:
        shapes = links.updated(links.record(self.state.faults), a, b, **change)
        if shapes is None:
            return False
        links.store(self.state.faults, shapes)
        for side in (a, b):
            self._shape(side)
        self._save()
        return True

    def _shape(self, side: str) -> None:
        """Rebuild side's qdisc tree from what the record asks of it: a netem band per shaped peer, a drop filter per
        cut-off destination (nothing: the default qdisc again)."""
        box = self._box(side)
        tc = ["docker", "exec", box, "tc"]
        self.runner.run([*tc, "qdisc", "del", "dev", "eth0", "root"], check=False)  # absent the first time
        peers = links.peers(side, links.record(self.state.faults))
        dropped = sorted(dst for src, dst in links.directed(self._cuts(), self._places()) if src == side)
        if not peers and not dropped:
            return
        # Bands 1-3 keep the default priomap for everything else; band 4+i holds peer i's netem.
        self.runner.run([*tc, *f"qdisc add dev eth0 root handle 1: prio bands {3 + len(peers)}".split(), *PRIOMAP])
        for other in dropped:
            for address in self._addresses(other):
                drop = f"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {address}/32 action drop"
                self.runner.run([*tc, *drop.split()])
        for i, (other, shape) in enumerate(peers):
            band = 4 + i
            netem = f"qdisc add dev eth0 parent 1:{band} handle {band}0: netem"
            if shape.ms or shape.jitter:
                netem += f" delay {shape.ms}ms" + (f" {shape.jitter}ms" if shape.jitter else "")
            if shape.loss:
                netem += f" loss random {shape.loss:g}%"
            self.runner.run([*tc, *netem.split()])
            for address in self._addresses(other):
                match = (
                    f"filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst {address}/32 flowid 1:{band}"
                )
                self.runner.run([*tc, *match.split()])
