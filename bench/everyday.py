"""Benchmark: the everyday commands on one default environment, against the floor of the same run (`multidc --help`:
the interpreter and the CLI's own start), and the latency of `logs -f` (a line appended to a server's log until it
is printed). Every figure is a median over --runs runs.

    sudo .venv/bin/python bench/everyday.py --runs 5
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

NAME = "benchev"
COMMANDS = {
    "help (floor)": ["--help"],
    "--version": ["--version"],
    "list": ["list"],
    "status": ["status", "--name", NAME],
    "logs --tail 10": ["logs", "primary", "--tail", "10", "--name", NAME],
    "ui --no-open": ["ui", "--no-open", "--name", NAME],
    "export logs (.tar.gz)": ["export", "logs", "{tmp}/b{i}.tar.gz", "--name", NAME],
}


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "multidc", *args], capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"multidc {' '.join(args)} failed: {proc.stderr}")
    return elapsed


def follow_latency(env: dict[str, str], log: Path, i: int) -> float:
    """Append a marker line to the server's log and time until `logs -f` prints it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "multidc", "logs", "primary", "-f", "--tail", "1", "--name", NAME],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        proc.stdout.readline()  # the last line there: it has read the file and follows now (not part of the figure)
        marker = f"bench marker {i} {time.time_ns()}"
        start = time.monotonic()
        with open(log, "a") as handle:
            handle.write(marker + "\n")
        for line in proc.stdout:
            if line.strip() == marker:
                return time.monotonic() - start
        raise SystemExit("logs -f ended without printing the marker")  # (a server line may come first: skipped)
    finally:
        proc.terminate()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench/results/everyday.json")
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in [*COMMANDS, "logs -f latency"]}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        env = {**os.environ, "MULTIDC_STATE_DIR": str(state)}
        run(["up", "--name", NAME], env)
        try:
            for i in range(args.runs):
                for label, argv in COMMANDS.items():
                    times[label].append(run([a.format(tmp=tmp, i=i) for a in argv], env))
                log = state / NAME / "nodes" / "primary" / "server.log"
                times["logs -f latency"].append(follow_latency(env, log, i))
                print(f"run {i + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
        finally:
            run(["down", "--name", NAME], env)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    floor = medians["help (floor)"]
    result = {
        "runs": args.runs,
        "median_s": medians,
        "ratio_over_floor": {k: round(v / floor, 2) for k, v in medians.items() if k != "logs -f latency"},
        "raw": times,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
