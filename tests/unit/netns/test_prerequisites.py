"""A user without root learns in one line what to run instead."""

from __future__ import annotations

import pytest

from multidc.errors import PrerequisiteError
from multidc.providers.netns import namespaces


def test_without_root_the_netns_provider_names_sudo_and_the_docker_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces.os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError) as refused:
        namespaces.check_host()
    said = str(refused.value)
    assert "\n" not in said and "sudo" in said and "--provider docker" in said
