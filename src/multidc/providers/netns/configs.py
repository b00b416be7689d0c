"""The netns provider's server config files (JSON, which both `bao server` and `vault server` read), built with the
provider-neutral rules of serverconfig.py from the netns plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import serverconfig

if TYPE_CHECKING:
    from .plan import Node, Plan


def _listener(plan: Plan, node: Node) -> list[dict[str, Any]]:
    tcp: dict[str, Any] = {"address": f"0.0.0.0:{8200}", "cluster_address": f"0.0.0.0:{8201}"}
    if plan.topology.tls:
        tcp |= {"tls_cert_file": str(node.paths.cert), "tls_key_file": str(node.paths.key)}
    else:
        tcp["tls_disable"] = True
    return [{"tcp": tcp}]


def node_config(plan: Plan, node: Node, seal_token: str, retry_join: bool = True) -> dict[str, Any]:
    """A DC node: raft storage, retry_join to every other DC's VIP (unless not wanted), and the transit seal in transit
    mode."""
    settings = plan.topology.server
    ca = str(plan.paths.ca_cert) if plan.topology.tls else None
    raft: dict[str, Any] = {"path": str(node.paths.data), "node_id": node.name, **serverconfig.raft_tuning(settings)}
    joins = []
    for other in plan.nodes:
        if other is node:
            continue
        join: dict[str, Any] = {"leader_api_addr": plan.api_addr(other)}
        if ca:
            join["leader_ca_cert_file"] = ca
        joins.append(join)
    if joins and retry_join:
        raft["retry_join"] = joins
    seal = None
    if plan.topology.unseal == "transit":
        seal = serverconfig.transit_seal(plan.api_addr(plan.kms), seal_token, plan.transit_key, ca)
    return serverconfig.server(
        plan.api_addr(node),
        plan.cluster_addr(node),
        _listener(plan, node),
        {"raft": raft},
        settings,
        seal,
        disable_mlock=plan.binary.flavour == "vault",
    )


def kms_config(plan: Plan) -> dict[str, Any]:
    """The central KMS, Shamir-sealed with one key: in memory (OpenBao 2.7.2 takes `inmem` outside dev mode too), or
    a single raft node (2.7 has no file storage)."""
    kms = plan.kms
    storage: dict[str, Any] = {"inmem": {}}
    if plan.kms_storage == "raft":
        storage = {"raft": {"path": str(kms.paths.data), "node_id": "kms", "performance_multiplier": 1}}
    return serverconfig.server(
        plan.api_addr(kms),
        plan.cluster_addr(kms),
        _listener(plan, kms),
        storage,
        disable_mlock=plan.binary.flavour == "vault",
    )
