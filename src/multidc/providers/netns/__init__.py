"""The embedded provider: every DC node and the KMS in its own Linux network namespace on a private bridge."""
