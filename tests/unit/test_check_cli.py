from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from multidc.cli import cli


def write(path: Path, events: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def ev(p: int, t: str, f: str, v: object, tm: float, key: str = "k1") -> dict:  # type: ignore[type-arg]
    return {"process": p, "type": t, "f": f, "key": key, "value": v, "time": tm}


def test_valid_history_exits_0(tmp_path: Path) -> None:
    h = write(
        tmp_path / "h.jsonl",
        [
            ev(0, "invoke", "write", 1, 0),
            ev(0, "ok", "write", 1, 1),
            ev(1, "invoke", "read", None, 2),
            ev(1, "ok", "read", 1, 3),
        ],
    )
    result = CliRunner().invoke(cli, ["check", str(h)])
    assert result.exit_code == 0 and "2 operations on 1 key(s): linearizable" in result.output


def test_the_faults_verify_writes_as_jepsen_nemesis_ops_are_skipped(tmp_path: Path) -> None:
    def nemesis(t: str, f: str, v: object, tm: float) -> dict:  # type: ignore[type-arg]
        return {"process": "nemesis", "type": t, "f": f, "value": v, "time": tm}

    h = write(
        tmp_path / "h.jsonl",
        [
            nemesis("invoke", "start-kill", {"kind": "kill", "target": "primary"}, 0),
            nemesis("info", "start-kill", "killed primary's server (SIGKILL, pid 7)", 0.1),
            ev(0, "invoke", "write", 1, 0.5),
            ev(0, "ok", "write", 1, 1),
            nemesis("invoke", "stop-kill", {"kind": "kill", "target": "primary"}, 1.5),
            nemesis("info", "stop-kill", "started primary's server (pid 8)", 1.6),
            ev(1, "invoke", "read", None, 2),
            ev(1, "ok", "read", 1, 3),
        ],
    )
    result = CliRunner().invoke(cli, ["check", str(h)])
    assert result.exit_code == 0 and "2 operations on 1 key(s): linearizable" in result.output, result.output


def test_invalid_history_exits_1_naming_key_and_operations(tmp_path: Path) -> None:
    h = write(
        tmp_path / "h.jsonl",
        [
            ev(0, "invoke", "write", 1, 0),
            ev(0, "ok", "write", 1, 1),
            ev(0, "invoke", "write", 2, 2),
            ev(0, "ok", "write", 2, 3),
            ev(1, "invoke", "read", None, 4),
            ev(1, "ok", "read", 1, 5),
        ],
    )
    result = CliRunner().invoke(cli, ["check", str(h)])
    assert result.exit_code == 1
    assert "key k1: these 3 operations cannot be ordered:" in result.output
    assert "p1 read k1 -> 1 [ok] (4.000..5.000)" in result.output
    data = json.loads(CliRunner().invoke(cli, ["check", str(h), "-o", "json"]).output)
    assert data["valid"] is False and len(data["stale_reads"]) == 1


def test_malformed_history_exits_2_with_line(tmp_path: Path) -> None:
    h = tmp_path / "h.jsonl"
    h.write_text(json.dumps(ev(0, "invoke", "write", 1, 0)) + "\n" + '{"process": 0, "type": "ok"}\n')
    result = CliRunner().invoke(cli, ["check", str(h)])
    assert result.exit_code == 2 and "line 2: missing 'f'" in result.output
