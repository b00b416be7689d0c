"""Faults on the netns provider, each reversible and recorded in the state file so `status` can show them.

Processes: kill (SIGKILL), stop (SIGTERM), start, pause (SIGSTOP), resume (SIGCONT) of a DC's server; kms-down/kms-up.
Network: a partition is a set of blackhole routes inside the environment's own node namespaces (to the other side's
node addresses and VIPs, on both sides), so packets between the two sides vanish as on a cut link, while the group's
members still reach each other and clients on the host still reach every DC through its published port. Nothing
outside the environment's namespaces is touched. Latency needs the kernel's netem qdisc; where it is missing, `delay`
says so.
"""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass

from pyroute2 import NetNS

from ...errors import FaultError, PrerequisiteError, ProviderError
from ...plan import Node
from . import processes
from .provider import NetnsEnvironment


@dataclass
class Faults:
    env: NetnsEnvironment

    # --- bookkeeping

    @property
    def active(self) -> dict[str, object]:
        assert self.env.state is not None
        return self.env.state.faults

    def _save(self) -> None:
        self.env._save()

    def _node(self, dc: str) -> Node:
        try:
            return self.env.plan.node(dc)
        except KeyError:
            names = ", ".join(n.name for n in self.env.plan.nodes)
            raise FaultError(f"no datacenter {dc!r}; choose one of: {names}") from None

    def _pid(self, key: str) -> int:
        assert self.env.state is not None
        pid = self.env.state.pids.get(key)
        if pid is None or not processes.belongs(pid, str(self.env.paths.root)):
            raise FaultError(f"{key.split(':')[-1]} is not running")
        return pid

    def _mark(self, kind: str, name: str, on: bool) -> None:
        items = set(self.active.get(kind, []))  # type: ignore[call-overload]
        (items.add if on else items.discard)(name)
        self.active[kind] = sorted(items)
        if not items:
            self.active.pop(kind)
        self._save()

    # --- processes

    def kill(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        processes.terminate([pid])  # SIGKILL at once
        self._mark("stopped", dc, True)
        return f"killed {dc}'s server (SIGKILL, pid {pid})"

    def stop(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        processes.terminate([pid], grace=10.0)
        self._mark("stopped", dc, True)
        return f"stopped {dc}'s server (SIGTERM, pid {pid})"

    def start(self, dc: str) -> str:
        node = self._node(dc)
        assert self.env.state is not None
        pid = self.env.state.pids.get(f"node:{dc}")
        if pid is not None and processes.belongs(pid, str(self.env.paths.root)):
            raise FaultError(f"{dc}'s server is already running (pid {pid})")
        self.env.restart_node(node)
        self._mark("stopped", dc, False)
        return f"started {dc}'s server (pid {self.env.state.pids[f'node:{dc}']})"

    def pause(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        os.kill(pid, signal.SIGSTOP)
        self._mark("paused", dc, True)
        return f"paused {dc}'s server (SIGSTOP, pid {pid})"

    def resume(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        os.kill(pid, signal.SIGCONT)
        self._mark("paused", dc, False)
        return f"resumed {dc}'s server (SIGCONT, pid {pid})"

    def kms_down(self) -> str:
        pid = self._pid("kms")
        processes.terminate([pid], grace=5.0)
        self._mark("kms", "down", True)
        return f"stopped the KMS (SIGTERM, pid {pid}); running nodes keep serving, restarted ones cannot unseal"

    def kms_up(self) -> str:
        assert self.env.state is not None
        pid = self.env.state.pids.get("kms")
        if pid is not None and processes.belongs(pid, str(self.env.paths.root)):
            raise FaultError("the KMS is already running")
        self.env.restart_kms()
        self._mark("kms", "down", False)
        return "started the KMS again and unsealed it with its key"

    # --- network

    def _addresses(self, name: str) -> list[str]:
        plan = self.env.plan
        if name == "kms":
            return [str(plan.kms.address)]
        node = self._node(name)
        return [str(node.address), str(node.vip)]

    def _namespace(self, name: str) -> str:
        return self.env.plan.kms.namespace if name == "kms" else self._node(name).namespace

    def partition(self, group: list[str]) -> str:
        """Cut the group (DC names, or `kms`) off from every other DC and the KMS, both directions."""
        everyone = [n.name for n in self.env.plan.nodes] + ["kms"]
        for name in group:
            if name not in everyone:
                raise FaultError(f"no datacenter {name!r}; choose from: {', '.join(everyone)}")
        rest = [n for n in everyone if n not in group]
        if not group or not rest:
            raise FaultError("a partition needs at least one member on each side")
        cuts: list[list[str]] = list(self.active.get("cuts", []))  # type: ignore[call-overload]
        for inside in group:
            for outside in rest:
                for src, dst in ((inside, outside), (outside, inside)):
                    for address in self._addresses(dst):
                        cut = [self._namespace(src), address]
                        if cut not in cuts:
                            self._route("add", *cut)
                            cuts.append(cut)
        self.active["cuts"] = cuts
        groups: list[list[str]] = list(self.active.get("partitions", []))  # type: ignore[call-overload]
        groups.append(sorted(group))
        self.active["partitions"] = groups
        self._save()
        return f"cut {', '.join(group)} off from {', '.join(rest)} (both directions)"

    def heal(self) -> str:
        cuts: list[list[str]] = list(self.active.get("cuts", []))  # type: ignore[call-overload]
        for namespace, address in cuts:
            self._route("del", namespace, address)
        self.active.pop("cuts", None)
        self.active.pop("partitions", None)
        self._save()
        return f"healed: removed {len(cuts)} cut(s)" if cuts else "no partitions to heal"

    def _route(self, action: str, namespace: str, address: str) -> None:
        try:
            with NetNS(namespace) as ns:
                ns.route(action, dst=f"{address}/32", type="blackhole")
        except Exception as exc:
            code = getattr(exc, "code", None)
            if action == "del" and code in (errno.ESRCH, errno.ENOENT):
                return
            if action == "add" and code == errno.EEXIST:
                return
            raise ProviderError(f"{action} blackhole route to {address} in {namespace} failed: {exc}") from exc

    def delay(self, a: str, b: str, ms: int) -> str:
        self._node(a), self._node(b)
        if not netem_available(self._namespace(a), self._node(a).ifname):
            raise PrerequisiteError(
                "latency injection needs the kernel's netem qdisc (sch_netem), which this kernel does not have; "
                "`delay` is unavailable here (partitions, kills and pauses work)"
            )
        raise PrerequisiteError("netem is present but per-pair delay is not implemented yet")


def netem_available(namespace: str, ifname: str) -> bool:
    """Try to attach (and remove) a netem qdisc on a link inside the environment; False when the kernel refuses."""
    try:
        with NetNS(namespace) as ns:
            index = ns.link_lookup(ifname=ifname)[0]
            ns.tc("add", "netem", index, handle="1:", delay=1000)
            ns.tc("del", index=index, handle="1:")
        return True
    except Exception:
        return False
