"""The Kubernetes plan (pure) and its manifests, rendered from the package's jinja2 templates.

Addresses come from the same planner as the netns provider: the subnet of docker's `kind` network (or the
topology's network when docker is absent) is carved into the seed's pools, 172.18.n.128/25 on 172.18.0.0/16, and each
DC's Vault gets the pool's first address as its LoadBalancer IP, so the secondaries' raftLeaderAddress is known in
advance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from ipaddress import IPv4Network
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined

from ... import addressing, serverconfig
from ...errors import TopologyError
from ...topology import Topology
from . import versions


@dataclass(frozen=True)
class Flavour:
    """How the kind and kube providers differ; everything else they share.

    kind makes a kind cluster per DC (context kind-<dc>), reads the subnet of docker's `kind` network, installs MetalLB,
    runs the KMS as a docker container and can break nodes through docker; kube uses the clusters of the contexts given
    and runs the KMS in the primary cluster."""

    name: str
    makes_clusters: bool
    tools: tuple[str, ...]


KIND = Flavour("kind", makes_clusters=True, tools=("docker", "kind", "kubectl", "helm"))
KUBE = Flavour("kube", makes_clusters=False, tools=("kubectl", "helm"))
NAMESPACE = "default"
KMS_NAMESPACE = "multidc-kms"
UNSEAL_KEYS_PATH = "secret/data/vault-unseal-keys"

_jinja = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _template(name: str) -> str:
    return files("multidc").joinpath("templates", "kube", name).read_text()


def render(name: str, **values: Any) -> str:
    return _jinja.from_string(_template(name)).render(**values)


@dataclass(frozen=True)
class KubeDC:
    name: str
    index: int
    cluster: str
    context: str
    pool: str | None
    vip: str | None

    @property
    def cr_name(self) -> str:
        return f"vault-{self.name}"

    @property
    def pod(self) -> str:
        return f"vault-{self.name}-0"

    @property
    def tls_secret(self) -> str:
        return f"vault-{self.name}-tls"


@dataclass(frozen=True)
class KubePlan:
    flavour: Flavour
    env: str
    topology: Topology
    subnet: IPv4Network
    subnet_source: str
    dcs: list[KubeDC]
    image: str
    kms_container: str
    install_metallb: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.flavour.name

    @property
    def primary(self) -> KubeDC:
        return self.dcs[0]

    @property
    def leader_address(self) -> str | None:
        """The secondaries' raftLeaderAddress: the primary's LoadBalancer IP, when planned."""
        return self.primary.vip


def make_kube_plan(
    topology: Topology,
    env: str,
    flavour: Flavour,
    subnet: IPv4Network | None,
    contexts: list[str] | None = None,
    install_metallb: bool | None = None,
    source: str = "topology",
) -> KubePlan:
    """Plan the clusters: kind makes one per DC (context kind-<dc>); kube uses the contexts given, one per DC."""
    notes = []
    contexts = contexts or topology.kube.contexts or []
    if not flavour.makes_clusters and len(contexts) != len(topology.datacenters):
        raise TopologyError(
            f"{source}: kube.contexts: {len(contexts)} context(s) for {len(topology.datacenters)} datacenters; "
            "give one --context (or kube.contexts entry) per datacenter, in datacenter order"
        )
    if subnet is None:
        subnet = topology.network
        if flavour.makes_clusters:
            notes.append(f"docker is not available: using the topology's network {subnet} as the kind subnet")
        subnet_source = "topology network"
    else:
        subnet_source = "docker network inspect kind" if flavour.makes_clusters else "given"
    if install_metallb is None:
        install_metallb = topology.kube.install_metallb
    metallb = flavour.makes_clusters if install_metallb is None else install_metallb
    pools: dict[str, str | None] = {dc.name: None for dc in topology.datacenters}
    vips: dict[str, str | None] = dict(pools)
    if metallb:
        sites = addressing.allocate(topology.model_copy(update={"network": subnet}), source)
        pools = {k: str(v) for k, v in sites.pools.items()}
        vips = {k: str(v) for k, v in sites.vips.items()}
    dcs = []
    for i, dc in enumerate(topology.datacenters, start=1):
        context = f"kind-{dc.name}" if flavour.makes_clusters else contexts[i - 1]
        dcs.append(KubeDC(dc.name, i, dc.name, context, pools[dc.name], vips[dc.name]))
    image = topology.kube.image or versions.OPENBAO_IMAGE
    return KubePlan(flavour, env, topology, subnet, subnet_source, dcs, image, f"{env}-central-vault", metallb, notes)


def kms_config(api_addr: str) -> dict[str, Any]:
    """The central KMS server: raft on a volume, plain HTTP inside the cluster network as the seed's central-vault."""
    return {
        "ui": True,
        "api_addr": api_addr,
        "cluster_addr": "https://127.0.0.1:8201",
        "listener": [{"tcp": {"address": "0.0.0.0:8200", "tls_disable": True}}],
        "storage": {"raft": {"path": "/data", "node_id": "kms"}},
    }


