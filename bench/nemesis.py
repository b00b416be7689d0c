"""Benchmark: random fault schedules against every workload, on both server settings (standby reads served, OpenBao's
default; `server.disable_standby_reads: true`), with plain clients. Per run: the seed, whether it passed, the
register's verdict (linearizable, stale reads, lost writes), each other workload's anomalies, the faults begun and
skipped, the time to healthy after the last fault, the checkers' time.

    sudo .venv/bin/python bench/nemesis.py --seeds 1,2,3 --duration 30
"""

from __future__ import annotations

import argparse
import json
import os

import multidc
from multidc.progress import Progress
from multidc.verify import nemesis
from multidc.verify.run import verify

SERVERS = {"served": {}, "disabled": {"server": {"disable_standby_reads": True}}}
WORKLOADS = ("register", "set", "tokens", "pki")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--servers", default="served,disabled")
    args = parser.parse_args()
    rows = []
    for server in args.servers.split(","):
        with multidc.up(SERVERS[server], name=f"bn{os.getpid() % 10000}{server[0]}") as env:
            for seed in (int(s) for s in args.seeds.split(",")):
                schedule = nemesis.generate(seed, env.datacenters, args.duration, list(nemesis.KINDS))
                [r] = verify(env, [], args.duration, None, Progress(quiet=True), "eventual", schedule, WORKLOADS)
                d = r.to_dict()
                row = {
                    "standby_reads": server,
                    "seed": seed,
                    "passed": r.passed,
                    "faults": len(r.windows),
                    "skipped": len(r.checks.get("skipped", [])),  # type: ignore[arg-type]
                    "register_ops": d["operations"],
                    "linearizable": d["valid"],
                    "stale_reads": len(d["stale_reads"]),
                    "lost_writes": len(d["lost_writes"]),
                    **{
                        w: {k: len(v) for k, v in i["anomalies"].items() if v} or "valid"
                        for w, i in d["invariants"].items()
                    },
                    "healthy_after_s": d["time_to_healthy_after_heal_s"],
                    "checking_s": d["checking_s"],
                    "problems": r.problems,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
