"""`check` reads what it is given in bounded pieces: nesting has a depth, a line has a length, and a file that is
neither (a sparse 1 GiB file, a 100,000-deep `[[[[`) is one line and exit 2, quickly and in little memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from multidc.history import MAX_LINE

OP = '{{"process": 0, "type": "invoke", "f": "write", "key": "k", "value": {}, "time": 0}}'


# The peak is measured by a small interpreter between pytest and `check`: Linux carries the RSS of the process that
# forks (and, with vfork, of pytest itself, 225 MiB late in the suite) into the child's ru_maxrss across exec.
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.executable, [sys.executable, "-m", "multidc", "check", sys.argv[1]])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def check(path: Path) -> tuple[int, str, int]:
    """`multidc check PATH` as a user runs it: exit code, standard error, and its peak memory (RSS, bytes)."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stderr, int(proc.stdout) * 1024  # Linux counts it in KiB


def refused(path: Path, message: str) -> int:
    """`check` refused PATH in one line naming `message`, exit 2; its peak memory."""
    code, err, peak = check(path)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"multidc: {path}: "), (code, err[-2000:])
    assert message in err, err
    return peak


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "line 1: not EDN (nested more than 100 deep, column 102)"),  # `[` opens an EDN vector
        ('{"a": ' * 100_000, "line 1: not JSON that can be read (nested too deeply)"),
        (OP.format("[" * 500 + "]" * 500), "line 1: 'value' nests lists or objects more than 99 deep"),
        (OP.format(1).replace('"key": "k"', '"key": ' + "[" * 500 + "]" * 500), "'key' nests lists or objects"),
        (OP.format(1).replace('"process": 0', '"process": [0]'), "line 1: process must be a number"),
        ("{:type :invoke, :value " + "[" * 100_000, "line 1: not EDN (nested more than 100 deep, column 123)"),
        ("{:type :invoke, :value " + "[" * 150 + "]" * 150 + "}", "line 1: not EDN (nested more than 100 deep"),
        ("{:type :invoke, :value " + "#_" * 100_000 + "1}", "line 1: not EDN (nested more than 100 deep"),
        ("{:type :invoke, :value " + "#x " * 100_000 + "1}", "line 1: not EDN (nested more than 100 deep"),
    ],
)
def test_deep_nesting_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "history"
    path.write_text(content + "\n")
    refused(path, message)


def test_a_sparse_1_gib_file_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    sparse = tmp_path / "history.jsonl"
    with open(sparse, "wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB of NUL bytes that takes no disk
    peak = refused(sparse, f"line 1: longer than {MAX_LINE:,} characters")
    assert peak < 200 << 20, f"{peak >> 20} MiB"


@pytest.mark.parametrize("edn", [False, True])
def test_a_line_over_the_cap_is_refused_and_one_under_it_is_read(tmp_path: Path, edn: bool) -> None:
    def line(length: int, kind: str = "invoke") -> str:
        if edn:
            return f'{{:type :{kind}, :f :write, :value "{"x" * length}", :process 0, :time 0}}\n'
        return OP.format(f'"{"x" * length}"').replace("invoke", kind) + "\n"

    long = tmp_path / "long"
    long.write_text(line(20 * MAX_LINE) + line(1, "ok"))
    peak = refused(long, f"line 1: longer than {MAX_LINE:,} characters")
    assert peak < 200 << 20, f"{peak >> 20} MiB"
    second = tmp_path / "second"
    second.write_text(line(1) + line(MAX_LINE, "ok"))
    refused(second, "line 2: longer than")
    fits = tmp_path / "fits"
    fits.write_text(line(MAX_LINE - 200) + line(MAX_LINE - 200, "ok"))
    code, err, _ = check(fits)
    assert (code, err) == (0, ""), err[-2000:]
