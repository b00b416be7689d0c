"""The netns plan: every namespace, interface, address, port, path and server config of an environment, computed once
and purely.

Nothing here touches the host; `multidc plan` prints this, and providers read every fact from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from ... import addressing
from ...binaries import ServerBinary
from ...names import check_env_name_or_raise
from ...paths import EnvPaths, NodePaths, env_paths
from ...topology import DEFAULT_NAME, Topology
from . import configs

API_PORT = 8200
CLUSTER_PORT = 8201
DEFAULT_PORT_BASE = 18200
NAMESPACE_PREFIX = "mdc"
REDACTED = "<redacted>"


def namespace_prefix(env: str) -> str:
    """Every namespace of environment `env` starts with this; env names hold no dots, so prefixes never collide."""
    return f"{NAMESPACE_PREFIX}.{env}."


@dataclass(frozen=True)
class Node:
    """A server's place on the site network: one per DC, and the central KMS."""

    name: str
    index: int  # the DC's slot (1-based: its position unless recorded otherwise, see addressing.py); 0 for the KMS
    address: IPv4Address
    namespace: str
    ifname: str
    host_port: int
    paths: NodePaths
    vip: IPv4Address | None = None
    pool: IPv4Network | None = None
    binary: ServerBinary | None = None  # None: the plan's (see Plan.binary_of)

    @property
    def service_address(self) -> IPv4Address:
        """Where clients reach it: the VIP for a DC (like a LoadBalancer IP), the address for the KMS."""
        return self.vip or self.address


@dataclass(frozen=True)
class Plan:
    env: str
    topology: Topology
    binary: ServerBinary
    paths: EnvPaths
    network: IPv4Network
    gateway: IPv4Address
    site_namespace: str
    bridge: str
    kms: Node
    nodes: list[Node]
    port_base: int
    transit_key: str = field(default="")

    @property
    def scheme(self) -> str:
        return "https" if self.topology.tls else "http"

    def node(self, dc: str) -> Node:
        for node in self.nodes:
            if node.name == dc:
                return node
        raise KeyError(dc)

    @property
    def primary(self) -> Node:
        return self.nodes[0]

    def binary_of(self, node: Node) -> ServerBinary:
        """The server binary this node runs: its DC's own version, else the environment's."""
        return node.binary or self.binary

    def api_addr(self, node: Node) -> str:
        return f"{self.scheme}://{node.service_address}:{API_PORT}"

    def cluster_addr(self, node: Node) -> str:
        return f"https://{node.service_address}:{CLUSTER_PORT}"

    def host_url(self, node: Node) -> str:
        return f"{self.scheme}://127.0.0.1:{node.host_port}"

    @property
    def delay_device(self) -> str:
        """The TUN device a `delay` fault creates inside a node's namespace (see providers/netns/delayer.py)."""
        return f"{self.env}-dly"

    @property
    def cut_device(self) -> str:
        """The dummy device a partition routes the other side's addresses to, inside a node's namespace."""
        return f"{self.env}-cut"

    @property
    def namespaces(self) -> list[str]:
        return [self.site_namespace, self.kms.namespace, *(n.namespace for n in self.nodes)]

    def node_config(self, node: Node, seal_token: str = REDACTED, retry_join: bool = True) -> dict[str, Any]:
        return configs.node_config(self, node, seal_token, retry_join)

    @property
    def kms_storage(self) -> str:
        """inmem (the default) or raft."""
        return self.topology.kms.storage or "inmem"

    def kms_config(self) -> dict[str, Any]:
        return configs.kms_config(self)

    def server_dict(self, node: Node) -> dict[str, str]:
        binary = self.binary_of(node)
        return {"flavour": binary.flavour, "version": binary.version, "path": binary.path}

    def to_dict(self) -> dict[str, Any]:
        """Everything a user may want to see, secrets redacted (JSON-ready)."""

        def node_dict(node: Node, config: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "name": node.name,
                "namespace": node.namespace,
                "interface": node.ifname,
                "address": str(node.address),
                "api_addr": self.api_addr(node),
                "cluster_addr": self.cluster_addr(node),
                "host_url": self.host_url(node),
                "config_file": str(node.paths.config),
                "server": self.server_dict(node),
                "config": config,
            }
            if node.vip is not None:
                out = {"name": node.name, "pool": str(node.pool), "vip": str(node.vip), **out}
            return out

        return {
            "environment": self.env,
            "server": {"flavour": self.binary.flavour, "version": self.binary.version, "path": self.binary.path},
            "state_dir": str(self.paths.root),
            "unseal": self.topology.unseal,
            "tls": self.topology.tls,
            "site": {
                "network": str(self.network),
                "gateway": str(self.gateway),
                "namespace": self.site_namespace,
                "bridge": self.bridge,
            },
            "kms": {**node_dict(self.kms, self.kms_config()), "transit_key": self.transit_key or None},
            "datacenters": [node_dict(n, self.node_config(n)) for n in self.nodes],
        }


def make_plan(
    topology: Topology,
    binary: ServerBinary,
    name: str | None = None,
    state_root: Path | None = None,
    port_base: int | None = None,
    source: str = "topology",
    binaries: dict[str, ServerBinary] | None = None,
    slots: dict[str, int] | None = None,
) -> Plan:
    """Compute the whole plan; raises TopologyError for addresses or names that cannot work. `slots`: each DC's slot
    (its interface number, host port offset, default pool and address) where it is not its position."""
    env = check_env_name_or_raise(name or topology.name or DEFAULT_NAME)
    sites = addressing.allocate(topology, source, slots)
    slot_of = addressing.slots_of(topology, slots)
    paths = env_paths(env, state_root)
    base = port_base if port_base is not None else (topology.host_port_base or DEFAULT_PORT_BASE)
    prefix = namespace_prefix(env)
    kms = Node(
        name="kms",
        index=0,
        address=sites.kms,
        namespace=f"{prefix}kms",
        ifname=f"{env}-kms",
        host_port=base,
        paths=paths.kms,
    )
    nodes = [
        Node(
            name=dc.name,
            index=slot_of[dc.name],
            address=sites.nodes[dc.name],
            namespace=f"{prefix}dc.{dc.name}",
            ifname=f"{env}-dc{slot_of[dc.name]}",
            host_port=base + slot_of[dc.name],
            paths=paths.node(dc.name),
            vip=sites.vips[dc.name],
            pool=sites.pools[dc.name],
            binary=(binaries or {}).get(dc.name),
        )
        for dc in topology.datacenters
    ]
    return Plan(
        env=env,
        topology=topology,
        binary=binary,
        paths=paths,
        network=sites.network,
        gateway=sites.gateway,
        site_namespace=f"{prefix}site",
        bridge=f"{env}-br",
        kms=kms,
        nodes=nodes,
        port_base=base,
        transit_key=f"{env}-autounseal" if topology.unseal == "transit" else "",
    )
