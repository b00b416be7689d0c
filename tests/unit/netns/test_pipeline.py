"""The netns pipeline and its faults through a recording Host: no root, no namespaces, no servers."""

from __future__ import annotations

import io
import json
import re
import signal
from pathlib import Path

import pytest

import multidc
from multidc import api
from multidc.errors import ProviderError
from multidc.paths import make_private_dir
from multidc.progress import Progress
from multidc.providers import registry
from multidc.providers.base import Request
from multidc.providers.netns.provider import NetnsEnvironment, NetnsProvider
from multidc.state import State, load

from .conftest import BINARY, FakeHost, plan_for


def use(monkeypatch: pytest.MonkeyPatch, host: FakeHost) -> None:
    monkeypatch.setitem(registry.PROVIDERS, "netns", NetnsProvider(host))


def failing_up(monkeypatch: pytest.MonkeyPatch, binary: str, name: str, retain: bool) -> tuple[FakeHost, str, str]:
    """`up` where the KMS server exits at once: (the host, the error, what the progress printed)."""
    host = FakeHost(exits={"/kms/": "Error parsing config: simulated failure\n"})
    use(monkeypatch, host)
    out = io.StringIO()
    with pytest.raises(ProviderError) as failed:
        api.create(Request(None, name, binary), progress=Progress(stream=out), retain=retain)
    return host, str(failed.value), out.getvalue()


