"""Benchmark: the checker, three ways (medians over --runs runs).

`--case sizes`: throughput (operations per second) on linearizable histories of 1k to 100k operations of one key,
5 processes, a quarter of outcomes unknown, with the time of each phase.

`--case issue`: the issue's history: 100,000 operations on a 3-key register, 6 clients, reads, writes and
compare-and-sets, about 1 operation in 20 with an unknown outcome (after which the client goes on as a new process, as
in Jepsen). Each phase timed: interpreter start-up with the CLI's imports, reading (parse and pair), the search, stale
reads, lost writes, a client's own stale reads, the witness (none for this valid history: timed on the same history
with one read made stale), and the whole `multidc check FILE` as a subprocess with its peak memory, for the valid
history and the one with a stale read (JSON lines), and the valid one as Jepsen EDN. With --porcupine DIR, Porcupine
runs on the same two files beside it: end to end (its own JSON reading included), its check alone, its peak memory.

`--case corpus --porcupine DIR --knossos DIR`: every history of Porcupine's etcd set (test_data/jepsen/etcd_*.log) and
of Knossos's cas-register sets (data/cas-register/good and bad, whole-file EDN), rewritten as multidc's JSON lines (a
register: a failed cas took no effect, in both checkers); multidc's search against Porcupine's CheckOperations on each.

`--case porcupine --porcupine DIR`: the same shape at 20k, 50k and 100k operations, multidc's search against
Porcupine's CheckOperations (Go, GOMAXPROCS=1, bench/porcupine/main.go) on the same file; DIR is a git clone of
Porcupine (bare or not), read at PORCUPINE_COMMIT. Both must agree on the verdict, also on one non-linearizable
history per size (the 200th read made stale; with a stale read late in the history Porcupine, whose search must place
every unknown-outcome operation, gave no verdict within 240 s at 20k, so it runs with --porcupine-timeout).

Histories come from the test suite's simulator (linearizable by construction), seeded, so every run sees the same.

    .venv/bin/python bench/checker.py --runs 5
    .venv/bin/python bench/checker.py --case issue --runs 5
    .venv/bin/python bench/checker.py --case porcupine --porcupine /path/to/porcupine --runs 3
    .venv/bin/python bench/checker.py --case issue --case corpus --porcupine DIR --knossos DIR --runs 5
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.test_check_jepsen import edn_lines, nanos  # noqa: E402
from tests.unit.test_checker import simulate_events  # noqa: E402

from multidc import checker, edn, history  # noqa: E402
from multidc.history import Operation, dump, pair  # noqa: E402

PORCUPINE_COMMIT = "55508eb201b314c218d7e8412c3ea4b9499a5f53"  # master of 2026-06-26; builds with Go 1.19
HARNESS = ROOT / "bench" / "porcupine"
MULTIDC = Path(sys.executable).parent / "multidc"
PHASES = ("linearizable", "stale_reads", "lost_writes", "own_stale_reads")


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def issue_events(operations: int, seed: int = 20) -> list[dict[str, Any]]:
    """The issue's shape: 3 keys, 6 clients, 1 in 20 outcomes unknown; times in whole nanoseconds (as EDN has them)."""
    return nanos(simulate_events(seed, 6, keys=("k1", "k2", "k3"), unknown=0.05, operations=operations))


def by_key(ops: list[Operation]) -> dict[str, list[Operation]]:
    out: dict[str, list[Operation]] = {}
    for o in ops:
        out.setdefault(o.key, []).append(o)
    return out


def phases(ops: list[Operation], runs: int) -> dict[str, float]:
    keys = by_key(ops)
    out = {}
    for phase in PHASES:
        fn = getattr(checker, phase)
        out[phase] = median_time(lambda fn=fn: [fn(k) for k in keys.values()], runs)  # type: ignore[misc]
    return out


def case_sizes(runs: int, sizes: list[int]) -> dict[int, Any]:
    results = {}
    for size in sizes:
        events = simulate_events(7, 5, operations=size)
        ops = pair(events)
        med = median_time(lambda ops=ops: checker.check(ops), runs)  # type: ignore[misc]
        assert checker.check(ops).valid
        results[size] = {
            "ops": len(ops),
            "median_s": round(med, 4),
            "ops_per_s": round(len(ops) / med),
            "phases_s": {k: round(v, 4) for k, v in phases(ops, runs).items()},
        }
        print(f"{len(ops):>6} ops: {med:.3f}s median, {len(ops) / med:,.0f} ops/s", flush=True)
    return results


def run_cli(path: Path) -> int:
    return subprocess.run([str(MULTIDC), "check", str(path)], stdout=subprocess.DEVNULL, check=False).returncode


