"""`multidc check` on Jepsen histories (EDN): the mapping onto events, the verdicts, and the same history in both
formats judged the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from multidc import checker
from multidc.cli import cli
from multidc.history import HistoryError, load
from tests.unit.test_checker import simulate_events


def edn_value(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(edn_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def edn_lines(events: list[dict[str, Any]], independent: bool = False) -> list[str]:
    """multidc events as Jepsen writes them: time in nanoseconds, the key inside the value when independent."""
    lines = []
    for index, e in enumerate(events):
        value = [e["key"], e["value"]] if independent else e["value"]
        lines.append(
            f"{{:type :{e['type']}, :f :{e['f']}, :value {edn_value(value)}, :process {e['process']}, "
            f":time {round(e['time'] * 1e9)}, :index {index}}}"
        )
    return lines


def nanos(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same events with times as an EDN reader gives them back (whole nanoseconds, in seconds)."""
    return [{**e, "time": round(e["time"] * 1e9) / 1e9} for e in events]


def check(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", str(path), *args])
    return result.exit_code, result.output


STALE = [
    "{:type :invoke, :f :write, :value 1, :process 0, :time 0, :index 0}",
    "{:type :info, :f :start-partition, :value nil, :process :nemesis, :time 5, :index 1}",
    "{:type :ok, :f :write, :value 1, :process 0, :time 1000000000, :index 2}",
    "{:type :invoke, :f :write, :value 2, :process 0, :time 2000000000, :index 3}",
    '{:type :info, :f :start-partition, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :time 2500000000}',
    "{:type :ok, :f :write, :value 2, :process 0, :time 3000000000, :index 4}",
    "{:type :invoke, :f :read, :value nil, :process 1, :time 4000000000, :index 5}",
    "{:type :ok, :f :read, :value 1, :process 1, :time 5000000000, :index 6}",
]


def test_a_stale_read_in_edn_is_not_linearizable_and_the_nemesis_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.edn"
    path.write_text("\n".join(STALE) + "\n")
    code, out = check(path)
    assert code == 1, out
    assert "3 operations on 1 key(s): NOT linearizable" in out
    assert "key register: these 3 operations cannot be ordered:" in out
    assert "stale read: p1 read register -> 1 [ok] (4.000..5.000)" in out
    assert "lost write: p0 write register := 2 [ok] (2.000..3.000)" in out


def test_a_valid_edn_history_with_cas_and_failures(tmp_path: Path) -> None:
    path = tmp_path / "history.edn"
    path.write_text(
        "\n".join(
            [
                "{:type :invoke, :f :write, :value 1, :process 0, :time 0}",
                "{:type :ok, :f :write, :value 1, :process 0, :time 10}",
                "{:type :invoke, :f :cas, :value [1 2], :process 1, :time 20}",
                "{:type :invoke, :f :cas, :value [1 3], :process 2, :time 21}",
                "{:type :ok, :f :cas, :value [1 2], :process 1, :time 30}",
                "{:type :fail, :f :cas, :value [1 3], :process 2, :time 31, :error :precondition-failed}",
                "{:type :invoke, :f :read, :value nil, :process 0, :time 40}",
                "{:type :ok, :f :read, :value 2, :process 0, :time 50}",
            ]
        )
    )
    code, out = check(path)
    assert code == 0 and "4 operations on 1 key(s): linearizable" in out, out


def test_an_info_keeps_its_invokes_value(tmp_path: Path) -> None:
    """Jepsen's :info completions repeat the value or carry nil; the invoke's value is what may have been written."""
    path = tmp_path / "history.edn"
    path.write_text(
        "\n".join(
            [
                "{:type :invoke, :f :write, :value 5, :process 0, :time 0}",
                "{:type :info, :f :write, :value nil, :process 0, :time 10, :error :timeout}",
                "{:type :invoke, :f :cas, :value [5 6], :process 6, :time 11}",
                '{:type :info, :f :cas, :error [:socket-timeout "Read timed out"], :process 6, :time 12}',
                "{:type :invoke, :f :read, :value nil, :process 1, :time 20}",
                "{:type :ok, :f :read, :value 6, :process 1, :time 30}",
            ]
        )
    )
    ops = load(path)
    assert [(o.f, o.value, o.status) for o in ops] == [
        ("write", 5, "info"),
        ("cas", [5, 6], "info"),
        ("read", 6, "ok"),
    ]
    assert checker.check(ops).valid


def test_without_time_the_line_order_is_the_time(tmp_path: Path) -> None:
    path = tmp_path / "history.edn"
    path.write_text(
        "{:type :invoke, :f :write, :value 1, :process 0}\n\n{:type :ok, :f :write, :value 1, :process 0}\n"
    )
    [op] = load(path)
    assert (op.call, op.ret) == (1.0, 3.0)
    path.write_text("{:type :invoke, :f :write, :value 1, :process 0, :time 5}\n{:type :ok, :f :write, :process 0}\n")
    with pytest.raises(HistoryError, match=r"line 2: no :time, but line 1 has one; give :time on every operation"):
        load(path)


def test_independent_keys_are_told_apart_and_checked_per_key(tmp_path: Path) -> None:
    path = tmp_path / "history.edn"
    lines = [
        "{:type :invoke, :f :write, :value [0 1], :process 0, :time 0}",
        "{:type :ok, :f :write, :value [0 1], :process 0, :time 10}",
        "{:type :invoke, :f :write, :value [:b 1], :process 1, :time 0}",
        "{:type :ok, :f :write, :value [:b 1], :process 1, :time 10}",
        '{:type :invoke, :f :cas, :value ["c" [nil 1]], :process 2, :time 0}',
        '{:type :ok, :f :cas, :value ["c" [nil 1]], :process 2, :time 10}',
        "{:type :invoke, :f :read, :value [0 nil], :process 0, :time 20}",
        "{:type :ok, :f :read, :value [0 1], :process 0, :time 30}",
        "{:type :invoke, :f :read, :value [:b nil], :process 1, :time 20}",
        "{:type :ok, :f :read, :value [:b nil], :process 1, :time 30}",  # stale: :b was 1
        '{:type :invoke, :f :read, :value ["c" nil], :process 3, :time 20}',
        "{:type :info, :f :read, :value nil, :process 3, :time 30}",  # no key on the :info: the invoke's
    ]
    path.write_text("\n".join(lines))
    ops = load(path)
    assert sorted({o.key for o in ops}) == ["0", ":b", "c"]
    verdict = checker.check(ops)
    assert [k.key for k in verdict.failing()] == [":b"]
    code, out = check(path)
    assert code == 1 and "6 operations on 3 key(s): NOT linearizable" in out and "key :b: these" in out, out
    # Forced to one register, the same values are [key value] vectors on one key.
    code, out = check(path, "--keys", "single")
    assert "on 1 key(s)" in out, out
    single = tmp_path / "single.edn"
    single.write_text("\n".join(STALE))
    code, out = check(single, "--keys", "independent")
    assert code == 2 and "line 1: :value 1 is not [key value]" in out and "--keys single" in out, out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            "{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok :f :read :value [1 2 :process 0}\n",
            (),
            "line 2: not EDN ('}' closes '[' (expected ']'), column 43); a history holds Jepsen operation maps",
        ),
        ("{:type :invoke, :f :read, :value nil}\n", (), "line 1: missing :process (an integer, or :nemesis"),
        ("{:type :begin, :f :read, :process 0}\n", (), "line 1: :type :begin is not one of :invoke, :ok, :fail, :info"),
        ("{:type :invoke, :f :txn, :value [[:r 1 nil]], :process 0}\n", (), "line 1: :f :txn is not one of :read"),
        (
            "{:type :invoke, :f :cas, :value 3, :process 0}\n",
            (),
            "line 1: a cas invoke's :value must be [expected new]",
        ),
        ("{:type :invoke, :f :write, :value #{1}, :process 0}\n", (), "line 1: :value #{1} is not a register value"),
        ('{:type :invoke, :f :write, :value {:a [1 #inst "x"]}, :process 0}\n', (), ':value {:a [1 #inst "x"]} is'),
        ('{:type :invoke, :f :write, :value 1, :process 0, :time "now"}\n', (), 'line 1: :time "now" is not a'),
        ("[1 2 3]\n", ("--format", "edn"), "line 1: expected an operation map such as {:type :invoke"),
        ('{"process": 1, "type": "invoke"}\n', ("--format", "edn"), "it looks like JSON: use --format jsonl"),
        ("{:type :invoke, :f :read, :process 0}\n", ("--format", "jsonl"), "line 1: not JSON (Expecting property"),
        ("{:type :invoke, :f :read, :process 0}\n", ("--format", "jsonl"), "it looks like EDN: use --format edn"),
        (";; nothing but a comment\n", (), "holds no operations; there is nothing to check"),
        ("[\n;; an empty history\n]\n", (), "holds no operations; there is nothing to check"),
        ("{:type :invoke, :f :read, :value nil, :process 0}\n", ("--keys", "sideways"), "--keys"),
    ],
)
def test_bad_edn_is_one_line_and_exit_2(tmp_path: Path, content: str, args: tuple[str, ...], message: str) -> None:
    path = tmp_path / "history.edn"
    path.write_text(content)
    code, out = check(path, *args)
    assert code == 2 and message in out, out


