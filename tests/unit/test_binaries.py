"""The server binary is probed (`version`) once per change of the file, not at every command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multidc import binaries
from multidc.errors import PrerequisiteError


def fake(path: Path, says: str, runs: Path) -> None:
    path.write_text(f"#!/bin/sh\necho run >> {runs}\necho '{says}'\n")
    path.chmod(0o755)


def test_the_version_is_remembered_until_the_binary_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(state))
    server, runs = tmp_path / "vault", tmp_path / "runs"
    fake(server, "Vault v1.15.0", runs)
    first = binaries.resolve(str(server))
    again = binaries.resolve(str(server))
    assert first == again == binaries.ServerBinary(str(server), "vault", "v1.15.0")
    assert runs.read_text().count("run") == 1
    assert (state / ".binaries.json").stat().st_mode & 0o777 == 0o600
    fake(server, "OpenBao v2.7.2 (abc)", runs)  # replaced: probed again
    assert binaries.resolve(str(server)).flavour == "openbao"
    assert runs.read_text().count("run") == 2
    server.chmod(0o644)  # no longer executable: the change time moved, so it is run (and refused) again
    with pytest.raises(PrerequisiteError, match="cannot run"):
        binaries.resolve(str(server))


def test_something_else_is_refused_and_not_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    server, runs = tmp_path / "other", tmp_path / "runs"
    fake(server, "hello", runs)
    for _ in range(2):
        with pytest.raises(PrerequisiteError, match="neither OpenBao nor Vault"):
            binaries.resolve(str(server))
    assert runs.read_text().count("run") == 2 and not os.path.exists(tmp_path / ".binaries.json")
