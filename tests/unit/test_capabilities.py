"""What each provider says it can do, and what is refused on its account before anything is touched: the random
nemesis draws only fault kinds the provider makes, and a kind or operation it lacks is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc.cli import cli
from multidc.errors import MultidcError
from multidc.providers import registry
from multidc.providers.base import DAY2, FAULT_KINDS
from multidc.providers.docker.provider import DockerProvider
from multidc.providers.kube.manifests import KIND, KUBE
from multidc.providers.kube.provider import KubeProvider
from multidc.providers.netns.provider import NetnsProvider
from multidc.runner import RecordingRunner

from .docker.conftest import answers, environment


def test_each_provider_says_what_it_can_do() -> None:
    netns = NetnsProvider().capabilities()
    assert netns.faults == FAULT_KINDS and netns.operations == DAY2 and netns.kv_unseal and netns.configuration
    docker = DockerProvider(RecordingRunner()).capabilities()
    assert set(docker.faults) == set(FAULT_KINDS) - {"delay", "loss"} and docker.operations == ()
    assert not docker.kv_unseal and not docker.configuration
    kind = KubeProvider(KIND).capabilities()
    assert kind.faults == FAULT_KINDS and kind.operations == ()
    assert KubeProvider(KUBE).capabilities().faults == ()


@pytest.fixture
def docker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RecordingRunner:
    """A docker environment `t` as `up` records it, its provider recording every docker command."""
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    runner = RecordingRunner()
    runner.responders.append(answers())
    env = environment(tmp_path, runner)
    assert env.state is not None
    env.state.phase = "up"
    env.state.save(env.plan.paths)
    monkeypatch.setitem(registry.PROVIDERS, "docker", DockerProvider(runner))
    return runner


class Ran(MultidcError):
    """verify reached: what it was given is in the message's place"""


def test_the_random_nemesis_on_docker_draws_no_delay_or_loss(
    docker_env: RecordingRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = []

    def verify(env: object, names: object, duration: float, report: object, progress: object, *rest: object) -> None:
        given.append(rest[1])
        raise Ran("stopped before the run")

    monkeypatch.setattr("multidc.verify.run.verify", verify)
    out = CliRunner().invoke(cli, ["verify", "--nemesis", "random", "--seed", "7", "--duration", "60", "--name", "t"])
    assert "stopped before the run" in out.output
    [schedule] = given
    assert schedule.kinds == ["kill", "pause", "partition", "one-way", "bridge", "kms"]  # before: delay and loss too
    assert schedule.faults and not {f.kind for f in schedule.faults} & {"delay", "loss"}


def test_a_fault_kind_docker_lacks_is_refused_in_one_line_before_anything(
    docker_env: RecordingRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("multidc.verify.run.verify", lambda *a: pytest.fail("verify ran"))
    out = CliRunner().invoke(cli, ["verify", "--nemesis", "random", "--faults", "kill,loss", "--name", "t"])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert "multidc: --faults loss: the docker provider cannot shape links yet" in out.output
    out = CliRunner().invoke(cli, ["chaos", "delay", "primary", "secondary", "50", "--name", "t"])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert "multidc: delay: the docker provider cannot shape links yet" in out.output  # as before
    out = CliRunner().invoke(cli, ["verify", "--scenario", "wan-leader-kill", "--name", "t"])
    assert out.exit_code == 2 and "--scenario wan-leader-kill: delay: the docker provider cannot" in out.output
    assert not [c for c in docker_env.commands if c.split()[1] not in ("inspect", "ps", "network", "version")]
