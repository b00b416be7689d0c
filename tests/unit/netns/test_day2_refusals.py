"""`upgrade` and `recover` refusals through a recording Host: an older version, or a survivor whose Raft log is older
than another DC's, is one line, exit 2, before anything is fetched, stopped or wiped. What they do on real servers:
tests/integration/test_day2.py."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from multidc import binaries
from multidc.errors import PrerequisiteError
from multidc.providers.netns.raftlog import Position, Unreadable, last_position

from .conftest import FakeHost
from .test_membership import make_env, refused


def free_port_base() -> int:
    """A host port base whose ports nothing listens on: the version probe then reaches no server, ours or another's."""
    for base in range(28200, 29000, 20):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", base + 1)) != 0:
                return base
    raise AssertionError("no free port base")


@pytest.fixture
def fetches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every version `upgrade` tries to download (none is: the package index is not asked)."""
    monkeypatch.setenv("MULTIDC_CACHE_DIR", str(tmp_path / "cache"))
    asked: list[str] = []

    def fetch(version: str, target: Path) -> None:
        asked.append(version)
        raise PrerequisiteError(f"version {version}: fetching is off in this test")

    monkeypatch.setattr(binaries, "_fetch", fetch)
    return asked


@pytest.fixture
def env(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeHost, Path]]:
    """An environment as `up` leaves it, all three DCs on OpenBao 2.7.2."""
    host = make_env(monkeypatch, "d2", port_base=free_port_base())
    yield host, state_dir / "d2"


def test_upgrade_to_an_older_version_is_refused_before_anything_is_fetched(
    env: tuple[FakeHost, Path], fetches: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    host, root = env
    before = (root / "state.json").read_bytes()
    said = refused(capsys, "upgrade", "--to", "2.6.1", "--name", "d2")
    assert said.startswith("multidc: upgrade --to 2.6.1: older than the 2.7.2 that primary, secondary, tertiary run")
    assert "--allow-downgrade" in said
    assert fetches == [] and host.calls == [] and (root / "state.json").read_bytes() == before
    assert not (Path(binaries.cache_root()) / "openbao" / "2.6.1").exists()  # not even an empty cache directory


def test_a_downgrade_asked_for_goes_on_and_versions_compare_as_numbers(
    env: tuple[FakeHost, Path], fetches: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # the flag lets it through to the download (refused here by the test's fetch, exit 2 all the same)
    said = refused(capsys, "upgrade", "--to", "2.6.1", "--allow-downgrade", "--name", "d2")
    assert fetches == ["2.6.1"] and "fetching is off" in said
    from multidc.providers.netns.upgrade import release

    # 2.10.0 is newer than 2.7.2 (a string comparison says otherwise): no refusal, on to the download
    said = refused(capsys, "upgrade", "--to", "2.10.0", "--name", "d2")
    assert fetches == ["2.6.1", "2.10.0"] and "fetching is off" in said
    assert release("2.10.0") > release("2.9.9") > release("v2.7.2") == (2, 7, 2) and release("latest") == ()
    assert env[0].calls == []


def _snapshot(root: Path, dc: str, term: int, index: int) -> None:
    """What OpenBao leaves after compacting its log: a snapshot whose meta.json says where the log ended."""
    meta = root / "nodes" / dc / "raft" / "raft" / "snapshots" / f"{term}-{index}-1" / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"ID": f"{term}-{index}-1", "Index": index, "Term": term}))


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _kill(host: FakeHost, root: Path, *dcs: str) -> None:
    pids = json.loads((root / "state.json").read_text())["pids"]
    for dc in dcs:
        host.running.pop(pids[f"node:{dc}"])


def test_recover_refuses_a_survivor_older_than_another_dc_before_anything(
    env: tuple[FakeHost, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    host, root = env
    _snapshot(root, "primary", 3, 43)  # running, holds the last acknowledged write
    _snapshot(root, "secondary", 3, 43)
    _snapshot(root, "tertiary", 3, 42)
    _kill(host, root, "secondary", "tertiary")
    files = _files(root)
    said = refused(capsys, "recover", "tertiary", "--name", "d2")
    assert said == (
        "multidc: recover: primary's Raft log is newer than tertiary's (index 43, term 3; tertiary's index 42, "
        "term 3): recovering tertiary would wipe writes only primary holds; run `multidc recover primary --name d2` "
        "(or add --allow-data-loss to lose them)"
    )
    # a later term wins over a longer log of an earlier one, as Raft orders logs
    assert host.calls == [] and _files(root) == files  # nothing stopped, started, wiped or recorded
    _snapshot(root, "secondary", 4, 40)
    files = _files(root)
    assert "secondary's Raft log is newer than primary's" in refused(capsys, "recover", "primary", "--name", "d2")
    assert host.calls == [] and _files(root) == files


def test_recover_refuses_when_a_dcs_raft_data_cannot_be_read(
    env: tuple[FakeHost, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    host, root = env
    _kill(host, root, "secondary", "tertiary")
    db = root / "nodes" / "secondary" / "raft" / "raft" / "raft.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\0" * 8192)
    said = refused(capsys, "recover", "--name", "d2")
    assert said.startswith("multidc: recover: cannot tell how new secondary's data is (not a BoltDB file")
    assert host.calls == [] and db.read_bytes() == b"\0" * 8192


def test_where_a_raft_log_ends(tmp_path: Path) -> None:
    assert last_position(tmp_path / "none") == Position(0, 0)  # a node that never held data
    _snapshot(tmp_path, "a", 2, 10)
    _snapshot(tmp_path, "a", 3, 7)
    assert last_position(tmp_path / "nodes" / "a" / "raft") == Position(3, 7)
    assert Position(3, 7) > Position(2, 10) > Position(2, 9)
    (tmp_path / "nodes" / "a" / "raft" / "raft" / "raft.db").write_bytes(b"bolt? no")
    with pytest.raises(Unreadable, match="not a BoltDB file"):
        last_position(tmp_path / "nodes" / "a" / "raft")
