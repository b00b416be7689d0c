"""Benchmark: the checker, three ways (medians over --runs runs).

`--case sizes`: throughput (operations per second) on linearizable histories of 1k to 100k operations of one key,
5 processes, a quarter of outcomes unknown, with the time of each phase.

`--case issue`: the issue's history: 100,000 operations on a 3-key register, 6 clients, reads, writes and
compare-and-sets, about 1 operation in 20 with an unknown outcome (after which the client goes on as a new process, as
in Jepsen). Each phase timed: interpreter start-up with the CLI's imports, loading (parse and pair), the search, stale
reads, lost writes, a client's own stale reads, the witness (none for this valid history: timed on the same history
with one read made stale), and the whole `multidc check FILE` as a subprocess, for the history as JSON lines and as
Jepsen EDN.

`--case porcupine --porcupine DIR`: the same shape at 20k, 50k and 100k operations, multidc's search against
Porcupine's CheckOperations (Go, GOMAXPROCS=1, bench/porcupine/main.go) on the same file; DIR is a git clone of
Porcupine (bare or not), read at PORCUPINE_COMMIT. Both must agree on the verdict, also on one non-linearizable
history per size (the 200th read made stale; with a stale read late in the history Porcupine, whose search must place
every unknown-outcome operation, gave no verdict within 240 s at 20k, so it runs with --porcupine-timeout).

Histories come from the test suite's simulator (linearizable by construction), seeded, so every run sees the same.

    .venv/bin/python bench/checker.py --runs 5
    .venv/bin/python bench/checker.py --case issue --runs 5
    .venv/bin/python bench/checker.py --case porcupine --porcupine /path/to/porcupine --runs 3
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
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

from multidc import checker, history  # noqa: E402
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


def case_issue(runs: int, folder: Path) -> dict[str, Any]:
    events = issue_events(100_000)
    jsonl, edn = folder / "issue.jsonl", folder / "issue.edn"
    dump(events, jsonl)
    edn.write_text("\n".join(edn_lines(events, independent=True)) + "\n")
    gc.disable()  # as `multidc check` runs
    try:
        ops = history.load(jsonl)
        statuses = {s: sum(o.status == s for o in ops) for s in ("ok", "fail", "info")}
        out: dict[str, Any] = {"operations": len(ops), "statuses": statuses}
        out["startup_s"] = median_time(
            lambda: subprocess.run([sys.executable, "-c", "import multidc.cli"], check=True), runs
        )
        out["load_jsonl_s"] = median_time(lambda: history.load(jsonl), runs)
        out["load_edn_s"] = median_time(lambda: history.load(edn), runs)
        out["phases_s"] = phases(ops, runs)
        verdict = checker.check(ops)
        assert verdict.valid and not verdict.stale_reads and not verdict.lost_writes
        # The witness: none for the valid history; timed on the same history with one read made stale.
        stale = pair(make_stale(events))
        failing = [k for k in by_key(stale).values() if not checker.linearizable(k)[0]]
        out["witness_s"] = median_time(lambda: [checker.minimise(k) for k in failing], runs)
        out["witness_size"] = [len(checker.minimise(k)) for k in failing]
        out["check_s"] = median_time(lambda: checker.check(ops), runs)
    finally:
        gc.enable()
    for name, path in (("jsonl", jsonl), ("edn", edn)):
        assert run_cli(path) == 0
        out[f"end_to_end_{name}_s"] = median_time(lambda path=path: run_cli(path), runs)  # type: ignore[misc]
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}
    rounded["phases_s"] = {k: round(v, 3) for k, v in out["phases_s"].items()}
    return rounded


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


def case_porcupine(runs: int, folder: Path, source: Path, timeout: float) -> dict[int, Any]:
    binary = build_porcupine(source)
    go = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"Porcupine {PORCUPINE_COMMIT} ({go}, GOMAXPROCS=1)", flush=True)
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", action="append", choices=["sizes", "issue", "porcupine"])
    parser.add_argument("--sizes", default="1000,10000,20000,100000", help="--case sizes: operations per history")
    parser.add_argument("--porcupine", type=Path, help="a git clone of github.com/anishathalye/porcupine")
    parser.add_argument("--porcupine-timeout", type=float, default=300.0, help="seconds; then Porcupine says Unknown")
    args = parser.parse_args()
    cases = args.case or ["sizes", "issue"]
    if "porcupine" in cases and args.porcupine is None:
        parser.error("--case porcupine needs --porcupine DIR (a git clone of Porcupine)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "sizes" in cases:
            results["sizes"] = case_sizes(args.runs, [int(x) for x in args.sizes.split(",")])
        if "issue" in cases:
            results["issue"] = case_issue(args.runs, Path(tmp))
        if "porcupine" in cases:
            results["porcupine"] = case_porcupine(args.runs, Path(tmp), args.porcupine, args.porcupine_timeout)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