def test_a_step_that_fails_is_its_title_and_reason_and_what_was_made_is_removed(
    state_dir: Path, fake_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, error, printed = failing_up(monkeypatch, fake_binary, "p1", retain=False)
    assert error == "Starting KMS: the kms server exited: Error parsing config: simulated failure"
    lines = [re.sub(r" \(\d+\.\d+s\)$", "", line) for line in printed.splitlines()]
    assert lines == [
        " ✓ Writing certificates and configuration",
        " ✓ Creating site network",
        " ✓ Publishing host ports",
        " ✗ Starting KMS",
        "Removed what was made (use --retain to keep it for inspection)",
    ]
    # the KMS starts first, in a network namespace of its own that the site then names
    assert host.calls[:3] == ["check", "spawn kms in a namespace of its own", "create_site"]
    assert not host.namespaces and not host.running and not (state_dir / "p1").exists()


def test_an_unexpected_error_in_a_step_still_removes_what_was_made(
    state_dir: Path, fake_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = FakeHost()
    use(monkeypatch, host)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug of ours")  # not a MultidcError: the cleanup must not depend on the kind

    monkeypatch.setattr(host, "add_nodes", broken)
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        api.create(Request(None, "p9", fake_binary), progress=Progress(stream=out))
    assert "Removed what was made" in out.getvalue()
    assert not host.namespaces and not host.running and not (state_dir / "p9").exists()


def test_retain_keeps_what_was_made_and_says_how_to_remove_it(
    state_dir: Path, fake_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, _, printed = failing_up(monkeypatch, fake_binary, "p2", retain=True)
    assert "Kept what was made for inspection; remove it with `multidc down --name p2`" in printed
    # the site, the KMS, the primary (the other DCs are made during its election); the forwarder
    assert len(host.namespaces) == 3 and host.running
    assert multidc.attach("p2").down() == "p2: removed (1 process(es), 3 namespace(s))"
    assert not host.namespaces and not host.running and not (state_dir / "p2").exists()


@pytest.fixture
def running(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeHost, multidc.Environment]:
    """An environment `f1` as `up` leaves it: namespaces, a server per DC and the KMS, recorded in the state file."""
    host = FakeHost()
    use(monkeypatch, host)
    plan = plan_for("f1")(18200)
    env = NetnsEnvironment(plan, host=host)
    env.state = State(
        env="f1",
        topology=plan.topology.model_dump(mode="json"),
        port_base=plan.port_base,
        binary={"path": BINARY.path, "flavour": BINARY.flavour, "version": BINARY.version},
        phase="up",
    )
    make_private_dir(plan.paths.root)
    host.create_site(plan)
    for key, node in [("kms", plan.kms), *((f"node:{n.name}", n) for n in plan.nodes)]:
        env.state.pids[key] = host.spawn(
            [BINARY.path, "server", f"-config={node.paths.config}"], node.namespace, node.paths.log
        )
    env.save()
    host.calls.clear()
    return host, multidc.attach("f1")


def test_process_faults_signal_only_the_recorded_server_and_are_listed(
    running: tuple[FakeHost, multidc.Environment],
) -> None:
    host, env = running
    st = load(env.running.paths)  # type: ignore[attr-defined]
    assert st is not None
    pids = st.pids
    assert env.kill("primary") == f"killed primary's server (SIGKILL, pid {pids['node:primary']})"
    assert env.pause("secondary") == f"paused secondary's server (SIGSTOP, pid {pids['node:secondary']})"
    env.resume("secondary")
    env.kms_down()
    assert host.calls == [
        f"terminate {pids['node:primary']}",
        f"signal {signal.SIGSTOP.name} {pids['node:secondary']}",
        f"signal {signal.SIGCONT.name} {pids['node:secondary']}",
        f"terminate {pids['kms']}",
    ]
    assert env.active_faults() == {"stopped": ["primary"], "kms": ["down"]}
    with pytest.raises(multidc.FaultError, match="primary is not running"):
        env.kill("primary")
    with pytest.raises(multidc.FaultError, match="no datacenter 'nowhere'"):
        env.pause("nowhere")


def test_a_partition_cuts_both_directions_inside_the_environment_and_heal_removes_every_cut(
    running: tuple[FakeHost, multidc.Environment],
) -> None:
    host, env = running
    plan = env.running.plan  # type: ignore[attr-defined]
    env.partition(["tertiary"])
    t = plan.node("tertiary")
    others = [plan.kms, plan.node("primary"), plan.node("secondary")]
    expected = set()
    for o in others:
        for address in {o.address, o.vip} - {None}:
            expected.add((t.namespace, str(address)))
        for address in (t.address, t.vip):
            expected.add((o.namespace, str(address)))
    assert host.routes == expected
    assert all(ns.startswith("mdc.f1.") for ns, _ in host.routes)  # nothing outside the environment's namespaces
    assert env.active_faults() == {"partitions": [["tertiary"]]}
    assert env.heal() == f"healed: removed {len(expected)} cut route(s) and 0 shaped link(s)"
    assert host.routes == set() and env.active_faults() == {}
    assert sorted(c for c in host.calls if c.startswith("remove f1-cut")) == sorted(
        f"remove f1-cut in {ns}" for ns in {t.namespace, *(o.namespace for o in others)}
    )


def test_a_delay_runs_one_delayer_for_both_sides_and_heal_stops_it(
    running: tuple[FakeHost, multidc.Environment],
) -> None:
    host, env = running
    plan = env.running.plan  # type: ignore[attr-defined]
    said = env.delay("primary", "kms", 40)
    assert said == "delayed every packet between primary and kms by 40 ms each way (round trip +80 ms)"
    p = plan.node("primary")
    assert f"delay {p.namespace} via f1-dly: {plan.kms.address}" in host.calls
    assert f"delay {plan.kms.namespace} via f1-dly: {p.address} {p.vip}" in host.calls
    assert env.active_faults() == {"links": {"kms,primary": {"ms": 40}}}
    delayers = [pid for pid, (argv, _) in host.running.items() if "multidc.providers.netns.delayer" in argv]
    assert len(delayers) == 1  # one process, a thread per side
    # loss on the same pair restarts the delayer with the loss added to the delay; jitter likewise
    assert env.loss("kms", "primary", 12.5) == "dropping 12.5% of the packets between kms and primary, each way"
    assert env.delay("primary", "kms", 40, jitter=10).startswith(
        "delayed every packet between primary and kms by 40 ms ± 10"
    )
    assert env.active_faults() == {"links": {"kms,primary": {"ms": 40, "jitter": 10, "loss": 12.5}}}
    spec = json.loads((env.running.paths.delayers_spec).read_text())  # type: ignore[attr-defined]
    assert [s["name"] for s in spec["sides"]] == ["kms", "primary"]
    assert spec["sides"][1]["namespace"] == p.namespace
    assert spec["sides"][1]["peers"][str(plan.kms.address)] == {
        "mac": "02:00:00:00:00:01",
        "ms": 40,
        "jitter": 10,
        "loss": 12.5,
    }
    after = [pid for pid, (argv, _) in host.running.items() if "multidc.providers.netns.delayer" in argv]
    assert len(after) == 1 and not set(after) & set(delayers)  # the old delayer stopped
    assert env.delay("primary", "kms", 0) == "removed the delay between primary and kms"
    assert env.active_faults() == {"links": {"kms,primary": {"loss": 12.5}}}
    env.heal()
    assert not [pid for pid in after if pid in host.running] and env.active_faults() == {}


def test_one_way_cuts_and_bridges_route_only_the_cut_direction_and_heal_removes_them(
    running: tuple[FakeHost, multidc.Environment],
) -> None:
    host, env = running
    plan = env.running.plan  # type: ignore[attr-defined]
    p, s, t = plan.node("primary"), plan.node("secondary"), plan.node("tertiary")
    assert env.cut("primary", "secondary").startswith("dropping every packet from primary to secondary (one way")
    assert host.routes == {(p.namespace, str(s.address)), (p.namespace, str(s.vip))}  # nothing in secondary's
    assert env.active_faults() == {"one-way": [["primary", "secondary"]]}
    said = env.bridge("secondary")
    assert said.startswith("cut primary off from tertiary (both directions); secondary reaches both")
    bridged = {
        (p.namespace, str(t.address)),
        (p.namespace, str(t.vip)),
        (t.namespace, str(p.address)),
        (t.namespace, str(p.vip)),
    }
    assert host.routes == {(p.namespace, str(s.address)), (p.namespace, str(s.vip))} | bridged
    # a partition over them adds what is missing and keeps one route per (namespace, address)
    env.partition(["primary"])
    assert (s.namespace, str(p.vip)) in host.routes and (p.namespace, str(plan.kms.address)) in host.routes
    assert set(env.active_faults()) == {"one-way", "bridges", "partitions"}
    env.heal()
    assert host.routes == set() and env.active_faults() == {}
    # heal removes the cut device (and every route through it) in every namespace, recorded or not
    host.calls.clear()
    env.heal()
    assert sorted(c for c in host.calls if c.startswith("remove f1-cut")) == sorted(
        f"remove f1-cut in {n.namespace}" for n in (p, s, t, plan.kms)
    )
    assert "cut primary off from" in env.partition(["primary", "primary"]) and env.active_faults()["partitions"] == [
        ["primary"]
    ]
    env.heal()
    with pytest.raises(multidc.FaultError, match="no datacenter 'kms' to bridge through"):
        env.bridge("kms")
    with pytest.raises(multidc.FaultError, match="two different places"):
        env.cut("primary", "primary")


def test_up_again_with_another_server_binary_is_refused(
    running: tuple[FakeHost, multidc.Environment], fake_binary: str
) -> None:
    host, _ = running
    with pytest.raises(multidc.TopologyError, match=r"--server-binary: environment 'f1' runs /opt/fake/bao, not "):
        api.create(Request(None, "f1", fake_binary))
    assert not [c for c in host.calls if c.startswith("spawn")]  # nothing restarted with the other binary


def test_a_corrupt_state_file_is_one_line_and_down_still_removes_the_environment(
    running: tuple[FakeHost, multidc.Environment], state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from multidc.cli import main

    host, _ = running
    (state_dir / "f1" / "state.json").write_text("{bad")
    with pytest.raises(SystemExit) as status:
        main(["status", "--name", "f1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status.value.code == 1 and len(err) == 1 and "not a state file multidc can read" in err[0], err
    with pytest.raises(SystemExit) as down:
        main(["down", "--name", "f1"])
    assert down.value.code == 0 and not host.namespaces and not host.running
    assert not (state_dir / "f1").exists()


def test_host_ports_claimed_under_another_state_root_are_not_chosen(tmp_path: Path) -> None:
    from multidc.paths import EnvPaths
    from multidc.providers.netns.ports import claimed_ports

    other = EnvPaths(tmp_path / "other-root" / "busy")
    State(env="busy", topology={}, port_base=18200, binary={}).save(other)
    (tmp_path / "mine").mkdir()
    claims = claimed_ports(tmp_path / "mine", "new", elsewhere=[other.root])
    assert claims == {port: "busy" for port in range(18200, 18204)}
