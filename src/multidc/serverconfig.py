"""Rendering server configuration files (JSON, which both `bao server` and `vault server` read)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .topology import RAFT_TUNING, ServerSettings

if TYPE_CHECKING:
    from .plan import Node, Plan


def raft_tuning(settings: ServerSettings) -> dict[str, Any]:
    """The raft stanza's tuning, on every provider: the test-environment defaults, then the topology's `server.raft`."""
    return {**RAFT_TUNING, **{k: v for k, v in settings.raft.model_dump().items() if v is not None}}


def _listener(plan: Plan, node: Node) -> dict[str, Any]:
    tcp: dict[str, Any] = {"address": f"0.0.0.0:{8200}", "cluster_address": f"0.0.0.0:{8201}"}
    if plan.topology.tls:
        tcp |= {"tls_cert_file": str(node.paths.cert), "tls_key_file": str(node.paths.key)}
    else:
        tcp["tls_disable"] = True
    return {"tcp": tcp}


def _common(plan: Plan, node: Node) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ui": True,
        "api_addr": plan.api_addr(node),
        "cluster_addr": plan.cluster_addr(node),
        "listener": [_listener(plan, node)],
    }
    # OpenBao 2.7 removed mlock (the key only draws a warning); HashiCorp Vault still locks memory unless told not to.
    if plan.binary.flavour == "vault":
        config["disable_mlock"] = True
    return config


def node_config(plan: Plan, node: Node, seal_token: str) -> dict[str, Any]:
    """A DC node: raft storage, retry_join to every other DC's VIP, and the transit seal in transit mode."""
    settings = plan.topology.server
    raft: dict[str, Any] = {"path": str(node.paths.data), "node_id": node.name, **raft_tuning(settings)}
    joins = []
    for other in plan.nodes:
        if other is node:
            continue
        join: dict[str, Any] = {"leader_api_addr": plan.api_addr(other)}
        if plan.topology.tls:
            join["leader_ca_cert_file"] = str(plan.paths.ca_cert)
        joins.append(join)
    if joins:
        raft["retry_join"] = joins
    config = _common(plan, node)
    config["storage"] = {"raft": raft}
    if plan.topology.unseal == "transit":
        transit: dict[str, Any] = {
            "address": plan.api_addr(plan.kms),
            "token": seal_token,
            "key_name": plan.transit_key,
            "mount_path": "transit/",
        }
        if plan.topology.tls:
            transit["tls_ca_cert"] = str(plan.paths.ca_cert)
        config["seal"] = {"transit": transit}
    config |= settings.top_level()
    return config


def kms_config(plan: Plan) -> dict[str, Any]:
    """The central KMS: a single raft node (OpenBao 2.7 has no file storage), Shamir-sealed with one key."""
    kms = plan.kms
    config = _common(plan, kms)
    config["storage"] = {"raft": {"path": str(kms.paths.data), "node_id": "kms", "performance_multiplier": 1}}
    return config
