"""Benchmark: how long commands take to start and answer, against the interpreter's own start in the same run.

Medians over --runs runs of: `python -c pass` (the floor), `multidc --help`, `multidc env` (what users `eval`) and
`multidc status` against a live default environment that this bench brings up (netns, root) and removes.

    sudo .venv/bin/python bench/startup.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--name", default=f"bs{os.getpid() % 100000}")
    parser.add_argument("--out", default="bench/results/startup.json")
    args = parser.parse_args()
    multidc = [sys.executable, "-m", "multidc"]
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "multidc --help": [*multidc, "--help"],
        "multidc env": [*multidc, "env", "--name", args.name],
        "multidc env kms": [*multidc, "env", "kms", "--name", args.name],
        "multidc status": [*multidc, "status", "--name", args.name],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "MULTIDC_STATE_DIR": state}
        subprocess.run([*multidc, "up", "--name", args.name, "--output", "json"], env=env, check=True, stdout=-3)
        try:
            for _ in range(args.runs):
                for label, argv in commands.items():
                    times[label].append(timed(argv, env))
        finally:
            subprocess.run([*multidc, "down", "--name", args.name], env=env, check=False, stdout=-3)
    floor = statistics.median(times["python -c pass (floor)"])
    result = {
        "runs": args.runs,
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "ratio_over_floor": {k: round(statistics.median(v) / floor, 1) for k, v in times.items()},
        "raw": times,
    }
    print(f"{'command':<26} {'median':>8} {'x floor':>8}")
    for label in commands:
        print(f"{label:<26} {result['median_s'][label]:>7.3f}s {result['ratio_over_floor'][label]:>8}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
