"""Provider-neutral server-config rules: what every DC server gets, whether it is written to a JSON file on this
machine (netns) or into a Vault custom resource (kind, kube). The topology's `server` section and raft tuning reach
every provider through these functions, so a setting honoured on one is honoured on all."""

from __future__ import annotations

from typing import Any

from .topology import RAFT_TUNING, ServerSettings


def raft_tuning(settings: ServerSettings) -> dict[str, Any]:
    """The raft stanza's tuning, on every provider: the test-environment defaults, then the topology's `server.raft`."""
    return {**RAFT_TUNING, **{k: v for k, v in settings.raft.model_dump().items() if v is not None}}


def transit_seal(address: str, token: str, key_name: str, ca_cert: str | None = None) -> dict[str, Any]:
    """The seed's auto-unseal: a transit seal on the central KMS's key."""
    transit: dict[str, Any] = {"address": address, "token": token, "key_name": key_name, "mount_path": "transit/"}
    if ca_cert:
        transit["tls_ca_cert"] = ca_cert
    return {"transit": transit}


def server(
    api_addr: str,
    cluster_addr: str,
    listener: dict[str, Any] | list[dict[str, Any]],
    storage: dict[str, Any],
    settings: ServerSettings | None = None,
    seal: dict[str, Any] | None = None,
    disable_mlock: bool = False,
) -> dict[str, Any]:
    """A whole server config: the UI on (as dev mode has it), addresses, listener, storage, the seal, then the
    topology's `server` settings, which override what came before."""
    config: dict[str, Any] = {
        "ui": True,
        "api_addr": api_addr,
        "cluster_addr": cluster_addr,
        "listener": listener,
        "storage": storage,
    }
    if disable_mlock:
        # OpenBao 2.7 removed mlock (the key only draws a warning); HashiCorp Vault still locks memory unless told not.
        config["disable_mlock"] = True
    if seal:
        config["seal"] = seal
    if settings is not None:
        config |= settings.top_level()
    return config
