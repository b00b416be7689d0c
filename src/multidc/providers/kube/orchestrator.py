"""The kind and kube providers: the seed's pipeline as named steps, every command through one Runner.

kind: Checking prerequisites, Creating clusters, Reading the kind network, Installing MetalLB, Starting central KMS,
Preparing KMS, Installing vault-operator, Creating primary Vault, Copying the primary's TLS secret, Creating other
Vaults, Waiting for healthy. kube skips the cluster creation, installs MetalLB only when asked, and runs the KMS as a
Deployment in the primary cluster (or uses the URL given).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any, Protocol

from ... import bootstrap, health, pipeline
from ...errors import ProviderError
from ...health import Endpoint
from ...paths import EnvPaths, remove_env_dir, write_private
from ...pipeline import Step
from ...progress import Progress
from ...runner import Runner
from ...state import State, load, read_secret, write_secret
from ...topology import Topology
from ...vaultapi import client
from ..docker import engine as docker_engine
from . import manifests, prereqs, versions
from .manifests import KMS_NAMESPACE, NAMESPACE, Flavour, KubeDC, KubePlan

POD_TIMEOUT = "300s"
APPLY_RETRIES = 30  # MetalLB's webhook answers a while after its controller is available


class KmsApi(Protocol):
    """What the orchestration needs from the central KMS and the Vaults' API (real: hvac; tests: a fake)."""

    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]:
        """Initialise, unseal and prepare the KMS; return (token for unsealConfig, token for the transit seal)."""
        ...

    def root_token(self, url: str, paths: EnvPaths) -> str | None: ...

    def health(
        self, endpoints: list[health.Endpoint], ca: str | None, token: str | None, probe_write: bool = True
    ) -> health.Health: ...

    def configure_cluster(self, endpoint: Endpoint, ca: str | None, token: str | None, plan: KubePlan) -> None:
        """Apply the topology's autopilot section through one DC (it has no config-file form)."""
        ...


class HvacKms:
    """The real KMS preparation, over HTTP from this machine to the container/Service address."""

    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]:
        c = client(url, None)
        bootstrap.wait_listening(c, 120)
        status = c.sys.read_seal_status()
        if not status["initialized"]:
            result = bootstrap.start_kms(c)
            write_secret(paths, "kms-unseal-key", result.keys[0])
            write_secret(paths, "kms-root-token", result.root_token)
        elif status["sealed"]:
            bootstrap.unseal(c, [read_secret(paths, "kms-unseal-key") or ""])
        c.token = read_secret(paths, "kms-root-token")
        bootstrap.wait_active(c, 60)
        unsealer = read_secret(paths, "unsealer-token") or bootstrap.prepare_kv(c, plan.env)
        write_secret(paths, "unsealer-token", unsealer)
        seal = None
        if plan.topology.unseal == "transit":
            seal = read_secret(paths, "seal-token") or bootstrap.prepare_transit(c, f"{plan.env}-autounseal")
            write_secret(paths, "seal-token", seal)
        return unsealer, seal

    def root_token(self, url: str, paths: EnvPaths) -> str | None:
        c = client(url, None, read_secret(paths, "kms-root-token"))
        for path in ("vault-unseal-keys", "vault-unseal-keys/vault-root"):
            try:
                data = c.secrets.kv.v2.read_secret_version(
                    path=path, mount_point="secret", raise_on_deleted_version=True
                )["data"]["data"]
            except Exception:
                continue
            if "vault-root" in data:
                return str(data["vault-root"])
        return None

    def health(
        self, endpoints: list[health.Endpoint], ca: str | None, token: str | None, probe_write: bool = True
    ) -> health.Health:
        return health.check_endpoints(endpoints, ca, token, probe_write)

    def configure_cluster(self, endpoint: Endpoint, ca: str | None, token: str | None, plan: KubePlan) -> None:
        bootstrap.configure_cluster(client(endpoint.url, ca, token, 10), plan.topology.autopilot)


@dataclass
class KubeResult:
    plan: KubePlan
    health: health.Health | None
    durations: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def kind_subnet(runner: Runner) -> IPv4Network | None:
    """The IPv4 subnet of docker's `kind` network, or None when it does not exist (read as the docker provider reads
    any network's, so this part of kind is live-tested there)."""
    return docker_engine.subnet(runner, "kind")


