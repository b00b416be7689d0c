"""DC slots: where each DC lives (interface, host port, default pool, node address) once `dc add`/`dc remove` changed
the membership. Without recorded slots every plan is exactly what it was before slots existed."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from multidc import topology
from multidc.binaries import ServerBinary
from multidc.errors import TopologyError
from multidc.providers.netns.plan import Plan, make_plan
from multidc.state import State


def places(plan: Plan) -> dict[str, tuple[str, int, str, str, str]]:
    return {n.name: (n.ifname, n.host_port, str(n.pool), str(n.vip), str(n.address)) for n in plan.nodes}


def test_the_slots_of_the_positions_plan_exactly_as_no_slots(openbao: ServerBinary, tmp_path: Path) -> None:
    topo = topology.parse({})
    plain = make_plan(topo, openbao, "s1", state_root=tmp_path, port_base=20000)
    slotted = make_plan(
        topo, openbao, "s1", state_root=tmp_path, port_base=20000, slots={"primary": 1, "secondary": 2, "tertiary": 3}
    )
    assert places(plain) == places(slotted)
    assert plain.kms.address == slotted.kms.address == IPv4Address("172.18.0.5")
    assert plain.node_config(plain.primary) == slotted.node_config(slotted.primary)


def test_a_removed_dc_moves_nothing_and_an_added_one_takes_its_slot_past_the_pinned_kms(
    openbao: ServerBinary, tmp_path: Path
) -> None:
    before = places(make_plan(topology.parse({}), openbao, "s2", state_root=tmp_path, port_base=20000))
    pinned = {"address": "172.18.0.5"}  # what the first membership change records
    shrunk = make_plan(
        topology.parse({"datacenters": ["primary", "tertiary"], "kms": pinned}),
        openbao,
        "s2",
        state_root=tmp_path,
        port_base=20000,
        slots={"primary": 1, "tertiary": 3},
    )
    assert places(shrunk) == {dc: before[dc] for dc in ("primary", "tertiary")}
    assert shrunk.kms.address == IPv4Address("172.18.0.5")
    grown = make_plan(
        topology.parse({"datacenters": ["primary", "tertiary", "quaternary", "east"], "kms": pinned}),
        openbao,
        "s2",
        state_root=tmp_path,
        port_base=20000,
        slots={"primary": 1, "tertiary": 3, "quaternary": 4, "east": 2},
    )
    assert places(grown)["primary"] == before["primary"] and places(grown)["tertiary"] == before["tertiary"]
    assert places(grown)["east"] == before["secondary"]  # the freed slot, everything the same
    assert places(grown)["quaternary"] == ("s2-dc4", 20004, "172.18.4.128/25", "172.18.4.128", "172.18.0.6")
    assert grown.kms.address == IPv4Address("172.18.0.5")
    retry = grown.node_config(grown.node("primary"))["storage"]["raft"]["retry_join"]
    assert [j["leader_api_addr"] for j in retry] == [
        "https://172.18.3.128:8200",
        "https://172.18.4.128:8200",
        "https://172.18.2.128:8200",
    ]


def test_damaged_slots_are_refused(openbao: ServerBinary, tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="not distinct numbers 1 to 9"):
        make_plan(topology.parse({}), openbao, "s3", state_root=tmp_path, slots={"primary": 1, "secondary": 1})
    with pytest.raises(TopologyError, match="not distinct numbers 1 to 9"):
        make_plan(topology.parse({}), openbao, "s3", state_root=tmp_path, slots={"primary": 10})


def test_claimed_host_ports_reach_the_highest_slot() -> None:
    three = State(env="a", topology={"datacenters": ["p", "s", "t"]}, port_base=18200, binary={})
    assert list(three.host_ports()) == [18200, 18201, 18202, 18203]
    gapped = State(env="a", topology={"datacenters": ["p", "q"]}, port_base=18200, binary={}, slots={"p": 1, "q": 5})
    assert list(gapped.host_ports()) == list(range(18200, 18206))
