"""`dc add` / `dc remove` on a kind environment: refused with one line (exit 2), no command run, nothing recorded."""

from __future__ import annotations

import pytest

from multidc.cli import main
from multidc.paths import EnvPaths
from multidc.runner import RecordingRunner

from .conftest import FakeKms


@pytest.mark.parametrize(("argv", "what"), [(["add", "east"], "dc add"), (["remove", "secondary"], "dc remove")])
def test_the_kind_provider_refuses_membership_changes_in_one_line(
    kind_env: tuple[RecordingRunner, FakeKms, EnvPaths],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    what: str,
) -> None:
    runner, _, paths = kind_env
    before = paths.state.read_bytes()
    with pytest.raises(SystemExit) as status:
        main(["dc", *argv, "--name", "k"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status.value.code == 2 and err == [
        f"multidc: {what}: the kind provider cannot do this yet (the Bank-Vaults operator owns the pods); use an "
        "environment of the netns provider"
    ]
    assert runner.commands == [] and paths.state.read_bytes() == before
