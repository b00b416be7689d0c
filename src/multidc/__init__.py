"""multidc: multi-datacenter Vault/OpenBao Raft clusters for testing."""

__version__ = "0.1.0"
