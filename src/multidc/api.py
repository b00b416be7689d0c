"""The Python face of multidc: `with multidc.up(...) as env:` and `multidc.attach(name)`. The CLI is built on this.

import multidc
with multidc.up("topology.yaml", name="t1") as env:
    env.client("secondary").secrets.kv.v2.read_secret_version(path="foo")
    env.kill(env.leader()); env.start(...)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import hvac

from . import binaries, health, interrupts, locks
from . import topology as topo_mod
from .errors import MultidcError, NotFoundError, TopologyError
from .paths import env_paths
from .plan import DEFAULT_PORT_BASE, Node, Plan, check_env_name_or_raise, make_plan
from .progress import Progress
from .state import load, read_secret
from .vaultapi import client

if TYPE_CHECKING:
    from .providers.netns.provider import NetnsEnvironment

TopologyLike = str | Path | topo_mod.Topology | dict[str, Any] | None


def _topology(topology: TopologyLike, env: str) -> tuple[topo_mod.Topology, str, str | None]:
    """(topology, where it came from, the server binary recorded for an existing environment)."""
    if isinstance(topology, topo_mod.Topology):
        return topology, "topology", None
    if isinstance(topology, dict):
        return topo_mod.parse(topology, "topology"), "topology", None
    if topology is None:
        existing = load(env_paths(env))
        if existing is not None:
            # `up` again without a topology means "the same environment": its recorded topology and server.
            return topo_mod.parse(existing.topology, str(env_paths(env).state)), "topology", existing.binary["path"]
        return topo_mod.Topology(), "topology", None
    return topo_mod.load(topology), str(topology), None


def _given(name: str | None) -> str | None:
    """A name the caller gave, checked (an empty one is refused, not taken for the default); None if none was."""
    if name is None:
        return None
    return check_env_name_or_raise(name)


def planner(
    topology: TopologyLike, name: str | None, server_binary: str | None
) -> tuple[Callable[[int], Plan], int, bool]:
    """Validate everything and return (plan for a host-port base, the first base to try, whether it was explicit)."""
    topo, source, recorded = _topology(
        topology,
        _given(name) or (topology.name if isinstance(topology, topo_mod.Topology) else None) or topo_mod.DEFAULT_NAME,
    )
    binary = binaries.resolve(server_binary or recorded or topo.server_binary)

    def plan_for(base: int) -> Plan:
        return make_plan(topo, binary, name, port_base=base, source=source)

    first = plan_for(topo.host_port_base or DEFAULT_PORT_BASE)  # validates addresses before anything else
    return plan_for, first.port_base, topo.host_port_base is not None


def existing_plan(name: str | None) -> Plan:
    """The plan of an environment that `up` created, from its state file."""
    env = _given(name) or topo_mod.DEFAULT_NAME
    paths = env_paths(env)
    st = load(paths)
    if st is None:
        raise NotFoundError(f"no environment {env!r} here (no {paths.state}); create it with `multidc up --name {env}`")
    if st.provider != "netns":
        raise NotFoundError(f"environment {env!r} runs on the {st.provider} provider; the Python API drives netns")
    topo = topo_mod.parse(st.topology, str(paths.state))
    binary = binaries.ServerBinary(st.binary["path"], st.binary["flavour"], st.binary["version"])  # type: ignore[arg-type]
    return make_plan(topo, binary, env, port_base=st.port_base)


UP_WAIT = 300.0  # seconds a second `up` of the same name waits for the first to finish


def create(
    topology: TopologyLike = None,
    name: str | None = None,
    server_binary: str | None = None,
    progress: Progress | None = None,
    retain: bool = False,
) -> Any:
    """Bring an environment up (or back) and return the provider's UpResult; on failure remove what was made.

    Holds the environment's lock: a second `up` of the same name waits for the first, then finds it up."""
    from .providers.netns import provider

    progress = progress or Progress(quiet=True)
    plan_for, first, explicit = planner(topology, name, server_binary)
    env_name = plan_for(first).env
    root = plan_for(first).paths.root.parent
    with locks.hold(env_name, "up", root, wait=UP_WAIT, on_wait=progress.say):
        if topology is None:  # another `up` may have recorded this environment while we waited
            plan_for, first, explicit = planner(topology, name, server_binary)
        try:
            return provider.up(plan_for, first, explicit, progress)
        except (MultidcError, KeyboardInterrupt):
            st = load(env_paths(env_name, root))
            made = st is None or st.phase != "up"
            if made and not provider.remains(env_name, root):
                raise  # refused before anything was made: nothing to remove or keep
            if not retain and made:
                with interrupts.deferred():  # a second Ctrl-C must not leave the cleanup half done
                    provider.down(env_name, root)
                left = provider.remains(env_name, root)
                if left:
                    progress.say(f"Could not remove everything that was made: {', '.join(left)}")
                else:
                    progress.say("Removed what was made (use --retain to keep it for inspection)")
            elif retain and made:
                progress.say(f"Kept what was made for inspection; remove it with `multidc down --name {env_name}`")
            raise


