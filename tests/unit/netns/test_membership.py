"""`dc add` / `dc remove` refusals through a recording Host: every bad input is one line, exit 2, before anything is
made (no namespace, process, file or state change). What they do on real servers: tests/integration/test_membership.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from multidc import pki
from multidc.cli import main
from multidc.paths import EnvPaths, make_private_dir, write_private
from multidc.providers import registry
from multidc.providers.netns import changes, membership, ports
from multidc.providers.netns import provider as netns_provider
from multidc.providers.netns.plan import Node, Plan
from multidc.providers.netns.provider import NetnsEnvironment, NetnsProvider
from multidc.state import State, load
from multidc.topology import Topology

from .conftest import BINARY, FakeHost, plan_for


def make_env(
    monkeypatch: pytest.MonkeyPatch, name: str, topology: dict | None = None, port_base: int = 18200
) -> FakeHost:  # type: ignore[type-arg]
    """An environment as `up` leaves it (recorded, namespaces and servers on a FakeHost)."""
    host = FakeHost()
    monkeypatch.setitem(registry.PROVIDERS, "netns", NetnsProvider(host))
    topo = Topology.model_validate(topology or {})
    plan = plan_for(name, topo)(port_base)
    env = NetnsEnvironment(plan, host=host)
    env.state = State(
        env=name,
        topology=plan.topology.model_dump(mode="json"),
        port_base=plan.port_base,
        binary={"path": BINARY.path, "flavour": BINARY.flavour, "version": BINARY.version},
        phase="up",
    )
    make_private_dir(plan.paths.root)
    ca = pki.make_ca(name)
    write_private(plan.paths.ca_cert, ca.cert_pem.decode())
    write_private(plan.paths.ca_key, ca.key_pem.decode())
    host.create_site(plan)
    for key, node in [("kms", plan.kms), *((f"node:{n.name}", n) for n in plan.nodes)]:
        env.state.pids[key] = host.spawn(
            [BINARY.path, "server", f"-config={node.paths.config}"], node.namespace, node.paths.log
        )
    env.save()
    host.calls.clear()
    return host


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as status:
        main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert status.value.code == 2 and len(err) == 1, (status.value.code, err)
    return err[0]


@pytest.fixture
def m1(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeHost, Path]]:
    host = make_env(monkeypatch, "m1")
    state = state_dir / "m1" / "state.json"
    before = state.read_bytes()
    namespaces = set(host.namespaces)
    yield host, state
    # nothing was made or recorded
    assert host.calls == [] and host.namespaces == namespaces and state.read_bytes() == before
    assert sorted(p.name for p in (state_dir / "m1" / "nodes").iterdir()) == ["primary", "secondary", "tertiary"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["add", "primary"], "dc add: datacenter 'primary' already exists in 'm1'; choose another name"),
        (["add", "Bad_Name"], "dc add: datacenter name 'Bad_Name' is not a DNS label"),
        (["add", "kms"], "dc add: datacenter name 'kms' is reserved for the central KMS"),
        (["add", "east", "--pool", "nonsense"], "dc add: datacenters[3].pool: 'nonsense' is not an IPv4 network"),
        (
            ["add", "east", "--pool", "172.18.2.192/26"],
            "dc add: datacenters[3].pool: 172.18.2.192/26 (east) overlaps 172.18.2.128/25 (secondary)",
        ),
        (["add", "east", "--pool", "10.9.0.0/24"], "dc add: datacenters[3].pool: 10.9.0.0/24 is outside the network"),
        (
            ["add", "east", "--pool", "172.18.0.2/31"],  # over primary's and secondary's node addresses
            "dc add: --pool 172.18.0.2/31 would move primary's address 172.18.0.2 -> 172.18.0.4; choose a pool clear",
        ),
        (
            ["add", "east", "--pool", "172.18.0.4/30"],  # over the KMS's address 172.18.0.5
            "dc add: --pool 172.18.0.4/30 holds the KMS's address 172.18.0.5; choose a pool clear of the addresses",
        ),
        (["remove", "nowhere"], "dc remove: no datacenter 'nowhere' in 'm1'; choose one of: primary, secondary"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    m1: tuple[FakeHost, Path], capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    line = refused(capsys, "dc", *argv, "--name", "m1")
    assert line.startswith(f"multidc: {said}"), line


def test_active_faults_are_healed_first(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    host = make_env(monkeypatch, "mf")
    path = state_dir / "mf" / "state.json"
    st = load(EnvPaths(state_dir / "mf"))
    assert st is not None
    st.faults = {"stopped": ["tertiary"], "paused": ["secondary"]}
    st.save(EnvPaths(state_dir / "mf"))
    before = path.read_bytes()
    for argv in (["add", "east"], ["remove", "secondary"]):
        line = refused(capsys, "dc", *argv, "--name", "mf")
        assert line == (
            f"multidc: dc {argv[0]}: faults are active (paused, stopped); heal first: `multidc chaos clear --name mf`"
        ), line
    assert path.read_bytes() == before and host.calls == []


def test_a_tenth_dc_and_removing_the_last_are_refused(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    host = make_env(monkeypatch, "m9", {"datacenters": [f"d{i}" for i in range(1, 10)]})
    line = refused(capsys, "dc", "add", "tenth", "--name", "m9")
    assert line == "multidc: dc add: 'm9' has 9 datacenters, the most multidc plans; `multidc dc remove` one first"
    host = make_env(monkeypatch, "m0", {"datacenters": ["solo"]})
    line = refused(capsys, "dc", "remove", "solo", "--name", "m0")
    assert line == "multidc: dc remove: 'solo' is the last datacenter of 'm0'; use `multidc down` instead"
    assert host.calls == []


def test_a_busy_host_port_for_the_new_slot_is_refused(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        host = make_env(monkeypatch, "mp", port_base=port - 4)  # slot 4's port is the one held here
        line = refused(capsys, "dc", "add", "east", "--name", "mp")
    assert line == (
        f"multidc: dc add: host port 127.0.0.1:{port} (slot 4) is used by another process; free it, try again"
    )
    assert host.calls == []


def test_an_add_whose_server_exits_takes_back_what_it_made(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multidc
    from multidc.errors import ProviderError

    host = make_env(monkeypatch, "mr")
    host.exits = {"/east/": "Error initializing core: simulated\n"}
    quiet_cluster(monkeypatch, {"primary", "secondary", "tertiary"})

    def started(self: NetnsEnvironment, node: Node, key: str) -> None:
        if not self.host.alive(self.state.pids[key]):  # type: ignore[union-attr]
            raise ProviderError(f"the {node.name} server exited: {self.log_tail(node)}")

    monkeypatch.setattr(NetnsEnvironment, "started", started)
    namespaces = set(host.namespaces)
    before = load(EnvPaths(state_dir / "mr"))
    assert before is not None
    env = multidc.attach("mr")
    with pytest.raises(ProviderError, match="the east server exited: Error initializing core: simulated"):
        env.add_dc("east")
    made = [c for c in host.calls if c.startswith(("add_node", "spawn", "remove_node", "forget"))]
    assert made[0] == "add_node mdc.mr.dc.east mr-dc4 172.18.0.6 172.18.4.128"
    assert "remove_node mr-dc4 mdc.mr.dc.east" in made
    assert host.namespaces == namespaces and not (state_dir / "mr" / "nodes" / "east").exists()
    after = load(EnvPaths(state_dir / "mr"))
    assert after is not None
    assert after.topology == before.topology and after.slots == {} and "node:east" not in after.pids
    spec = json.loads((state_dir / "mr" / "forwarder.json").read_text())
    assert sorted(r["port"] for r in spec["routes"]) == [18200, 18201, 18202, 18203]  # its port published no more
    assert env.datacenters == ["primary", "secondary", "tertiary"]


def test_plan_shows_a_changed_environment_in_its_recorded_slots(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_binary: str
) -> None:
    make_env(monkeypatch, "ms")
    paths = EnvPaths(state_dir / "ms")
    st = load(paths)
    assert st is not None
    # as `dc remove secondary` leaves it
    st.topology["datacenters"] = [d for d in st.topology["datacenters"] if d["name"] != "secondary"]
    st.topology["kms"] = {**st.topology["kms"], "address": "172.18.0.5"}
    st.slots = {"primary": 1, "tertiary": 3}
    st.binary["path"] = fake_binary  # `plan` asks the recorded binary its version
    st.save(paths)
    with pytest.raises(SystemExit) as status:
        main(["plan", "--name", "ms", "--output", "json"])
    assert status.value.code == 0
    plan = json.loads(capsys.readouterr().out)
    tertiary = plan["datacenters"][1]
    assert (tertiary["name"], tertiary["interface"], tertiary["host_url"], tertiary["vip"], tertiary["address"]) == (
        "tertiary",
        "ms-dc3",
        "https://127.0.0.1:18203",
        "172.18.3.128",
        "172.18.0.4",
    )
    assert plan["kms"]["address"] == "172.18.0.5"


def quiet_cluster(monkeypatch: pytest.MonkeyPatch, members: set[str]) -> None:
    """No server answers on a FakeHost: the cluster's word is given, and nothing is asked over HTTP."""
    from multidc.health import Health

    monkeypatch.setattr(NetnsEnvironment, "status", lambda self, probe_write=True: Health(True, [], [], "primary"))
    monkeypatch.setattr(NetnsEnvironment, "leader_node", lambda self: self.plan.primary)
    monkeypatch.setattr(ports, "port_free", lambda port: True)
    monkeypatch.setattr(membership, "_members", lambda env: members)


