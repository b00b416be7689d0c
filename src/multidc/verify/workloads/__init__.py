"""Workloads beside the register, each a client part and a pure checker: `set`, `tokens` and `pki`."""

from __future__ import annotations

from .invariants import CHECKERS, check_pki, check_set, check_tokens
from .verdict import InvariantVerdict

__all__ = ["CHECKERS", "InvariantVerdict", "check_pki", "check_set", "check_tokens"]
