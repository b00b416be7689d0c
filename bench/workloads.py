"""Benchmark: acknowledged operations per second of the set, tokens and pki workloads on a 3-DC environment (two
clients per DC, each through its own DC, the workloads' defaults), without faults and with the leader killed at 25 %
and started at 60 %; medians over --runs. Also how many operations with an unknown outcome took effect after all
(set: elements listed beyond the acknowledged adds; pki: certificates listed beyond the acknowledged issues and the CA).

    sudo .venv/bin/python bench/workloads.py --duration 8 --runs 3 [--name EXISTING]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import threading
import time
from collections.abc import Iterator

import multidc
from multidc.api import Environment
from multidc.verify.workload import Recorder
from multidc.verify.workloads import WORKLOADS, make


@contextlib.contextmanager
def environment(name: str | None) -> Iterator[Environment]:
    if name:
        yield multidc.attach(name)
    else:
        with multidc.up(name=f"bw{os.getpid() % 100000}") as env:
            yield env


def once(env: Environment, name: str, duration: float, kill: bool) -> tuple[float, int, bool]:
    """(acknowledged mutations per second, unknown outcomes that took effect, valid)."""
    env.wait_healthy()
    w = make(
        name,
        endpoints={dc: env.address(dc) for dc in env.datacenters},
        ca=env.ca_cert,
        token=env.root_token,
        prefix=f"multidc-bench/{name}-{time.time_ns()}",
        recorder=Recorder(),
    )
    w.setup()
    victim = env.leader() or env.primary
    stop = threading.Event()
    start = w.recorder.now()
    threads = w.run(stop)
    if kill:
        time.sleep(0.25 * duration)
        env.kill(victim)
        time.sleep(0.35 * duration)
        env.start(victim)
    time.sleep(max(0.0, start + duration - w.recorder.now()))
    stop.set()
    for t in threads:
        t.join(timeout=w.timeout + 3)
    elapsed = w.recorder.now() - start
    env.wait_healthy(timeout=90)
    w.final()
    v = w.verdict()
    acked = sum(1 for e in w.recorder.history() if e["type"] == "ok" and e["f"] in w.mutations)
    took_effect = {
        "set": v.counts.get("elements read", 0) - v.counts.get("adds ok", 0),
        "pki": v.counts.get("certificates listed", 0) - 1 - v.counts.get("issues ok", 0),
    }.get(name, 0)
    w.cleanup()
    return acked / elapsed, took_effect, v.valid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", help="an environment that is up (default: bring one up and down)")
    parser.add_argument("--workload", action="append", choices=list(WORKLOADS), help="default: all")
    args = parser.parse_args()
    with environment(args.name) as env:
        for name in args.workload or list(WORKLOADS):
            for kill in (False, True):
                runs = [once(env, name, args.duration, kill) for _ in range(args.runs)]
                rate = statistics.median(r[0] for r in runs)
                took = [r[1] for r in runs]
                valid = sum(r[2] for r in runs)
                label = "leader killed" if kill else "no faults"
                print(
                    f"{name:7} {label:13} {rate:6.0f} acknowledged/s (median of {args.runs}); "
                    f"unknown outcomes that took effect: {took}; valid {valid}/{args.runs}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