def test_an_add_records_the_new_dc_and_its_intent_before_it_makes_anything(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `dc add` killed at any point leaves a record `up`, `dc remove` and `status` act on (finding 5 of issue 21)."""
    import multidc
    from multidc.errors import ProviderError

    host = make_env(monkeypatch, "mi")
    quiet_cluster(monkeypatch, {"primary", "secondary", "tertiary"})
    seen: list[dict] = []  # type: ignore[type-arg]
    made = host.add_nodes

    def add_nodes(plan: Plan, nodes: list[Node]) -> None:
        seen.append(json.loads((state_dir / "mi" / "state.json").read_text()))  # what a SIGKILL here would leave
        made(plan, nodes)
        raise ProviderError("simulated failure after the namespace")

    monkeypatch.setattr(host, "add_nodes", add_nodes)
    before = load(EnvPaths(state_dir / "mi"))
    assert before is not None
    with pytest.raises(ProviderError, match="simulated"):
        multidc.attach("mi").add_dc("east")
    recorded = seen[0]
    assert [d["name"] for d in recorded["topology"]["datacenters"]] == ["primary", "secondary", "tertiary", "east"]
    assert recorded["slots"]["east"] == 4
    intent = recorded["made"]["membership"]
    assert (intent["action"], intent["dc"]) == ("add", "east")
    assert intent["before"] == {"topology": before.topology, "slots": before.slots, "binaries": before.binaries}
    after = load(EnvPaths(state_dir / "mi"))  # taken back: the record as it was, the intent gone
    assert after is not None and after.topology == before.topology and after.made == {}


def test_an_unfinished_change_is_named_and_refuses_every_other(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_env(monkeypatch, "mu")
    paths = EnvPaths(state_dir / "mu")
    st = load(paths)
    assert st is not None
    gone = subprocess.Popen(["true"])  # the pid of a command that has ended
    gone.wait()
    st.made["membership"] = {"action": "add", "dc": "east", "pid": gone.pid, "before": {}}
    st.save(paths)
    said = "`dc add east` did not finish; `multidc up --name mu` completes it, `multidc dc remove east --name mu` takes"
    for argv in (["add", "west"], ["add", "east"], ["remove", "secondary"]):
        line = refused(capsys, "dc", *argv, "--name", "mu")
        assert line.startswith(f"multidc: dc {argv[0]}: {said}"), line
    env = NetnsEnvironment(netns_provider.existing_plan("mu"), host=FakeHost())
    assert changes.unfinished(env) == said + " it back"
    assert changes.changing(env) == "east"


def test_a_command_killed_while_it_saves_the_record_leaves_the_previous_one(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen live: a `dc add` SIGKILLed while it saved left an empty state.json (`status`, `up`, `dc remove`: "not a
    state file multidc can read"). A save is written whole elsewhere first."""
    import multidc.state

    make_env(monkeypatch, "mk")
    paths = EnvPaths(state_dir / "mk")
    st = load(paths)
    assert st is not None
    before = paths.state.read_text()

    def killed_midway(path: Path, text: str) -> None:
        path.write_text(text[: len(text) // 2])
        raise KeyboardInterrupt  # where a SIGKILL would end the process

    monkeypatch.setattr(multidc.state, "write_private", killed_midway)
    st.made["membership"] = {"action": "add", "dc": "east"}
    with pytest.raises(KeyboardInterrupt):
        st.save(paths)
    assert paths.state.read_text() == before
    assert load(paths) is not None