# Runs a command from a small interpreter and prints the command's peak resident memory in KiB: measured from this
# (large) process, Linux would count this process's memory at the fork in the child's peak.
_PEAK = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(os.wait4(p.pid, 0)[2].ru_maxrss)"
)


def peak_mb(argv: list[str], env: dict[str, str] | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", _PEAK, *argv], capture_output=True, text=True, check=True, env=env)
    return round(int(out.stdout) / 1024, 1)


def case_issue(runs: int, folder: Path, binary: Path | None, timeout: float = 300.0) -> dict[str, Any]:
    events = issue_events(100_000)
    jsonl, stale_jsonl, edn_path = folder / "issue.jsonl", folder / "issue-stale.jsonl", folder / "issue.edn"
    dump(events, jsonl)
    dump(make_stale(events), stale_jsonl)
    edn_path.write_text("\n".join(edn_lines(events, independent=True)) + "\n")
    gc.disable()  # as `multidc check` runs
    try:
        ops = history.load(jsonl)
        statuses = {s: sum(o.status == s for o in ops) for s in ("ok", "fail", "info")}
        out: dict[str, Any] = {"operations": len(ops), "statuses": statuses}
        out["startup_s"] = median_time(
            lambda: subprocess.run([sys.executable, "-c", "import multidc.cli"], check=True), runs
        )
        out["read_jsonl_s"] = median_time(lambda: history.load(jsonl), runs)
        out["read_edn_s"] = median_time(lambda: history.load(edn_path), runs)
        out["phases_s"] = phases(ops, runs)
        verdict = checker.check(ops)
        assert verdict.valid and not verdict.stale_reads and not verdict.lost_writes
        # The witness: none for the valid history; timed on the same history with one read made stale.
        stale = history.load(stale_jsonl)
        failing = [k for k in by_key(stale).values() if not checker.linearizable(k)[0]]
        out["witness_s"] = median_time(lambda: [checker.minimise(k) for k in failing], runs)
        out["witness_size"] = [len(checker.minimise(k)) for k in failing]
        out["check_s"] = median_time(lambda: checker.check(ops), runs)
        out["check_stale_s"] = median_time(lambda: checker.check(stale), runs)
    finally:
        gc.enable()
    for name, path, code in (("jsonl", jsonl, 0), ("stale_jsonl", stale_jsonl, 1), ("edn", edn_path, 0)):
        assert run_cli(path) == code, name
        out[f"end_to_end_{name}_s"] = median_time(lambda path=path: run_cli(path), runs)  # type: ignore[misc]
        out[f"peak_{name}_mb"] = peak_mb([str(MULTIDC), "check", str(path)])
    if binary is not None:
        env = {**os.environ, "GOMAXPROCS": "1"}
        for name, path, result in (("jsonl", jsonl, "Ok"), ("stale_jsonl", stale_jsonl, "Illegal")):
            theirs = []
            walls = []
            for _ in range(runs):
                started = time.perf_counter()
                theirs.append(porcupine(binary, path, timeout))
                walls.append(time.perf_counter() - started)
            assert {t["result"] for t in theirs} <= {result, "Unknown"}, (name, theirs)  # Unknown: timed out
            out[f"porcupine_result_{name}"] = "/".join(sorted({t["result"] for t in theirs}))
            out[f"porcupine_end_to_end_{name}_s"] = statistics.median(walls)
            out[f"porcupine_check_{name}_s"] = statistics.median(t["check_s"] for t in theirs)
            out[f"porcupine_peak_{name}_mb"] = peak_mb([str(binary), str(path)], env)
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}
    rounded["phases_s"] = {k: round(v, 3) for k, v in out["phases_s"].items()}
    print_issue(rounded, binary is not None)
    return rounded


def print_issue(r: dict[str, Any], with_porcupine: bool) -> None:
    """The phases, one a line, and the whole check beside Porcupine's."""
    ph = r["phases_s"]
    rows = [
        ("start (interpreter, CLI imports)", r["startup_s"]),
        ("read (JSON lines, parse and pair)", r["read_jsonl_s"]),
        ("read (Jepsen EDN)", r["read_edn_s"]),
        ("search (linearizability, 3 keys)", ph["linearizable"]),
        ("stale reads", ph["stale_reads"]),
        ("lost writes", ph["lost_writes"]),
        ("own stale reads", ph["own_stale_reads"]),
        (f"witness (stale history: {r['witness_size']} operations)", r["witness_s"]),
        ("every check, valid history", r["check_s"]),
        ("every check, one stale read", r["check_stale_s"]),
    ]
    for label, seconds in rows:
        print(f"{label:<48} {seconds:7.3f}s", flush=True)
    for name, label in (("jsonl", "valid"), ("stale_jsonl", "one stale read"), ("edn", "valid, EDN")):
        line = f"multidc check, {label:<15} {r[f'end_to_end_{name}_s']:7.3f}s {r[f'peak_{name}_mb']:6.1f} MB"
        if with_porcupine and f"porcupine_end_to_end_{name}_s" in r:
            line += (
                f" | Porcupine ({r[f'porcupine_result_{name}']}) "
                f"{r[f'porcupine_end_to_end_{name}_s']:7.3f}s end to end "
                f"(check {r[f'porcupine_check_{name}_s']:.3f}s) {r[f'porcupine_peak_{name}_mb']:6.1f} MB"
            )
        print(line, flush=True)