def vault_config(plan: KubePlan, dc: KubeDC, seal: dict[str, Any] | None) -> dict[str, Any]:
    """The `config` of a Vault CR: raft storage, TLS listener from the operator's certificate, addresses on the VIP."""
    host = dc.vip or f"{dc.cr_name}.{NAMESPACE}"
    listener = {
        "tcp": {
            "address": "0.0.0.0:8200",
            "tls_cert_file": "/vault/tls/server.crt",
            "tls_key_file": "/vault/tls/server.key",
        }
    }
    return serverconfig.server(
        f"https://{host}:8200",
        f"https://{host}:8201" if dc.vip else "https://${.Env.POD_NAME}:8201",
        listener,
        {"raft": {"path": "/vault/file", **serverconfig.raft_tuning(plan.topology.server)}},
        plan.topology.server,
        seal,
        disable_mlock=True,
    )


def external_config(plan: KubePlan) -> dict[str, Any]:
    """The CR's externalConfig: the topology's `configuration` as given (the operator applies it), plus KV v2 at
    secret/ (what the seed's CRs mount and the health check needs) unless the configuration mounts secret/ itself."""
    config = plan.topology.configuration.model_dump(mode="json", exclude_none=True)
    config = {k: v for k, v in config.items() if v}
    secrets = list(config.get("secrets", []))
    if not any((s.get("path") or s.get("type")).strip("/") == "secret" for s in secrets):
        secrets.insert(
            0, {"path": "secret", "type": "kv", "description": "General secrets.", "options": {"version": 2}}
        )
    for item in secrets:  # drop empty mappings the schema filled in
        for key in ("options", "config", "configuration"):
            if not item.get(key):
                item.pop(key, None)
    for item in config.get("auth", []):
        for key in ("options", "config", "roles", "users"):
            if not item.get(key):
                item.pop(key, None)
    config["secrets"] = secrets
    return config


def vault_cr(
    plan: KubePlan, dc: KubeDC, kms_url: str, kms_token: str, seal_token: str | None, leader: str | None
) -> str:
    seal = None
    if plan.topology.unseal == "transit":
        seal = serverconfig.transit_seal(kms_url, seal_token or "", f"{plan.env}-autounseal")
    return render(
        "vault-cr.yaml.j2",
        env=plan.env,
        dc=dc,
        namespace=NAMESPACE,
        image=plan.image,
        kms_url=kms_url,
        kms_token=kms_token,
        leader=leader or plan.leader_address or "",
        config=vault_config(plan, dc, seal),
        external_config=external_config(plan),
        primary_tls_secret=plan.primary.tls_secret,
    )


def kind_cluster(plan: KubePlan, dc: KubeDC) -> str:
    return render("kind-cluster.yaml.j2", env=plan.env, dc=dc)


def metallb(plan: KubePlan, dc: KubeDC) -> str:
    return render("metallb.yaml.j2", dc=dc, pool_name=f"{plan.env}-{dc.name}")


def rbac() -> str:
    return render("rbac.yaml.j2", namespace=NAMESPACE)


def kms_manifest(plan: KubePlan) -> str:
    api = f"http://central-vault.{KMS_NAMESPACE}:8200"
    return render("kms.yaml.j2", kms_namespace=KMS_NAMESPACE, image=plan.image, kms_config=kms_config(api))


def documents(text: str) -> list[dict[str, Any]]:
    """Parse a rendered multi-document YAML stream."""
    return [d for d in yaml.safe_load_all(text) if d]
