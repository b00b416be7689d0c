"""The docker provider: each DC's OpenBao and the central KMS in containers on one docker network."""
