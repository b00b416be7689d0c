"""What `snapshot save` may write and what `snapshot restore` reads, without a server: only new files or (--force)
regular files of the user's, never through a symlink planted after the check; a snapshot archive read in full."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from multidc.errors import TopologyError
from multidc.providers.netns.snapshots import check_archive, check_target, write_file


def _node(tmp_path: Path) -> Path:
    """A character device like /dev/null (1, 3), made here: if a regression wrote to it, only this node changes."""
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return node


def test_only_a_new_path_or_with_force_a_regular_file_is_a_target(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.write_text("precious")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(kept)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dir").mkdir()
    refused = {
        "fifo": "is a FIFO",
        "link": "is a symbolic link",
        "dangling": "is a symbolic link",
        "dir": "is a directory",
    }
    if os.geteuid() == 0:
        refused[_node(tmp_path).name] = "is a character device"
    for name, why in refused.items():
        for force in (False, True):
            with pytest.raises(TopologyError, match=why):
                check_target(tmp_path / name, force)
    with pytest.raises(TopologyError, match="already exists; give a new path, or --force"):
        check_target(kept, False)
    assert check_target(kept, True) is not None
    assert check_target(tmp_path / "new", False) is None
    with pytest.raises(TopologyError, match="no directory"):
        check_target(tmp_path / "missing" / "new", False)
    os.link(kept, tmp_path / "other-name")  # a hard link: its content is also another name's
    with pytest.raises(TopologyError, match="linked under another name"):
        check_target(kept, True)
    assert kept.read_text() == "precious"


def test_a_symlink_planted_after_the_check_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    new = tmp_path / "snap"
    found = check_target(new, False)
    new.symlink_to(victim)  # planted between the check and the write
    with pytest.raises(TopologyError, match="appeared or changed while the snapshot was taken"):
        write_file(new, b"secret", found)
    existing = tmp_path / "old"
    existing.write_text("old")
    found = check_target(existing, True)
    existing.unlink()
    existing.symlink_to(victim)
    with pytest.raises(TopologyError, match="appeared or changed while the snapshot was taken"):
        write_file(existing, b"secret", found)
    assert victim.read_text() == "precious" and new.is_symlink() and existing.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old", "snap", "victim"]  # no temporary file left


def test_a_new_file_and_a_forced_one_are_the_owners_only(tmp_path: Path) -> None:
    new = tmp_path / "snap"
    write_file(new, b"one", check_target(new, False))
    assert new.read_bytes() == b"one" and stat.S_IMODE(new.stat().st_mode) == 0o600
    new.chmod(0o644)
    write_file(new, b"two", check_target(new, True))
    assert new.read_bytes() == b"two" and stat.S_IMODE(new.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]


def _archive(members: dict[str, bytes], sums: dict[str, bytes] | None = None) -> bytes:
    listed = sums if sums is not None else members
    members = {
        **members,
        "SHA256SUMS": b"".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n".encode() for k, v in listed.items()),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_a_snapshot_is_read_in_full_and_its_digests_compared(tmp_path: Path) -> None:
    good = _archive({"meta.json": b"{}", "state.bin": os.urandom(50_000)})
    check_archive(tmp_path / "s", good)
    for cut in (len(good) // 2, len(good) - 10, 20):
        with pytest.raises(TopologyError, match="not a complete Raft snapshot"):
            check_archive(tmp_path / "s", good[:cut])
    with pytest.raises(TopologyError, match="SHA256SUMS does not match"):
        check_archive(
            tmp_path / "s", _archive({"meta.json": b"{}", "state.bin": b"x"}, {"meta.json": b"{}", "state.bin": b"y"})
        )
    with pytest.raises(TopologyError, match="SHA256SUMS does not match"):
        check_archive(tmp_path / "s", _archive({"meta.json": b"{}"}))  # no state.bin
    with pytest.raises(TopologyError, match="not a complete Raft snapshot"):
        check_archive(tmp_path / "s", b"not gzip at all")
