"""Network namespaces and the site network (a bridge in a namespace of its own), through netlink (pyroute2).
Listing and removing namespaces need no netlink: pyroute2 (~0.16 s to import) is loaded only to create, so `down`
does without it.

Layout for environment E: namespace `mdc.E.site` holds bridge `E-br` with the gateway address; each DC node's
namespace `mdc.E.dc.<dc>` and the KMS's `mdc.E.kms` hold one end of a veth (`E-dc<n>` / `E-kms`), the other end, of
the same name, is a port of the bridge. A DC's VIP is a /32 on its node's interface, answered by the kernel's ARP,
as MetalLB's layer-2 mode answers for a LoadBalancer IP. No namespace has a route off the bridge, and nothing is added
to the host's own network namespace.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ... import interrupts
from ...errors import PrerequisiteError, ProviderError
from . import setns
from .plan import NAMESPACE_PREFIX, Node, Plan, namespace_prefix
from .setns import NETNS_DIR
from .setns import enter as enter  # re-exported: the provider enters namespaces through this module
from .setns import unshare as unshare  # re-exported: processes start apart through this module

if TYPE_CHECKING:
    from pyroute2 import NetNS


def existing(prefix: str = f"{NAMESPACE_PREFIX}.") -> list[str]:
    """Named namespaces whose name starts with prefix."""
    try:
        return sorted(n for n in setns.listed() if n.startswith(prefix))
    except FileNotFoundError:
        return []


def of_environment(env: str) -> list[str]:
    return existing(namespace_prefix(env))


def environments_on_host() -> list[str]:
    """Names of every multidc environment that has a namespace on this host."""
    return sorted({n.split(".")[1] for n in existing() if n.count(".") >= 2})


def inode(namespace: str) -> int | None:
    try:
        return (NETNS_DIR / namespace).stat().st_ino
    except FileNotFoundError:
        return None


def check_host() -> None:
    """Root (CAP_NET_ADMIN) and network namespaces, or one line saying what is missing."""
    if os.geteuid() != 0:
        raise PrerequisiteError(
            "the netns provider needs root (CAP_NET_ADMIN to create network namespaces); run it with sudo, or use "
            "--provider docker (any member of the docker group)"
        )
    if not Path("/proc/self/ns/net").exists():
        raise PrerequisiteError("this kernel has no network namespaces (/proc/self/ns/net is missing)")


@contextmanager
def _ns(name: str) -> Iterator[NetNS]:
    from pyroute2 import NetNS

    handle = NetNS(name)
    try:
        yield handle
    finally:
        handle.close()


def _up_loopback(handle: NetNS) -> None:
    handle.link("set", index=handle.link_lookup(ifname="lo")[0], state="up")


def create_site(plan: Plan, nodes: Sequence[Node] | None = None, adopt: Mapping[str, int] | None = None) -> None:
    """Create the site namespace and its bridge, and these nodes' namespaces (default: every node) with their veths,
    addresses and VIPs. Fails if any already exists. `adopt`: namespaces to name after the network namespace a process
    (by PID) already has, one of its own (`processes.spawn(apart=True)`), instead of making them."""
    prefix = plan.network.prefixlen
    try:
        with interrupts.deferred():
            _create_site(plan, [plan.kms, *plan.nodes] if nodes is None else list(nodes), prefix, adopt or {})
    except OSError as exc:
        raise ProviderError(f"creating the site network of {plan.env!r} failed: {exc}") from exc
    except Exception as exc:  # pyroute2 reports netlink errors with its own classes
        raise ProviderError(f"creating the site network of {plan.env!r} failed: {exc}") from exc


def _create_site(plan: Plan, nodes: list[Node], prefix: int, adopt: Mapping[str, int]) -> None:
    from pyroute2 import netns

    for name in [plan.site_namespace, *(node.namespace for node in nodes)]:
        if name in adopt:
            netns.attach(name, adopt[name])
        else:
            netns.create(name)
    with _ns(plan.site_namespace) as site:
        _up_loopback(site)
        site.link("add", ifname=plan.bridge, kind="bridge")
        bridge = site.link_lookup(ifname=plan.bridge)[0]
        # A bridge takes the lowest MAC among its ports unless given one: each DC added later would change it, and
        # every namespace's ARP entry for the gateway (the forwarder's address) would point at the old one until
        # it expires. Seen twice while DCs were added during the primary's init: the init, through the forwarder,
        # unanswered for 5 s; not once since the bridge has its own MAC.
        site.link("set", index=bridge, address=_local_mac())
        site.addr("add", index=bridge, address=str(plan.gateway), prefixlen=prefix)
        site.link("set", index=bridge, state="up")
        for node in nodes:
            _attach(site, bridge, node, prefix)


def add_nodes(plan: Plan, nodes: Sequence[Node]) -> None:
    """Namespaces for more DC nodes on the running site network: each one's veth on the bridge, address and VIP (what
    `create_site` does for the nodes it is given). Fails if a namespace exists."""
    from pyroute2 import netns

    node = None
    try:
        with interrupts.deferred(), _ns(plan.site_namespace) as site:
            bridge = site.link_lookup(ifname=plan.bridge)[0]
            for node in nodes:
                netns.create(node.namespace)
                _attach(site, bridge, node, plan.network.prefixlen)
    except Exception as exc:  # OSError, and pyroute2's own netlink error classes
        what = f"{node.name}'s namespace {node.namespace}" if node else f"the site namespace {plan.site_namespace}"
        raise ProviderError(f"creating {what} failed: {exc}") from exc


def remove_node(plan: Plan, node: Node) -> list[str]:
    """Take one DC node off the site network: its veth first (both ends go at once; the namespace's own teardown is
    asynchronous, and until it ends the node's addresses would still answer ARP), then its namespace. Returns the
    namespaces that could not be removed."""
    try:
        with interrupts.deferred(), _ns(plan.site_namespace) as site:
            for index in site.link_lookup(ifname=node.ifname):
                site.link("del", index=index)
    except Exception as exc:  # OSError, and pyroute2's own netlink error classes
        raise ProviderError(f"removing {node.name}'s link {node.ifname} failed: {exc}") from exc
    return remove([node.namespace])


def forget_neighbours(names: list[str], addresses: list[str]) -> None:
    """Drop the ARP entries for these addresses in the namespaces: a removed DC's addresses, taken again by the next
    DC added into its slot with another MAC, would otherwise stay unreachable until the entries expire (measured: the
    join then took 30 s instead of 0.2 s)."""
    wanted = set(addresses)
    with interrupts.deferred():
        for name in names:
            with _ns(name) as handle:
                for entry in handle.get_neighbours():
                    dst = entry.get_attr("NDA_DST")
                    if dst in wanted:
                        with contextlib.suppress(Exception):  # gone meanwhile
                            handle.neigh("del", dst=dst, ifindex=entry["ifindex"])


def _local_mac() -> str:
    """A random locally administered unicast MAC address."""
    octets = bytearray(os.urandom(6))
    octets[0] = (octets[0] | 0x02) & 0xFE
    return ":".join(f"{b:02x}" for b in octets)


def _attach(site: NetNS, bridge: int, node: Node, prefix: int) -> None:
    site.link("add", ifname=node.ifname, kind="veth", peer={"ifname": node.ifname, "net_ns_fd": node.namespace})
    port = site.link_lookup(ifname=node.ifname)[0]
    site.link("set", index=port, master=bridge, state="up")
    with _ns(node.namespace) as inner:
        _up_loopback(inner)
        link = inner.link_lookup(ifname=node.ifname)[0]
        inner.addr("add", index=link, address=str(node.address), prefixlen=prefix)
        if node.vip is not None:
            inner.addr("add", index=link, address=str(node.vip), prefixlen=32)
        inner.link("set", index=link, state="up")


def remove(names: list[str]) -> list[str]:
    """Delete namespaces (their links go with them); returns those that could not be removed."""
    with interrupts.deferred():
        return [name for name in names if not _remove(name)]


def _remove(name: str) -> bool:
    try:
        setns.remove(name)
    except OSError as exc:
        return exc.errno == errno.ENOENT
    return True


def links(namespace: str) -> list[str]:
    """Interface names inside a namespace (for status and tests)."""
    with _ns(namespace) as handle:
        return [str(link.get_attr("IFLA_IFNAME")) for link in handle.get_links()]
