"""The everyday commands on kind and kube, every command recorded (no docker or API server here): logs from the pods'
`vault` containers, the Bank-Vaults unsealer sidecar and the KMS (kind: its docker container; kube: its Deployment);
export logs through them with every secret removed; list."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import multidc
from multidc import inventory, topology
from multidc.cli import cli
from multidc.errors import ProviderError, TopologyError
from multidc.paths import EnvPaths
from multidc.providers import registry
from multidc.providers.kube.manifests import KUBE
from multidc.providers.kube.provider import KubeProvider
from multidc.runner import Completed, RecordingRunner
from multidc.state import State, load, write_secret

from .conftest import VIPS, FakeKms

ROOT = "s.Zr0otT0kenOfTheClusterXyz"
SEAL = "s.Se4lT0kenForTransitAbcd"


def logs_answer(argv: tuple[str, ...], _input: str | None) -> Completed | None:
    """`kubectl logs` / `docker logs` print a few lines, one of which leaks a secret (as a careless log line might)."""
    if "logs" in argv:
        who = next((a for a in argv if a.startswith("vault-") or a.endswith("central-vault")), "?")
        return Completed(argv, 0, f"2026-11-29T09:00:00.000Z [INFO]  {who}: started\nleaked {ROOT} and {SEAL}\n")
    return None


@pytest.fixture
def kind(kind_env: tuple[RecordingRunner, FakeKms, EnvPaths]) -> tuple[RecordingRunner, EnvPaths]:
    runner, _kms, paths = kind_env
    runner.responders.append(logs_answer)
    write_secret(paths, "root-token", ROOT)
    write_secret(paths, "seal-token", SEAL)
    write_secret(paths, "kms-unseal-key", "c2VjcmV0LXVuc2VhbC1rZXktb2YtdGhlLWttcw==")
    return runner, paths


def test_logs_are_kubectl_logs_of_the_vault_container_and_docker_logs_of_the_kms(
    kind: tuple[RecordingRunner, EnvPaths],
) -> None:
    runner, _ = kind
    env = multidc.attach("k")
    lines = list(env.log("secondary", tail=20, since=300))
    assert lines[0].endswith("vault-secondary-0: started")
    list(env.log("kms"))
    list(env.log("tertiary", follow=True))
    assert runner.commands == [
        "kubectl --context kind-secondary -n default logs vault-secondary-0 -c vault --tail=20 --since=300s",
        "docker logs k-central-vault",
        "kubectl --context kind-tertiary -n default logs vault-tertiary-0 -c vault --follow",
    ]
    with pytest.raises(TopologyError, match="no datacenter 'nowhere'"):
        env.log("nowhere")
    with pytest.raises(TopologyError, match="unseals through transit: no unsealer"):
        env.log("primary", unsealer=True)


def test_a_failing_kubectl_is_one_line(kind: tuple[RecordingRunner, EnvPaths]) -> None:
    runner, _ = kind
    runner.responders.insert(
        0, lambda argv, _i: Completed(argv, 1, "", "error: pod not found") if "logs" in argv else None
    )
    with pytest.raises(ProviderError, match="failed: error: pod not found"):
        list(multidc.attach("k").log("primary"))


def test_kube_kms_logs_come_from_its_deployment_and_kv_unsealers_from_the_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    made = {"contexts": ["a", "b", "c"], "vips": VIPS, "kms_url": "http://10.0.0.9:8200", "kms_in_cluster": "a"}
    topo = topology.parse({"unseal": "kv", "kube": {"contexts": ["a", "b", "c"]}}).model_dump(mode="json")
    State(env="k", topology=topo, port_base=0, binary={}, phase="up", provider="kube", made=made).save(
        EnvPaths(tmp_path / "k")
    )
    runner = RecordingRunner(responders=[logs_answer])
    monkeypatch.setitem(registry.PROVIDERS, "kube", KubeProvider(KUBE, runner, FakeKms()))
    env = multidc.attach("k")
    list(env.log("kms", tail=5))
    list(env.log("secondary", unsealer=True))
    assert runner.commands == [
        "kubectl --context a -n multidc-kms logs deployment/central-vault --tail=5",
        "kubectl --context b -n default logs vault-secondary-0 -c bank-vaults",
    ]


def test_export_on_kind_collects_through_the_runner_and_removes_every_secret(
    kind: tuple[RecordingRunner, EnvPaths], tmp_path: Path
) -> None:
    runner, paths = kind
    bundle = tmp_path / "out" / "b.tar.gz"
    result = CliRunner().invoke(cli, ["export", "logs", str(bundle), "--name", "k"])
    assert result.exit_code == 0, result.output
    with tarfile.open(bundle) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    names = {name.split("/", 1)[1] for name in files}
    assert {"logs/primary.log", "logs/kms.log", "configs/manifests.yaml", "status.json", "topology.json"} <= names
    everything = b"".join(files.values())
    for secret in (ROOT, SEAL, "c2VjcmV0LXVuc2VhbC1rZXktb2YtdGhlLWttcw=="):
        assert secret.encode() not in everything
    assert b"leaked <redacted:secrets/root-token> and <redacted:secrets/seal-token>" in files["b/logs/primary.log"]
    assert "docker logs k-central-vault" in runner.commands
    status = json.loads(files["b/status.json"])
    assert status["provider"] == "kind" and status["leader"] == "primary"


def test_list_on_kind_and_a_leftover_directory(kind: tuple[RecordingRunner, EnvPaths]) -> None:
    _, paths = kind
    st = load(paths)
    assert st is not None
    st.created_at = time.time() - 7200
    st.save(paths)
    EnvPaths(paths.root.parent / "half").root.mkdir(mode=0o700)  # what a crash before the state file leaves
    found = {e.name: e for e in inventory.entries()}
    assert found["k"].health == "healthy" and found["k"].provider == "kind"
    assert found["k"].datacenters == list(VIPS) and inventory.age_text(found["k"].age) == "2h"
    assert found["half"].health == "leftover" and "multidc down --name half" in found["half"].detail
    out = CliRunner().invoke(cli, ["list"]).output.splitlines()
    assert out[0].split() == ["NAME", "PROVIDER", "DCS", "HEALTH", "AGE"]
    assert any(line.split()[:5] == ["k", "kind", "primary,secondary,tertiary", "healthy", "2h"] for line in out)


def test_status_watch_on_kind_repeats_until_ctrl_c(
    kind: tuple[RecordingRunner, EnvPaths], monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the second pause is where the user presses Ctrl-C
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("multidc.cli.everyday.time.sleep", sleep)
    result = CliRunner().invoke(cli, ["status", "--watch", "--interval", "0.5", "--output", "json", "--name", "k"])
    assert result.exit_code == 0 and sleeps == [0.5, 0.5]
    frames = [json.loads(line) for line in result.output.splitlines()]
    assert len(frames) == 2 and all(f["leader"] == "primary" and f["faults"] == {} for f in frames)


def test_ui_on_kind_points_at_the_leaders_vip(
    kind: tuple[RecordingRunner, EnvPaths], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    class Answer:
        status_code = 200

    def get(self: object, url: str, **kwargs: object) -> Answer:
        asked.append(url)
        return Answer()

    monkeypatch.setattr("requests.Session.get", get)
    result = CliRunner().invoke(cli, ["ui", "--no-open", "--name", "k"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Web UI of primary: https://172.19.1.128:8200/ui/"
    assert asked == ["https://172.19.1.128:8200/ui/"] and f"token {ROOT}" in result.output
