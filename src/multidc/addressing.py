"""Address planning for the site network: gateway, node addresses, load-balancer pools, VIPs and the KMS.

The seed carves MetalLB pools 172.18.n.128/25 out of docker's kind network 172.18.0.0/16; the default here is the same
rule for any network: DC number n (1-based) gets the upper half of the n-th /24 block, and its VIP is the pool's first
address. Node addresses, the gateway and the KMS come from the lowest addresses outside every pool, as docker hands
172.18.0.2, .3, ... to kind's nodes.

A DC's number is its slot: its position unless the environment records slots (after `dc add`/`dc remove`, so that
adding or removing a DC moves nothing that exists). Slot n gives the n-th default pool and the n-th free address.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from .errors import TopologyError
from .topology import MAX_DATACENTERS, Topology

BLOCK = 256  # a /24


@dataclass(frozen=True)
class SiteAddresses:
    network: IPv4Network
    gateway: IPv4Address
    pools: dict[str, IPv4Network]
    vips: dict[str, IPv4Address]
    nodes: dict[str, IPv4Address]
    kms: IPv4Address


def default_pool(network: IPv4Network, n: int) -> IPv4Network | None:
    """The upper /25 of the n-th /24 of the network, or None when the network has no such block."""
    if network.prefixlen > 24 or (n + 1) * BLOCK > network.num_addresses:
        return None
    start = int(network.network_address) + n * BLOCK + BLOCK // 2
    return IPv4Network((start, 25))


def slots_of(topology: Topology, slots: dict[str, int] | None = None) -> dict[str, int]:
    """Each DC's slot (1-based): the recorded one, else its position in the topology."""
    found = {dc.name: (slots or {}).get(dc.name, i) for i, dc in enumerate(topology.datacenters, start=1)}
    if len(set(found.values())) != len(found) or not all(1 <= n <= MAX_DATACENTERS for n in found.values()):
        raise TopologyError(
            f"slots: {found} are not distinct numbers 1 to {MAX_DATACENTERS}; the state file is damaged"
        )
    return found


def allocate(topology: Topology, source: str = "topology", slots: dict[str, int] | None = None) -> SiteAddresses:
    """Plan every address of the site network, or raise TopologyError naming each problem. `slots`: each DC's slot
    where it is not its position (see the module's docstring)."""
    network = topology.network
    problems: list[str] = []
    pools: dict[str, IPv4Network] = {}
    slot_of = slots_of(topology, slots)
    for i, dc in enumerate(topology.datacenters, start=1):
        where = f"{source}: datacenters[{i - 1}]"
        if dc.pool is not None:
            pool = dc.pool
            if not pool.subnet_of(network):
                problems.append(f"{where}.pool: {pool} is outside the network {network}; choose a pool inside it")
                continue
        else:
            found = default_pool(network, slot_of[dc.name])
            if found is None:
                fits = max(0, network.num_addresses // BLOCK - 1) if network.prefixlen <= 24 else 0
                problems.append(
                    f"{source}: network: {network} holds {fits} default load-balancer pool(s) (the upper half of "
                    f"each /24 after the first) but there are {len(topology.datacenters)} datacenters; use a "
                    f"larger network (e.g. a /{min(23, 24 - (len(topology.datacenters)).bit_length())} or more) "
                    "or give each datacenter an explicit pool"
                )
                break
            pool = found
        for other, taken in pools.items():
            if pool.overlaps(taken):
                problems.append(
                    f"{where}.pool: {pool} ({dc.name}) overlaps {taken} ({other}); give each datacenter its own pool"
                )
        vip = pool.network_address
        if vip in (network.network_address, network.broadcast_address):
            problems.append(
                f"{where}.pool: the VIP {vip} (the pool's first address) is the network's "
                f"{'network' if vip == network.network_address else 'broadcast'} address; move the pool"
            )
        pools[dc.name] = pool
    if problems:
        raise TopologyError(problems)

    def pooled(address: IPv4Address) -> bool:
        return any(address in pool for pool in pools.values())

    explicit_kms = topology.kms.address
    if explicit_kms is not None:
        where = f"{source}: kms.address"
        if explicit_kms not in network or explicit_kms in (
            network.network_address,
            network.broadcast_address,
        ):
            problems.append(f"{where}: {explicit_kms} is not a host address of the network {network}; pick one inside")
        for dc_name, pool in pools.items():
            if explicit_kms in pool:
                problems.append(
                    f"{where}: {explicit_kms} lies in {dc_name}'s pool {pool}; pick an address outside every pool"
                )
        if problems:
            raise TopologyError(problems)

    free = (a for a in network.hosts() if not pooled(a) and a != explicit_kms)
    try:
        gateway = next(free)
        # Slot n takes the n-th free address; the KMS (unless explicit) the one after the highest slot's.
        hosts = [next(free) for _ in range(max(slot_of.values()))]
        nodes = {dc.name: hosts[slot_of[dc.name] - 1] for dc in topology.datacenters}
        kms = explicit_kms or next(free)
    except StopIteration:
        raise TopologyError(
            f"{source}: network: {network} has no room outside the pools for the gateway, "
            f"{len(pools)} node(s) and the KMS; use a larger network or smaller pools"
        ) from None
    return SiteAddresses(
        network=network,
        gateway=gateway,
        pools=pools,
        vips={name: pool.network_address for name, pool in pools.items()},
        nodes=nodes,
        kms=kms,
    )
