from __future__ import annotations

import json
from pathlib import Path

import pytest

from multidc import pki, topology
from multidc.binaries import ServerBinary
from multidc.errors import TopologyError
from multidc.providers.netns.plan import REDACTED, make_plan


def test_names_ports_and_addresses(openbao: ServerBinary, tmp_path: Path) -> None:
    plan = make_plan(topology.parse({}), openbao, "t1", state_root=tmp_path, port_base=20000)
    assert plan.site_namespace == "mdc.t1.site" and plan.bridge == "t1-br"
    assert [n.namespace for n in plan.nodes] == ["mdc.t1.dc.primary", "mdc.t1.dc.secondary", "mdc.t1.dc.tertiary"]
    assert [n.ifname for n in plan.nodes] == ["t1-dc1", "t1-dc2", "t1-dc3"]
    assert plan.kms.host_port == 20000 and [n.host_port for n in plan.nodes] == [20001, 20002, 20003]
    assert plan.api_addr(plan.primary) == "https://172.18.1.128:8200"
    assert plan.cluster_addr(plan.node("tertiary")) == "https://172.18.3.128:8201"
    assert plan.host_url(plan.kms) == "https://127.0.0.1:20000"
    assert all(len(name) <= 15 for n in [plan.kms, *plan.nodes] for name in [n.ifname])
    assert plan.paths.root == tmp_path / "t1"


def test_the_kms_is_in_memory_unless_raft_is_asked_for(openbao: ServerBinary, tmp_path: Path) -> None:
    plan = make_plan(topology.parse({}), openbao, "t1", state_root=tmp_path)
    assert plan.kms_storage == "inmem" and plan.kms_config()["storage"] == {"inmem": {}}
    plan = make_plan(topology.parse({"kms": {"storage": "raft"}}), openbao, "t1", state_root=tmp_path)
    raft = plan.kms_config()["storage"]["raft"]
    assert plan.kms_storage == "raft" and raft["path"] == str(plan.kms.paths.data) and raft["node_id"] == "kms"
    with pytest.raises(TopologyError, match="kms.storage"):
        topology.parse({"kms": {"storage": "file"}})


def test_node_config_joins_every_other_dc_and_uses_transit(openbao: ServerBinary, tmp_path: Path) -> None:
    plan = make_plan(topology.parse({}), openbao, "t1", state_root=tmp_path)
    config = plan.node_config(plan.node("secondary"), seal_token="s.secret")
    raft = config["storage"]["raft"]
    assert raft["node_id"] == "secondary"
    assert [j["leader_api_addr"] for j in raft["retry_join"]] == [
        "https://172.18.1.128:8200",
        "https://172.18.3.128:8200",
    ]
    assert all(j["leader_ca_cert_file"] == str(plan.paths.ca_cert) for j in raft["retry_join"])
    assert raft["performance_multiplier"] == 1
    assert config["api_addr"] == "https://172.18.2.128:8200"
    assert config["listener"][0]["tcp"]["tls_cert_file"].endswith("nodes/secondary/tls.crt")
    seal = config["seal"]["transit"]
    assert seal["address"] == "https://172.18.0.5:8200" and seal["key_name"] == "t1-autounseal"
    assert seal["token"] == "s.secret"
    assert "disable_mlock" not in config  # OpenBao 2.7 removed it


def test_vault_gets_disable_mlock_and_kv_mode_has_no_seal(tmp_path: Path) -> None:
    vault = ServerBinary("/usr/bin/vault", "vault", "v1.20.0")
    plan = make_plan(topology.parse({"unseal": "kv", "tls": False}), vault, "t2", state_root=tmp_path)
    config = plan.node_config(plan.primary)
    assert config["disable_mlock"] is True
    assert "seal" not in config
    assert config["listener"][0]["tcp"]["tls_disable"] is True
    assert config["api_addr"].startswith("http://")
    assert "leader_ca_cert_file" not in config["storage"]["raft"]["retry_join"][0]


def test_server_section_adds_and_overrides(openbao: ServerBinary, tmp_path: Path) -> None:
    topo = topology.parse(
        {"server": {"disable_standby_reads": True, "log_level": "debug", "raft": {"performance_multiplier": 2}}}
    )
    config = make_plan(topo, openbao, "t3", state_root=tmp_path).node_config(make_plan(topo, openbao, "t3").primary)
    assert config["disable_standby_reads"] is True and config["log_level"] == "debug"
    assert config["storage"]["raft"]["performance_multiplier"] == 2


def test_plan_output_redacts_secrets_and_is_json(openbao: ServerBinary, tmp_path: Path) -> None:
    plan = make_plan(topology.parse({}), openbao, "t4", state_root=tmp_path)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["datacenters"][0]["config"]["seal"]["transit"]["token"] == REDACTED
    assert data["datacenters"][2]["vip"] == "172.18.3.128"
    assert data["kms"]["address"] == "172.18.0.5"


def test_one_datacenter_has_no_retry_join(openbao: ServerBinary, tmp_path: Path) -> None:
    plan = make_plan(topology.parse({"datacenters": ["solo"]}), openbao, "t5", state_root=tmp_path)
    assert "retry_join" not in plan.node_config(plan.primary)["storage"]["raft"]


def test_bad_environment_name(openbao: ServerBinary) -> None:
    with pytest.raises(TopologyError, match="--name: environment name 'Bad_Name' is not a DNS label"):
        make_plan(topology.parse({}), openbao, "Bad_Name")


def test_certificate_sans(openbao: ServerBinary, tmp_path: Path) -> None:
    plan = make_plan(topology.parse({}), openbao, "t6", state_root=tmp_path)
    ca = pki.make_ca("t6")
    node = plan.node("secondary")
    from ipaddress import IPv4Address

    issued = pki.issue(ca, "secondary", [node.address, node.vip, IPv4Address("127.0.0.1")], ["localhost"])  # type: ignore[list-item]
    dns, ips = pki.sans_of(issued.cert_pem)
    assert dns == ["localhost"]
    assert ips == ["172.18.0.3", "172.18.2.128", "127.0.0.1"]
