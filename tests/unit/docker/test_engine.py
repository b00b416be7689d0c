"""Docker commands: the network, finding and removing only what carries the environment's labels."""

from __future__ import annotations

import pytest

from multidc.errors import ProviderError
from multidc.providers.docker import engine
from multidc.runner import Completed, RecordingRunner

from .conftest import answers


def test_a_network_takes_the_subnet_docker_offers_and_asks_again_when_another_took_it() -> None:
    tries = iter([1, 0])

    def overlap(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        if argv[:3] == ("docker", "network", "create") and "--subnet" in argv:
            return Completed(argv, next(tries), "", "Error response from daemon: Pool overlaps with other one")
        return None

    runner = RecordingRunner([overlap, answers(subnet="172.22.0.0/16")])
    engine.create_network(runner, "mdc.t", "t", None)
    creates = [c for c in runner.commands if c.startswith("docker network create")]
    assert len(creates) == 4  # probe, taken, probe, made
    assert creates[-1].endswith("--subnet 172.22.0.0/16 mdc.t")
    assert "docker network rm mdc.t.probe" in runner.commands
    assert all("--label multidc.io/environment=t --label multidc.io/provider=docker" in c for c in creates)


def test_remove_takes_only_what_carries_the_environment_s_labels_containers_first() -> None:
    labelled = {"container": ["mdc.t.kms", "mdc.t.kms.net"], "volume": ["mdc.t.kms.data"], "network": ["mdc.t"]}
    runner = RecordingRunner([answers(labelled=labelled)])
    removed = engine.remove(runner, "t")
    assert removed == {"container": ["mdc.t.kms", "mdc.t.kms.net"], "volume": ["mdc.t.kms.data"], "network": ["mdc.t"]}
    removals = [c for c in runner.commands if " rm " in c]
    assert removals == [
        "docker rm -f -v mdc.t.kms mdc.t.kms.net",
        "docker volume rm mdc.t.kms.data",
        "docker network rm mdc.t",
    ]
    listing = [c for c in runner.commands if " rm " not in c]
    assert all("--filter label=multidc.io/environment=t" in c for c in listing)
    assert all("--filter label=multidc.io/provider=docker" in c for c in listing)


def test_an_existing_network_of_someone_else_is_never_removed() -> None:
    # kind's network carries no label of ours: it is not listed, so never removed
    runner = RecordingRunner([answers(labelled={"container": ["mdc.t.kms"]})])
    engine.remove(runner, "t")
    assert not [c for c in runner.commands if "network rm" in c]


def test_a_failed_removal_names_what_is_left() -> None:
    def busy(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        if argv[:3] == ("docker", "network", "rm"):
            return Completed(argv, 1, "", "Error response from daemon: network mdc.t has active endpoints")
        return None

    runner = RecordingRunner([busy, answers(labelled={"network": ["mdc.t"]})])
    with pytest.raises(ProviderError, match="network.s. mdc.t: Error response from daemon: network mdc.t has active"):
        engine.remove(runner, "t")


def test_environments_are_found_by_label_without_a_state_directory() -> None:
    runner = RecordingRunner([answers(labelled={"envs": ["a1", "b2"]})])
    assert engine.environments(runner) == ["a1", "b2"]
