"""The kind and kube providers behind the common interface: plan (a dry run through a recording runner), up, attach,
down. Everything runs through one Runner (real: subprocess; tests and `plan`: a recording one) and one KmsApi."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from ... import health, locks, topology
from ...errors import FaultError, NotFoundError, ProviderError, TopologyError
from ...health import Endpoint
from ...paths import EnvPaths, env_paths
from ...progress import Progress
from ...runner import Completed, RecordingRunner, Runner, SubprocessRunner
from ...state import load, read_secret
from ..base import DAY2, FAULT_KINDS, Capabilities, NotYet, Request, Row, UpOutcome
from . import manifests, prereqs
from .faults import KindFaults
from .manifests import KMS_NAMESPACE, NAMESPACE, Flavour, KubePlan
from .orchestrator import KmsApi, KubeResult, Orchestrator, kind_subnet, plan_factory, rendered


class DryKms:
    """Stands in for the KMS during `plan`: placeholder tokens, no health check."""

    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]:
        return "<unsealer-token>", "<seal-token>" if plan.topology.unseal == "transit" else None

    def root_token(self, url: str, paths: EnvPaths) -> str | None:
        return None

    def health(
        self, endpoints: list[health.Endpoint], ca: str | None, token: str | None, probe_write: bool = True
    ) -> health.Health:
        return health.Health(healthy=True, nodes=[])

    def configure_cluster(self, endpoint: Endpoint, ca: str | None, token: str | None, plan: KubePlan) -> None:
        return None


def dry_responders(plan: KubePlan) -> list:  # type: ignore[type-arg]
    """Plausible answers for read-only commands so the orchestration can run without docker or a cluster."""
    from ... import addressing

    kms_ip = str(addressing.allocate(plan.topology.model_copy(update={"network": plan.subnet})).kms)

    def answer(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        joined = " ".join(argv)
        if argv[:3] == ("docker", "network", "inspect"):
            return Completed(argv, 0, json.dumps([{"Subnet": str(plan.subnet)}]))
        if argv[:2] == ("docker", "inspect") and "--format" not in argv:
            return Completed(argv, 1, "", "Error: No such object")
        if argv[:2] == ("docker", "inspect"):
            return Completed(argv, 0, kms_ip + "\n")
        if "get secret" in joined:
            return Completed(
                argv,
                0,
                json.dumps(
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": plan.primary.tls_secret}, "data": {}}
                ),
            )
        if "jsonpath={.status.loadBalancer.ingress[0].ip}" in joined:
            return Completed(argv, 0, "<load-balancer-ip>")
        return None

    return [answer]


def no_day2(provider: str) -> str:
    return (
        f"the {provider} provider cannot do this yet (the Bank-Vaults operator owns the pods); use an environment of "
        "the netns provider"
    )


def no_faults(provider: str) -> str:
    return (
        f"faults are not available on the {provider} provider: multidc does not reach into the nodes of clusters it "
        "did not make (netns and kind have them)"
    )


@dataclass
class KubePlanned:
    """What `plan --provider kind|kube` shows: the manifests and the ordered command list `up` would run."""

    plan: KubePlan
    stream: str
    commands: list[str]
    out_dir: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.plan.env,
            "provider": self.plan.provider,
            "subnet": str(self.plan.subnet),
            "notes": self.notes,
            "commands": self.commands,
            "manifests": manifests.documents(self.stream),
        }

    def text(self) -> str:
        if self.out_dir:
            return f"wrote the manifests and commands.txt to {self.out_dir}\n"
        plan = self.plan
        lines = [f"# multidc plan --provider {plan.provider}: subnet {plan.subnet} ({plan.subnet_source})"]
        lines.append("# commands, in order:")
        lines += [f"#   {i:>2}. {command}" for i, command in enumerate(self.commands, start=1)]
        return "\n".join(lines) + "\n" + self.stream


def dry_run(
    topo: topology.Topology, source: str, env: str, flavour: Flavour, contexts: list[str] | None, out_dir: str | None
) -> KubePlanned:
    """Render every manifest and the ordered command list `up` would run, touching neither docker nor a cluster."""
    plan_for = plan_factory(topo, env, flavour, contexts, source)
    subnet: IPv4Network | None = None
    if flavour.makes_clusters and shutil.which("docker"):
        try:
            subnet = kind_subnet(SubprocessRunner())  # read-only
        except Exception:
            subnet = None
    base = plan_for(subnet)
    recorder = RecordingRunner(responders=dry_responders(base))
    with tempfile.TemporaryDirectory() as tmp:
        orch = Orchestrator(lambda _s: plan_for(subnet), recorder, EnvPaths(Path(tmp) / env), kms=DryKms(), wait=0)
        orch.up(check_tools=False)
    kms_url = orch.state.made.get("kms_url", "") if orch.state else ""
    stream = rendered(base, kms_url)
    real = str(env_paths(env).root)
    commands = []
    for call, given in zip(recorder.calls, recorder.inputs, strict=True):
        line = call.command.replace(str(Path(tmp) / env), real)
        if given:
            objects = [
                f"{d.get('kind')}/{d.get('metadata', {}).get('name') or d.get('name')}"
                for d in manifests.documents(given)
            ]
            line += f"  < {', '.join(objects)}"
        commands.append(line)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for i, doc in enumerate(stream.split("---\n")):
            kind, name = _kind_name(doc)
            (out / f"{i:02d}-{kind}-{name}.yaml".lower()).write_text(doc)
        (out / "commands.txt").write_text("\n".join(commands) + "\n")
    return KubePlanned(base, stream, commands, out_dir, list(base.notes))


def _kind_name(doc: str) -> tuple[str, str]:
    parsed = manifests.documents(doc)
    if not parsed:
        return "empty", "doc"
    first = parsed[0]
    return str(first.get("kind", "doc")), str(first.get("metadata", {}).get("name") or first.get("name") or "doc")


UP_WAIT = 600.0  # a second `up` of the same name waits this long for the first


class KubeRunning:
    """A kind or kube environment that exists: addresses from its state file, health and faults through the runner."""

    def __init__(self, orch: Orchestrator) -> None:
        assert orch.state is not None
        self.orch = orch

    @property
    def name(self) -> str:
        return self.orch.plan.env

    @property
    def provider(self) -> str:
        return self.orch.plan.provider

    @property
    def root(self) -> Path:
        return self.orch.paths.root.parent

    @property
    def datacenters(self) -> list[str]:
        return [dc.name for dc in self.orch.plan.dcs]

    @property
    def ca_cert(self) -> str | None:
        return str(self.orch.paths.ca_cert) if self.orch.paths.ca_cert.exists() else None

    def _endpoint(self, dc: str) -> Endpoint:
        for ep in self.orch.endpoints():
            if ep.dc == dc:
                return ep
        raise TopologyError(f"no datacenter {dc!r}; choose one of: {', '.join(self.datacenters)}")

    def address(self, dc: str) -> str:
        if dc == "kms":
            assert self.orch.state is not None
            return str(self.orch.state.made.get("kms_url", ""))
        return self._endpoint(dc).url

    def vip(self, dc: str) -> str:
        return self._endpoint(dc).vip

    def ca_for(self, dc: str) -> str | None:
        return None if dc == "kms" else self.ca_cert  # the KMS listens on plain HTTP, as the seed's central-vault

    def token(self, dc: str) -> str | None:
        return read_secret(self.orch.paths, "kms-root-token" if dc == "kms" else "root-token")

    def status(self, probe_write: bool = True) -> health.Health:
        return self.orch.kms.health(self.orch.endpoints(), self.ca_cert, self.token("primary"), probe_write)

    def leader(self, timeout: float = 2.0) -> str | None:
        return self.status(probe_write=False).leader  # reads only: no write probe

    def wait_healthy(self, timeout: float) -> health.Health:
        return self.orch.wait_healthy(timeout)

    def operations(self) -> NotYet:
        return NotYet(no_day2(self.orch.plan.provider))

    def faults(self) -> KindFaults:
        plan, orch = self.orch.plan, self.orch
        if not plan.flavour.makes_clusters:
            raise FaultError(no_faults(plan.provider))
        assert orch.state is not None
        return KindFaults(plan, orch.runner, orch.state, orch.paths, orch.kms)

    def logs(self, lines: int) -> dict[str, list[str]]:
        out = {}
        for dc in self.orch.plan.dcs:
            done = self.orch.kubectl(dc, "logs", dc.pod, "-c", "vault", f"--tail={lines}", check=False)
            out[dc.name] = done.stdout.splitlines()[-lines:] if done.returncode == 0 else [done.reason()]
        return out

    def _log_argv(self, node: str, unsealer: bool) -> list[str]:
        """The command that prints a server's log: `kubectl logs` of the DC's pod (its `vault` container, or the
        Bank-Vaults unsealer sidecar `bank-vaults`), `docker logs` of kind's KMS container, `kubectl logs` of kube's
        KMS Deployment."""
        orch, plan = self.orch, self.orch.plan
        made = orch.state.made if orch.state else {}
        if node == "kms":
            if unsealer:
                raise TopologyError("--unsealer: the KMS has no unsealer; leave --unsealer out")
            if plan.flavour.makes_clusters:
                return ["docker", "logs", str(made.get("container") or plan.kms_container)]
            if plan.topology.kube.kms_url:
                raise ProviderError(
                    f"the KMS of {self.name!r} is external (kube.kms_url {plan.topology.kube.kms_url}); multidc has "
                    "no log of it"
                )
            context = str(made.get("kms_in_cluster") or plan.primary.context)
            return ["kubectl", "--context", context, "-n", KMS_NAMESPACE, "logs", "deployment/central-vault"]
        dc = next((d for d in plan.dcs if d.name == node), None)
        if dc is None:
            raise TopologyError(f"no datacenter {node!r}; choose one of: {', '.join(self.datacenters)}")
        if unsealer and plan.topology.unseal != "kv":
            raise TopologyError(
                f"--unsealer: environment {self.name!r} unseals through transit: no unsealer; leave --unsealer out"
            )
        container = "bank-vaults" if unsealer else "vault"
        return ["kubectl", "--context", dc.context, "-n", NAMESPACE, "logs", dc.pod, "-c", container]

    def log(
        self,
        node: str,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
        unsealer: bool = False,
    ) -> Iterator[str]:
        argv = self._log_argv(node, unsealer)
        if tail is not None:
            argv.append(f"--tail={tail}")
        if since is not None:
            argv.append(f"--since={max(1, round(time.time() - since))}s")
        if follow:
            # kubectl and docker end `-f` when the container stops; a restarted pod is followed by running it again.
            return self.orch.runner.lines([*argv, "--follow"])
        done = self.orch.runner.run(argv, check=False, timeout=120)
        if done.returncode != 0:
            raise ProviderError(f"`{done.command}` failed: {done.reason()}")
        return iter((done.stdout + done.stderr).splitlines())

    def collect(self, into: Path) -> list[str]:
        plan, orch = self.orch.plan, self.orch
        assert orch.state is not None
        written = []

        def put(name: str, text: str) -> None:
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(name)

        put("state.json", orch.paths.state.read_text())
        put("configs/manifests.yaml", rendered(plan, str(orch.state.made.get("kms_url") or "")))
        nodes = [(dc.name, False) for dc in plan.dcs] + [("kms", False)]
        if plan.topology.unseal == "kv":
            nodes += [(dc.name, True) for dc in plan.dcs]
        for node, unsealer in nodes:
            name = f"logs/{node}-unsealer.log" if unsealer else f"logs/{node}.log"
            try:
                argv = self._log_argv(node, unsealer)
            except ProviderError as exc:
                put(name, f"multidc: {exc}\n")
                continue
            done = orch.runner.run(argv, check=False, timeout=120)
            failed = f"multidc: `{done.command}`: {done.reason()}\n"
            put(name, done.stdout + done.stderr if done.returncode == 0 else failed)
        if self.ca_cert:
            put("ca.crt", Path(self.ca_cert).read_text())
        return written


class KubeProvider:
    """kind (clusters it makes) or kube (clusters you have), as its flavour says. `runner` and `kms` are the seams:
    tests and `plan` pass recording ones."""

    def __init__(self, flavour: Flavour, runner: Runner | None = None, kms: KmsApi | None = None) -> None:
        self.flavour = flavour
        self.name = flavour.name
        self.runner = runner
        self.kms = kms

    def check_host(self) -> None:
        prereqs.check(self.runner or SubprocessRunner(), self.flavour)

    def capabilities(self) -> Capabilities:
        faults = FAULT_KINDS if self.flavour.makes_clusters else ()
        why = {op: no_day2(self.name) for op in DAY2} | {kind: no_faults(self.name) for kind in FAULT_KINDS}
        return Capabilities(faults, (), why=why)

    def refuse(self, request: Request) -> None:
        """What this provider cannot honour is refused before anything is made, never dropped."""
        topo: topology.Topology = request.topology
        if request.server_binary and not topo.server_binary:
            raise TopologyError(
                f"--server-binary: the {self.name} provider runs a server image, not a binary; set kube.image instead"
            )
        cannot = []
        if topo.server_binary:
            cannot.append("server_binary: it runs a server image; set kube.image instead")
        if topo.version or any(dc.version for dc in topo.datacenters):
            cannot.append("version: it runs one server image for every DC; set kube.image (e.g. openbao/openbao:2.6.2)")
        if not topo.tls:
            cannot.append("tls: false: the Bank-Vaults operator always serves TLS; remove it")
        if topo.kms.address is not None:
            cannot.append("kms.address: the KMS's address comes from docker or its Service; remove it")
        if topo.kms.storage is not None:
            cannot.append("kms.storage: the KMS keeps its data on its own volume; remove it")
        if topo.host_port_base is not None:
            cannot.append(
                "host_port_base: nothing is published on host ports (the VIPs are reached directly); remove it"
            )
        if cannot:
            raise TopologyError([f"{request.source}: the {self.name} provider cannot honour {c}" for c in cannot])

    def orchestrator(
        self, topo: topology.Topology, source: str, env: str, contexts: list[str] | None, progress: Progress | None
    ) -> Orchestrator:
        plan_for = plan_factory(topo, env, self.flavour, contexts, source)
        plan_for(None)  # validate before anything runs
        return Orchestrator(plan_for, self.runner or SubprocessRunner(), env_paths(env), self.kms, progress)

    def _recorded(self, env: str, contexts: list[str] | None = None) -> Orchestrator:
        """The orchestrator of an existing environment. Without a record nothing is touched: kind clusters carry the
        DC's name, not the environment's, so removing by the topology's names could take someone else's."""
        paths = env_paths(env)
        st = load(paths)
        if st is None:
            raise NotFoundError(
                f"no {self.name} environment {env!r} here (no {paths.state}); multidc removes only what it recorded "
                "making (`kind get clusters` and `kind delete cluster --name NAME` for anything else)"
            )
        topo = topology.parse(st.topology, str(paths.state))
        return self.orchestrator(topo, str(paths.state), env, contexts or st.made.get("contexts"), None)

    def plan(self, request: Request) -> KubePlanned:
        self.refuse(request)
        assert request.name is not None  # resolved by api.resolve()
        return dry_run(
            request.topology, request.source, request.name, self.flavour, request.contexts or None, request.out_dir
        )

    def up(self, request: Request, progress: Progress, retain: bool) -> UpOutcome:
        self.refuse(request)
        env = request.name
        assert env is not None  # resolved by api.resolve()
        st = load(env_paths(env))
        if st is not None and st.phase == "up" and st.topology != request.topology.model_dump(mode="json"):
            raise TopologyError(
                f"environment {env!r} is already up with a different topology; run `multidc down --name {env}` "
                "first, or use another --name"
            )
        contexts = request.contexts or (st.made.get("contexts") if st else None)
        orch = self.orchestrator(request.topology, request.source, env, contexts, progress)
        already = None
        if st is not None and st.phase == "up":
            with progress.step("Checking health"):  # up again: nothing to do when it is healthy
                now = self.attach(env).status(probe_write=False)
            already = now if now.healthy else None
        result = orch.up() if already is None else KubeResult(orch.plan, already, progress.durations, 0.0)
        ca = str(orch.paths.ca_cert) if orch.paths.ca_cert.exists() else None
        assert orch.state is not None and result.health is not None
        rows = [Row(n.dc, n.host_url, f"VIP {n.vip}") for n in result.health.nodes]
        rows = rows or [Row(ep.dc, ep.url, f"VIP {ep.vip}") for ep in orch.endpoints()]
        kms = orch.state.made.get("kms_url")
        rows.append(Row("kms", kms or "", "central-vault"))
        return UpOutcome(
            env, self.name, result.health, result.seconds, result.durations, rows, kms, ca, already=already is not None
        )

    def attach(self, env: str) -> KubeRunning:
        return KubeRunning(self._recorded(env))

    def remains(self, env: str) -> list[str]:
        paths = env_paths(env)
        st = load(paths)
        if st is None:
            return []
        made = [f"{k} {v}" for k, v in st.made.items() if k not in ("contexts", "subnet")]
        return made or [f"directory {paths.root}"]

    def down(self, env: str, contexts: list[str] | None = None) -> str:
        with locks.hold(env, "down", env_paths(env).root.parent):
            removed = self._recorded(env, contexts).down()
        return f"{env}: removed {', '.join(removed) or 'nothing'}"

    def environments(self) -> list[str]:
        return []  # every kind/kube environment has a state directory; the registry lists those
