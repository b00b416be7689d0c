"""Benchmark: `multidc dc add` and `multidc dc remove` on a running default environment, and the floor.

The floor is one server node, same binary, TLS and raft storage, started alone on loopback and taken to active (as in
up_down.py). Each run adds a fourth DC (the whole CLI command, to healthy) and removes it again; medians over --runs.
Once more at the end: the leader removed (it steps down first), then a DC added under the new leader.

    sudo .venv/bin/python bench/membership.py --runs 5 [-f topology.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from up_down import cli, floor_once

from multidc.binaries import resolve

NAME = "bmemb"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench/results/membership.json")
    parser.add_argument("-f", "--file", default=None, help="Topology of the environment (default: the seed's).")
    args = parser.parse_args()
    binary = resolve(None).path
    floors: list[float] = []
    adds: list[float] = []
    removes: list[float] = []
    add_steps: list[dict[str, float]] = []
    remove_steps: list[dict[str, float]] = []
    after: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "MULTIDC_STATE_DIR": state}
        cli(["up", "--name", NAME, *(["-f", args.file] if args.file else [])], env)
        try:
            for i in range(args.runs):
                floors.append(floor_once(binary)[0])
                add_s, proc = cli(["dc", "add", "extra", "--name", NAME, "--output", "json"], env)
                adds.append(add_s)
                add_steps.append(json.loads(proc.stdout)["steps"])
                remove_s, proc = cli(["dc", "remove", "extra", "--name", NAME, "--output", "json"], env)
                removes.append(remove_s)
                remove_steps.append(json.loads(proc.stdout)["steps"])
                print(f"run {i + 1}: floor {floors[-1]:.2f}s  add {add_s:.2f}s  remove {remove_s:.2f}s", flush=True)
            leader = json.loads(cli(["status", "--name", NAME, "--output", "json"], env)[1].stdout)["leader"]
            remove_s, proc = cli(["dc", "remove", leader, "--name", NAME, "--output", "json"], env)
            add_s, proc2 = cli(["dc", "add", "extra", "--name", NAME, "--output", "json"], env)
            after = {
                "removed_leader_s": round(remove_s, 3),
                "removed_leader_steps_s": json.loads(proc.stdout)["steps"],
                "add_under_new_leader_s": round(add_s, 3),
                "add_under_new_leader_steps_s": json.loads(proc2.stdout)["steps"],
            }
            print(f"leader {leader} removed {remove_s:.2f}s, then add {add_s:.2f}s", flush=True)
        finally:
            cli(["down", "--name", NAME], env)
    floor, add, remove = (statistics.median(x) for x in (floors, adds, removes))

    def medians(steps: list[dict[str, float]]) -> dict[str, float]:
        return {k: round(statistics.median(s[k] for s in steps), 3) for k in steps[0]}

    result = {
        "runs": args.runs,
        "topology": args.file,
        "floor_single_node_s": round(floor, 3),
        "dc_add_s": round(add, 3),
        "dc_remove_s": round(remove, 3),
        "ratio_add_over_floor": round(add / floor, 2),
        "add_step_medians_s": medians(add_steps),
        "remove_step_medians_s": medians(remove_steps),
        "after_a_leader_change": after,
        "raw": {"floor": floors, "add": adds, "remove": removes},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
