"""The docker plan, pure: the network, each DC's VIP in its pool carved from the network's subnet (addressing.py, as
the seed carves MetalLB pools from docker's kind network), container, volume and image names, and the server configs
as the containers see them.

Each place (a DC, or the KMS) is two containers: `mdc.E.<place>.net` holds the network namespace (its address on the
docker network, the published host port, NET_ADMIN for the network faults) and runs only busybox `sleep`;
`mdc.E.<place>` runs the server inside that namespace (`--network container:`), so killing, stopping or upgrading a
server never moves its address, its published port or the cuts routed in its namespace (a Kubernetes pod's pause
container, for the same reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ... import addressing, serverconfig
from ...names import check_env_name_or_raise
from ...paths import EnvPaths, NodePaths, env_paths
from ...topology import DEFAULT_NAME, Topology

API_PORT = 8200
CLUSTER_PORT = 8201
MOUNT = "/multidc"  # the place's directory (config, certificate, key), read-only
CA = "/multidc-ca.crt"  # the environment's CA certificate, read-only
DATA = "/multidc-data"  # the place's volume (raft data)
PREFIX = "mdc"


def prefix(env: str) -> str:
    """Every container, volume and network name of environment `env` starts with this (names hold no dots)."""
    return f"{PREFIX}.{env}"


@dataclass(frozen=True)
class Place:
    name: str  # a DC's, or "kms"
    slot: int  # the DC's slot (1-based, its position); 0 for the KMS
    image: str
    paths: NodePaths
    vip: IPv4Address | None = None  # a DC's fixed address (--ip): its pool's first, like a LoadBalancer IP
    pool: IPv4Network | None = None


@dataclass(frozen=True)
class DockerPlan:
    env: str
    topology: Topology
    paths: EnvPaths
    network: str
    own_network: bool  # made (and removed) by multidc; False: an existing one such as kind's, never removed
    subnet: IPv4Network
    subnet_known: bool  # False before `up` made the network: the topology's network stands in
    kms: Place
    nodes: list[Place]
    pod_image: str  # busybox's home: the holders of the network namespaces
    kms_address: str | None = None  # from docker once the KMS's holder exists (unless kms.address fixes it)

    @property
    def scheme(self) -> str:
        return "https" if self.topology.tls else "http"

    @property
    def primary(self) -> Place:
        return self.nodes[0]

    @property
    def places(self) -> list[Place]:
        return [*self.nodes, self.kms]

    def place(self, name: str) -> Place:
        for p in self.places:
            if p.name == name:
                return p
        raise KeyError(name)

    def container(self, place: Place | str) -> str:
        return f"{prefix(self.env)}.{getattr(place, 'name', place)}"

    def pod(self, place: Place | str) -> str:
        return f"{self.container(place)}.net"

    def volume(self, place: Place | str) -> str:
        return f"{self.container(place)}.data"

    def address(self, place: Place) -> str:
        """Where the place is reached on the docker network: a DC's VIP, the KMS's address."""
        if place.vip is not None:
            return str(place.vip)
        return self.kms_address or str(self.topology.kms.address or "(from docker)")

    def api_addr(self, place: Place) -> str:
        return f"{self.scheme}://{self.address(place)}:{API_PORT}"

    def cluster_addr(self, place: Place) -> str:
        return f"https://{self.address(place)}:{CLUSTER_PORT}"

    @property
    def transit_key(self) -> str:
        return f"{self.env}-autounseal" if self.topology.unseal == "transit" else ""

    @property
    def kms_storage(self) -> str:
        return self.topology.kms.storage or "inmem"

    @property
    def host_port_base(self) -> int | None:
        return self.topology.host_port_base

    def publish(self, place: Place) -> str:
        """The -p value: 127.0.0.1 only; the topology's port (host_port_base + slot) or one docker chooses."""
        base = self.host_port_base
        return f"127.0.0.1:{'' if base is None else base + place.slot}:{API_PORT}"

    # --- server configs, as the containers see them

    def _listener(self) -> list[dict[str, Any]]:
        tcp: dict[str, Any] = {"address": f"0.0.0.0:{API_PORT}", "cluster_address": f"0.0.0.0:{CLUSTER_PORT}"}
        if self.topology.tls:
            tcp |= {"tls_cert_file": f"{MOUNT}/tls.crt", "tls_key_file": f"{MOUNT}/tls.key"}
        else:
            tcp["tls_disable"] = True
        return [{"tcp": tcp}]

    def node_config(self, node: Place, seal_token: str = "<redacted>", retry_join: bool = True) -> dict[str, Any]:
        """A DC node: raft storage on its volume, retry_join to every other DC's VIP, the transit seal on the KMS."""
        settings = self.topology.server
        ca = CA if self.topology.tls else None
        raft: dict[str, Any] = {"path": DATA, "node_id": node.name, **serverconfig.raft_tuning(settings)}
        joins = [
            {"leader_api_addr": self.api_addr(other), **({"leader_ca_cert_file": ca} if ca else {})}
            for other in self.nodes
            if other is not node
        ]
        if joins and retry_join:
            raft["retry_join"] = joins
        seal = None
        if self.topology.unseal == "transit":
            seal = serverconfig.transit_seal(self.api_addr(self.kms), seal_token, self.transit_key, ca)
        return serverconfig.server(
            self.api_addr(node), self.cluster_addr(node), self._listener(), {"raft": raft}, settings, seal
        )

    def kms_config(self) -> dict[str, Any]:
        storage: dict[str, Any] = {"inmem": {}}
        if self.kms_storage == "raft":
            storage = {"raft": {"path": DATA, "node_id": "kms", "performance_multiplier": 1}}
        return serverconfig.server(self.api_addr(self.kms), self.cluster_addr(self.kms), self._listener(), storage)

    def to_dict(self) -> dict[str, Any]:
        def one(place: Place) -> dict[str, Any]:
            out: dict[str, Any] = {
                "name": place.name,
                "address": self.address(place),
                "api_addr": self.api_addr(place),
                "container": self.container(place),
                "network_holder": self.pod(place),
                "volume": self.volume(place),
                "image": place.image,
                "host_port": self.publish(place),
            }
            if place.vip is not None:
                out = {"name": place.name, "pool": str(place.pool), "vip": str(place.vip), **out}
            return out

        return {
            "environment": self.env,
            "provider": "docker",
            "state_dir": str(self.paths.root),
            "unseal": self.topology.unseal,
            "tls": self.topology.tls,
            "network": {
                "name": self.network,
                "made_by_multidc": self.own_network,
                "subnet": str(self.subnet) if self.subnet_known else None,
            },
            "kms": {**one(self.kms), "config": self.kms_config(), "transit_key": self.transit_key or None},
            "datacenters": [{**one(n), "config": self.node_config(n)} for n in self.nodes],
        }


