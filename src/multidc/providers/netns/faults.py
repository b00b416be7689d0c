"""Faults on the netns provider, each reversible and recorded in the state file so `status` can show them.

Processes: kill (SIGKILL), stop (SIGTERM), start, pause (SIGSTOP), resume (SIGCONT) of a DC's server; kms-down/kms-up.
Network: a partition routes the other side's node addresses and VIPs, on both sides, to a TUN device that nobody
reads inside the environment's own node namespaces (`E-cut`; the kernel drops what is routed there), so packets
between the two sides vanish as on a cut link: a connection attempt across the cut times out. (A blackhole route
would not do: the kernel fails a local connect() to a blackholed address at once with EINVAL, which no real network
does, and OpenBao then behaves differently.) The group's members still reach each other, and the path from the host
to every DC's published port stays open. Nothing outside the environment's namespaces is touched. Latency needs no
netem: a delay routes the peer's addresses through a TUN device in each side's namespace, where a small process holds
the packets back (delayer.py).
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

from ... import links
from ...errors import FaultError, PrerequisiteError, ProviderError, StartFailed
from ...paths import write_private
from ..base import Interpreter
from .environment import Environment
from .plan import Node


@dataclass
class Faults(Interpreter):
    env: Environment

    # --- bookkeeping

    @property
    def active(self) -> dict[str, object]:
        assert self.env.state is not None
        return self.env.state.faults

    def _save(self) -> None:
        self.env.save()

    def _node(self, dc: str) -> Node:
        try:
            return self.env.plan.node(dc)
        except KeyError:
            names = ", ".join(n.name for n in self.env.plan.nodes)
            raise FaultError(f"no datacenter {dc!r}; choose one of: {names}") from None

    def _pid(self, key: str) -> int:
        assert self.env.state is not None
        pid = self.env.state.pids.get(key)
        if pid is None or not self.env.host.belongs(pid, str(self.env.paths.root)):
            raise FaultError(f"{key.split(':')[-1]} is not running")
        return pid

    def _mark(self, kind: str, name: str, on: bool) -> None:
        self.env.mark_fault(kind, name, on)

    # --- processes

    def kill(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        self.env.host.terminate([pid])  # SIGKILL at once
        self._mark("stopped", dc, True)
        return f"killed {dc}'s server (SIGKILL, pid {pid})"

    def stop(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        self.env.host.terminate([pid], grace=10.0)
        self._mark("stopped", dc, True)
        return f"stopped {dc}'s server (SIGTERM, pid {pid})"

    def start(self, dc: str, wait: bool = True) -> str:
        """Start the DC's server and wait until it answers (sealed or not) or exits. One that exits at once (under
        transit auto-unseal, while the KMS is unreachable) is reported, recorded as `exited`, and started again by
        `kms-up` or `heal`, as a kubelet restarts a crashed pod once what it needs is back. Without wait, return once
        it is spawned (one that then exits is started again by `clear`)."""
        node = self._node(dc)
        assert self.env.state is not None
        pid = self.env.state.pids.get(f"node:{dc}")
        if pid is not None and self.env.host.belongs(pid, str(self.env.paths.root)):
            raise FaultError(f"{dc}'s server is already running (pid {pid})")
        self.env.restart_node(node)
        self._mark("stopped", dc, False)
        if not wait:
            return f"starting {dc}'s server (pid {self.env.state.pids[f'node:{dc}']})"
        try:
            self.env.started(node, f"node:{dc}")
        except ProviderError as exc:
            self._mark("exited", dc, True)
            raise StartFailed(
                f"{exc}; it is started again by `chaos kms-up` or `chaos heal` (or `multidc up`)"
            ) from None
        self._mark("exited", dc, False)
        return f"started {dc}'s server (pid {self.env.state.pids[f'node:{dc}']})"

    def _restart_exited(self) -> list[str]:
        """Start again the servers that exited when started (they waited for the KMS); returns those now running."""
        back = []
        for dc in list(self.active.get("exited", [])):  # type: ignore[call-overload]
            node = self._node(dc)
            self.env.restart_node(node)
            try:
                self.env.started(node, f"node:{dc}")
            except ProviderError:
                continue  # still cannot start (the KMS is still out of reach): stays listed
            self._mark("exited", dc, False)
            back.append(dc)
        return back

    def pause(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        self.env.host.signal(pid, signal.SIGSTOP)
        self._mark("paused", dc, True)
        return f"paused {dc}'s server (SIGSTOP, pid {pid})"

    def resume(self, dc: str) -> str:
        pid = self._pid(f"node:{self._node(dc).name}")
        self.env.host.signal(pid, signal.SIGCONT)
        self._mark("paused", dc, False)
        return f"resumed {dc}'s server (SIGCONT, pid {pid})"

    def kms_down(self) -> str:
        pid = self._pid("kms")
        self.env.host.terminate([pid], grace=5.0)
        self._mark("kms", "down", True)
        return f"stopped the KMS (SIGTERM, pid {pid}); running nodes keep serving, restarted ones cannot unseal"

    def kms_up(self) -> str:
        """Start the KMS and prepare it; a KMS that runs but is not ready (a `kms-up` killed midway) has its
        preparation completed."""
        from . import kms

        if kms.running(self.env):
            wrong = kms.complete(self.env)
            if not wrong and "kms" not in self.active:
                raise FaultError("the KMS is already running")
            # Running and ready, still recorded down: a `kms-up` was killed after it had prepared the KMS.
            done = kms.said(wrong) if wrong else "the KMS was running already (a `kms-up` was interrupted)"
        else:
            kms.restart(self.env)
            done = ""
        self._mark("kms", "down", False)
        back = self._restart_exited()
        again = f"; started {', '.join(back)} again (it exited while the KMS was down)" if back else ""
        if done:
            return done + again
        if self.env.plan.kms_storage == "inmem":
            made = "started the KMS again (in memory: it came back empty and has the same keys and tokens again)"
            return made + again
        return f"started the KMS again and unsealed it with its key{again}"

    # --- network

    @property
    def _places(self) -> list[str]:
        """What network faults act between: every DC, and the KMS."""
        return [n.name for n in self.env.plan.nodes] + ["kms"]

    def _place(self, name: str) -> Node:
        if name == "kms":
            return self.env.plan.kms
        if name not in self._places:
            raise FaultError(f"no datacenter {name!r}; choose from: {', '.join(self._places)}")
        return self._node(name)

    def _addresses(self, name: str) -> list[str]:
        node = self._place(name)
        return [str(a) for a in (node.address, node.vip) if a is not None]

    def _namespace(self, name: str) -> str:
        return self._place(name).namespace

    def partition(self, group: list[str]) -> str:
        """Cut the group (DC names, or `kms`) off from every other DC and the KMS, both directions."""
        group = list(dict.fromkeys(group))
        for name in group:
            self._place(name)
        rest = [n for n in self._places if n not in group]
        if not group or not rest:
            raise FaultError("a partition needs at least one member on each side")
        groups: list[list[str]] = list(self.active.get("partitions", []))  # type: ignore[call-overload]
        groups.append(sorted(group))
        self.active["partitions"] = groups
        self._apply_cuts()
        return self._said(f"cut {', '.join(group)} off from {', '.join(rest)} (both directions)")

    def cut(self, a: str, b: str) -> str:
        """One way: a's packets to b are dropped; b's to a pass (so b's connections to a see no answer either)."""
        links.check_pair(a, b, self._places)
        one_way: list[list[str]] = list(self.active.get("one-way", []))  # type: ignore[call-overload]
        if [a, b] not in one_way:
            one_way.append([a, b])
        self.active["one-way"] = one_way
        self._apply_cuts()
        return self._said(f"dropping every packet from {a} to {b} (one way: {b}'s packets to {a} pass)")

    def bridge(self, via: str) -> str:
        """Jepsen's bridge: the other DCs split in two halves that cannot reach each other; `via` reaches both."""
        left, right = links.bridge_halves(via, self._places)
        bridges: list[dict[str, object]] = list(self.active.get("bridges", []))  # type: ignore[call-overload]
        bridges.append({"via": via, "halves": [left, right]})
        self.active["bridges"] = bridges
        self._apply_cuts()
        return self._said(f"cut {', '.join(left)} off from {', '.join(right)} (both directions); {via} reaches both")

    def _said(self, text: str) -> str:
        if not self.env.host.has_tun:
            text += "; no /dev/net/tun here, so connects across the cut fail at once instead of timing out"
        return text

    def _apply_cuts(self) -> None:
        """Make the cut routes what the recorded partitions, one-way cuts and bridges need: add the missing ones,
        remove the ones no fault needs any more."""
        want: list[list[str]] = []
        for src, dst in sorted(links.directed(self.active, self._places)):
            for address in self._addresses(dst):
                want.append([self._namespace(src), address])
        have: list[list[str]] = list(self.active.get("cuts", []))  # type: ignore[call-overload]
        # Recorded before any route changes, so an interrupted change leaves nothing heal does not know of.
        self.active["cuts"] = have + [cut for cut in want if cut not in have]
        self._save()
        for cut in have:
            if cut not in want:
                self._route("del", *cut)
        for cut in want:
            if cut not in have:
                self._route("add", *cut)
        if want:
            self.active["cuts"] = want
        else:
            self.active.pop("cuts", None)
        self._save()

    def heal(self) -> str:
        """Remove every cut (partitions, one-way cuts, bridges) and every delay, jitter and loss."""
        cuts: list[list[str]] = list(self.active.get("cuts", []))  # type: ignore[call-overload]
        for namespace, address in cuts:
            self._route("del", namespace, address)
        self._remove_cut_devices({self._namespace(place) for place in self._places})  # every route through them too
        for kind in ("cuts", "partitions", "one-way", "bridges"):
            self.active.pop(kind, None)
        shapes = links.record(self.active)
        self._stop_delayer()
        links.store(self.active, {})
        self._save()
        back = self._restart_exited() if "kms" not in self.active else []
        again = f"; started {', '.join(back)} again" if back else ""
        if not cuts and not shapes:
            return f"no partitions, cuts or shaped links to heal{again}"
        return f"healed: removed {len(cuts)} cut route(s) and {len(shapes)} shaped link(s){again}"

    def clear(self) -> list[str]:
        """Undo every fault: heal cuts and delays, resume what is paused, start what is not running (the KMS too)."""
        assert self.env.state is not None
        problems: list[str] = []
        self.heal()
        for dc in list(self.env.state.faults.get("paused", [])):
            try:
                self.resume(dc)
            except Exception as exc:  # noqa: BLE001 - the rest is still undone
                problems.append(f"resume {dc}: {exc}")
        self.env.reconcile()  # the KMS, and nodes that were killed or exited
        self.env.state.faults = {}
        self._save()
        return problems

    def _route(self, action: str, namespace: str, address: str) -> None:
        self.env.host.cut_route(action, namespace, address, self.env.plan.cut_device)

    def _remove_cut_devices(self, namespaces: set[str]) -> None:
        """Delete the cut devices (and with them any route left through them)."""
        for namespace in sorted(namespaces):
            self.env.host.remove_device(namespace, self.env.plan.cut_device)

    # --- latency and loss

    def delay(self, a: str, b: str, ms: int, jitter: int = 0) -> str:
        """Hold every packet between a and b (DCs or `kms`) back by ms (± jitter, uniform), each way; 0 removes it."""
        return links.set_delay(a, b, ms, jitter, self._places, self._shape)

    def loss(self, a: str, b: str, percent: float) -> str:
        """Drop each packet between a and b with probability percent, each way; 0 removes it."""
        return links.set_loss(a, b, percent, self._places, self._shape)

    def _shape(self, a: str, b: str, **change: float) -> bool:
        """Record a-b's new shape and restart both sides' delayers with it; False when there was nothing to remove."""
        if not self.env.host.has_tun:
            raise PrerequisiteError(
                "delay and loss need /dev/net/tun (the TUN driver) and it is missing; load it with `modprobe tun`"
            )
        shapes = links.updated(links.record(self.active), a, b, **change)
        if shapes is None:
            return False
        links.store(self.active, shapes)
        self._run_delayer(shapes)
        self._save()
        return True

    def _stop_delayer(self) -> None:
        assert self.env.state is not None
        pid = self.env.state.pids.pop("delayer", None)
        if pid is not None and self.env.host.belongs(pid, str(self.env.paths.root)):
            self.env.host.terminate([pid])  # its TUN devices, and every route through them, go with it

    def _run_delayer(self, shapes: dict[str, links.Shape]) -> None:
        """(Re)start the environment's delayer with every side the record shapes, and route each side's peers through
        its TUN device. One process for every side: a change of any pair restarts them all (a moment undelayed)."""
        assert self.env.state is not None
        self._stop_delayer()
        paths, device = self.env.paths, self.env.plan.delay_device
        sides: list[dict[str, Any]] = []
        for side in links.sides(shapes):
            peers: dict[str, dict[str, object]] = {}
            for other, shape in links.peers(side, shapes):
                mac = self._mac(other)
                for address in self._addresses(other):
                    peers[address] = {"mac": mac, "ms": shape.ms, "jitter": shape.jitter, "loss": shape.loss}
            if peers:
                me = self._place(side)
                sides.append(
                    {"name": side, "namespace": me.namespace, "tun": device, "ifname": me.ifname, "peers": peers}
                )
        if not sides:
            self._save()
            return
        write_private(paths.delayers_spec, json.dumps({"sides": sides}, indent=2))
        argv = [sys.executable, "-m", "multidc.providers.netns.delayer", str(paths.delayers_spec)]
        # Started in the first side's namespace, so `down` finds it there too; each thread enters its own side's.
        pid = self.env.host.spawn(argv, sides[0]["namespace"], paths.delayers_log)
        self.env.state.pids["delayer"] = pid
        self._save()
        for entry in sides:
            me = self._place(entry["name"])
            self.env.host.delay_routes(
                me.namespace, device, list(entry["peers"]), str(me.address), pid, paths.delayers_log
            )

    def _mac(self, name: str) -> str:
        node = self._place(name)
        return self.env.host.mac(node.namespace, node.ifname)
