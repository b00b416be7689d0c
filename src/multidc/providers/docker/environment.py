"""One docker environment: the view (addresses, tokens, health, logs), its containers (each place's network holder
and server), `up`'s steps, and what starts again what stopped (reconcile, the KMS's restart)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac

from ... import bootstrap, health, kmsprep, pipeline, pki
from ...errors import ProviderError, TopologyError
from ...paths import EnvPaths, make_private_dir, write_private
from ...progress import Progress
from ...runner import Runner
from ...state import load, read_secret, write_secret
from ...vaultapi import TRANSIENT, client, get
from ..base import NotYet
from . import engine, image
from .plan import API_PORT, CA, DATA, MOUNT, DockerPlan, Place

if TYPE_CHECKING:
    from .faults import DockerFaults

START_TIMEOUT = 30.0
HEALTH_TIMEOUT = 60.0
SLEEP_FOREVER = ["sleep", "2147483647"]  # what the holder of a network namespace runs (busybox)


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
        return health.leader_of(
            [(n.name, self.plan.api_addr(n), partial(self.client, n, timeout=timeout)) for n in self.plan.nodes]
        )

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

    def save(self) -> None:
        assert self.state is not None
        with self._saving:
            self.state.save(self.paths)

    def made(self, key: str, value: Any) -> None:
        assert self.state is not None
        with self._saving:
            self.state.made[key] = value
        self.save()

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
        self.save()

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
        self.made("kms_address", address)
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
        token (kmsprep.provision)."""
        kmsprep.provision(self.client(self.plan.kms), self.plan, self.paths, START_TIMEOUT)

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
        stop = partial(self.runner.run, ["docker", "stop", self.plan.container(kms)], check=False)
        kmsprep.revive(self.client(kms), self.plan, self.paths, START_TIMEOUT, stop)

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
        self.save()
        return restarted


def _with_kms(plan: DockerPlan, address: str) -> DockerPlan:
    return replace(plan, kms_address=address)
