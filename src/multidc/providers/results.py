"""What each day-2 operation returns, whatever the provider: the CLI renders these, the Python API returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class UpgradeStep:
    dc: str
    before: str  # version
    after: str
    was_leader: bool
    started: float  # time.time() when the DC's server was stopped
    ended: float  # when the environment was healthy again
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class UpgradeReport:
    to: str
    steps: list[UpgradeStep] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already at the version
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass
class SnapshotInfo:
    path: str
    keys: str
    bytes: int
    sha256: str
    seconds: float
    leader: str
    applied_index: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RecoveryReport:
    survivor: str
    readded: list[str] = field(default_factory=list)
    logs: dict[str, dict[str, int]] = field(default_factory=dict)  # each DC's last Raft entry before, by DC
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 3)}


@dataclass
class MembershipReport:
    action: str  # "add" or "remove"
    dc: str
    slot: int
    vip: str
    host_url: str
    datacenters: list[str]  # after the change
    leader: str
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 3)}
