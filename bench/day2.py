"""Benchmark: day-2 operations on the default 3-DC netns environment, through the Python API. Per run: `up` on the
oldest served OpenBao (2.6.1), a rolling upgrade to the pinned one (each step), snapshot save, restore into the same
environment, restore into a fresh one after `down` (the drill), and a lost-quorum recovery. Medians over --runs; the
floor (`up` to healthy of the same topology) is measured in the same run.

    sudo .venv/bin/python bench/day2.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

OLDEST = "2.6.1"


def timed(action):  # type: ignore[no-untyped-def]
    start = time.monotonic()
    result = action()
    return time.monotonic() - start, result


def once(tmp: Path, i: int) -> dict[str, float]:
    import multidc

    out: dict[str, float] = {}
    out["up_oldest_s"], env = timed(lambda: multidc.up({"version": OLDEST}, name=f"bd{i}a", keep=True))
    try:
        out["upgrade_s"], report = timed(env.upgrade)
        for step in report.steps:
            out[f"upgrade_{'leader' if step.was_leader else 'follower'}_step_s"] = step.seconds
        env.client("primary").secrets.kv.v2.create_or_update_secret(path="bench", secret={"v": i})
        snap = tmp / f"s{i}.snap"
        out["snapshot_save_s"], _ = timed(lambda: env.snapshot_save(snap))
        out["restore_same_s"], _ = timed(lambda: env.snapshot_restore(snap))
    finally:
        env.down()
    out["up_s"], fresh = timed(lambda: multidc.up(name=f"bd{i}b", keep=True))
    try:
        out["restore_fresh_s"], _ = timed(lambda: fresh.snapshot_restore(snap))
        leader = fresh.leader() or fresh.primary
        others = [dc for dc in fresh.datacenters if dc != leader]
        fresh.kill(leader)  # two of three gone for good: the leader and a follower
        fresh.kill(others[0])
        survivor = others[1]
        out["recover_s"], _ = timed(lambda: fresh.recover(survivor))
    finally:
        fresh.down()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="bench/results/day2.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as tmp:
        os.environ["MULTIDC_STATE_DIR"] = state
        for i in range(args.runs):
            runs.append(once(Path(tmp), i))
            print(f"run {i + 1}: " + "  ".join(f"{k} {v:.2f}" for k, v in runs[-1].items()), flush=True)
    keys = sorted({k for r in runs for k in r})
    result = {
        "runs": args.runs,
        "medians_s": {k: round(statistics.median(r[k] for r in runs if k in r), 3) for k in keys},
        "raw": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result["medians_s"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