class Environment:
    """A running multidc environment. A context manager: leaving the `with` block removes it unless `keep`."""

    def __init__(self, plan: Plan, keep: bool = False) -> None:
        self.plan = plan
        self.keep = keep
        self._faults: Any = None

    # --- what it is

    @property
    def name(self) -> str:
        return self.plan.env

    @property
    def datacenters(self) -> list[str]:
        return [n.name for n in self.plan.nodes]

    @property
    def ca_cert(self) -> str | None:
        """Path of the environment's CA certificate (None with `tls: false`)."""
        return str(self.plan.paths.ca_cert) if self.plan.topology.tls else None

    @property
    def root_token(self) -> str:
        return read_secret(self.plan.paths, "root-token") or ""

    def _node(self, dc: str) -> Node:
        if dc == "kms":
            return self.plan.kms
        try:
            return self.plan.node(dc)
        except KeyError:
            raise TopologyError(f"no datacenter {dc!r}; choose one of: {', '.join(self.datacenters)}") from None

    def address(self, dc: str) -> str:
        """The DC's API as reached from this host, e.g. https://127.0.0.1:18201 (`kms` for the central KMS)."""
        return self.plan.host_url(self._node(dc))

    def vip(self, dc: str) -> str:
        return str(self._node(dc).service_address)

    def client(self, dc: str, timeout: float = 10.0) -> hvac.Client:
        """An hvac client for the DC, authenticated with the root token, verifying TLS with the environment's CA."""
        token = read_secret(self.plan.paths, "kms-root-token") if dc == "kms" else self.root_token
        return client(self.address(dc), self.ca_cert, token, timeout)

    def exports(self, dc: str | None = None) -> dict[str, str]:
        """BAO_*/VAULT_* variables for the DC (default: the first), as `multidc env` prints them."""
        dc = dc or self.datacenters[0]
        token = read_secret(self.plan.paths, "kms-root-token") if dc == "kms" else self.root_token
        values = {"ADDR": self.address(dc), "TOKEN": token or ""}
        if self.ca_cert:
            values["CACERT"] = self.ca_cert
        return {f"{prefix}{k}": v for prefix in ("BAO_", "VAULT_") for k, v in values.items()}

    # --- how it is

    def status(self, probe_write: bool = True) -> health.Health:
        """Health now: a healthy flag, problems, and per DC role, voter, sealed, applied index."""
        return health.check(self.plan, self.root_token, probe_write=probe_write)

    def leader(self) -> str | None:
        """The DC whose node leads Raft now (asked through every DC until one knows)."""
        return self._netns().leader()

    def wait_healthy(self, timeout: float = 60.0) -> health.Health:
        return self._netns().wait_healthy(timeout)

    def logs(self, lines: int = 20) -> dict[str, list[str]]:
        """The last lines of every server's log (DCs and the KMS)."""
        out = {}
        for node in [*self.plan.nodes, self.plan.kms]:
            try:
                text = node.paths.log.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                text = []
            out[node.name] = text[-lines:]
        return out

    # --- breaking it

    def _netns(self) -> NetnsEnvironment:
        from .providers.netns.provider import NetnsEnvironment

        return NetnsEnvironment(self.plan)

    @property
    def faults(self) -> Any:
        from .providers.netns.faults import Faults

        return Faults(self._netns())

    def _fault(self, action: str, *args: Any) -> str:
        """Apply a fault while holding the environment's lock (state loaded inside it, so nothing is lost)."""
        with locks.hold(self.name, f"chaos {action}", self.plan.paths.root.parent):
            return str(getattr(self.faults, action.replace("-", "_"))(*args))

    def kill(self, dc: str) -> str:
        return self._fault("kill", dc)

    def stop(self, dc: str) -> str:
        return self._fault("stop", dc)

    def start(self, dc: str) -> str:
        return self._fault("start", dc)

    def pause(self, dc: str) -> str:
        return self._fault("pause", dc)

    def resume(self, dc: str) -> str:
        return self._fault("resume", dc)

    def partition(self, group: list[str]) -> str:
        return self._fault("partition", list(group))

    def heal(self) -> str:
        return self._fault("heal")

    def kms_down(self) -> str:
        return self._fault("kms-down")

    def kms_up(self) -> str:
        return self._fault("kms-up")

    def delay(self, a: str, b: str, ms: int) -> str:
        """Hold every packet between a and b (DC names or "kms") back by ms each way; 0 removes it; heal() too."""
        return self._fault("delay", a, b, ms)

    # --- removing it

    def down(self) -> None:
        from .providers.netns import provider

        provider.down(self.name, self.plan.paths.root.parent)

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self.keep:
            self.down()

    def __repr__(self) -> str:
        return f"<multidc.Environment {self.name!r} {', '.join(self.datacenters)}>"


def up(
    topology: TopologyLike = None, *, name: str | None = None, keep: bool = False, server_binary: str | None = None
) -> Environment:
    """Bring an environment up and return it once healthy: a topology file, a Topology, a dict, or the seed's defaults.

    Use it as a context manager (`with multidc.up() as env:`) so it is removed on leaving the block, also on an
    exception or Ctrl-C, unless `keep=True`.
    """
    result = create(topology, name, server_binary)
    return Environment(result.plan, keep=keep)


def attach(name: str = topo_mod.DEFAULT_NAME, keep: bool = True) -> Environment:
    """The Environment of one that is already up (made by the CLI or another process). It is kept on leaving a
    `with` block unless keep=False."""
    return Environment(existing_plan(name), keep=keep)
