"""A small, strict reader for EDN (https://github.com/edn-format/edn), one value per call: what Jepsen's history.edn
holds, one operation map per line.

Why not the `edn_format` package (0.8.0, PLY's lexer): measured on Jepsen operation lines, its `loads` took 6.4 s for
20,000 lines (320 µs a line) and `loads_all` 0.12 s for 2,000 (60 µs a line), where `multidc check` has 3 s for the
whole of a 100,000-operation history (200,000 lines). This reader took 1.0 s for those 200,000 lines (5 µs a line, on a
loaded machine) on its fast path: one regular expression checks a flat map of keywords, integers, nil, strings without
escapes and vectors of those, a second splits it (`_flat`). Anything else goes through a recursive-descent reader
over the full syntax (strings, characters, nested maps, lists, sets, tagged literals such as `#object[...]` or a record
`#jepsen.history.Op{...}`, `#_` discard, `;` comments). Anything it cannot read raises EdnError with the column.

Values: nil -> None, true/false -> bool, integers (`N` allowed) -> int, floats (`M` allowed) -> float, strings and
characters -> str, keywords -> Keyword (a str of the name without the colon, so `op["type"] == "invoke"` holds),
symbols -> Symbol, vectors and lists -> list, maps -> dict, sets -> frozenset, `#tag value` -> Tagged. A collection
used as a map key or set element is made hashable (lists become tuples).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple


class EdnError(ValueError):
    """Not readable as EDN: `column` (1-based) is where reading stopped. `incomplete`: the text ended inside a value
    (more lines may complete it)."""

    def __init__(self, column: int, message: str, incomplete: bool = False, opened: int | None = None) -> None:
        super().__init__(f"{message} at column {column}")
        self.column = column
        self.reason = message
        self.incomplete = incomplete
        self.opened = opened  # the column of the bracket a wrong closing bracket was meant for


class Keyword(str):
    """An EDN keyword, `:name`, held as its name (so it compares equal to the plain string)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f":{self}"


