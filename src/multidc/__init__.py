"""multidc: multi-datacenter Vault/OpenBao Raft clusters for testing.

import multidc
with multidc.up() as env:           # the seed's three DCs, or a topology file / Topology / dict
    env.client("secondary")         # hvac.Client, root token, TLS verified with the environment's CA
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Environment, attach, up
    from .errors import (
        BusyError,
        FaultError,
        MultidcError,
        NotFoundError,
        PrerequisiteError,
        ProviderError,
        StartFailed,
        TopologyError,
    )
    from .health import Health, NodeStatus
    from .topology import Topology

__version__ = "0.1.0"
# Loaded on first use (PEP 562), so the small processes multidc starts inside an environment (the host-port forwarder,
# the unsealers) do not pay for hvac, pydantic and the rest at every start.
_LAZY = {
    "Environment": "api",
    "attach": "api",
    "up": "api",
    "BusyError": "errors",
    "FaultError": "errors",
    "MultidcError": "errors",
    "StartFailed": "errors",
    "NotFoundError": "errors",
    "PrerequisiteError": "errors",
    "ProviderError": "errors",
    "TopologyError": "errors",
    "Health": "health",
    "NodeStatus": "health",
    "Topology": "topology",
}
__all__ = [
    "BusyError",
    "Environment",
    "FaultError",
    "Health",
    "MultidcError",
    "NodeStatus",
    "NotFoundError",
    "PrerequisiteError",
    "ProviderError",
    "StartFailed",
    "Topology",
    "TopologyError",
    "attach",
    "up",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'multidc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
