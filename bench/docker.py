"""Benchmark: the docker provider beside netns and the single-node floor, in one run: `up` to healthy and `down` for
3 DCs on each, the image build, each fault's command time on docker, and memory per DC: the cgroup's (docker stats:
anonymous memory of the server plus its network-namespace holder) and the server's resident set as the host sees it
(the binary's mapped pages included). Medians over --runs runs.

    sudo .venv/bin/python bench/docker.py --runs 5
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

from up_down import cli, floor_once

from multidc.binaries import resolve
from multidc.providers.docker import image
from multidc.runner import SubprocessRunner

FAULTS = [  # (label, chaos arguments): each applied then undone, timed as the whole CLI command
    ("kill", ["kill", "tertiary"]),
    ("start", ["start", "tertiary"]),
    ("stop", ["stop", "tertiary"]),
    ("start after stop", ["start", "tertiary"]),
    ("pause", ["pause", "tertiary"]),
    ("resume", ["resume", "tertiary"]),
    ("partition", ["partition", "tertiary"]),
    ("heal", ["heal"]),
    ("one-way", ["one-way", "primary", "secondary"]),
    ("heal after one-way", ["heal"]),
    ("kms-down", ["kms-down"]),
    ("kms-up", ["kms-up"]),
]


def memory_mib(name: str) -> dict[str, float]:
    """Resident memory of each server container and each holder, in MiB (docker stats)."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 1024 / 1024}
    found = {}
    for line in out.splitlines():
        container, usage = line.split(" ", 1)
        if container.startswith(f"mdc.{name}."):
            value = usage.split("/")[0].strip()
            unit = next(u for u in units if value.endswith(u))
            found[container] = float(value.removesuffix(unit)) * units[unit]
    return found


def rss_mib(name: str, places: list[str]) -> list[float]:
    """Each server's resident set as the host sees its process (VmRSS: the binary's mapped pages included, which
    every server of one image shares), in MiB."""
    found = []
    for place in places:
        pid = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Pid}}", f"mdc.{name}.{place}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        status = Path(f"/proc/{pid}/status").read_text()
        found.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024)
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--name", default=f"bd{os.getpid() % 100000}")
    parser.add_argument("--out", default="bench/results/docker.json")
    args = parser.parse_args()
    binary = resolve(None)
    runner = SubprocessRunner()
    tag = f"multidc-bench/openbao:{os.getpid()}"
    builds = []
    for _ in range(args.runs):
        start = time.monotonic()
        image.build(runner, binary, tag, cache=False)  # a first build, every layer
        builds.append(time.monotonic() - start)
        runner.run(["docker", "image", "rm", tag], check=False)
    image.ensure(runner, binary)  # the image `up` uses, built once
    floors: list[float] = []
    ups: dict[str, list[float]] = {"netns": [], "docker": []}
    downs: dict[str, list[float]] = {"netns": [], "docker": []}
    steps: list[dict[str, float]] = []
    faults: dict[str, list[float]] = {label: [] for label, _ in FAULTS}
    memory: list[float] = []
    rss: list[float] = []
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "MULTIDC_STATE_DIR": state}
        for i in range(args.runs):
            floors.append(floor_once(binary.path)[0])
            line = [f"run {i + 1}: floor {floors[-1]:.2f}s"]
            for provider in ("netns", "docker"):
                up_s, proc = cli(["up", "--name", args.name, "--provider", provider, "--output", "json"], env)
                ups[provider].append(up_s)
                if provider == "docker":
                    steps.append(json.loads(proc.stdout)["steps"])
                    used = memory_mib(args.name)
                    dcs = [v for k, v in used.items() if k.count(".") == 2 and not k.endswith(".kms")]
                    holders = [v for k, v in used.items() if k.endswith(".net")]
                    memory.append(statistics.mean(dcs) + statistics.mean(holders))
                    rss.append(statistics.mean(rss_mib(args.name, ["primary", "secondary", "tertiary"])))
                    for label, chaos in FAULTS:
                        took, _ = cli(["chaos", *chaos, "--name", args.name], env)
                        faults[label].append(took)
                    cli(["status", "--name", args.name], env)  # healthy again (exit 0) before `down`
                down_s, _ = cli(["down", "--name", args.name], env)
                downs[provider].append(down_s)
                line.append(f"{provider} up {up_s:.2f}s down {down_s:.2f}s")
            print("  ".join(line), flush=True)
    floor = statistics.median(floors)
    result = {
        "runs": args.runs,
        "image_build_s": round(statistics.median(builds), 3),
        "floor_single_node_s": round(floor, 3),
        "up_healthy_s": {p: round(statistics.median(v), 3) for p, v in ups.items()},
        "ratio_up_over_floor": {p: round(statistics.median(v) / floor, 2) for p, v in ups.items()},
        "down_s": {p: round(statistics.median(v), 3) for p, v in downs.items()},
        "docker_step_medians_s": {k: round(statistics.median(run[k] for run in steps), 3) for k in steps[0]},
        "docker_fault_command_s": {k: round(statistics.median(v), 3) for k, v in faults.items()},
        "docker_memory_per_dc_mib": round(statistics.median(memory), 1),
        "docker_rss_per_server_mib": round(statistics.median(rss), 1),
        "raw": {"floor": floors, "up": ups, "down": downs, "build": builds, "memory": memory, "rss": rss},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
