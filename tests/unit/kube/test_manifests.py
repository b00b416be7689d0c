"""Rendered manifests validate against the upstream CRDs (MetalLB, Bank-Vaults) and Kubernetes' own schemas."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from multidc import topology
from multidc.errors import TopologyError
from multidc.providers.kube import manifests
from multidc.providers.kube.orchestrator import rendered

from .conftest import crd_schema, unknown_fields

CRDS = {
    "IPAddressPool": "metallb/metallb.io_ipaddresspools.yaml",
    "L2Advertisement": "metallb/metallb.io_l2advertisements.yaml",
    "Vault": "vault-operator/vault.banzaicloud.com_vaults.yaml",
}
K8S_VERSION = "1.33.0"


def kind_plan(data: dict[str, Any] | None = None, subnet: str | None = "172.18.0.0/16") -> manifests.KubePlan:
    topo = topology.parse(data or {})
    return manifests.make_kube_plan(topo, "t", manifests.KIND, IPv4Network(subnet) if subnet else None)


def all_docs(plan: manifests.KubePlan) -> list[dict[str, Any]]:
    return manifests.documents(rendered(plan, "http://172.18.0.5:8200"))


@pytest.mark.parametrize("unseal", ["transit", "kv"])
def test_custom_resources_validate_against_upstream_crds(unseal: str) -> None:
    docs = all_docs(kind_plan({"unseal": unseal}))
    checked = 0
    for doc in docs:
        if doc["kind"] not in CRDS:
            continue
        schema = crd_schema(CRDS[doc["kind"]])
        jsonschema.validate(doc, schema)
        assert unknown_fields(doc, schema) == [], doc["kind"]
        checked += 1
    assert checked == 3 * 3  # pool, advertisement and Vault per DC


def test_core_objects_validate_against_kubernetes_schemas() -> None:
    plan = manifests.make_kube_plan(topology.parse({}), "t", manifests.KUBE, None, contexts=["a", "b", "c"])
    docs = all_docs(plan) + manifests.documents(manifests.kms_manifest(plan))
    core = [d for d in docs if d["kind"] not in CRDS and d["kind"] != "Cluster"]
    kinds = {d["kind"] for d in core}
    assert {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ConfigMap",
        "Namespace",
        "PersistentVolumeClaim",
    } <= kinds
    for doc in core:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kind_cluster_config() -> None:
    plan = kind_plan()
    docs = manifests.documents(manifests.kind_cluster(plan, plan.dcs[1]))
    assert docs == [
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "name": "secondary",
            "nodes": [{"role": "control-plane"}],
        }
    ]


def test_pools_and_leader_address_follow_the_seed() -> None:
    plan = kind_plan()
    assert [dc.pool for dc in plan.dcs] == ["172.18.1.128/25", "172.18.2.128/25", "172.18.3.128/25"]
    assert [dc.context for dc in plan.dcs] == ["kind-primary", "kind-secondary", "kind-tertiary"]
    vaults = {d["metadata"]["name"]: d["spec"] for d in all_docs(plan) if d["kind"] == "Vault"}
    assert vaults["vault-primary"]["raftLeaderAddress"] == "self"
    assert vaults["vault-secondary"]["raftLeaderAddress"] == "172.18.1.128"
    assert vaults["vault-tertiary"]["loadBalancerIP"] == "172.18.3.128"
    sec = vaults["vault-secondary"]
    assert sec["envsConfig"] == [{"name": "VAULT_RAFT_CACERT", "value": "/vault/raft-tls/ca.crt"}]
    assert sec["volumes"][0]["secret"]["secretName"] == "vault-primary-tls"
    assert "envsConfig" not in vaults["vault-primary"]
    assert sec["unsealConfig"]["vault"]["unsealKeysPath"] == "secret/data/vault-unseal-keys"
    assert sec["config"]["disable_mlock"] is True
    assert sec["config"]["seal"]["transit"]["address"] == "http://172.18.0.5:8200"
    pools = [d for d in all_docs(plan) if d["kind"] == "IPAddressPool"]
    assert [p["spec"]["addresses"] for p in pools] == [["172.18.1.128/25"], ["172.18.2.128/25"], ["172.18.3.128/25"]]


def test_real_kind_subnet_is_carved_the_same_way() -> None:
    plan = kind_plan(subnet="10.89.0.0/16")
    assert [dc.vip for dc in plan.dcs] == ["10.89.1.128", "10.89.2.128", "10.89.3.128"]
    assert plan.subnet_source == "docker network inspect kind" and plan.notes == []


def test_without_docker_the_topology_network_is_used_and_said() -> None:
    plan = kind_plan({"network": "10.10.0.0/16"}, subnet=None)
    assert plan.subnet == IPv4Network("10.10.0.0/16")
    assert "docker is not available" in plan.notes[0]


def test_kv_mode_has_no_seal_and_image_is_selectable() -> None:
    plan = kind_plan({"unseal": "kv", "kube": {"image": "hashicorp/vault:1.20.4"}})
    vault = next(d for d in all_docs(plan) if d["kind"] == "Vault")
    assert "seal" not in vault["spec"]["config"]
    assert vault["spec"]["image"] == "hashicorp/vault:1.20.4"


def test_kube_needs_one_context_per_datacenter() -> None:
    with pytest.raises(TopologyError, match="2 context\\(s\\) for 3 datacenters"):
        manifests.make_kube_plan(topology.parse({}), "t", manifests.KUBE, None, contexts=["a", "b"])


def test_kube_without_metallb_leaves_lb_ip_to_the_cluster() -> None:
    plan = manifests.make_kube_plan(topology.parse({}), "t", manifests.KUBE, None, contexts=["a", "b", "c"])
    assert not plan.install_metallb and plan.dcs[0].vip is None
    vault = next(d for d in all_docs(plan) if d["kind"] == "Vault")
    assert "loadBalancerIP" not in vault["spec"]
    with_pools = manifests.make_kube_plan(
        topology.parse({"kube": {"install_metallb": True}}), "t", manifests.KUBE, None, contexts=["a", "b", "c"]
    )
    assert with_pools.dcs[2].vip == "172.18.3.128"


def test_configuration_goes_into_every_vault_cr() -> None:
    from pathlib import Path

    example = topology.load(Path(__file__).resolve().parents[3] / "examples" / "configured.yaml")
    plan = manifests.make_kube_plan(example, "t", manifests.KIND, IPv4Network("172.18.0.0/16"))
    vaults = [d for d in all_docs(plan) if d["kind"] == "Vault"]
    for vault in vaults:
        external = vault["spec"]["externalConfig"]
        assert [p["name"] for p in external["policies"]] == ["allow_secrets", "allow_pki"]
        assert [s["path"] if "path" in s else s["type"] for s in external["secrets"]] == ["secret", "pki", "transit"]
        assert external["startupSecrets"][0]["path"] == "secret/data/accounts/aws"
        jsonschema.validate(vault, crd_schema(CRDS["Vault"]))
