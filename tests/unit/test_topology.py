from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from multidc import addressing, topology
from multidc.errors import TopologyError


def errors_of(data: object) -> list[str]:
    with pytest.raises(TopologyError) as info:
        topo = topology.parse(data, "t.yaml")
        addressing.allocate(topo, "t.yaml")
    return info.value.problems


def test_defaults_reproduce_the_seed() -> None:
    topo = topology.parse({})
    sites = addressing.allocate(topo)
    assert topo.datacenter_names == ["primary", "secondary", "tertiary"]
    assert sites.pools == {
        "primary": IPv4Network("172.18.1.128/25"),
        "secondary": IPv4Network("172.18.2.128/25"),
        "tertiary": IPv4Network("172.18.3.128/25"),
    }
    assert [str(v) for v in sites.vips.values()] == ["172.18.1.128", "172.18.2.128", "172.18.3.128"]
    assert sites.gateway == IPv4Address("172.18.0.1")
    assert [str(v) for v in sites.nodes.values()] == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]
    assert sites.kms == IPv4Address("172.18.0.5")
    assert topo.unseal == "transit" and topo.tls is True


def test_nine_datacenters_and_mixed_forms() -> None:
    names = [f"dc{i}" for i in range(1, 9)] + [{"name": "edge", "pool": "172.18.200.0/24"}]
    sites = addressing.allocate(topology.parse({"datacenters": names}))
    assert len(sites.vips) == 9
    assert sites.vips["dc8"] == IPv4Address("172.18.8.128")
    assert sites.vips["edge"] == IPv4Address("172.18.200.0")
    everything = [sites.gateway, sites.kms, *sites.nodes.values()]
    assert not any(a in pool for a in everything for pool in sites.pools.values())


def test_other_network_is_carved_the_same_way() -> None:
    sites = addressing.allocate(topology.parse({"network": "10.40.0.0/20", "datacenters": ["a", "b"]}))
    assert sites.pools["a"] == IPv4Network("10.40.1.128/25")
    assert sites.pools["b"] == IPv4Network("10.40.2.128/25")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"datacenterz": ["a"]}, "(top level): unknown key 'datacenterz'; allowed here:"),
        ({"datacenters": ["Primary"]}, "datacenters[0].name: datacenter name 'Primary' is not a DNS label"),
        ({"datacenters": ["a", "b", "a"]}, "datacenter 'a' is listed twice"),
        ({"datacenters": []}, "no datacenters"),
        ({"datacenters": [f"d{i}" for i in range(10)]}, "10 datacenters: multidc plans 1 to 9"),
        ({"network": "172.18.0.0/33"}, "network: '172.18.0.0/33' is not an IPv4 network"),
        ({"network": "fd00::/64"}, "is IPv6"),
        ({"unseal": "shamir"}, "unseal: 'shamir' is not allowed"),
        ({"tls": "maybe"}, "tls:"),
        ({"server": {"disable_standbyreads": True}}, "server: unknown key 'disable_standbyreads'"),
        ({"server": {"raft": {"performance_multiplier": 0}}}, "server.raft.performance_multiplier"),
        (
            {"server": {"raft": {"autopilot_update_interval": "2s", "autopilot_reconcile_interval": "1s"}}},
            "must be smaller than autopilot_reconcile_interval",
        ),
        (  # only one of the pair set: checked against multidc's default for the other
            {"server": {"raft": {"autopilot_update_interval": "500ms"}}},
            "autopilot_update_interval (500ms) must be smaller than autopilot_reconcile_interval (50ms, the default)",
        ),
        ({"autopilot": {"server_stabilization_time": "soon"}}, "'soon' is not a duration"),
        ({"name": "a-very-long-name"}, "would exceed Linux's 15-character limit"),
        (
            {"datacenters": [{"name": "a", "pool": "172.18.1.0/24"}, {"name": "b", "pool": "172.18.1.128/25"}]},
            "datacenters[1].pool: 172.18.1.128/25 (b) overlaps 172.18.1.0/24 (a)",
        ),
        ({"datacenters": [{"name": "a", "pool": "10.0.0.0/24"}]}, "is outside the network 172.18.0.0/16"),
        ({"network": "10.0.0.0/24", "datacenters": ["a"]}, "holds 0 default load-balancer pool(s)"),
        ({"network": "10.0.0.0/23", "datacenters": ["a", "b"]}, "but there are 2 datacenters"),
        ({"kms": {"address": "172.18.1.130"}}, "kms.address: 172.18.1.130 lies in primary's pool"),
        ({"kms": {"address": "10.1.1.1"}}, "is not a host address of the network"),
        ("just a string", "must be a mapping"),
    ],
)
def test_each_error_is_one_clear_line(data: object, needle: str) -> None:
    problems = errors_of(data)
    assert any(needle in p for p in problems), problems
    assert all("\n" not in p and p.startswith("t.yaml") for p in problems)


def test_file_errors_name_the_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "t.yaml"
    bad.write_text("datacenters: [a, b\nnetwork: x\n")
    with pytest.raises(TopologyError) as info:
        topology.load(bad)
    assert str(bad) in str(info.value) and "not valid YAML" in str(info.value)
    with pytest.raises(TopologyError, match="cannot read the topology file"):
        topology.load(tmp_path / "missing.yaml")


def test_durations() -> None:
    assert topology.seconds("1m30s") == 90
    assert topology.seconds("500ms") == 0.5


def test_autopilot_stabilization_under_a_second_is_refused() -> None:
    # OpenBao 2.7.2 keeps whole seconds; a sub-second value becomes 0, which autopilot takes for its default 10 s.
    assert topology.parse({}).autopilot.server_stabilization_time == "1s"
    with pytest.raises(TopologyError, match="'500ms' is under a second: OpenBao keeps whole seconds"):
        topology.parse({"autopilot": {"server_stabilization_time": "500ms"}})
    two = topology.parse({"autopilot": {"server_stabilization_time": "2s"}})
    assert two.autopilot.server_stabilization_time == "2s"