def make_plan(
    topology: Topology,
    name: str | None,
    images: dict[str, str],
    pod_image: str,
    subnet: IPv4Network | None,
    source: str = "topology",
    kms_address: str | None = None,
    state_root: Any = None,
) -> DockerPlan:
    """The whole plan. `images`: each DC's (and "kms"'s) image; `subnet`: the docker network's (None before it
    exists: the topology's network stands in). Raises TopologyError for pools that do not fit the subnet."""
    env = check_env_name_or_raise(name or topology.name or DEFAULT_NAME)
    network = topology.docker.network or prefix(env)
    on = subnet or topology.network
    sites = addressing.allocate(topology.model_copy(update={"network": on}), f"{source} (docker network {on})")
    paths = env_paths(env, state_root)
    nodes = [
        Place(dc.name, i, images[dc.name], paths.node(dc.name), sites.vips[dc.name], sites.pools[dc.name])
        for i, dc in enumerate(topology.datacenters, start=1)
    ]
    kms = Place("kms", 0, images["kms"], paths.kms)
    fixed = str(topology.kms.address) if topology.kms.address else None
    return DockerPlan(
        env=env,
        topology=topology,
        paths=paths,
        network=network,
        own_network=topology.docker.network is None,
        subnet=on,
        subnet_known=subnet is not None,
        kms=kms,
        nodes=nodes,
        pod_image=pod_image,
        kms_address=kms_address or fixed,
    )
