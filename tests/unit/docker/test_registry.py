"""`down` and `list` find a docker environment by its labels when its state directory is gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc.cli import cli
from multidc.providers import registry
from multidc.providers.docker.provider import DockerProvider
from multidc.runner import RecordingRunner

from .conftest import answers


def test_down_without_a_state_directory_removes_the_labelled_containers_volumes_and_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    labelled = {"envs": ["gone1"], "container": ["mdc.gone1.kms"], "volume": ["mdc.gone1.kms.data"]}
    labelled["network"] = ["mdc.gone1"]
    runner = RecordingRunner([answers(labelled=labelled)])
    monkeypatch.setitem(registry.PROVIDERS, "docker", DockerProvider(runner))
    assert registry.remover("gone1").name == "docker"
    result = CliRunner().invoke(cli, ["down", "--name", "gone1"])
    assert result.exit_code == 0, result.output
    assert "gone1: removed (1 container(s), 1 volume(s), 1 network(s))" in result.output
    assert "docker network rm mdc.gone1" in runner.commands


def test_an_environment_nobody_finds_goes_to_netns_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    assert registry.remover("other1").name == "netns"


def test_list_names_the_docker_provider_for_leftovers_without_a_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    runner = RecordingRunner([answers(labelled={"envs": ["gone2"], "container": ["mdc.gone2.kms"]})])
    monkeypatch.setitem(registry.PROVIDERS, "docker", DockerProvider(runner))
    result = CliRunner().invoke(cli, ["list", "--output", "json"])
    assert result.exit_code == 0, result.output
    (entry,) = [e for e in json.loads(result.output) if e["name"] == "gone2"]
    assert entry["provider"] == "docker" and entry["health"] == "leftover"
