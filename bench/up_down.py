"""Benchmark: time to healthy (the whole `multidc up` command) for 3 DCs (transit), 3 DCs in kv mode and 9 DCs, time
of `down`, and the floor.

The floor is one server node, same binary, same TLS and raft storage, started alone on loopback and taken to active
(init with one key, unseal, sys/health 200). Every figure is a median over --runs runs, measured in this one run.

    sudo .venv/bin/python bench/up_down.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

from multidc import bootstrap, pki
from multidc.binaries import resolve
from multidc.vaultapi import client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def floor_once(binary: str) -> tuple[float, float]:
    """(seconds to active, seconds of those from the init on: `sys/init` holds for the single-node Raft election, 1-2 s
    by Raft's random heartbeat timeout, which `up` pays once too, in its step Initialising primary; then the unseal and
    the wait until active, as that step's own waits after the init)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca = pki.make_ca("bench")
        leaf = pki.issue(ca, "floor", [IPv4Address("127.0.0.1")], ["localhost"])
        (root / "ca.crt").write_bytes(ca.cert_pem)
        (root / "tls.crt").write_bytes(leaf.cert_pem)
        (root / "tls.key").write_bytes(leaf.key_pem)
        (root / "raft").mkdir()
        api, cluster = free_port(), free_port()
        config = {
            "api_addr": f"https://127.0.0.1:{api}",
            "cluster_addr": f"https://127.0.0.1:{cluster}",
            "listener": [
                {
                    "tcp": {
                        "address": f"127.0.0.1:{api}",
                        "cluster_address": f"127.0.0.1:{cluster}",
                        "tls_cert_file": str(root / "tls.crt"),
                        "tls_key_file": str(root / "tls.key"),
                    }
                }
            ],
            "storage": {"raft": {"path": str(root / "raft"), "node_id": "floor", "performance_multiplier": 1}},
        }
        (root / "config.json").write_text(json.dumps(config))
        start = time.monotonic()
        proc = subprocess.Popen(
            [binary, "server", f"-config={root / 'config.json'}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            c = client(f"https://127.0.0.1:{api}", str(root / "ca.crt"))
            bootstrap.wait_listening(c, 20)
            init_start = time.monotonic()
            result = bootstrap.initialize(c, auto_unseal=False, shares=1, threshold=1)
            bootstrap.unseal(c, result.keys)
            bootstrap.wait_active(c, 20)
            end = time.monotonic()
            return end - start, end - init_start
        finally:
            proc.kill()
            proc.wait()


def cli(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "multidc", *args], capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"multidc {' '.join(args)} failed: {proc.stderr}")
    return elapsed, proc


SHAPES = {  # what is brought up in each run, as topology files
    "3dc": "{}\n",
    "3dc-kv": "unseal: kv\n",
    "9dc": "datacenters: [d1, d2, d3, d4, d5, d6, d7, d8, d9]\n",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--name", default=f"bu{os.getpid() % 100000}")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of: {', '.join(SHAPES)}")
    parser.add_argument("--out", default="bench/results/up_down.json")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    binary = resolve(None).path
    floors: list[float] = []
    floor_inits: list[float] = []
    ups: dict[str, list[float]] = {s: [] for s in shapes}
    downs: dict[str, list[float]] = {s: [] for s in shapes}
    steps: dict[str, list[dict[str, float]]] = {s: [] for s in shapes}
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "MULTIDC_STATE_DIR": state}
        for i in range(args.runs):
            total, init = floor_once(binary)
            floors.append(total)
            floor_inits.append(init)
            line = [f"run {i + 1}: floor {floors[-1]:.2f}s"]
            for shape in shapes:
                topo = Path(state) / f"{shape}.yaml"
                topo.write_text(SHAPES[shape])
                up_s, proc = cli(["up", "--name", args.name, "-f", str(topo), "--output", "json"], env)
                ups[shape].append(up_s)
                steps[shape].append(json.loads(proc.stdout)["steps"])
                down_s, _ = cli(["down", "--name", args.name], env)
                downs[shape].append(down_s)
                line.append(f"{shape} up {up_s:.2f}s down {down_s:.2f}s")
            print("  ".join(line), flush=True)
    floor = statistics.median(floors)
    up = {s: statistics.median(v) for s, v in ups.items()}
    down = {s: statistics.median(v) for s, v in downs.items()}
    result = {
        "runs": args.runs,
        "floor_single_node_s": round(floor, 3),
        "up_healthy_s": {s: round(v, 3) for s, v in up.items()},
        "ratio_up_over_floor": {s: round(v / floor, 2) for s, v in up.items()},
        "down_s": {s: round(v, 3) for s, v in down.items()},
        "step_medians_s": {
            s: {k: round(statistics.median(run[k] for run in steps[s]), 3) for k in steps[s][0]} for s in shapes
        },
        "raw": {"floor": floors, "up": ups, "down": downs},
    }
    if "9dc" in up and "3dc" in up:
        result["ratio_9dc_over_3dc"] = round(up["9dc"] / up["3dc"], 2)
    # Both the floor and `up` pay one single-node election (1-2 s, uniformly random) inside an init: most of the
    # spread between runs. What is left once each run's own init is taken away is what multidc adds; pairing each up
    # run's remainder with the same run's floor election gives the ratio both would show on equal draws.
    beyond = {s: [u - run["Initialising primary"] for u, run in zip(ups[s], steps[s], strict=True)] for s in shapes}
    floor_beyond = [f - i for f, i in zip(floors, floor_inits, strict=True)]
    result["floor_init_s"] = round(statistics.median(floor_inits), 3)
    result["floor_beyond_init_s"] = round(statistics.median(floor_beyond), 3)
    result["up_beyond_init_s"] = {s: round(statistics.median(v), 3) for s, v in beyond.items()}
    result["ratio_on_equal_elections"] = {
        s: round(statistics.median((b + i) / f for b, i, f in zip(v, floor_inits, floors, strict=True)), 2)
        for s, v in beyond.items()
    }
    result["raw"]["floor_init"] = floor_inits
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nfloor (one node to active): {floor:.2f}s  ({args.runs} runs, medians)")
    print(f"{'shape':<8} {'up':>7} {'x floor':>8} {'down':>7}")
    for shape in shapes:
        print(f"{shape:<8} {up[shape]:>6.2f}s {up[shape] / floor:>8.2f} {down[shape]:>6.2f}s")
    if "ratio_9dc_over_3dc" in result:
        print(f"9dc / 3dc: {result['ratio_9dc_over_3dc']}")
    floor_part = f"floor {result['floor_beyond_init_s']:.2f}s (its init {result['floor_init_s']:.2f}s)"
    up_parts = ", ".join(f"{s} {v:.2f}s" for s, v in result["up_beyond_init_s"].items())
    print(f"beyond its own init: {floor_part}, {up_parts}")
    print("ratio on equal elections: " + ", ".join(f"{s} {v}" for s, v in result["ratio_on_equal_elections"].items()))
    for shape in shapes:
        print(f"steps {shape}: " + ", ".join(f"{k} {v:.2f}" for k, v in result["step_medians_s"][shape].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
