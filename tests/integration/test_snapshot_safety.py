"""`snapshot save` and `snapshot restore` on real servers lose nothing: save writes only new files (or, with --force,
regular ones), restore changes nothing of the environment unless the snapshot and FILE.keys are proven, and after a
refused restore a restarted DC still unseals."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

import multidc
from multidc.errors import ProviderError
from multidc.providers.netns import snapshots

from .conftest import Live, wait_for

pytestmark = pytest.mark.integration


def _secrets(env: Live) -> dict[str, bytes]:
    folder = env.state_dir / env.name / "secrets"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refused(env: Live, *argv: str, why: str) -> None:
    out = env.run(*argv, check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and why in out.stderr, (out.returncode, out.stderr)


def _copy(snap: Path, to: Path, data: bytes | None = None, **edit: str) -> Path:
    """`snap` as `to` (its bytes, or `data`), with a .keys file whose sha256 still matches, as the audit kept it."""
    data = snap.read_bytes() if data is None else data
    keys = json.loads(Path(f"{snap}.keys").read_text()) | edit | {"sha256": hashlib.sha256(data).hexdigest()}
    to.write_bytes(data)
    Path(f"{to}.keys").write_text(json.dumps(keys))
    return to


def _read(env: Live, dc: str, path: str) -> object:
    with multidc.attach(env.name) as handle:
        c = handle.client(dc, consistency="eventual")
        return c.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"]


def _write(env: Live, path: str, value: object) -> None:
    with multidc.attach(env.name) as handle:
        handle.client("primary").secrets.kv.v2.create_or_update_secret(path=path, secret={"v": value})


def _two(live, monkeypatch) -> tuple[Live, Live]:  # type: ignore[no-untyped-def]
    """Environments A (restored into) and B (another one, whose snapshot is restored), both up."""
    a: Live = live()
    b: Live = live()
    a.run("up")
    b.run("up")
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(a.state_dir))  # A's data read and written through the Python API
    return a, b


def _restart_dc_and_use(env: Live, dc: str) -> None:
    """What the audit did after a failed restore: a DC's server killed and started again must unseal and serve, and
    `up` must still find the environment up."""
    env.run("chaos", "kill", dc)
    env.run("chaos", "start", dc)
    wait_for(lambda: env.json("status")["healthy"], 60, f"{dc} back, unsealed, and the environment healthy")
    assert "already up" in env.run("up").stdout


def test_snapshot_save_writes_only_a_new_file_or_a_regular_one_with_force(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    here = tmp_path / "targets"
    here.mkdir()
    victim = here / "victim"
    victim.write_text("precious")
    os.mkfifo(here / "fifo")
    # A device like /dev/null (1, 3), made here: the real /dev/null is never a target, even if this regressed
    os.mknod(here / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (here / "link").symlink_to(victim)
    (here / "dangling").symlink_to(here / "nowhere")
    (here / "dir").mkdir()
    (here / "existing").write_text("an older file")
    (here / "fresh.keys").write_text("an older keys file")
    (here / "keyslink.keys").symlink_to(victim)
    refused = {
        "fifo": "is a FIFO",
        "null": "is a character device",
        "link": "is a symbolic link",
        "dangling": "is a symbolic link",
        "existing": "already exists; give a new path, or --force",
        "fresh": "fresh.keys: already exists",
        "keyslink": "keyslink.keys: is a symbolic link",
    }
    before = {p.name: os.lstat(p) for p in here.iterdir()}
    for name, why in refused.items():
        _refused(env, "snapshot", "save", str(here / name), why=why)
    for name in ("fifo", "null", "link", "keyslink"):  # --force replaces regular files only
        _refused(env, "snapshot", "save", str(here / name), "--force", why="is a")
    _refused(env, "snapshot", "save", str(here / "dir" / ""), why="is a directory")
    after = {p.name: os.lstat(p) for p in here.iterdir()}
    assert after.keys() == before.keys(), sorted(after.keys() - before.keys())  # no new file, no temporary one
    for name, st in before.items():  # every entry is what it was: kind, device numbers, inode, size
        now = after[name]
        assert (now.st_mode, now.st_rdev, now.st_ino, now.st_size) == (st.st_mode, st.st_rdev, st.st_ino, st.st_size)
    assert victim.read_text() == "precious" and (here / "existing").read_text() == "an older file"
    # A new path: both files, the owner's only; a regular file with --force: replaced by a whole snapshot
    assert "saved" in env.run("snapshot", "save", str(here / "new")).stdout
    env.run("snapshot", "save", str(here / "existing"), "--force")
    for name in ("new", "existing"):
        snap = here / name
        keys = json.loads(Path(f"{snap}.keys").read_text())
        assert keys["sha256"] == hashlib.sha256(snap.read_bytes()).hexdigest()
        snapshots.check_archive(snap, snap.read_bytes())
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (snap, Path(f"{snap}.keys")))


def test_a_refused_restore_changes_nothing_and_a_restarted_dc_unseals(live, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a, b = _two(live, monkeypatch)
    snap = tmp_path / "b.snap"
    b.run("snapshot", "save", str(snap))
    _write(a, "kept", "a's")
    secrets = _secrets(a)
    # The audit's file: B's snapshot cut to 8000 bytes, its keys' sha256 made to match
    cut = _copy(snap, tmp_path / "cut.snap", snap.read_bytes()[:8000])
    _refused(a, "snapshot", "restore", str(cut), why="not a complete Raft snapshot")
    assert _secrets(a) == secrets
    _restart_dc_and_use(a, "secondary")
    # OpenBao refusing the snapshot after A's KMS took B's key (as it did the cut file before multidc checked the
    # archive and rehearsed it): the checks up front are stepped over by sending A's DCs (not the rehearsal's scratch
    # server) the cut bytes in place of the proven snapshot
    with multidc.attach(a.name) as env:
        dcs = {env.address(dc) for dc in env.datacenters}
    real_send = snapshots.send

    def cut_on_a(url: str, ca: str | None, token: str, data: bytes, force: bool) -> str:
        return real_send(url, ca, token, data[:8000] if url in dcs else data, force)

    monkeypatch.setattr(snapshots, "send", cut_on_a)
    with (
        multidc.attach(a.name) as env,
        pytest.raises(ProviderError, match=r"refused \(HTTP 500.*unexpected EOF.*nothing changed"),
    ):
        env.snapshot_restore(snap)
    monkeypatch.setattr(snapshots, "send", real_send)
    assert _secrets(a) == secrets
    _restart_dc_and_use(a, "tertiary")  # A's key is back in its KMS: a restarted DC unseals A's data
    assert _read(a, "tertiary", "kept") == {"v": "a's"}


def test_a_root_token_the_snapshot_does_not_know_is_refused_before_anything(live, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a, b = _two(live, monkeypatch)
    _write(a, "drill", "saved")
    own = tmp_path / "a.snap"
    a.run("snapshot", "save", str(own))
    other = tmp_path / "b.snap"
    b.run("snapshot", "save", str(other))
    _write(a, "drill", "after")
    secrets = _secrets(a)
    bogus = "s.bogusbogusbogusbogus00"
    for snap in (own, other):  # the audit's edit (sha256 still valid), on A's own snapshot and on another's
        edited = _copy(snap, tmp_path / f"edited-{snap.name}", root_token=bogus)
        _refused(a, "snapshot", "restore", str(edited), why="its root token is not a root token of")
        assert _secrets(a) == secrets
        assert _read(a, "secondary", "drill") == {"v": "after"}  # nothing restored
    # B's snapshot with A's transit key: the key does not open it
    mixed = _copy(
        other,
        tmp_path / "mixed.snap",
        transit_key_backup=json.loads(Path(f"{own}.keys").read_text())["transit_key_backup"],
    )
    _refused(a, "snapshot", "restore", str(mixed), why="its transit key does not open")
    assert _secrets(a) == secrets
    _restart_dc_and_use(a, "secondary")
    # The genuine snapshot is still restorable, with the root token A has always had
    a.run("snapshot", "restore", str(own))
    assert _secrets(a) == secrets
    assert _read(a, "tertiary", "drill") == {"v": "saved"}
    with multidc.attach(a.name) as env:  # nothing of the rehearsals is left: their scratch key, their directory
        kms = env.client("kms")
        assert kms.secrets.transit.list_keys()["data"]["keys"] == [f"{a.name}-autounseal"]
    assert not list((a.state_dir / a.name).glob("rehearsal-*"))
