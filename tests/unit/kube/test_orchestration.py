"""The kind/kube orchestration against a recording runner: order, arguments, re-runs, a failure in the middle, down."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc import health, topology
from multidc.cli import cli
from multidc.errors import PrerequisiteError, ProviderError
from multidc.paths import EnvPaths
from multidc.providers import registry
from multidc.providers.kube import orchestrator as orchestration
from multidc.providers.kube import prereqs, provider
from multidc.providers.kube.manifests import KIND, KubePlan, documents
from multidc.runner import Completed, RecordingRunner

from .conftest import FakeKms


def world(existing_clusters: str = "", container_exists: bool = False, fail_cluster: str | None = None):  # type: ignore[no-untyped-def]
    """Answers like a machine with docker and kind; optionally one cluster fails to create."""

    def answer(argv: tuple[str, ...], given: str | None) -> Completed | None:
        if argv[:3] == ("kind", "get", "clusters"):
            return Completed(argv, 0, existing_clusters)
        if argv[:3] == ("kind", "create", "cluster") and argv[4] == fail_cluster:
            return Completed(argv, 1, "", f"ERROR: failed to create cluster: node {fail_cluster} exited\n")
        if argv[:3] == ("docker", "network", "inspect"):
            return Completed(argv, 0, json.dumps([{"Subnet": "fc00:f853:ccd:e793::/64"}, {"Subnet": "172.19.0.0/16"}]))
        if argv[:2] == ("docker", "inspect") and "--format" not in argv:
            return Completed(argv, 0 if container_exists else 1)
        if argv[:2] == ("docker", "inspect"):
            return Completed(argv, 0, "172.19.0.9\n")
        if "get" in argv and "secret" in argv:
            return Completed(
                argv,
                0,
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "data": {},
                        "metadata": {
                            "name": "vault-primary-tls",
                            "uid": "x",
                            "resourceVersion": "1",
                            "ownerReferences": [],
                        },
                    }
                ),
            )
        return None

    return answer


def orchestrator(tmp_path: Path, runner: RecordingRunner, data: dict | None = None) -> orchestration.Orchestrator:  # type: ignore[type-arg]
    topo = topology.parse(data or {})
    plan_for = orchestration.plan_factory(topo, "t", KIND, None, "topology")
    return orchestration.Orchestrator(plan_for, runner, EnvPaths(tmp_path / "t"), kms=FakeKms(), wait=0)


def index(commands: list[str], needle: str) -> int:
    return next(i for i, c in enumerate(commands) if needle in c)


def test_kind_up_runs_the_seed_in_order(tmp_path: Path) -> None:
    runner = RecordingRunner([world()])
    orch = orchestrator(tmp_path, runner)
    orch.up(check_tools=False)
    cmds = runner.commands
    creates = [c for c in cmds if c.startswith("kind create cluster")]
    assert creates[0] == "kind create cluster --name primary --config -"
    assert sorted(creates[1:]) == [
        "kind create cluster --name secondary --config -",
        "kind create cluster --name tertiary --config -",
    ]
    # the network is read after kind made it; pools come from its real subnet
    assert index(cmds, "docker network inspect kind") > index(cmds, "--name tertiary")
    assert orch.plan.subnet == IPv4Network("172.19.0.0/16")
    pools = [documents(i)[0]["spec"]["addresses"] for i in runner.inputs if i and "IPAddressPool" in i]
    assert pools == [["172.19.1.128/25"], ["172.19.2.128/25"], ["172.19.3.128/25"]]
    assert index(cmds, "metallb-native.yaml") < index(cmds, "docker run")
    assert "--version 1.24.0" in cmds[index(cmds, "helm upgrade --install vault-operator")]
    # the primary is ready before its TLS secret is copied and before the others are created
    ready = index(cmds, "wait --for=condition=ready pod/vault-primary-0")
    assert ready < index(cmds, "get secret vault-primary-tls") < index(cmds, "kind-secondary get pod vault-secondary-0")
    copied = [json.loads(i) for i in runner.inputs if i and '"kind": "Secret"' in i]
    assert len(copied) == 2 and all(set(s["metadata"]) == {"name"} for s in copied)
    crs = [documents(i)[0] for i in runner.inputs if i and "kind: Vault" in i]
    assert [cr["spec"]["raftLeaderAddress"] for cr in crs] == ["self", "172.19.1.128", "172.19.1.128"]
    assert all(cr["spec"]["unsealConfig"]["vault"]["address"] == "http://172.19.0.9:8200" for cr in crs)
    assert orch.kms.prepared == ["http://172.19.0.9:8200"]  # type: ignore[attr-defined]
    assert [e.url for e in orch.kms.endpoints] == [  # type: ignore[attr-defined]
        "https://172.19.1.128:8200",
        "https://172.19.2.128:8200",
        "https://172.19.3.128:8200",
    ]
    state = json.loads((tmp_path / "t" / "state.json").read_text())
    assert state["phase"] == "up" and sorted(state["made"]["clusters"]) == ["primary", "secondary", "tertiary"]


def test_rerun_creates_nothing_twice(tmp_path: Path) -> None:
    runner = RecordingRunner([world(existing_clusters="primary\nsecondary\ntertiary\n", container_exists=True)])
    orchestrator(tmp_path, runner).up(check_tools=False)
    assert not [c for c in runner.commands if c.startswith(("kind create", "docker run"))]
    # everything else is declarative and safe to repeat
    assert any(c.startswith("helm upgrade --install") for c in runner.commands)


def test_failure_in_the_middle_is_explained_and_down_removes_what_was_made(tmp_path: Path) -> None:
    runner = RecordingRunner([world(fail_cluster="secondary")])
    orch = orchestrator(tmp_path, runner)
    with pytest.raises(ProviderError) as info:
        orch.up(check_tools=False)
    assert str(info.value) == (
        "Creating clusters: creating kind cluster 'secondary' failed: "
        "ERROR: failed to create cluster: node secondary exited"
    )
    made = json.loads((tmp_path / "t" / "state.json").read_text())["made"]["clusters"]
    assert "primary" in made and "secondary" not in made
    assert not any(c.startswith(("docker run", "helm")) for c in runner.commands)

    downer = RecordingRunner()
    removed = orchestrator(tmp_path, downer).down()
    assert [c for c in downer.commands if c.startswith("kind delete")] == [
        "kind delete cluster --name primary",
        "kind delete cluster --name secondary",
        "kind delete cluster --name tertiary",
    ]
    assert "docker rm -f t-central-vault" in downer.commands
    assert downer.commands[-2:] == ["kind get clusters", "docker ps -a -q --filter 'name=^t-central-vault$'"]
    assert "cluster primary" in removed and not (tmp_path / "t").exists()


def test_down_says_when_a_cluster_survives(tmp_path: Path) -> None:
    runner = RecordingRunner(
        [lambda argv, _i: Completed(argv, 0, "tertiary\n") if argv[:3] == ("kind", "get", "clusters") else None]
    )
    with pytest.raises(ProviderError, match="kind clusters still present after delete: tertiary"):
        orchestrator(tmp_path, runner).down()


def test_missing_tools_are_listed_with_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs.shutil, "which", lambda tool: "/usr/bin/kubectl" if tool == "kubectl" else None)
    runner = RecordingRunner([lambda argv, _i: Completed(argv, 0, "Client Version: v1.32.4\n")])
    with pytest.raises(PrerequisiteError) as info:
        prereqs.check(runner, KIND)
    text = str(info.value)
    for tool in ("docker: not found", "kind: not found", "helm: not found"):
        assert tool in text
    assert "kubectl" not in text.split("(found:")[0].split("; ", 1)[1] and "found: kubectl" in text


def test_plan_command_renders_files_and_commands_without_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(provider.shutil, "which", lambda _tool: None)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["plan", "--provider", "kind", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "using the topology's network 172.18.0.0/16 as the kind subnet" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert "commands.txt" in names and any(n.endswith("vault-vault-secondary.yaml") for n in names)
    commands = (out / "commands.txt").read_text().splitlines()
    assert commands[0] == "kind get clusters" and commands[-1].endswith("pod/vault-tertiary-0 --timeout=300s")
    assert not (tmp_path / "state").exists()  # plan touched nothing


def test_plan_stream_is_yaml_with_the_commands_as_comments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(provider.shutil, "which", lambda _tool: None)
    result = CliRunner().invoke(
        cli, ["plan", "--provider", "kube", "--context", "a", "--context", "b", "--context", "c"]
    )
    assert result.exit_code == 0, result.output
    docs = documents(result.stdout)
    assert [d["kind"] for d in docs].count("Vault") == 3
    assert "Deployment" in {d["kind"] for d in docs}  # the KMS goes into the primary cluster
    assert "kind create" not in result.stdout and "--context a apply" in result.stdout


def test_kube_context_count_is_checked_before_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["up", "--provider", "kube", "--context", "only-one"])
    assert result.exit_code == 2 and "1 context(s) for 3 datacenters" in result.output
    assert not (tmp_path / "multidc").exists()


class SlowKms(FakeKms):
    """A KMS that never becomes ready: the HTTP layer gives up with a TimeoutError."""

    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]:
        raise TimeoutError("the KMS at http://172.19.0.9:8200 did not become active within 60s")


def test_a_timeout_in_a_step_is_the_steps_title_and_the_reason(tmp_path: Path) -> None:
    runner = RecordingRunner([world()])
    orch = orchestrator(tmp_path, runner)
    orch.kms = SlowKms()
    with pytest.raises(ProviderError) as failed:
        orch.up(check_tools=False)
    assert str(failed.value) == "Preparing KMS: the KMS at http://172.19.0.9:8200 did not become active within 60s"


def recording_kind(monkeypatch: pytest.MonkeyPatch, runner: RecordingRunner, kms: FakeKms) -> None:
    """The kind provider as the registry hands it out, with every command recorded and a fake KMS/API."""
    monkeypatch.setitem(registry.PROVIDERS, "kind", provider.KubeProvider(KIND, runner, kms))


def test_down_all_removes_each_environment_with_the_provider_that_made_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multidc.providers.netns import provider as netns
    from multidc.state import State

    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    kind_env = EnvPaths(tmp_path / "state" / "k1")
    State(env="k1", topology={}, port_base=0, binary={}, provider="kind", made={"clusters": ["primary"]}).save(kind_env)
    runner = RecordingRunner()
    recording_kind(monkeypatch, runner, FakeKms())
    calls: list[str] = []
    monkeypatch.setattr(netns, "down", lambda env, root=None: calls.append(f"netns {env}"))
    monkeypatch.setattr(netns.LINUX, "environments", lambda: [])
    result = CliRunner().invoke(cli, ["down", "--all"])
    assert result.exit_code == 0, result.output
    assert calls == []  # never the netns teardown, which would drop the record and leave the clusters
    assert (
        "kind delete cluster --name primary" in runner.commands and "docker rm -f k1-central-vault" in runner.commands
    )
    assert "k1: removed cluster primary" in result.output and not kind_env.root.exists()


def test_status_of_a_kind_environment_is_the_same_table_with_its_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multidc.state import State

    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    paths = EnvPaths(tmp_path / "state" / "k2")
    State(env="k2", topology={}, port_base=0, binary={}, provider="kind", faults={"stopped": ["tertiary"]}).save(paths)
    nodes = [
        health.NodeStatus("primary", "172.19.1.128", "https://172.19.1.128:8200", True, True, False, "leader", True),
        health.NodeStatus("tertiary", "172.19.3.128", "https://172.19.3.128:8200", role="down", error="no answer"),
    ]
    result = health.Health(healthy=False, nodes=nodes, problems=["tertiary: not reachable"], leader="primary")
    recording_kind(monkeypatch, RecordingRunner(), FakeKms(result))
    out = CliRunner().invoke(cli, ["status", "--name", "k2"])
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[0].split() == ["DC", "VIP", "HOST", "URL", "ROLE", "VOTER", "SEALED", "APPLIED", "VERSION"], lines
    assert lines[2].split()[:6] == ["tertiary", "172.19.3.128", "https://172.19.3.128:8200", "down", "?", "?"]
    assert "active faults: stopped: tertiary" in out.output and "  - tertiary: not reachable" in out.output
    as_json = json.loads(CliRunner().invoke(cli, ["status", "--name", "k2", "-o", "json"]).output)
    assert as_json["faults"] == {"stopped": ["tertiary"]} and as_json["nodes"][1]["sealed"] is None


def test_raft_tuning_and_autopilot_reach_the_vaults_as_on_netns(tmp_path: Path) -> None:
    runner = RecordingRunner([world()])
    data = {
        "server": {"raft": {"snapshot_threshold": 1234, "autopilot_reconcile_interval": "2s"}},
        "autopilot": {"server_stabilization_time": "3s"},
    }
    orch = orchestrator(tmp_path, runner, data)
    orch.up(check_tools=False)
    crs = [documents(i)[0] for i in runner.inputs if i and "kind: Vault" in i]
    for cr in crs:
        raft = cr["spec"]["config"]["storage"]["raft"]
        assert raft["snapshot_threshold"] == 1234 and raft["autopilot_reconcile_interval"] == "2s", raft
        assert raft["performance_multiplier"] == 1 and raft["path"] == "/vault/file"
    dc, autopilot = orch.kms.autopilot  # type: ignore[attr-defined]
    assert dc == "primary" and autopilot["server_stabilization_time"] == "3s"


def test_what_kind_cannot_honour_is_refused_before_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    topo = tmp_path / "t.yaml"
    topo.write_text("tls: false\nhost_port_base: 30000\nkms: {storage: inmem}\n")
    runner = RecordingRunner()
    monkeypatch.setitem(registry.PROVIDERS, "kind", provider.KubeProvider(KIND, runner, FakeKms()))
    for verb in ("up", "plan"):
        result = CliRunner().invoke(cli, [verb, "--provider", "kind", "-f", str(topo)])
        assert result.exit_code == 2, result.output
        assert f"multidc: {topo}: the kind provider cannot honour tls: false" in result.output
        assert "cannot honour host_port_base" in result.output
        assert "cannot honour kms.storage" in result.output
    result = CliRunner().invoke(cli, ["up", "--provider", "kind", "--server-binary", "/usr/bin/bao"])
    assert result.exit_code == 2 and "--server-binary: the kind provider runs a server image" in result.output
    assert runner.commands == [] and not (tmp_path / "state").exists()


def test_a_kind_cluster_that_existed_before_up_is_never_deleted(tmp_path: Path) -> None:
    runner = RecordingRunner([world(existing_clusters="primary\n")])
    orchestrator(tmp_path, runner).up(check_tools=False)
    assert not [c for c in runner.commands if c == "kind create cluster --name primary --config -"]
    downer = RecordingRunner(
        [lambda argv, _i: Completed(argv, 0, "primary\n") if argv[:2] == ("kind", "get") else None]
    )
    removed = orchestrator(tmp_path, downer).down()
    assert [c for c in downer.commands if c.startswith("kind delete")] == [
        "kind delete cluster --name secondary",
        "kind delete cluster --name tertiary",
    ]
    assert "cluster primary" not in removed  # used, not made: still there, and that is no error


def test_a_failed_kind_up_removes_what_it_made_unless_retained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from multidc import api
    from multidc.progress import Progress
    from multidc.providers.base import Request

    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(prereqs.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    for retain in (False, True):
        runner = RecordingRunner([world(fail_cluster="secondary")])
        recording_kind(monkeypatch, runner, FakeKms())
        out = io.StringIO()
        with pytest.raises(ProviderError, match="^Creating clusters: creating kind cluster 'secondary' failed"):
            api.create(Request(None, "kf"), "kind", Progress(stream=out), retain=retain)
        deleted = [c for c in runner.commands if c.startswith("kind delete")]
        if retain:
            assert deleted == [] and "Kept what was made for inspection" in out.getvalue()
            assert (tmp_path / "state" / "kf" / "state.json").exists()
        else:
            assert deleted == [f"kind delete cluster --name {dc}" for dc in ("primary", "secondary", "tertiary")]
            assert "Removed what was made (use --retain to keep it for inspection)" in out.getvalue()
            assert not (tmp_path / "state" / "kf").exists()
