"""multidc: multi-datacenter Vault/OpenBao Raft clusters for testing.

import multidc
with multidc.up() as env:           # the seed's three DCs, or a topology file / Topology / dict
    env.client("secondary")         # hvac.Client, root token, TLS verified with the environment's CA
"""

from .api import Environment, attach, up
from .errors import MultidcError, NotFoundError, PrerequisiteError, ProviderError, TopologyError
from .health import Health, NodeStatus
from .topology import Topology

__version__ = "0.1.0"
__all__ = [
    "Environment",
    "Health",
    "MultidcError",
    "NodeStatus",
    "NotFoundError",
    "PrerequisiteError",
    "ProviderError",
    "Topology",
    "TopologyError",
    "attach",
    "up",
]
