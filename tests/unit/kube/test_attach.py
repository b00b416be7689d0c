"""The Python API on a kind environment, every command recorded: `multidc.attach(name)` gives the same Environment as
on netns (status, exports, faults, verify's healing), through the registry's provider."""

from __future__ import annotations

from pathlib import Path

import pytest

import multidc
from multidc.errors import FaultError
from multidc.paths import EnvPaths
from multidc.providers import registry
from multidc.providers.kube.manifests import KIND, KUBE
from multidc.providers.kube.provider import KubeProvider
from multidc.runner import RecordingRunner
from multidc.state import State, load

from .conftest import VIPS, FakeKms


def test_attach_status_and_exports_on_kind(kind_env: tuple[RecordingRunner, FakeKms, EnvPaths]) -> None:
    runner, kms, paths = kind_env
    env = multidc.attach("k")
    assert env.provider == "kind" and env.datacenters == list(VIPS) and "kind" in repr(env)
    status = env.status()
    assert status.healthy and status.leader == "primary" == env.leader()
    # the VIPs planned on the subnet `up` read from docker (172.19 here, not the topology's default 172.18)
    assert kms.asked[0] == [f"https://{ip}:8200" for ip in VIPS.values()]
    assert env.exports("secondary") == {
        "BAO_ADDR": "https://172.19.2.128:8200",
        "BAO_TOKEN": "s.root",
        "BAO_CACERT": str(paths.ca_cert),
        "VAULT_ADDR": "https://172.19.2.128:8200",
        "VAULT_TOKEN": "s.root",
        "VAULT_CACERT": str(paths.ca_cert),
    }
    # the KMS is the seed's plain-HTTP central-vault: no CA to send
    assert env.exports("kms")["BAO_ADDR"] == "http://172.19.0.9:8200" and "BAO_CACERT" not in env.exports("kms")
    assert runner.commands == []  # addresses and health need no command


def test_attach_faults_on_kind_run_docker_and_are_recorded(kind_env: tuple[RecordingRunner, FakeKms, EnvPaths]) -> None:
    runner, kms, paths = kind_env
    env = multidc.attach("k")
    assert env.kill("tertiary") == "killed tertiary's kind node (docker kill)"
    env.pause("secondary")
    env.kms_down()
    assert env.active_faults() == {"stopped": ["tertiary"], "paused": ["secondary"], "kms": ["down"]}
    problems = env.faults.clear()  # what verify does after each scenario
    assert problems == []
    assert runner.commands == [
        "docker kill tertiary-control-plane",
        "docker pause secondary-control-plane",
        "docker stop k-central-vault",
        "docker start k-central-vault",
        "docker unpause secondary-control-plane",
        "docker start tertiary-control-plane",
    ]
    assert kms.prepared == ["http://172.19.0.9:8200"]  # kms-up unsealed the KMS itself
    state = load(paths)
    assert state is not None and state.faults == {}


def test_faults_on_kube_are_refused_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    made = {"contexts": ["a", "b", "c"], "vips": VIPS, "kms_url": "http://10.0.0.9:8200"}
    State(env="k", topology={}, port_base=0, binary={}, phase="up", provider="kube", made=made).save(
        EnvPaths(tmp_path / "k")
    )
    monkeypatch.setitem(registry.PROVIDERS, "kube", KubeProvider(KUBE, RecordingRunner(), FakeKms()))
    env = multidc.attach("k")
    assert env.status().healthy
    with pytest.raises(FaultError, match="not available on the kube provider"):
        env.kill("primary")


def test_attach_to_nothing_says_how_to_make_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    with pytest.raises(multidc.NotFoundError, match="create it with `multidc up --name nope`"):
        multidc.attach("nope")


def test_up_again_on_kind_is_already_up_and_another_topology_is_refused(
    kind_env: tuple[RecordingRunner, FakeKms, EnvPaths], tmp_path: Path
) -> None:
    from multidc import api
    from multidc.providers.base import Request

    runner, _, _ = kind_env
    again = api.create(Request(None, "k"))
    assert again.already and again.provider == "kind" and runner.commands == []  # healthy: nothing re-run
    other = tmp_path / "two.yaml"
    other.write_text("datacenters: [primary, secondary]\n")
    with pytest.raises(multidc.TopologyError, match="already up with a different topology"):
        api.create(Request(str(other), "k"))
    assert runner.commands == []


def test_down_of_an_unrecorded_kind_environment_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multidc.cli import main

    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    runner = RecordingRunner()
    monkeypatch.setitem(registry.PROVIDERS, "kind", KubeProvider(KIND, runner, FakeKms()))
    with pytest.raises(SystemExit) as done:
        main(["down", "--name", "typo", "--provider", "kind"])
    assert done.value.code == 4 and runner.commands == []  # never `kind delete cluster --name primary`


def test_the_configuration_is_read_as_the_environment_records_it_now(
    kind_env: tuple[RecordingRunner, FakeKms, EnvPaths],
) -> None:
    _, _, paths = kind_env
    env = multidc.attach("k")
    assert env.configuration.is_empty()
    st = load(paths)
    assert st is not None
    st.topology["configuration"] = {
        "policies": [{"name": "reader", "rules": 'path "secret/*" { capabilities = ["read"] }'}]
    }
    st.save(paths)  # what `configure -f` records, from this process or another
    assert [p.name for p in env.configuration.policies] == ["reader"]


def test_env_on_kind_reads_what_up_recorded_without_loading_the_api(
    kind_env: tuple[RecordingRunner, FakeKms, EnvPaths], tmp_path: Path
) -> None:
    """`eval "$(multidc env)"` starts as light on kind as on netns: `up` (any provider) records the export lines."""
    import subprocess
    import sys

    from multidc import api
    from multidc.providers.base import Request

    api.create(Request(None, "k"))
    expected = multidc.attach("k").exports("secondary")
    code = (
        "import sys\nfrom multidc.cli import cli\ncli.main(args=['env', 'secondary', '--name', 'k'], "
        "standalone_mode=False)\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"MULTIDC_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    printed = dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines())
    assert printed == expected
    loaded = set(proc.stderr.split())
    assert "multidc.api" not in loaded and not loaded & {"hvac", "pydantic", "rich", "requests"}


def test_verify_on_kube_is_refused_in_one_line_before_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from multidc.cli import cli

    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    made = {"contexts": ["a", "b", "c"], "vips": VIPS, "kms_url": "http://10.0.0.9:8200"}
    State(env="k", topology={}, port_base=0, binary={}, phase="up", provider="kube", made=made).save(
        EnvPaths(tmp_path / "k")
    )
    runner = RecordingRunner()
    monkeypatch.setitem(registry.PROVIDERS, "kube", KubeProvider(KUBE, runner, FakeKms()))
    monkeypatch.setattr("multidc.verify.run.verify", lambda *a: pytest.fail("verify ran"))
    for argv in ([], ["--nemesis", "random"], ["--scenario", "leader-kill"]):
        out = CliRunner().invoke(cli, ["verify", *argv, "--name", "k"])
        assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
        assert "faults are not available on the kube provider" in out.output
    assert runner.commands == []
