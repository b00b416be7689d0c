"""Benchmark: checker throughput (operations per second) on linearizable histories of 1k to 100k operations, with the
time of each phase (the linearizability search, stale reads, lost writes, a client's own stale reads).

Histories come from the test suite's sequential-model simulator (valid by construction, 5 processes, 25% unknown
outcomes), so the search has to prove every one. Medians over --runs runs; the floor is pairing the same history
(parse-level work every checker pays), measured in the same run.

    .venv/bin/python bench/checker.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.test_checker import simulate_events  # noqa: E402

from multidc import checker  # noqa: E402
from multidc.history import pair  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000,20000,100000")
    args = parser.parse_args()
    results = {}
    for size in (int(x) for x in args.sizes.split(",")):
        steps = size * 2
        events = simulate_events(7, args.processes, steps)
        while len(events) < 2 * size:
            steps = int(steps * 1.3)
            events = simulate_events(7, args.processes, steps)
        ops = pair(events)
        times, floors = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            verdict = checker.check(ops)
            times.append(time.perf_counter() - start)
            assert verdict.valid
            start = time.perf_counter()
            pair(events)
            floors.append(time.perf_counter() - start)
        med = statistics.median(times)
        by_key: dict[str, list] = {}  # type: ignore[type-arg]
        for o in ops:
            by_key.setdefault(o.key, []).append(o)
        phases = {}
        for phase in ("linearizable", "stale_reads", "lost_writes", "own_stale_reads"):
            start = time.perf_counter()
            for key_ops in by_key.values():
                getattr(checker, phase)(key_ops)
            phases[phase] = round(time.perf_counter() - start, 4)
        results[size] = {
            "phases_s": phases,
            "ops": len(ops),
            "median_s": round(med, 4),
            "ops_per_s": round(len(ops) / med),
            "floor_pairing_s": round(statistics.median(floors), 4),
        }
        print(f"{len(ops):>6} ops: {med:.3f}s median, {len(ops) / med:,.0f} ops/s, phases {phases}", flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
