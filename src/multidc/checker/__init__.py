"""Checkers: a history's operations in, one Verdict out.

    from multidc.checker import Model, check
    verdict = check(ops)                 # the compare-and-set register, per key
    verdict = check(ops, MyModel())      # a model of your own (see Model and docs/models.md)

A Model (model.py) is a sequential specification the linearizability search runs on; the register (register.py) is
one. The set, tokens and pki workloads' checkers (multidc.verify.workloads.invariants) judge invariants instead; every
checker has a `name` and `check(ops) -> Verdict` (the Checker protocol) and `named` finds one by name.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..history import Operation, pair
from . import model as _model
from .model import Model
from .register import Register, lost_writes, own_stale_reads, stale_reads
from .verdict import KeyVerdict, Verdict, verdict


class Checker(Protocol):
    """What judges a history: a name, and a verdict from its operations."""

    @property
    def name(self) -> str: ...

    def check(self, ops: list[Operation]) -> Verdict: ...


REGISTER = Register()
NAMES = ("register", "set", "tokens", "pki")  # what `multidc check --model` offers


def named(name: str) -> Checker:
    """The checker of this name (one of NAMES); ValueError otherwise."""
    if name == "register":
        return REGISTER
    from ..verify.workloads.invariants import CHECKERS  # the workloads' checkers live beside their clients

    if name not in CHECKERS:
        raise ValueError(f"no checker named {name!r}; choose one of {', '.join(NAMES)}")
    return CHECKERS[name]


def check(ops: list[Operation], model: Checker = REGISTER) -> Verdict:
    """Judge `ops` (from history.load or history.pair) with `model`: by default the register."""
    return model.check(ops)


def linearizable(ops: list[Operation], model: Model = REGISTER, budget: int = 5_000_000) -> tuple[bool, Any]:
    """Whether `ops` (one key) linearize on `model`, and when not the time no order gets past (see model.py)."""
    return _model.linearizable(ops, model, budget)


def minimise(ops: list[Operation], model: Model = REGISTER, probes: int = 400) -> list[Operation]:
    """A small sub-history of one key that `model` cannot linearize ([] when the whole one linearizes)."""
    return _model.minimise(ops, model, probes)


__all__ = [
    "NAMES",
    "REGISTER",
    "Checker",
    "KeyVerdict",
    "Model",
    "Operation",
    "Register",
    "Verdict",
    "check",
    "linearizable",
    "lost_writes",
    "minimise",
    "named",
    "own_stale_reads",
    "pair",
    "stale_reads",
    "verdict",
]
