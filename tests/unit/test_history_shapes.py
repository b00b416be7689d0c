"""`check FILE` with no flag reads Jepsen histories as Jepsen, Knossos and jepsen.history write them: a whole-file
vector or list over many lines, maps over several lines, `;` comments, `#_` discards, commas, tagged records and
literals, the nemesis's ops. The fixtures are written here in those shapes (Knossos's data/cas-register files are
`[{...}` then ` {...}` a line; Jepsen 0.3 prints `#jepsen.history.Op{...}`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from multidc.history import load
from tests.unit.test_check_bounded import check as measured
from tests.unit.test_check_jepsen import check

# A stale read: p1 reads 0 after p0's write of 1 was acknowledged (Knossos's "bad" shape).
STALE_VECTOR = """[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 0}]
"""

VALID_VECTOR = """[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :cas, :value [1 2]}
 {:process 1, :type :ok, :f :cas, :value [1 2]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value 2}]
"""


@pytest.mark.parametrize(
    ("text", "code", "said"),
    [
        (VALID_VECTOR, 0, "3 operations on 1 key(s): linearizable"),
        (STALE_VECTOR, 1, "2 operations on 1 key(s): NOT linearizable"),
        # the same as a list, with a comment heading it, commas between the maps and one map over three lines
        (
            ";; a history as Knossos keeps it\n("
            + VALID_VECTOR.strip()[1:-1].replace(
                "}\n {:process 1, :type :invoke, :f :cas, :value [1 2]}",
                "},\n {:process 1,\n  :type :invoke, ; the cas\n  :f :cas, :value [1 2]}",
            )
            + ")\n",
            0,
            "3 operations on 1 key(s): linearizable",
        ),
        # the whole vector on one line; a `#_` discard drops the stale read's completion (then it is open: info)
        (
            STALE_VECTOR.replace("\n ", " ").replace(" {:process 1, :type :ok", " #_{:process 1, :type :ok"),
            0,
            "linearizable",
        ),
        # `[` alone on its line, the maps, `]` alone on its line
        ("[\n" + STALE_VECTOR.strip()[1:-1].replace("\n ", "\n") + "\n]\n", 1, "NOT linearizable"),
    ],
    ids=["vector", "vector-stale", "list-comments-multiline", "one-line-discard", "brackets-alone"],
)
def test_whole_file_histories_are_judged_with_no_flag(tmp_path: Path, text: str, code: int, said: str) -> None:
    path = tmp_path / "history.edn"
    path.write_text(text)
    got, out = check(path)
    assert got == code and said in out, out


def test_jepsen_0_3_records_tagged_literals_and_the_nemesis(tmp_path: Path) -> None:
    """Jepsen 0.3 prints every op as a record, with :index and a nanosecond :time; the nemesis's ops sit between."""
    path = tmp_path / "history.edn"
    path.write_text(
        """#jepsen.history.Op{:index 0, :time 10, :type :invoke, :process 0, :f :write, :value 1}
#jepsen.history.Op{:index 1, :time 20, :type :info, :process :nemesis, :f :start-partition, :value {"n1" #{"n2"}}}
#jepsen.history.Op{:index 2, :time 30, :type :ok, :process 0, :f :write, :value 1}
{:index 3, :time 40, :type :invoke, :process 1, :f :read, :value nil, :at #inst "2026-12-02T18:00:00.000-00:00"}
{:index 4, :time 50, :type :ok, :process 1, :f :read, :value 0, :id #uuid "3b241101-e2bb-4255-8caf-4136c566a962"}
"""
    )
    ops = load(path)
    assert [(o.process, o.f, o.status) for o in ops] == [(0, "write", "ok"), (1, "read", "ok")]
    got, out = check(path)
    assert got == 1 and "2 operations on 1 key(s): NOT linearizable" in out, out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (STALE_VECTOR.replace("]\n", "\n"), "the history's [ is not closed (no ] at its end)"),
        (STALE_VECTOR + "{:process 2}\n", "line 5: not EDN (more after the ] that closes the history, column 1)"),
        (STALE_VECTOR.replace(":value 0}", ":value 0]"), "line 4: not EDN (']' closes '{' (expected '}'), column 44)"),
        (
            STALE_VECTOR.replace(":value 1}\n {", ":value 1}\n {:process 3, :type :invoke, :f :read,\n {", 1),
            "line 5: not EDN (']' closes '{' (expected '}') for the one opened on line 2, column 2, column 45)",
        ),
        (
            '[{:process 0, :type :invoke, :f :write, :value "open\n',
            "line 1: not EDN (a string is not closed, column 48)",
        ),
        ("[1 2]\n", "line 1: expected an operation map"),
        ("[\n]\n", "holds no operations; there is nothing to check"),
        ("", "holds no operations; there is nothing to check"),
    ],
    ids=[
        "unclosed",
        "after-close",
        "wrong-bracket",
        "map-unclosed",
        "string-unclosed",
        "not-maps",
        "empty-vector",
        "empty",
    ],
)
def test_bad_whole_file_histories_name_the_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "history.edn"
    path.write_text(text)
    got, out = check(path)
    assert got == 2 and out.count("\n") == 1 and message in out, out


def test_a_large_whole_file_vector_is_read_an_op_at_a_time(tmp_path: Path) -> None:
    """200,000 ops (34 MB) in one vector: judged, in memory near what the operations take, not the text."""
    path = tmp_path / "big.edn"
    with path.open("w") as out:
        out.write("[")
        for i in range(100_000):
            p = i % 6
            out.write(f"{{:process {p}, :type :invoke, :f :write, :value {i}, :time {2 * i}}}\n ")
            out.write(f"{{:process {p}, :type :ok, :f :write, :value {i}, :time {2 * i + 1}}}\n ")
        out.write("]\n")
    code, err, peak = measured(path)
    assert code == 0, err
    assert peak < 300 * 2**20, f"{peak / 2**20:.0f} MiB"
