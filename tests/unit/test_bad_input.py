"""Bad input of every kind: one line on stderr, exit 2, and nothing touched (item by item from the hardening issue)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multidc import api
from multidc.cli import main
from multidc.errors import TopologyError

ESCAPES = ["../victim", "/abs/dir", ".", "..", "", "a/b", "UPPER", "x" * 12]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.fixture
def victim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state root at tmp/s/state and a directory beside it that a name like ../victim would reach."""
    root = tmp_path / "s" / "state"
    root.mkdir(parents=True, mode=0o700)
    (tmp_path / "s").chmod(0o700)
    target = tmp_path / "s" / "victim"
    target.mkdir()
    (target / "precious").write_text("keep me")
    (root / "other").mkdir(mode=0o700)
    (root / "other" / "state.json").write_text("{}")
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(root))
    return target


@pytest.mark.parametrize("name", ESCAPES)
@pytest.mark.parametrize(
    "command",
    [
        ["down"],
        ["status"],
        ["env"],
        ["chaos", "kill", "primary"],
        ["chaos", "heal"],
        ["verify"],
        ["configure"],
        ["up"],
        ["plan"],
    ],
)
def test_names_that_escape_the_state_root_are_refused_before_anything(
    command: list[str], name: str, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*command, "--name", name], capsys)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "environment name" in err, err
    assert (victim / "precious").read_text() == "keep me"
    assert (victim.parent / "state" / "other" / "state.json").exists()


@pytest.mark.parametrize("name", ["../victim", "/abs/dir", ".", ""])
def test_python_api_refuses_the_same_names(name: str, victim: Path) -> None:
    with pytest.raises(TopologyError, match="environment name"):
        api.attach(name)
    with pytest.raises(TopologyError, match="environment name"):
        api.up(name=name)  # refused before anything is made (an empty name is not "the default")
    assert (victim / "precious").exists()
    assert sorted(p.name for p in victim.parent.joinpath("state").iterdir()) == ["other"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["status", "--output", "xml"], "'xml' is not one of"),
        (["plan", "-f", "."], "is a directory"),
        (["chaos", "delay", "primary", "secondary", "-5"], "-5 is not in the range 0<="),
        (["verify", "--duration", "-5"], "--duration"),
        (["verify", "--duration", "0"], "--duration"),
        (["verify", "--duration", "nan"], "--duration: nan is not a number"),
        (["no-such-command"], "No such command"),
        (["up", "--bogus"], "No such option"),
    ],
)
def test_parser_errors_are_one_line_and_exit_2(
    args: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    code, _, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("multidc: ") and needle in lines[0], err
    assert "Usage:" not in err and "--help" in err


def test_binary_garbage_topology_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "t.yaml"
    garbage.write_bytes(bytes(range(256)) * 4)
    code, _, err = run(["plan", "-f", str(garbage)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not UTF-8 text" in err, err


def test_binary_garbage_and_empty_histories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "h.jsonl"
    garbage.write_bytes(b"\xff\xfe\x00garbage" * 50)
    code, _, err = run(["check", str(garbage)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not UTF-8 text" in err, err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    code, out, err = run(["check", str(empty)], capsys)
    assert code == 2 and "nothing to check" in err and "linearizable" not in out, (out, err)


def test_a_datacenter_named_kms_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text("datacenters: [primary, kms]\n")
    code, _, err = run(["plan", "-f", str(topo)], capsys)
    assert code == 2 and "reserved for the central KMS" in err and len(err.strip().splitlines()) == 1, err


def test_help_and_version_of_a_subcommand_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["down", "--help"], capsys)
    assert code == 0 and "Usage:" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a directory as another user")
def test_a_state_root_others_can_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(shared))
    code, _, err = run(["status", "--name", "x1"], capsys)
    assert code == 2 and "writable by others (mode 0777)" in err and len(err.strip().splitlines()) == 1, err

    foreign = tmp_path / "foreign"
    (foreign / "x1").mkdir(parents=True, mode=0o700)
    foreign.chmod(0o700)
    os.chown(foreign / "x1", 1234, 1234)
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(foreign))
    code, _, err = run(["down", "--name", "x1"], capsys)
    assert code == 2 and "owned by uid 1234" in err, err
    assert (foreign / "x1").exists()

    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "link"))
    code, _, err = run(["status", "--name", "x1"], capsys)
    assert code == 2 and "symbolic link" in err, err
