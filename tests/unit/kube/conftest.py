from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from multidc import health
from multidc.health import Endpoint
from multidc.paths import EnvPaths
from multidc.providers import registry
from multidc.providers.kube.manifests import KIND, KubePlan
from multidc.providers.kube.provider import KubeProvider
from multidc.runner import RecordingRunner
from multidc.state import State, write_secret
from multidc.topology import Topology

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"  # upstream copies, provenance in its README


def crd_schema(relative: str) -> dict[str, Any]:
    """The openAPIV3Schema of an upstream CRD kept in tests/schemas."""
    crd = yaml.safe_load((SCHEMAS / relative).read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def unknown_fields(doc: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields the schema does not declare (what the API server's strict field validation rejects)."""
    found: list[str] = []
    if isinstance(doc, dict) and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props = schema["properties"]
        for key, value in doc.items():
            if key not in props:
                if not schema.get("additionalProperties"):
                    found.append(f"{where}.{key}")
                continue
            found += unknown_fields(value, props[key], f"{where}.{key}")
    elif isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            found += unknown_fields(item, schema["items"], f"{where}[{i}]")
    return found


class FakeKms:
    """The KMS and the Vaults' API as the kind/kube providers reach them over HTTP, faked. Health is `result` when
    given, else healthy with the primary leading; every call is recorded."""

    def __init__(self, result: health.Health | None = None) -> None:
        self.result = result
        self.prepared: list[str] = []  # KMS URLs initialised, or unsealed again after kms-up
        self.asked: list[list[str]] = []  # the endpoint URLs of every health check
        self.endpoints: list[Endpoint] = []
        self.autopilot: tuple[str, dict[str, Any]] | None = None

    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]:
        self.prepared.append(url)
        return "unsealer-token", "seal-token"

    def root_token(self, url: str, paths: EnvPaths) -> str | None:
        return "root"

    def health(
        self, endpoints: list[Endpoint], ca: str | None, token: str | None, probe_write: bool = True
    ) -> health.Health:
        self.endpoints = endpoints
        self.asked.append([e.url for e in endpoints])
        if self.result is not None:
            return self.result
        nodes = [
            health.NodeStatus(e.dc, e.vip, e.url, True, True, False, "leader" if e.dc == "primary" else "follower", 7)
            for e in endpoints
        ]
        return health.Health(healthy=True, nodes=nodes, leader="primary")

    def configure_cluster(self, endpoint: Endpoint, ca: str | None, token: str | None, plan: KubePlan) -> None:
        self.autopilot = (endpoint.dc, plan.topology.autopilot.model_dump())


VIPS = {"primary": "172.19.1.128", "secondary": "172.19.2.128", "tertiary": "172.19.3.128"}


@pytest.fixture
def kind_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingRunner, FakeKms, EnvPaths]:
    """A kind environment `k` as `up` records it (clusters, KMS container, LoadBalancer IPs, secrets), with the kind
    provider the registry hands out recording every command."""
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    paths = EnvPaths(tmp_path / "k")
    made = {
        "clusters": list(VIPS),
        "container": "k-central-vault",
        "kms_url": "http://172.19.0.9:8200",
        "contexts": [f"kind-{dc}" for dc in VIPS],
        "vips": VIPS,
        "subnet": "172.19.0.0/16",
    }
    topo = Topology().model_dump(mode="json")
    state = State(env="k", topology=topo, port_base=0, binary={"image": "x"}, phase="up", provider="kind", made=made)
    state.save(paths)
    paths.ca_cert.write_text("-----BEGIN CERTIFICATE-----\n")
    write_secret(paths, "root-token", "s.root")
    write_secret(paths, "kms-root-token", "s.kms")
    runner, kms = RecordingRunner(), FakeKms()
    monkeypatch.setitem(registry.PROVIDERS, "kind", KubeProvider(KIND, runner, kms))
    return runner, kms, paths
