"""Faults on the docker provider, each recorded in the state file as it happens.

Processes act on a DC's server container: kill (`docker kill`, SIGKILL), stop (`docker stop`, SIGTERM), start, pause
and resume (`docker pause`/`unpause`, the cgroup freezer); kms-down/kms-up stop and start the KMS's server container.
The network namespace, address and published port stay with the place's holder container meanwhile.

Network cuts (partition, one-way, bridge) are real cuts, not `docker network disconnect` (whose connects fail at once):
inside the sending side's network namespace the other side's address is routed to a TAP device nobody reads, with ARP
off, so the kernel hands it every packet at once and the packets vanish; a connection across the cut times out. The
routes are made with busybox `ip` and `tunctl` by `docker exec` in the holder container, which has NET_ADMIN and
/dev/net/tun: no root on the host, and the same on Docker Desktop (it all happens inside docker's Linux VM).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ... import links
from ...errors import FaultError, PrerequisiteError, ProviderError, StartFailed
from ..base import Interpreter
from . import engine
from .plan import Place

if TYPE_CHECKING:
    from .environment import DockerEnvironment

CUT_DEVICE = "mdc-cut"  # inside each place's own network namespace, so one name serves every environment
NO_SHAPING = (
    "the docker provider cannot shape links yet: this kernel has no sch_netem for `tc` and the netns delayer (a "
    "Python process on a TUN device) has no Python inside the FROM-scratch containers; use --provider netns (root)"
)


@dataclass
class DockerFaults(Interpreter):
    env: DockerEnvironment

    # --- bookkeeping

    @property
    def active(self) -> dict[str, object]:
        assert self.env.state is not None
        return self.env.state.faults

    def _save(self) -> None:
        self.env.save()

    def _mark(self, kind: str, name: str, on: bool) -> None:
        items = set(self.active.get(kind, []))  # type: ignore[call-overload]
        (items.add if on else items.discard)(name)
        self.active[kind] = sorted(items)
        if not items:
            self.active.pop(kind)
        self._save()

    def _node(self, dc: str) -> Place:
        if dc not in self.env.datacenters:
            raise FaultError(f"no datacenter {dc!r}; choose one of: {', '.join(self.env.datacenters)}")
        return self.env.plan.place(dc)

    def _server(self, dc: str, must_run: bool = True) -> str:
        name = self.env.plan.container(self._node(dc))
        if must_run and not engine.running(self.env.runner, name):
            raise FaultError(f"{dc}'s server is not running")
        return name

    # --- processes

    def kill(self, dc: str) -> str:
        name = self._server(dc)
        self.env.docker("kill", name)
        self._mark("stopped", dc, True)
        return f"killed {dc}'s server (docker kill: SIGKILL, container {name})"

    def stop(self, dc: str) -> str:
        name = self._server(dc)
        self.env.docker("stop", "-t", "10", name)
        self._mark("stopped", dc, True)
        return f"stopped {dc}'s server (docker stop: SIGTERM, container {name})"

    def start(self, dc: str, wait: bool = True) -> str:
        """Start the DC's server container again; with wait, until it answers or ends (under transit, while the KMS is
        out of reach, it ends at once: recorded as `exited`, started again by `kms-up`, `heal` or `clear`)."""
        node = self._node(dc)
        name = self.env.plan.container(node)
        if engine.running(self.env.runner, name):
            raise FaultError(f"{dc}'s server is already running (container {name})")
        self.env.docker("start", name)
        self._mark("stopped", dc, False)
        if not wait:
            return f"starting {dc}'s server (container {name})"
        try:
            self.env.started(node)
        except ProviderError as exc:
            self._mark("exited", dc, True)
            again = "it is started again by `chaos kms-up` or `chaos heal` (or `multidc up`)"
            raise StartFailed(f"{exc}; {again}") from None
        self._mark("exited", dc, False)
        return f"started {dc}'s server (container {name})"

    def _restart_exited(self) -> list[str]:
        back = []
        for dc in list(self.active.get("exited", [])):  # type: ignore[call-overload]
            node = self._node(dc)
            self.env.runner.run(["docker", "start", self.env.plan.container(node)], check=False)
            try:
                self.env.started(node)
            except ProviderError:
                continue
            self._mark("exited", dc, False)
            back.append(dc)
        return back

    def pause(self, dc: str) -> str:
        name = self._server(dc)
        self.env.docker("pause", name)
        self._mark("paused", dc, True)
        return f"paused {dc}'s server (docker pause: the cgroup freezer, container {name})"

    def resume(self, dc: str) -> str:
        name = self._server(dc, must_run=False)
        self.env.docker("unpause", name)
        self._mark("paused", dc, False)
        return f"resumed {dc}'s server (docker unpause, container {name})"

    def kms_down(self) -> str:
        name = self.env.plan.container(self.env.plan.kms)
        if not engine.running(self.env.runner, name):
            raise FaultError("the KMS is not running")
        self.env.docker("stop", "-t", "5", name)
        self._mark("kms", "down", True)
        return f"stopped the KMS (docker stop, {name}); running nodes keep serving, restarted ones cannot unseal"

    def kms_up(self) -> str:
        name = self.env.plan.container(self.env.plan.kms)
        if engine.running(self.env.runner, name):
            raise FaultError("the KMS is already running")
        self.env.restart_kms()
        self._mark("kms", "down", False)
        back = self._restart_exited()
        again = f"; started {', '.join(back)} again (it exited while the KMS was down)" if back else ""
        if self.env.plan.kms_storage == "inmem":
            return f"started the KMS again (in memory: it came back empty and has the same keys and tokens){again}"
        return f"started the KMS again and unsealed it with its key{again}"

    # --- network cuts

    @property
    def _places(self) -> list[str]:
        return [*self.env.datacenters, "kms"]

    def partition(self, group: list[str]) -> str:
        """Cut the group (DC names, or `kms`) off from every other DC and the KMS, both directions."""
        rest = links.add_partition(self.active, group, self._places)
        self._apply_cuts()
        return f"cut {', '.join(dict.fromkeys(group))} off from {', '.join(rest)} (both directions)"

    def cut(self, a: str, b: str) -> str:
        links.add_one_way(self.active, a, b, self._places)
        self._apply_cuts()
        return f"dropping every packet from {a} to {b} (one way: {b}'s packets to {a} pass)"

    def bridge(self, via: str) -> str:
        left, right = links.add_bridge(self.active, via, self._places)
        self._apply_cuts()
        return f"cut {', '.join(left)} off from {', '.join(right)} (both directions); {via} reaches both"

    def _apply_cuts(self) -> None:
        """Make each side's cut routes what the recorded partitions, one-way cuts and bridges need: one `docker exec`
        per side whose routes change. Recorded first, so an interrupted change leaves nothing heal does not know."""
        want: dict[str, set[str]] = {}
        for src, dst in links.directed(self.active, self._places):
            want.setdefault(src, set()).add(self.env.plan.address(self.env.plan.place(dst)))
        have: dict[str, list[str]] = dict(self.active.get("cuts", {}))  # type: ignore[call-overload]
        self.active["cuts"] = {s: sorted(set(have.get(s, [])) | want.get(s, set())) for s in set(have) | set(want)}
        self._save()
        changes = []
        for side in sorted(set(have) | set(want)):
            old, new = set(have.get(side, [])), want.get(side, set())
            if old != new:
                changes.append((side, sorted(new - old), sorted(old - new)))
        if changes:
            with ThreadPoolExecutor(max_workers=len(changes)) as pool:  # one `docker exec` per side, all at once
                list(pool.map(lambda change: self._routes(*change), changes))
        self.active["cuts"] = {s: sorted(a) for s, a in want.items() if a}
        if not self.active["cuts"]:
            self.active.pop("cuts")
        self._save()

    def _routes(self, side: str, add: list[str], remove: list[str]) -> None:
        """In side's namespace: the cut device (a TAP nobody reads, ARP off) and a /32 route into it per address."""
        bb = "/bin/busybox"
        script = [f"{bb} ip route del {a}/32 dev {CUT_DEVICE} 2>/dev/null;" for a in remove]
        if add:
            made = f"{bb} ip link show {CUT_DEVICE} >/dev/null 2>&1"
            script.append(f"{made} || {bb} tunctl -t {CUT_DEVICE} >/dev/null &&")
            script.append(f"{bb} ip link set {CUT_DEVICE} arp off up &&")
            script += [f"{bb} ip route replace {a}/32 dev {CUT_DEVICE} &&" for a in add]
        script.append("true")
        pod = self.env.plan.pod(self.env.plan.place(side))
        done = self.env.runner.run(["docker", "exec", pod, bb, "sh", "-c", " ".join(script)], check=False)
        if done.returncode != 0:
            raise FaultError(f"cutting {side}'s routes in {pod} failed: {done.reason()}")

    def heal(self) -> str:
        """Remove every cut: the cut device in each place's namespace goes, and its routes with it."""
        cuts: dict[str, list[str]] = dict(self.active.get("cuts", {}))  # type: ignore[call-overload]
        pods = [self.env.plan.pod(self.env.plan.place(side)) for side in sorted(cuts)]
        if pods:
            with ThreadPoolExecutor(max_workers=len(pods)) as pool:
                list(pool.map(self._uncut, pods))
        for kind in ("cuts", "partitions", "one-way", "bridges"):
            self.active.pop(kind, None)
        self._save()
        back = self._restart_exited() if "kms" not in self.active else []
        again = f"; started {', '.join(back)} again" if back else ""
        if not cuts:
            return f"no partitions or cuts to heal{again}"
        return f"healed: removed the cut routes of {', '.join(sorted(cuts))}{again}"

    def _uncut(self, pod: str) -> None:
        """The cut device goes, and every route into it with it."""
        bb = "/bin/busybox"
        script = f"{bb} ip link show {CUT_DEVICE} >/dev/null 2>&1 || exit 0; {bb} tunctl -d {CUT_DEVICE} >/dev/null"
        done = self.env.runner.run(["docker", "exec", pod, bb, "sh", "-c", script], check=False)
        if done.returncode != 0 and engine.running(self.env.runner, pod):
            raise FaultError(f"removing the cut device in {pod} failed: {engine.reason(done)}")

    def clear(self) -> list[str]:
        """Undo every fault: heal, the KMS up, resume what is paused, start what is stopped."""
        problems: list[str] = []
        undo: list[tuple[str, str | None]] = [("heal", None)]
        undo += [("kms_up", None)] if self.active.get("kms") else []  # first: a starting node needs it
        undo += [("resume", dc) for dc in self.active.get("paused", [])]  # type: ignore[attr-defined]
        for action, dc in undo:
            try:
                getattr(self, action)(*([dc] if dc else []))
            except Exception as exc:  # noqa: BLE001 - every other undo is still tried
                problems.append(f"{action.replace('_', '-')} {dc or ''}".strip() + f": {exc}")
        try:
            self.env.reconcile()  # whatever was killed, stopped or exited
        except Exception as exc:  # noqa: BLE001
            problems.append(f"start: {exc}")
        return problems

    # --- latency and loss

    def delay(self, a: str, b: str, ms: int, jitter: int = 0) -> str:
        raise PrerequisiteError(f"delay: {NO_SHAPING}")

    def loss(self, a: str, b: str, percent: float) -> str:
        raise PrerequisiteError(f"loss: {NO_SHAPING}")
