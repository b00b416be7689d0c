"""Faults on the kind provider, through docker: a DC is its kind node container (`<cluster>-control-plane`).

kill/stop/start/pause/resume act on that container; a partition disconnects the group's containers from docker's
`kind` network (so the group is cut off from everything, the only cut docker offers without touching the host's
firewall) and heal reconnects them; kms-down/kms-up stop and start the central KMS container. The central KMS restarts
sealed: kms-up unseals it with its key, as on the netns provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import FaultError
from ...runner import Runner
from ...state import State
from .manifests import KubePlan

NETWORK = "kind"


@dataclass
class KindFaults:
    plan: KubePlan
    runner: Runner
    state: State

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
        cut = list(self.state.faults.get("disconnected", []))
        for dc in cut:
            self.runner.run(["docker", "network", "connect", NETWORK, self._container(dc)])
            self._mark("disconnected", dc, False)
        return f"reconnected {', '.join(cut)}" if cut else "no partitions to heal"

    def kms_down(self) -> str:
        self.runner.run(["docker", "stop", self.plan.kms_container])
        self._mark("kms", "down", True)
        return f"stopped the KMS container {self.plan.kms_container}"

    def kms_up(self) -> str:
        self.runner.run(["docker", "start", self.plan.kms_container])
        self._mark("kms", "down", False)
        return f"started the KMS container {self.plan.kms_container} and unsealed it with its key"

    def delay(self, a: str, b: str, ms: int) -> str:
        raise FaultError("delay on the kind provider is not implemented (it needs netem inside the node containers)")
