"""Benchmark: memory of multidc's own helper processes (not the servers), for 3 DCs in kv mode with a delay on every
pair of places (DCs and the KMS): the forwarder, the unsealers and the delayers, VmRSS summed.

    sudo .venv/bin/python bench/footprint.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default=f"bf{os.getpid() % 100000}")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of running before reading memory")
    parser.add_argument("--out", default="bench/results/footprint.json")
    args = parser.parse_args()
    multidc = [sys.executable, "-m", "multidc"]
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "MULTIDC_STATE_DIR": state}
        topo = Path(state) / "kv.yaml"
        topo.write_text("unseal: kv\n")

        def run(*argv: str) -> None:
            subprocess.run([*multidc, *argv, "--name", args.name], env=env, check=True, stdout=subprocess.DEVNULL)

        run("up", "-f", str(topo))
        try:
            places = ["primary", "secondary", "tertiary", "kms"]
            for a, b in itertools.combinations(places, 2):
                run("chaos", "delay", a, b, "5")
            time.sleep(args.settle)
            pids = json.loads((Path(state) / args.name / "state.json").read_text())["pids"]
            helpers = {k: rss_kb(p) for k, p in sorted(pids.items()) if k != "kms" and not k.startswith("node:")}
        finally:
            subprocess.run([*multidc, "down", "--name", args.name], env=env, check=False, stdout=subprocess.DEVNULL)
    total = sum(helpers.values())
    print(f"{'process':<22} {'VmRSS':>9}")
    for key, kb in helpers.items():
        print(f"{key:<22} {kb / 1024:>6.1f} MB")
    print(f"{'total':<22} {total / 1024:>6.1f} MB  ({len(helpers)} processes)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rss_kb": helpers, "total_mb": round(total / 1024, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
