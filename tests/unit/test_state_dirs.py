"""The state root's guarantees: removal is restartable, locks exclude a second command and never outlive it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from multidc import locks, paths
from multidc.errors import BusyError
from multidc.providers.netns import provider


def make_env(root: Path, name: str, files: int = 50) -> paths.EnvPaths:
    env = paths.env_paths(name, root)
    for i in range(files):
        paths.write_private(env.root / "nodes" / f"n{i % 5}" / f"f{i}", "secret")
    paths.write_private(env.state, "{}")
    return env


def test_an_interrupted_removal_leaves_a_tombstone_that_the_next_one_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "state"
    env = make_env(root, "e1")
    real_rmtree = shutil.rmtree

    def killed_halfway(path: Path, *args: object, **kwargs: object) -> None:
        victims = sorted(Path(path).rglob("f*"))
        for p in victims[: len(victims) // 2]:
            p.unlink()
        raise KeyboardInterrupt  # stands for the SIGKILL: nothing after this line runs

    monkeypatch.setattr(paths.shutil, "rmtree", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        paths.remove_env_dir(env)
    monkeypatch.setattr(paths.shutil, "rmtree", real_rmtree)
    assert not env.root.exists(), "the half directory must not look like an environment"
    tombs = list((root / paths.TOMBSTONES).iterdir())
    assert len(tombs) == 1 and tombs[0].name.startswith("e1.")
    assert "e1" not in provider.environments(root)
    assert not (root / paths.TOMBSTONES).exists(), "listing environments finishes the removal"


def test_removal_refuses_a_directory_outside_the_state_root(tmp_path: Path) -> None:
    root = tmp_path / "state"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    root.mkdir(mode=0o700)
    (root / "e2").symlink_to(outside)
    with pytest.raises(Exception, match="symbolic link|does not lie inside"):
        paths.remove_env_dir(paths.EnvPaths(root / "e2"))
    assert (outside / "precious").exists()


def test_leftover_directories_without_a_state_file_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "state"
    env = make_env(root, "e3")
    env.state.unlink()
    (root / "not-an-env.d").mkdir()
    assert "e3" in provider.environments(root)
    assert "not-an-env.d" not in provider.environments(root)


LK1, LK2 = f"lk{os.getpid() % 100000}a", f"lk{os.getpid() % 100000}b"  # lock names are host-wide as root
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from multidc import locks
    with locks.hold(sys.argv[1], "up", Path(sys.argv[2])):
        print("held", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, LK1, str(tmp_path / "state")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_holder_is_refused_with_the_first_named(holder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BusyError) as busy, locks.hold(LK1, "down", tmp_path / "state"):
        pass
    assert f"pid {holder.pid}" in str(busy.value) and "`multidc up`" in str(busy.value)
    assert busy.value.exit_code == 3


def test_a_waiter_gets_the_lock_when_the_holder_ends(holder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    said: list[str] = []
    holder.stdin.close()  # the holder releases and exits
    with locks.hold(LK1, "up", tmp_path / "state", wait=60, on_wait=said.append):
        pass
    assert holder.wait(timeout=30) == 0


def test_a_killed_holder_leaves_no_lock(holder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    holder.kill()
    holder.wait()
    with locks.hold(LK1, "down", tmp_path / "state"):
        pass


def test_locks_are_reentrant_and_leave_no_file(tmp_path: Path) -> None:
    root = tmp_path / "state"
    with locks.hold(LK2, "verify", root), locks.hold(LK2, "chaos", root):
        lock_file = locks.folder(root) / f"{LK2}.lock"
        assert lock_file.exists()
    assert not lock_file.exists()
    assert LK2 + ".lock" not in os.listdir(locks.folder(root))
