"""Day-2 operations on a netns environment (the provider's `Operations`): rolling upgrade, adding and removing DCs,
Raft snapshots, lost-quorum recovery. Each lives in its own module; this binds them to one environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..results import MembershipReport, RecoveryReport, SnapshotInfo, UpgradeReport
from . import membership, recovery, snapshots
from . import upgrade as upgrade_mod

if TYPE_CHECKING:
    from ...progress import Progress
    from .environment import Environment


@dataclass
class Operations:
    env: Environment

    def upgrade(
        self,
        to: str | None = None,
        order: list[str] | None = None,
        progress: Progress | None = None,
        allow_downgrade: bool = False,
    ) -> UpgradeReport:
        return upgrade_mod.upgrade(self.env, to, order, progress, allow_downgrade)

    def snapshot_save(self, path: Path, force: bool = False) -> SnapshotInfo:
        return snapshots.save(self.env, Path(path), force)

    def snapshot_restore(self, path: Path) -> str:
        return snapshots.restore(self.env, Path(path))

    def recover(
        self, dc: str | None, progress: Progress | None = None, allow_data_loss: bool = False
    ) -> RecoveryReport:
        return recovery.recover(self.env, dc, progress, allow_data_loss)

    def add_dc(self, name: str, pool: str | None = None, progress: Progress | None = None) -> MembershipReport:
        return membership.add(self.env, name, pool, progress)

    def remove_dc(self, name: str, progress: Progress | None = None) -> MembershipReport:
        return membership.remove(self.env, name, progress)
