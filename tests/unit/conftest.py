"""Unit tests never reach a real docker engine: the docker provider answers through a recording runner that finds
nothing (`list` and `down --all` ask every provider what it finds on the host)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from multidc.providers import registry
from multidc.providers.docker.provider import DockerProvider
from multidc.runner import RecordingRunner


@pytest.fixture(autouse=True)
def _no_docker_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.PROVIDERS, "docker", DockerProvider(RecordingRunner()))
    yield