class Symbol(str):
    """An EDN symbol (such as `java.net.SocketTimeoutException` in a Jepsen error)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


class Tagged(NamedTuple):
    """A tagged element, `#tag value`: `#inst "..."`, `#uuid "..."`, `#object[...]`, a record `#ns.Name{...}`."""

    tag: str
    value: Any


_DELIM = r"\s,\[\](){}\"\\;"
_TOKEN = re.compile(
    rf"""
    (?P<skip>(?:[\s,]+|;[^\n]*)+)
  | (?P<open>\#\{{|[\[({{])
  | (?P<close>[\])}}])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][^{_DELIM}\#]*)
  | (?P<char>\\(?:newline|return|space|tab|u[0-9A-Fa-f]{{4}}|[^\s]))
  | (?P<atom>[^{_DELIM}\#][^{_DELIM}]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[-+]?(?:0|[1-9]\d*)N?")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9]\d*)(?:\.\d*)?(?:[eE][-+]?\d+)?M?")
# A symbol (and a keyword after its colon): no leading digit, no `::`, not ending in `:`; `/` only between parts.
_NAME = r"(?:[A-Za-z*!_?$%&=<>]|[-+.](?!\d))[\w*!?$%&=<>.:#+'-]*"
_SYMBOL = re.compile(rf"{_NAME}(?:/{_NAME})?|/")
_STRING_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t"}
_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_CLOSING = {"[": "]", "(": ")", "{": "}", "#{": "}"}

# The fast path: a map of keyword keys to nil, true, false, an integer, a keyword, a string without escapes, or a
# vector of those (two levels deep: jepsen.independent's cas is [k [old new]]), every token ended by a separator or a
# closing bracket (as the full reader splits them). Anything else takes the full reader.
_FAST_NAME = r"[A-Za-z*!_?$%&=<>][\w*!?$%&=<>.+-]*"
_SIMPLE = rf"(?:nil|true|false|[-+]?(?:0|[1-9]\d*)|:{_FAST_NAME}|\"[^\"\\]*\")"
_VECTOR = rf"\[[\s,]*(?:{_SIMPLE}(?:[\s,]+|(?=\])))*\]"
_VECTOR2 = rf"\[[\s,]*(?:(?:{_SIMPLE}|{_VECTOR})(?:[\s,]+|(?=\])))*\]"
_FLAT_PAIR = re.compile(rf":({_FAST_NAME})[\s,]+({_SIMPLE}|{_VECTOR2})")
_FLAT_MAP = re.compile(rf"[\s,]*\{{[\s,]*(?:{_FLAT_PAIR.pattern}(?:[\s,]+|(?=\}})))*\}}[\s,]*")
_FLAT_ITEM = re.compile(rf"{_SIMPLE}|{_VECTOR}")
_keywords: dict[str, Keyword] = {}


def read(text: str) -> Any:
    """The one EDN value in `text` (whitespace, commas and `;` comments around it allowed)."""
    flat = flat_map(text)
    if flat is not None:
        return flat
    reader = Reader(text)
    reader.skip()
    if reader.pos >= len(text):
        raise EdnError(1, "no value on the line")
    value = reader.value()
    reader.skip()
    if reader.pos < len(text):
        raise EdnError(reader.pos + 1, "more than one value on the line")
    return value


def _show(token: str) -> str:
    """A token for a message: quoted, escaped, and cut (a line of binary garbage is one long token)."""
    return repr(token if len(token) <= 24 else token[:24] + "...")


def _keyword(name: str) -> Keyword:
    kw = _keywords.get(name)
    if kw is None:
        kw = _keywords[name] = Keyword(name)
    return kw


_MISSING = object()
# Fast-path tokens that are not integers, with their values: nil, true, false, and each keyword as it is first seen.
_known: dict[str, Any] = dict(_CONSTANTS)


def _simple(token: str) -> Any:
    value = _known.get(token, _MISSING)
    if value is _MISSING:
        if token[0] == '"':
            return token[1:-1]
        if token[0] != ":":
            return int(token)
        value = _known[token] = _keyword(token[1:])
    return value


def _vector(token: str) -> list[Any]:
    return [_vector(v) if v[0] == "[" else _simple(v) for v in _FLAT_ITEM.findall(token, 1, len(token) - 1)]


def flat_map(text: str) -> dict[Keyword, Any] | None:
    """`text` as a map when it is one flat map of simple values alone (the fast path), else None."""
    return _flat(text) if _FLAT_MAP.fullmatch(text) else None


def _flat(text: str) -> dict[Keyword, Any] | None:
    """A map already matched by _FLAT_MAP; None when a key repeats (the full reader then says so)."""
    out: dict[Keyword, Any] = {}
    pairs = _FLAT_PAIR.findall(text)
    known, keywords = _known, _keywords
    for key, token in pairs:
        value = known.get(token, _MISSING)
        if value is _MISSING:
            value = _vector(token) if token[0] == "[" else _simple(token)
        name = keywords.get(key)
        out[name if name is not None else _keyword(key)] = value
    return out if len(out) == len(pairs) else None


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


# How deep collections, tags and discards may nest: a Jepsen operation goes a few levels deep; the reader recurses
# per level, and Python's stack would end a deeper line (`[[[[...`) in a RecursionError.
MAX_DEPTH = 100


class Reader:
    """The full reader over `text`, a value at a time from `pos` (`skip` passes whitespace, commas and comments)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def skip(self) -> None:
        m = _TOKEN.match(self.text, self.pos)
        if m is not None and m.lastgroup == "skip":
            self.pos = m.end()

    def token(self) -> re.Match[str]:
        self.skip()
        if self.pos >= len(self.text):
            raise EdnError(self.pos + 1, "the value ends early (a bracket or brace is not closed)", incomplete=True)
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            what = self.text[self.pos]
            if what == '"':
                raise EdnError(self.pos + 1, "a string is not closed", incomplete=True)
            raise EdnError(self.pos + 1, f"unexpected {_show(what)}")
        return m

    def value(self) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise EdnError(self.pos + 1, f"nested more than {MAX_DEPTH} deep")
            return self._value()
        finally:
            self.depth -= 1

    def _value(self) -> Any:
        m = self.token()
        start, kind, text = self.pos, m.lastgroup, m.group()
        self.pos = m.end()
        if kind == "open":
            return self.collection(text, start)
        if kind == "close":
            raise EdnError(start + 1, f"unexpected {_show(text)} (nothing open to close)")
        if kind == "string":
            return _STRING_ESCAPE.sub(lambda e: self.escape(e, start), text[1:-1])
        if kind == "discard":
            self.value()
            return self.value()
        if kind == "tag":
            return Tagged(text[1:], self.value())
        if kind == "char":
            name = text[1:]
            if name in _CHARS:
                return _CHARS[name]
            return chr(int(name[1:], 16)) if len(name) == 5 and name[0] == "u" else name
        return self.atom(text, start)

    def escape(self, m: re.Match[str], start: int) -> str:
        code = m.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code[0] == "u" and len(code) == 5:
            return chr(int(code[1:], 16))
        raise EdnError(start + 1 + m.start(), f"\\{code} is not an EDN string escape")

    def atom(self, text: str, start: int) -> Any:
        if text in _CONSTANTS:
            return _CONSTANTS[text]
        if _INT.fullmatch(text):
            return int(text.rstrip("N"))
        if _FLOAT.fullmatch(text):
            return float(text.rstrip("M"))
        if text[0] == ":":
            if _SYMBOL.fullmatch(text[1:]) and text[1:] != "/":
                return _keyword(text[1:])
            raise EdnError(start + 1, f"{_show(text)} is not a keyword")
        if _SYMBOL.fullmatch(text):
            return Symbol(text)
        raise EdnError(start + 1, f"{_show(text)} is not an EDN value")

    def collection(self, opening: str, start: int) -> Any:
        items: list[Any] = []
        closing = _CLOSING[opening]
        while True:
            self.skip()
            if self.pos >= len(self.text):
                raise EdnError(start + 1, f"{opening!r} is not closed", incomplete=True)
            if self.text[self.pos] in ")]}":
                if self.text[self.pos] != closing:
                    raise EdnError(
                        self.pos + 1,
                        f"{self.text[self.pos]!r} closes {opening!r} (expected {closing!r})",
                        opened=start + 1,
                    )
                self.pos += 1
                break
            if self.text.startswith("#_", self.pos):
                self.pos += 2
                self.value()
                continue
            items.append(self.value())
        if opening == "{":
            if len(items) % 2:
                raise EdnError(start + 1, "a map needs a value for every key")
            out = {_hashable(k): v for k, v in zip(items[::2], items[1::2], strict=True)}
            if len(out) != len(items) // 2:
                raise EdnError(start + 1, "a map repeats a key")
            return out
        if opening == "#{":
            found = frozenset(_hashable(v) for v in items)
            if len(found) != len(items):
                raise EdnError(start + 1, "a set repeats an element")
            return found
        return items