def build_porcupine(source: Path) -> Path:
    """Porcupine at PORCUPINE_COMMIT from a git clone, extracted beside the harness (ignored by git), then built."""
    archive = subprocess.run(
        ["git", "-C", str(source), "archive", "--format=tar", PORCUPINE_COMMIT], capture_output=True, check=True
    ).stdout
    target = HARNESS / "porcupine-src"
    shutil.rmtree(target, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    binary = HARNESS / "porcupine-bench"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=HARNESS, check=True)
    return binary


def porcupine(binary: Path, path: Path, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "GOMAXPROCS": "1"}
    argv = [str(binary), str(path), str(timeout)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def make_stale(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same history with its 200th read returning its key's first value instead (a stale read)."""
    events = [dict(e) for e in events]
    reads = [e for e in events if e["f"] == "read" and e["type"] == "ok" and e["value"] is not None]
    first = next(e for e in reads if e["key"] == reads[200]["key"])
    reads[200]["value"] = first["value"]
    return events


def case_porcupine(runs: int, folder: Path, binary: Path, timeout: float) -> dict[int, Any]:
    results = {}
    for size in (20_000, 50_000, 100_000):
        row: dict[str, Any] = {}
        for variant, events in (("valid", issue_events(size)), ("stale", make_stale(issue_events(size)))):
            path = folder / f"{variant}-{size}.jsonl"
            dump(events, path)
            gc.disable()
            try:
                ops = history.load(path)
                keys = by_key(ops)
                ours = all(checker.linearizable(k)[0] for k in keys.values())
                whole = median_time(lambda ops=ops: checker.check(ops), runs)  # type: ignore[misc]
                # Run by run, alternating, so that both see the same load on a shared machine.
                searches, theirs = [], []
                for _ in range(runs):
                    searches.append(median_time(lambda keys=keys: [checker.linearizable(k) for k in keys.values()], 1))  # type: ignore[misc]
                    theirs.append(porcupine(binary, path, timeout))
                search = statistics.median(searches)
            finally:
                gc.enable()
            results_ = {t["result"] for t in theirs}
            assert results_ <= {"Ok" if ours else "Illegal", "Unknown"}, (variant, size, ours, theirs)
            row[variant] = {
                "linearizable": ours,
                "porcupine_result": sorted(results_),
                "multidc_search_s": round(search, 3),
                "multidc_check_s": round(whole, 3),
                "porcupine_check_s": round(statistics.median(t["check_s"] for t in theirs), 3),
                "porcupine_load_s": round(statistics.median(t["load_s"] for t in theirs), 3),
            }
            r = row[variant]
            print(
                f"{size:>7} {variant:>5} (linearizable: {ours}): multidc search {r['multidc_search_s']:.3f}s "
                f"(all checks {r['multidc_check_s']:.3f}s), Porcupine CheckOperations {r['porcupine_check_s']:.3f}s "
                f"({'/'.join(r['porcupine_result'])})",
                flush=True,
            )
        results[size] = row
    return results


_ETCD = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*)$")


def etcd_events(path: Path) -> list[dict[str, Any]]:
    """A Porcupine etcd log (Jepsen 0.1's lines) as multidc events; the line number is the time."""
    events = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        found = _ETCD.match(line.strip())
        if not found:
            continue
        process, kind, f, raw = found.groups()
        value: Any = None
        if raw.startswith("["):
            value = [int(x) for x in raw.strip("[]").split()]
        elif raw.isdigit():
            value = int(raw)
        events.append({"process": int(process), "type": kind, "f": f, "key": "k", "value": value, "time": number})
    return events


def knossos_events(path: Path) -> list[dict[str, Any]]:
    """A Knossos history (a whole-file EDN vector or list of op maps) as multidc events; its order is the time."""
    events = []
    for number, op in enumerate(edn.read(path.read_text()), start=1):
        if isinstance(op, edn.Tagged):
            op = op.value
        process = op.get("process")
        if not isinstance(process, int) or isinstance(process, bool):
            continue  # the nemesis
        kind, f = str(op.get("type")), str(op.get("f"))
        events.append({"process": process, "type": kind, "f": f, "key": "k", "value": op.get("value"), "time": number})
    return events


def case_corpus(runs: int, folder: Path, binary: Path, knossos_dir: Path, timeout: float) -> dict[str, Any]:
    """Every history of Porcupine's etcd set and Knossos's cas-register sets: multidc's search against Porcupine's
    CheckOperations (median of `runs`, alternating), and whether they agree."""
    etcd = sorted((HARNESS / "porcupine-src" / "test_data" / "jepsen").glob("etcd_*.log"))  # as build_porcupine left it
    knossos = sorted((knossos_dir / "data" / "cas-register").glob("*/*.edn"))
    rows: dict[str, Any] = {}
    for source in [*etcd, *knossos]:
        name = f"{source.parent.name}/{source.name}"
        events = etcd_events(source) if source.suffix == ".log" else knossos_events(source)
        path = folder / "corpus.jsonl"
        dump(events, path)
        try:
            ops = history.load(path)
        except history.HistoryError as exc:
            rows[name] = {"skipped": str(exc)}
            print(f"{name:<40} skipped: {exc}", flush=True)
            continue
        keys = list(by_key(ops).values())
        ours, theirs = [], []
        for _ in range(runs):
            ours.append(median_time(lambda keys=keys: [checker.linearizable(k) for k in keys], 1))  # type: ignore[misc]
            theirs.append(porcupine(binary, path, timeout))
        valid = all(checker.linearizable(k)[0] for k in keys)
        results = {t["result"] for t in theirs}
        row = {
            "operations": len(ops),
            "linearizable": valid,
            "agree": results == {"Ok" if valid else "Illegal"},
            "multidc_search_s": round(statistics.median(ours), 5),
            "porcupine_check_s": round(statistics.median(t["check_s"] for t in theirs), 5),
        }
        rows[name] = row
        print(
            f"{name:<40} {row['operations']:>6} ops {'valid' if valid else 'NOT valid':>9} "
            f"multidc {row['multidc_search_s']:8.4f}s Porcupine {row['porcupine_check_s']:8.4f}s"
            + ("" if row["agree"] else f" DISAGREE ({'/'.join(sorted(results))})"),
            flush=True,
        )
    judged = [r for r in rows.values() if "skipped" not in r]
    slower = [n for n, r in rows.items() if "skipped" not in r and r["multidc_search_s"] > r["porcupine_check_s"]]
    summary = {
        "histories": len(rows),
        "judged": len(judged),
        "agree": sum(r["agree"] for r in judged),
        "multidc_slower_on": slower,
        "multidc_total_s": round(sum(r["multidc_search_s"] for r in judged), 3),
        "porcupine_total_s": round(sum(r["porcupine_check_s"] for r in judged), 3),
    }
    print(json.dumps(summary), flush=True)
    return {"summary": summary, "histories": rows}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", action="append", choices=["sizes", "issue", "porcupine", "corpus"])
    parser.add_argument("--sizes", default="1000,10000,20000,100000", help="--case sizes: operations per history")
    parser.add_argument("--porcupine", type=Path, help="a git clone of github.com/anishathalye/porcupine")
    parser.add_argument("--porcupine-timeout", type=float, default=300.0, help="seconds; then Porcupine says Unknown")
    parser.add_argument("--knossos", type=Path, help="--case corpus: a checkout of github.com/jepsen-io/knossos")
    args = parser.parse_args()
    cases = args.case or ["sizes", "issue"]
    if {"porcupine", "corpus"} & set(cases) and args.porcupine is None:
        parser.error("--case porcupine and corpus need --porcupine DIR (a git clone of Porcupine)")
    if "corpus" in cases and args.knossos is None:
        parser.error("--case corpus needs --knossos DIR (a checkout of Knossos, for data/cas-register)")
    binary = None
    if args.porcupine is not None:
        binary = build_porcupine(args.porcupine)
        go = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()
        print(f"Porcupine {PORCUPINE_COMMIT} ({go}, GOMAXPROCS=1)", flush=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "sizes" in cases:
            results["sizes"] = case_sizes(args.runs, [int(x) for x in args.sizes.split(",")])
        if "issue" in cases:
            results["issue"] = case_issue(args.runs, Path(tmp), binary, args.porcupine_timeout)
        if "porcupine" in cases and binary is not None:
            results["porcupine"] = case_porcupine(args.runs, Path(tmp), binary, args.porcupine_timeout)
        if "corpus" in cases and binary is not None:
            results["corpus"] = case_corpus(args.runs, Path(tmp), binary, args.knossos, args.porcupine_timeout)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
