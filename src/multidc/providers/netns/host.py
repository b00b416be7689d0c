"""The seam between the netns provider and this machine, as the kind/kube providers have their Runner.

Everything the netns pipeline and its faults do to the host goes through a `Host`: namespaces, processes and their
signals, netlink routes and devices. `LinuxHost` does it (root); tests pass a recording one, so the pipeline's order
and error shapes and every fault's bookkeeping are tested without root.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ... import interrupts
from ...errors import ProviderError
from ...paths import EnvPaths
from . import namespaces, owners, processes
from .setns import enter

if TYPE_CHECKING:
    from .plan import Node, Plan

TUNSETPERSIST = 0x400454CB
DELAY_ROUTE_PRIORITY = 10  # behind the partition's cut routes (metric 0 wins): a cut stays a cut while a delay is set


class Host(Protocol):
    @property
    def has_tun(self) -> bool:
        """Whether /dev/net/tun exists (cuts that time out, and delays, need it)."""
        ...

    def check(self) -> None:
        """Root and network namespaces, or PrerequisiteError saying what is missing."""
        ...

    def create_site(
        self, plan: Plan, nodes: Sequence[Node] | None = None, adopt: Mapping[str, int] | None = None
    ) -> None:
        """The site namespace and its bridge, and these nodes' namespaces on it (default: every node, the KMS's too);
        the others come with `add_nodes`. `adopt`: namespaces named after the one a process started `apart` has."""
        ...

    def add_nodes(self, plan: Plan, nodes: Sequence[Node]) -> None:
        """More DC nodes' namespaces on the running site network (veth on the bridge, address, VIP)."""
        ...

    def remove_node(self, plan: Plan, node: Node) -> list[str]:
        """One DC node off the site network: its veth, then its namespace; returns what could not be removed."""
        ...

    def forget_neighbours(self, names: list[str], addresses: list[str]) -> None:
        """Drop the ARP entries for these addresses inside these namespaces."""
        ...

    def namespace_exists(self, name: str) -> bool: ...
    def namespaces_of(self, env: str) -> list[str]: ...
    def environments(self) -> list[str]: ...

    def remove_namespaces(self, names: list[str]) -> list[str]:
        """Delete them; returns those that could not be removed."""
        ...

    def spawn(
        self, argv: Sequence[str], namespace: str | None, log: Path, pass_fds: tuple[int, ...] = (), apart: bool = False
    ) -> int:
        """Start a process in a namespace (`apart`: in a new network namespace of its own, for `create_site` to
        adopt); its PID."""
        ...

    def alive(self, pid: int) -> bool: ...
    def belongs(self, pid: int, marker: str) -> bool: ...
    def signal(self, pid: int, sig: signal.Signals) -> None: ...

    def terminate(self, pids: Iterable[int], grace: float = 0.0) -> list[int]:
        """SIGTERM (then SIGKILL after grace; at once with grace 0); returns the survivors."""
        ...

    def pids_in(self, names: Iterable[str]) -> list[int]: ...
    def pids_marked(self, marker: str) -> list[int]: ...

    def cut_route(self, action: str, namespace: str, address: str, device: str) -> None:
        """Route address into the namespace's cut device (made on first use), or take that route away."""
        ...

    def remove_device(self, namespace: str, device: str) -> None: ...

    def delay_routes(self, namespace: str, device: str, addresses: list[str], source: str, pid: int, log: Path) -> None:
        """Wait for the delayer (pid) to make its device, bring it up, route the addresses through it."""
        ...

    def mac(self, namespace: str, ifname: str) -> str: ...

    # Namespaces are host-wide, state directories are not (owners.py): who owns an environment's namespaces.
    def record_owner(self, paths: EnvPaths) -> None: ...
    def check_owner(self, paths: EnvPaths) -> None: ...
    def foreign_owner(self, paths: EnvPaths) -> Path | None: ...
    def forget_owner(self, paths: EnvPaths) -> None: ...
    def owned(self) -> list[Path]: ...