def test_binary_and_garbage_edn(tmp_path: Path) -> None:
    binary = tmp_path / "h.edn"
    binary.write_bytes(b"{:type \xff\xfe\x00" * 40)
    code, out = check(binary, "--format", "edn")
    assert code == 2 and "byte 7: not UTF-8 text" in out, out
    garbage = tmp_path / "g.edn"
    garbage.write_text("{:" + "\x00\x01\x02 garbage" * 200 + "\n")
    code, out = check(garbage)
    assert code == 2 and out.count("\n") == 1 and "line 1: not EDN (" in out and len(out) < 300, out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_history_in_jsonl_and_edn_gets_the_same_verdict(tmp_path: Path, seed: int) -> None:
    events = nanos(simulate_events(seed, 6, keys=("a", "b", "c"), unknown=0.05, operations=400))
    if seed == 3:  # make one read stale: the value a write overwrote on its key
        reads = [e for e in events if e["f"] == "read" and e["type"] == "ok" and e["value"] is not None]
        reads[len(reads) // 2]["value"] = reads[0]["value"]
    jsonl = tmp_path / "h.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in events))
    edn = tmp_path / "h.edn"
    nemesis = "{:type :info, :f :kill, :value :primaries, :process :nemesis, :time 1}"
    lines = edn_lines(events, independent=True)
    edn.write_text("\n".join([nemesis, *lines[:100], nemesis, *lines[100:]]) + "\n")
    as_json, as_edn = load(jsonl), load(edn)
    assert [(o.process, o.f, o.key, o.value, o.status, o.call, o.ret) for o in as_json] == [
        (o.process, o.f, o.key, o.value, o.status, o.call, o.ret) for o in as_edn
    ]
    (c1, out1), (c2, out2) = check(jsonl, "-o", "json"), check(edn, "-o", "json")
    assert c1 == c2 == (1 if seed == 3 else 0) and json.loads(out1) == json.loads(out2), (out1, out2)


def test_a_history_of_only_nemesis_operations_is_valid(tmp_path: Path) -> None:
    """Knossos and Porcupine call a history with no client operation valid; so does check (an empty file does not)."""
    path = tmp_path / "faults.edn"
    path.write_text("{:type :info, :f :start-partition, :value :majority, :process :nemesis, :time 1}\n")
    code, out = check(path)
    assert code == 0 and "0 operations" in out, out
