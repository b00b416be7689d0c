"""Benchmark: what faults do to OpenBao 2.7, in seconds, for the README's "What faults do" (medians over --runs).

Per run, on a fresh default environment (transit auto-unseal):
- crash while the KMS is down: `kms-down`, `kill` a follower, `start` it: how long until `start` reports the server
  exited (its seal cannot reach the KMS); then `kms-up`: how long until that follower answers unsealed again.
- partitioned leader: `partition LEADER` (the KMS on the other side): from the cut, when its own published port first
  stops answering `sys/seal-status` (1 s timeout, sampled every 0.25 s) and when it answers again while still cut
  (capped at --cut seconds), then how long after `heal` it answers.
- the same with the KMS on the leader's side (`partition LEADER,kms`): the share of samples answered during --cut/3 s.

    sudo .venv/bin/python bench/faults.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import requests

import multidc
from multidc.errors import StartFailed

SAMPLE = 0.25


def answers(url: str, ca: str | None) -> bool:
    try:
        return requests.get(url + "/v1/sys/seal-status", verify=ca or False, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def unsealed(url: str, ca: str | None) -> bool:
    try:
        body = requests.get(url + "/v1/sys/seal-status", verify=ca or False, timeout=1).json()
    except (requests.RequestException, ValueError):
        return False
    return body.get("sealed") is False


def until(condition, timeout: float) -> float | None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(SAMPLE / 2)
    return None


def one_run(i: int, cut: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    with multidc.up(name=f"bf{os.getpid() % 10000}r{i}") as env:
        leader = env.leader() or "primary"
        follower = next(dc for dc in env.datacenters if dc != leader)
        env.kms_down()
        env.kill(follower)
        t0 = time.monotonic()
        try:
            env.start(follower)
            out["start_exit_s"] = None  # it kept running: not what was measured before
        except StartFailed:
            out["start_exit_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        env.kms_up()
        back = until(lambda: unsealed(env.address(follower), env.ca_cert), 60)
        out["back_after_kms_up_s"] = None if back is None else time.monotonic() - t0
        env.wait_healthy(90)

        leader = env.leader() or "primary"
        url = env.address(leader)
        t0 = time.monotonic()
        env.partition([leader])
        gone = until(lambda: not answers(url, env.ca_cert), 30)
        out["leader_silent_after_s"] = None if gone is None else time.monotonic() - t0
        again = until(lambda: answers(url, env.ca_cert), max(0.0, cut - (time.monotonic() - t0)))
        out["leader_answers_again_while_cut_s"] = None if again is None else time.monotonic() - t0
        t1 = time.monotonic()
        env.heal()
        back = until(lambda: answers(url, env.ca_cert), 90)
        out["answers_after_heal_s"] = None if back is None else time.monotonic() - t1
        env.wait_healthy(120)

        leader = env.leader() or "primary"
        url = env.address(leader)
        env.partition([leader, "kms"])
        samples = []
        end = time.monotonic() + cut / 3
        while time.monotonic() < end:
            samples.append(answers(url, env.ca_cert))
            time.sleep(SAMPLE)
        env.heal()
        out["with_kms_answered_share"] = sum(samples) / len(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cut", type=float, default=75.0, help="seconds the leader stays cut off")
    args = parser.parse_args()
    runs = [one_run(i, args.cut) for i in range(args.runs)]
    keys = runs[0].keys()
    medians = {}
    for key in keys:
        values = [r[key] for r in runs if r[key] is not None]
        medians[key] = round(statistics.median(values), 2) if values else None
    print(
        json.dumps(
            {"runs": runs, "medians": medians, "missing": {k: sum(r[k] is None for r in runs) for k in keys}}, indent=2
        )
    )


if __name__ == "__main__":
    main()
