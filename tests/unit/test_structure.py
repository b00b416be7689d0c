"""The package's shape, read from its source (nothing is imported): imports go one way (no cycle among the modules),
no source file is over 600 lines, and no module reaches into another module's private (underscore) names.

How an import is counted:
- every `import` and `from ... import` anywhere in a module counts (inside functions too): when it runs, the module it
  names runs; only imports under `if TYPE_CHECKING:` do not (they never run);
- relative imports are resolved; `from p import x` is an edge to the module `p.x` when there is one, else to `p`;
- `import a.b.c` is an edge to `a.b.c` only. Python runs the packages `a` and `a.b` first, but a package is always
  imported before its submodules, so a submodule leaning on its package is no cycle; a package's `__init__` that
  imports its own submodules gets those edges like any module.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "multidc"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the module except those under `if TYPE_CHECKING:` (its `else:` branch runs, so it counts)."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and _type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def _base(name: str, path: Path, level: int, module: str | None) -> str:
    """The absolute module a (possibly relative) `from` import names."""
    if level == 0:
        return module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = package[: len(package) - (level - 1)]
    return ".".join([*package, *([module] if module else [])])


def _imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every runtime import of the module."""
    out: list[tuple[str, list[str]]] = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, path, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, []) if sub in known else (base, [alias.name]))
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {
        name: {target for target, _ in _imports(name, path, known) if target in known and target != name}
        for name, path in known.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep graph cannot reach the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_the_scan_sees_imports_inside_functions_and_skips_type_checking(tmp_path: Path) -> None:
    """The rules above, on a package made for it: a function-level import counts, a TYPE_CHECKING one does not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    known = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.b": pkg / "b.py"}
    assert _imports("pkg.a", known["pkg.a"], known) == [("pkg.b", [])]
    assert [t for t, _ in _imports("pkg.b", known["pkg.b"], known) if t in known] == []
    assert _cycles({"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}) == [["pkg.a", "pkg.b"]]


def test_no_import_cycle_among_the_modules() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join("{" + ", ".join(c) + "}" for c in cycles)


def test_no_source_file_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n for p in sorted(SRC.rglob("*.py")) if (n := len(p.read_text().splitlines())) > 600
    }
    assert not long, f"source files over {MAX_LINES} lines: " + ", ".join(f"{p} ({n})" for p, n in long.items())


def test_no_module_imports_another_modules_private_names() -> None:
    known = _modules()
    taken = [
        f"{name} imports {target}.{n}"
        for name, path in known.items()
        for target, names in _imports(name, path, known)
        for n in names
        if n.startswith("_") and not n.startswith("__") and target.startswith("multidc")
    ]
    assert not taken, "private names used across modules: " + "; ".join(taken)


def _private_methods(path: Path) -> set[str]:
    """The underscore methods the module's classes define."""
    tree = ast.parse(path.read_text())
    return {
        f.name
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for f in cls.body
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
        and f.name.startswith("_")
        and not f.name.endswith("__")
    }


def test_no_module_calls_another_modules_private_methods() -> None:
    """A `x._name(` call in one module of a private method a provider module's class defines (the netns provider's
    `_save`, `_started`, ... once were called from six sibling modules)."""
    known = _modules()
    defined = {name: _private_methods(path) for name, path in known.items() if name.startswith("multidc.providers.")}
    calls = []
    for name, path in known.items():
        own = defined.get(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method in own or not method.startswith("_") or method.endswith("__"):
                continue
            owners = [other for other, names in defined.items() if method in names and other != name]
            if owners:
                calls.append(f"{name}:{node.lineno} calls {method} of {', '.join(owners)}")
    assert not calls, "private methods called across modules: " + "; ".join(calls)


# The netns provider's rooms, lowest first: a module imports only from its own room or rooms below it.
NETNS_ROOMS = [
    ("plan", ["configs", "plan", "raftlog"]),
    ("host", ["setns", "namespaces", "processes", "owners", "delayer", "forwarder", "host"]),
    ("ports and the read-only view", ["ports", "running"]),
    ("servers", ["servers"]),
    ("site, KMS, the membership record", ["site", "kms", "changes"]),
    ("health and reconcile", ["environment"]),
    ("faults and day-2", ["faults", "upgrade", "recovery", "transfer", "rehearsal", "snapshots", "membership"]),
    ("day-2's entry", ["operations"]),
    ("up's steps, down, planning", ["steps", "teardown", "planning"]),
    ("the assembly", ["provider"]),
]


def test_the_netns_rooms_import_one_way() -> None:
    prefix = "multidc.providers.netns."
    room = {f"{prefix}{m}": i for i, (_, members) in enumerate(NETNS_ROOMS) for m in members}
    graph = _graph()
    unplaced = sorted(m for m in graph if m.startswith(prefix) and m not in room)
    assert not unplaced, f"netns modules in no room of NETNS_ROOMS (place each): {unplaced}"
    upward = [
        f"{m} ({NETNS_ROOMS[room[m]][0]}) imports {t} ({NETNS_ROOMS[room[t]][0]})"
        for m in sorted(room)
        for t in sorted(graph.get(m, set()))
        if t in room and room[t] > room[m]
    ]
    assert not upward, "netns imports going up: " + "; ".join(upward)