class LinuxHost:
    """The real thing: pyroute2 netlink, setns, fork/exec and signals (needs root)."""

    @property
    def has_tun(self) -> bool:
        return os.path.exists("/dev/net/tun")

    def check(self) -> None:
        namespaces.check_host()

    def create_site(
        self, plan: Plan, nodes: Sequence[Node] | None = None, adopt: Mapping[str, int] | None = None
    ) -> None:
        namespaces.create_site(plan, nodes, adopt)

    def add_nodes(self, plan: Plan, nodes: Sequence[Node]) -> None:
        namespaces.add_nodes(plan, nodes)

    def remove_node(self, plan: Plan, node: Node) -> list[str]:
        return namespaces.remove_node(plan, node)

    def forget_neighbours(self, names: list[str], addresses: list[str]) -> None:
        namespaces.forget_neighbours(names, addresses)

    def namespace_exists(self, name: str) -> bool:
        return namespaces.inode(name) is not None

    def namespaces_of(self, env: str) -> list[str]:
        return namespaces.of_environment(env)

    def environments(self) -> list[str]:
        return namespaces.environments_on_host()

    def remove_namespaces(self, names: list[str]) -> list[str]:
        return namespaces.remove(names)

    def spawn(
        self, argv: Sequence[str], namespace: str | None, log: Path, pass_fds: tuple[int, ...] = (), apart: bool = False
    ) -> int:
        return processes.spawn(argv, namespace, log, pass_fds=pass_fds, apart=apart)

    def alive(self, pid: int) -> bool:
        return processes.alive(pid)

    def belongs(self, pid: int, marker: str) -> bool:
        return processes.belongs(pid, marker)

    def signal(self, pid: int, sig: signal.Signals) -> None:
        os.kill(pid, sig)

    def terminate(self, pids: Iterable[int], grace: float = 0.0) -> list[int]:
        return processes.terminate(pids, grace=grace)

    def pids_in(self, names: Iterable[str]) -> list[int]:
        return processes.in_namespaces(names)

    def pids_marked(self, marker: str) -> list[int]:
        return processes.with_marker(marker)

    def cut_route(self, action: str, namespace: str, address: str, device: str) -> None:
        """Without /dev/net/tun the route is a blackhole (connects across the cut then fail at once instead of timing
        out)."""
        from pyroute2 import NetNS

        try:
            with interrupts.deferred(), NetNS(namespace) as ns:
                if not self.has_tun:
                    ns.route(action, dst=f"{address}/32", type="blackhole")
                    return
                found = ns.link_lookup(ifname=device)
                if not found and action == "del":
                    return
                if not found:
                    _persistent_tun(namespace, device)
                    found = ns.link_lookup(ifname=device)
                    ns.link("set", index=found[0], state="up")
                ns.route(action, dst=f"{address}/32", oif=found[0])
        except Exception as exc:
            code = getattr(exc, "code", None)
            if action == "del" and code in (errno.ESRCH, errno.ENOENT):
                return
            if action == "add" and code == errno.EEXIST:
                return
            raise ProviderError(f"{action} the cut route to {address} in {namespace} failed: {exc}") from exc

    def remove_device(self, namespace: str, device: str) -> None:
        from pyroute2 import NetNS

        with interrupts.deferred(), NetNS(namespace) as ns:
            for index in ns.link_lookup(ifname=device):
                ns.link("del", index=index)

    def delay_routes(self, namespace: str, device: str, addresses: list[str], source: str, pid: int, log: Path) -> None:
        from pyroute2 import NetNS

        with NetNS(namespace) as ns:
            deadline = time.monotonic() + 10
            while not (found := ns.link_lookup(ifname=device)):
                if not processes.alive(pid) or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                    raise ProviderError(f"the delayer in {namespace} did not start: {' '.join(tail) or 'no output'}")
                time.sleep(0.01)
            index = found[0]
            ns.link("set", index=index, state="up")
            for address in addresses:
                ns.route("add", dst=f"{address}/32", oif=index, priority=DELAY_ROUTE_PRIORITY, prefsrc=source)

    def mac(self, namespace: str, ifname: str) -> str:
        from pyroute2 import NetNS

        with NetNS(namespace) as ns:
            link = ns.get_links(ns.link_lookup(ifname=ifname)[0])[0]
            return str(link.get_attr("IFLA_ADDRESS"))

    def record_owner(self, paths: EnvPaths) -> None:
        owners.record(paths)

    def check_owner(self, paths: EnvPaths) -> None:
        owners.check(paths)

    def foreign_owner(self, paths: EnvPaths) -> Path | None:
        return owners.foreign(paths)

    def forget_owner(self, paths: EnvPaths) -> None:
        owners.forget(paths)

    def owned(self) -> list[Path]:
        return owners.owned()


def _persistent_tun(namespace: str, name: str) -> None:
    """Create a TUN device that nobody reads, inside namespace: the kernel drops whatever is routed to it, as a cut
    link does. (No `dummy` module is needed: it is missing on some kernels, this one among them.)"""
    from .delayer import open_tun

    failed: list[BaseException] = []

    def make() -> None:
        try:
            enter(namespace)  # this thread only
            fd = open_tun(name)
            try:
                fcntl.ioctl(fd, TUNSETPERSIST, 1)
            finally:
                os.close(fd)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failed.append(exc)

    worker = threading.Thread(target=make, name=f"cut-{namespace}")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]


LINUX = LinuxHost()