class Orchestrator:
    """One `up` or `down` of a Kubernetes environment."""

    def __init__(
        self,
        plan_for: Callable[[IPv4Network | None], KubePlan],
        runner: Runner,
        paths: EnvPaths,
        kms: KmsApi | None = None,
        progress: Progress | None = None,
        wait: float = 2.0,
    ) -> None:
        self.plan_for = plan_for
        self.runner = runner
        self.paths = paths
        self.kms = kms or HvacKms()
        self.progress = progress or Progress(quiet=True)
        self.wait = wait  # seconds between polls
        self.state = load(paths)
        # An existing environment's addresses come from the subnet its `up` read (kind's network may not be 172.18).
        subnet = self.state.made.get("subnet") if self.state else None
        self.plan = plan_for(IPv4Network(subnet) if subnet else None)

    # --- helpers

    def kubectl(self, dc: KubeDC, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.runner.run(["kubectl", "--context", dc.context, *args], input=input, check=check, timeout=600)

    def _made(self, key: str, value: Any) -> None:
        assert self.state is not None
        self.state.made[key] = value
        self.state.save(self.paths)

    def _bound(self, seconds: float) -> float:
        """How long to keep polling: `seconds`, or a single try when polling is off (wait=0, in tests)."""
        return seconds if self.wait else 0.0

    def _apply_retrying(self, dc: KubeDC, text: str, what: str) -> None:
        last = [""]

        def applied() -> bool:
            done = self.kubectl(dc, "apply", "-f", "-", input=text, check=False)
            last[0] = done.reason()
            return bool(done.returncode == 0)

        try:
            pipeline.wait_until(applied, self._bound(APPLY_RETRIES * self.wait), what, self.wait)
        except TimeoutError:
            raise ProviderError(f"applying {what} to {dc.context} failed: {last[0]}") from None

    # --- steps

    def create_clusters(self) -> None:
        existing = set(self.runner.run(["kind", "get", "clusters"]).stdout.split())
        todo = [dc for dc in self.plan.dcs if dc.cluster not in existing]
        made: list[str] = list((self.state.made.get("clusters") if self.state else None) or [])

        creating: list[str] = list((self.state.made.get("creating") if self.state else None) or [])

        def create(dc: KubeDC) -> None:
            config = manifests.kind_cluster(self.plan, dc)
            creating.append(dc.cluster)  # recorded before it starts: an interrupted creation is ours to delete
            self._made("creating", sorted(set(creating) - set(made)))
            done = self.runner.run(
                ["kind", "create", "cluster", "--name", dc.cluster, "--config", "-"],
                input=config,
                check=False,
                timeout=900,
            )
            if done.returncode != 0:
                raise ProviderError(f"creating kind cluster {dc.cluster!r} failed: {done.reason()}")
            made.append(dc.cluster)
            self._made("clusters", sorted(set(made)))
            self._made("creating", sorted(set(creating) - set(made)))

        # The first creation makes docker's kind network; the rest can then run in parallel safely.
        if todo:
            create(todo[0])
        with ThreadPoolExecutor(max_workers=max(1, len(todo) - 1)) as pool:
            errors = [f.exception() for f in [pool.submit(create, dc) for dc in todo[1:]]]
        failed = [e for e in errors if e is not None]
        if failed:
            raise failed[0]

    def read_network(self) -> None:
        subnet = kind_subnet(self.runner) if self.plan.flavour.makes_clusters else None
        self.plan = self.plan_for(subnet)
        self._made("subnet", str(self.plan.subnet))

    def install_metallb(self) -> None:
        if not self.plan.install_metallb:
            return
        for dc in self.plan.dcs:
            self.kubectl(dc, "apply", "-f", versions.METALLB_MANIFEST)
        for dc in self.plan.dcs:
            self.kubectl(
                dc,
                "-n",
                "metallb-system",
                "wait",
                "--for=condition=available",
                "deployment/controller",
                f"--timeout={POD_TIMEOUT}",
            )
            self._apply_retrying(dc, manifests.metallb(self.plan, dc), "the MetalLB pool")

    def start_kms(self) -> None:
        plan = self.plan
        if not plan.flavour.makes_clusters:
            self._start_kms_in_cluster()
            return
        name = plan.kms_container
        if self.runner.run(["docker", "inspect", name], check=False).returncode != 0:
            config_path = self.paths.root / "central-vault" / "config.json"
            write_private(config_path, json.dumps(manifests.kms_config("http://central-vault:8200"), indent=2))
            config_path.parent.chmod(0o755)
            config_path.chmod(0o644)
            self.runner.run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--network",
                    "kind",
                    "--hostname",
                    "central-vault",
                    "--label",
                    f"multidc.io/environment={plan.env}",
                    "-v",
                    f"{config_path.parent}:/config:ro",
                    "-v",
                    f"{name}-data:/data",
                    plan.image,
                    "server",
                    "-config=/config/config.json",
                ]
            )
            self._made("container", name)
        address = docker_engine.address(self.runner, name, "kind")
        self._made("kms_url", f"http://{address}:8200")

    def _start_kms_in_cluster(self) -> None:
        given = self.plan.topology.kube.kms_url
        if given:
            self._made("kms_url", given)
            return
        primary = self.plan.primary
        self.kubectl(primary, "apply", "-f", "-", input=manifests.kms_manifest(self.plan))
        self._made("kms_in_cluster", primary.context)
        self.kubectl(
            primary,
            "-n",
            KMS_NAMESPACE,
            "wait",
            "--for=condition=available",
            "deployment/central-vault",
            f"--timeout={POD_TIMEOUT}",
        )
        ip = self._service_ip(primary, "central-vault", KMS_NAMESPACE)
        self._made("kms_url", f"http://{ip}:8200")

    def _service_ip(self, dc: KubeDC, service: str, namespace: str) -> str:
        def found() -> str | None:
            jsonpath = "jsonpath={.status.loadBalancer.ingress[0].ip}"
            out = self.kubectl(dc, "-n", namespace, "get", "service", service, "-o", jsonpath, check=False)
            return str(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None

        try:
            return pipeline.wait_until(found, self._bound(300), "a LoadBalancer IP", self.wait)
        except TimeoutError:
            raise ProviderError(f"service {namespace}/{service} in {dc.context} got no LoadBalancer IP") from None

    def prepare_kms(self) -> None:
        assert self.state is not None
        unsealer, seal = self.kms.prepare(self.state.made["kms_url"], self.plan, self.paths)
        self._tokens = (unsealer, seal)

    def install_operator(self) -> None:
        for dc in self.plan.dcs:
            self.runner.run(
                [
                    "helm",
                    "upgrade",
                    "--install",
                    "vault-operator",
                    versions.VAULT_OPERATOR_CHART,
                    "--version",
                    versions.VAULT_OPERATOR_VERSION,
                    "--kube-context",
                    dc.context,
                    "--wait",
                ],
                timeout=900,
            )
            self.kubectl(dc, "apply", "-f", "-", input=manifests.rbac())
        self._made("operator", [dc.context for dc in self.plan.dcs])

    def _vault(self, dc: KubeDC, leader: str | None) -> None:
        assert self.state is not None
        unsealer, seal = self._tokens
        cr = manifests.vault_cr(self.plan, dc, self.state.made["kms_url"], unsealer, seal, leader)
        write_private(self.paths.root / "manifests" / f"vault-{dc.name}.yaml", cr)
        self.kubectl(dc, "apply", "-f", "-", input=cr)
        # The operator makes the pod a moment after the CR; `kubectl wait` fails on a pod that does not exist yet.
        with contextlib.suppress(TimeoutError):  # then `kubectl wait` below says what is wrong
            pipeline.wait_until(
                lambda: self.kubectl(dc, "get", "pod", dc.pod, check=False).returncode == 0,
                self._bound(120),
                f"pod {dc.pod}",
                self.wait,
            )
        self.kubectl(dc, "wait", "--for=condition=ready", f"pod/{dc.pod}", f"--timeout={POD_TIMEOUT}")

    def create_primary(self) -> None:
        self._vault(self.plan.primary, None)
        vip = self.plan.primary.vip or self._service_ip(self.plan.primary, self.plan.primary.cr_name, NAMESPACE)
        self._made("leader_address", vip)

    def copy_tls(self) -> None:
        primary = self.plan.primary
        raw = self.kubectl(primary, "get", "secret", primary.tls_secret, "-o", "json").stdout
        try:
            secret = json.loads(raw)
        except ValueError:
            raise ProviderError(f"secret {primary.tls_secret} in {primary.context} is not JSON") from None
        meta = secret.get("metadata", {})
        secret["metadata"] = {k: v for k, v in meta.items() if k in ("name", "namespace", "labels")}
        ca = base64.b64decode(secret.get("data", {}).get("ca.crt", "")).decode()
        if ca:
            write_private(self.paths.ca_cert, ca)
        for dc in self.plan.dcs[1:]:
            self.kubectl(dc, "apply", "-f", "-", input=json.dumps(secret))

    def create_others(self) -> None:
        assert self.state is not None
        for dc in self.plan.dcs[1:]:
            self._vault(dc, self.state.made.get("leader_address"))

    def wait_healthy(self, timeout: float = 180) -> health.Health:
        assert self.state is not None
        token = self.kms.root_token(self.state.made["kms_url"], self.paths)
        if token:
            write_secret(self.paths, "root-token", token)
        eps = self.endpoints()
        ca = str(self.paths.ca_cert) if self.paths.ca_cert.exists() else None
        seen: list[health.Health] = []

        def healthy() -> health.Health | None:
            seen[:] = [self.kms.health(eps, ca, token)]
            return seen[0] if seen[0].healthy else None

        try:
            return pipeline.wait_until(healthy, self._bound(timeout), "healthy", self.wait)
        except TimeoutError:
            problems = "; ".join(seen[0].problems) if seen else "not checked"
            raise ProviderError(f"not healthy after {timeout:.0f}s: {problems}") from None

    def configure_autopilot(self) -> None:
        """The topology's `autopilot:` section, as on netns (the operator knows nothing of it)."""
        eps = self.endpoints()
        ca = str(self.paths.ca_cert) if self.paths.ca_cert.exists() else None
        self.kms.configure_cluster(eps[0], ca, read_secret(self.paths, "root-token"), self.plan)

    def endpoints(self) -> list[health.Endpoint]:
        made = self.state.made if self.state else {}
        eps = []
        for dc in self.plan.dcs:
            vip = dc.vip or (made.get("vips") or {}).get(dc.name)
            if vip is None:
                vip = self._service_ip(dc, dc.cr_name, NAMESPACE)
                self._made("vips", {**(made.get("vips") or {}), dc.name: vip})
            eps.append(health.Endpoint(dc.name, vip, f"https://{vip}:8200"))
        return eps

    # --- entry points

    def up(self, check_tools: bool = True) -> KubeResult:
        started = time.monotonic()
        plan = self.plan
        if check_tools:
            with self.progress.step("Checking prerequisites"):
                prereqs.check(self.runner, plan.flavour)
        if self.state is None:
            self.state = State(
                env=plan.env,
                topology=plan.topology.model_dump(mode="json"),
                port_base=0,
                binary={"image": plan.image},
                created_at=time.time(),
                provider=plan.provider,
            )
        self.paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state.made["contexts"] = [dc.context for dc in plan.dcs]
        self.state.save(self.paths)
        local = plan.flavour.makes_clusters
        steps = [
            *([Step("Creating clusters", self.create_clusters)] if local else []),
            Step("Reading the kind network" if local else "Planning addresses", self.read_network),
            Step("Installing MetalLB", self.install_metallb),
            Step("Starting central KMS", self.start_kms),
            Step("Preparing KMS", self.prepare_kms),
            Step("Installing vault-operator", self.install_operator),
            Step("Creating primary Vault", self.create_primary),
            Step("Copying the primary's TLS secret", self.copy_tls),
            Step("Creating other Vaults", self.create_others),
            Step("Waiting for healthy", self.wait_healthy),
            Step("Configuring autopilot", self.configure_autopilot),
        ]
        result = pipeline.run(steps, self.progress)["Waiting for healthy"]
        assert isinstance(result, health.Health)
        self.state.phase = "up"
        self.state.save(self.paths)
        return KubeResult(self.plan, result, self.progress.durations, time.monotonic() - started)

    def down(self) -> list[str]:
        """Remove what up made (from the state file, else everything the topology names); confirm it is gone."""
        plan = self.plan
        made = self.state.made if self.state else {}
        removed: list[str] = []
        if plan.flavour.makes_clusters:
            # Only the clusters this environment made (or began to make): a kind cluster that existed before `up`,
            # named like a DC, was used, not made, and is left alone. Without a record, what the topology names.
            if self.state is not None:
                clusters = sorted(set(made.get("clusters") or []) | set(made.get("creating") or []))
            else:
                clusters = sorted(dc.cluster for dc in plan.dcs)
            for cluster in clusters:
                self.runner.run(["kind", "delete", "cluster", "--name", cluster], timeout=300)
                removed.append(f"cluster {cluster}")
            container = made.get("container") or plan.kms_container
            gone = self.runner.run(["docker", "rm", "-f", container], check=False)
            if gone.returncode == 0:
                removed.append(f"container {container}")
            # The KMS's data (transit key, unseal keys) lives in a named volume so it survives a container restart.
            self.runner.run(["docker", "volume", "rm", "-f", f"{container}-data"], check=False)
            left = set(self.runner.run(["kind", "get", "clusters"]).stdout.split()) & set(clusters)
            if left:
                raise ProviderError(f"kind clusters still present after delete: {', '.join(sorted(left))}")
            still = self.runner.run(["docker", "ps", "-a", "-q", "--filter", f"name=^{container}$"], check=False)
            if still.stdout.strip():
                raise ProviderError(f"container {container} is still present")
        else:
            for dc in plan.dcs:
                self.kubectl(dc, "delete", "vault", dc.cr_name, "--ignore-not-found", check=False)
                self.kubectl(dc, "delete", "pvc", "-l", f"vault_cr={dc.cr_name}", "--ignore-not-found", check=False)
                self.runner.run(["helm", "uninstall", "vault-operator", "--kube-context", dc.context], check=False)
                self.kubectl(dc, "delete", "-f", "-", "--ignore-not-found", input=manifests.rbac(), check=False)
                if plan.install_metallb:
                    self.kubectl(
                        dc, "delete", "-f", "-", "--ignore-not-found", input=manifests.metallb(plan, dc), check=False
                    )
                removed.append(f"vault {dc.cr_name} in {dc.context}")
            if made.get("kms_in_cluster"):
                self.kubectl(plan.primary, "delete", "namespace", KMS_NAMESPACE, "--ignore-not-found", check=False)
                removed.append(f"namespace {KMS_NAMESPACE}")
        remove_env_dir(self.paths)
        return removed


def plan_factory(
    topology: Topology, env: str, flavour: Flavour, contexts: list[str] | None, source: str
) -> Callable[[IPv4Network | None], KubePlan]:
    def plan_for(subnet: IPv4Network | None) -> KubePlan:
        return manifests.make_kube_plan(topology, env, flavour, subnet, contexts, None, source)

    return plan_for


def rendered(plan: KubePlan, kms_url: str = "http://<central-vault>:8200") -> str:
    """Every manifest of the plan as one multi-document YAML stream (tokens redacted)."""
    parts = []
    for dc in plan.dcs:
        if plan.flavour.makes_clusters:
            parts.append(manifests.kind_cluster(plan, dc))
        if plan.install_metallb:
            parts.append(manifests.metallb(plan, dc))
        parts.append(manifests.rbac())
    if not plan.flavour.makes_clusters and not plan.topology.kube.kms_url:
        parts.append(manifests.kms_manifest(plan))
    for dc in plan.dcs:
        parts.append(manifests.vault_cr(plan, dc, kms_url, "REDACTED", "REDACTED", None))
    return "---\n".join(p if p.endswith("\n") else p + "\n" for p in parts)
