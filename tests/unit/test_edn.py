"""The EDN reader: the syntax Jepsen histories use, strict errors with a column, and the fast path agreeing with the
full reader on every line it takes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multidc import edn
from multidc.edn import EdnError, Keyword, Symbol, Tagged


def test_a_jepsen_operation_map() -> None:
    op = edn.read("{:type :invoke, :f :cas, :value [1 2], :process 3, :time 123456789, :index 7}")
    assert op == {"type": "invoke", "f": "cas", "value": [1, 2], "process": 3, "time": 123456789, "index": 7}
    assert all(isinstance(k, Keyword) for k in op) and isinstance(op["type"], Keyword)
    assert repr(op["f"]) == ":cas"


def test_the_full_syntax() -> None:
    line = (
        '{:type :info, :process :nemesis, :value {"n1" #{1 2}, [:a 1] nil}, :error [:timeout "read\\ttimed \\"out\\" '
        '\\u00e9"], :at #inst "2024-01-01", :x (1 -2.5e3 3N 4.5M +7 -0), :c [\\a \\newline \\u0041], :sym '
        "java.net.SocketTimeoutException, :ok true, :no false ; a comment\n, :gone #_ 1 :kept, :last 2}"
    )
    op = edn.read(line)
    assert op["process"] == "nemesis" and isinstance(op["process"], Keyword)
    assert op["value"] == {"n1": frozenset({1, 2}), (Keyword("a"), 1): None}
    assert op["error"] == [Keyword("timeout"), 'read\ttimed "out" é']
    assert op["at"] == Tagged("inst", "2024-01-01")
    assert op["x"] == [1, -2500.0, 3, 4.5, 7, 0]
    assert op["c"] == ["a", "\n", "A"]
    assert op["sym"] == "java.net.SocketTimeoutException" and isinstance(op["sym"], Symbol)
    assert op["ok"] is True and op["no"] is False and op["gone"] == Keyword("kept") and op["last"] == 2


def test_a_record_is_a_tagged_map() -> None:
    op = edn.read("#jepsen.history.Op{:index 0, :time 5, :type :ok, :process 1, :f :read, :value 3}")
    fields = {"index": 0, "time": 5, "type": "ok", "process": 1, "f": "read", "value": 3}
    assert op == Tagged("jepsen.history.Op", fields)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("{:a 1:b 2}", "'1:b' is not an EDN value", 5),
        ("[1:a]", "'1:a' is not an EDN value", 2),
        ("{:a 1 :a 2}", "a map repeats a key", 1),
        ("{:a", "'{' is not closed", 1),
        ("{:a 1]", "']' closes '{' (expected '}')", 6),
        ("{:a 1 :b}", "a map needs a value for every key", 1),
        ('{"process": 1}', "':' is not a keyword", 11),
        ("{:a 1} {:b 2}", "more than one value on the line", 8),
        ("  ; only a comment", "no value on the line", 1),
        ("{:a 01}", "'01' is not an EDN value", 5),
        ('{:a "open', "a string is not closed", 5),
        ('{:a "\\q"}', "\\q is not an EDN string escape", 5),
        ("}", "unexpected '}' (nothing open to close)", 1),
        ("# {}", "unexpected '#'", 1),
        ("#{1 1}", "a set repeats an element", 1),
        ("\x00\x01" + "x" * 100, "is not an EDN value", 1),
    ],
)
def test_errors_name_the_column(text: str, message: str, column: int) -> None:
    with pytest.raises(EdnError) as caught:
        edn.read(text)
    assert caught.value.reason.endswith(message) and caught.value.column == column, caught.value
    assert len(str(caught.value)) < 120  # a line of garbage is cut, not echoed


SIMPLE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.sampled_from(["invoke", "ok", "read", "start-partition", "a.b", "x?", "y!"]).map(Keyword),
    st.text(st.characters(blacklist_characters='"\\', blacklist_categories=("Cs",)), max_size=8),
)


def _write(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Keyword):
        return f":{value}"
    if isinstance(value, list):
        return "[" + " ".join(_write(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@given(
    st.dictionaries(
        st.sampled_from(["type", "f", "value", "process", "time", "index", "error"]).map(Keyword),
        st.one_of(SIMPLE, st.lists(SIMPLE, max_size=3), st.lists(st.one_of(SIMPLE, st.lists(SIMPLE)), max_size=3)),
        max_size=7,
    ),
    st.sampled_from([", ", " ", ",", " ,\t"]),
)
@settings(max_examples=300, deadline=None)
def test_the_fast_path_agrees_with_the_full_reader(op: dict[Keyword, Any], sep: str) -> None:
    text = "{" + sep.join(f":{k} {_write(v)}" for k, v in op.items()) + "}"
    assert edn._FLAT_MAP.fullmatch(text)
    fast = edn.read(text)
    full = edn.Reader(text).value()
    assert fast == full == op
    assert [type(v) for v in fast.values()] == [type(v) for v in full.values()]
