"""Faults on the kind provider, through docker: a DC is its kind node container (`<cluster>-control-plane`).

kill/stop/start/pause/resume act on that container; a partition disconnects the group's containers from docker's
`kind` network (so the group is cut off from everything, the only cut docker offers without touching the host's
firewall) and heal reconnects them; kms-down/kms-up stop and start the central KMS container. The central KMS restarts
sealed: kms-up unseals it with its key, as on the netns provider. A delay is netem on the containers' eth0 (`tc` of the
kind node image's iproute2; the host's kernel must have sch_netem, and where it has not, tc's error is the message).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ... import delays
from ...errors import FaultError
from ...paths import EnvPaths
from ...runner import Runner
from ...state import State
from .manifests import KubePlan

NETWORK = "kind"
PRIOMAP = ["priomap", "1", "2", "2", "2", "1", "2", "0", "0", "1", "1", "1", "1", "1", "1", "1", "1"]  # prio's default


class KmsUnsealer(Protocol):
    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]: ...


@dataclass
class KindFaults:
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

    def start(self, dc: str) -> str:
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
        record: dict[str, int] = self.state.faults.pop("delays", {})
        for side in delays.sides(record):
            self._shape(side, {})
        self._save()
        if not cut and not record:
            return "no partitions or delays to heal"
        return f"reconnected {', '.join(cut) or 'nothing'}; removed {len(record)} delay(s)"

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

    def delay(self, a: str, b: str, ms: int) -> str:
        """netem on each side's eth0 for packets to the other side: a prio qdisc with one netem band per peer."""
        delays.check(a, b, ms, self._places())
        record = delays.updated(self.state.faults.get("delays", {}), a, b, ms)
        if record is None:
            return f"no delay between {a} and {b} to remove"
        for side in (a, b):
            self._shape(side, record)
        if record:
            self.state.faults["delays"] = record
        else:
            self.state.faults.pop("delays", None)
        self._save()
        if not ms:
            return f"removed the delay between {a} and {b}"
        return f"delayed every packet between {a} and {b} by {ms} ms each way (netem in the node containers)"

    def _shape(self, side: str, record: dict[str, int]) -> None:
        """Rebuild side's qdisc tree from the delays that involve it (none: the default qdisc again)."""
        box = self._box(side)
        tc = ["docker", "exec", box, "tc"]
        self.runner.run([*tc, "qdisc", "del", "dev", "eth0", "root"], check=False)  # absent the first time
        peers = delays.peers(side, record)
        if not peers:
            return
        # Bands 1-3 keep the default priomap for everything else; band 4+i holds peer i's netem.
        self.runner.run([*tc, *f"qdisc add dev eth0 root handle 1: prio bands {3 + len(peers)}".split(), *PRIOMAP])
        for i, (other, ms) in enumerate(peers):
            band = 4 + i
            self.runner.run([*tc, *f"qdisc add dev eth0 parent 1:{band} handle {band}0: netem delay {ms}ms".split()])
            for address in self._addresses(other):
                match = (
                    f"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {address}/32 flowid 1:{band}"
                )
                self.runner.run([*tc, *match.split()])
