"""Benchmark: time to healthy for the default 3-DC environment, time of `down`, and the floor.

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


def floor_once(binary: str) -> float:
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
            result = bootstrap.initialize(c, auto_unseal=False, shares=1, threshold=1)
            bootstrap.unseal(c, result.keys)
            bootstrap.wait_active(c, 20)
            return time.monotonic() - start
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench/results/up_down.json")
    args = parser.parse_args()
    binary = resolve(None).path
    floors, ups, downs, steps = [], [], [], []
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "MULTIDC_STATE_DIR": state}
        for i in range(args.runs):
            floors.append(floor_once(binary))
            up_s, proc = cli(["up", "--name", "bench", "--output", "json"], env)
            ups.append(up_s)
            steps.append(json.loads(proc.stdout)["steps"])
            down_s, _ = cli(["down", "--name", "bench"], env)
            downs.append(down_s)
            print(f"run {i + 1}: floor {floors[-1]:.2f}s  up {up_s:.2f}s  down {down_s:.2f}s", flush=True)
    floor, up, down = (statistics.median(x) for x in (floors, ups, downs))
    step_medians = {k: round(statistics.median(s[k] for s in steps), 3) for k in steps[0]}
    result = {
        "runs": args.runs,
        "floor_single_node_s": round(floor, 3),
        "up_3dc_healthy_s": round(up, 3),
        "down_s": round(down, 3),
        "ratio_up_over_floor": round(up / floor, 2),
        "step_medians_s": step_medians,
        "raw": {"floor": floors, "up": ups, "down": downs},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
