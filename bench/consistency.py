"""Benchmark: the consistency matrix of the README. Every verify scenario, in both client modes (eventual: plain
clients; index: each client sends the X-Vault-Index it last saw, with X-Vault-Inconsistent: forward-active-node), on
both server settings (standby reads served, OpenBao's default; `server.disable_standby_reads: true`). Per cell:
linearizable or not, stale reads, lost writes, over --runs runs.

    sudo .venv/bin/python bench/consistency.py --duration 10 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os

import multidc
from multidc.progress import Progress
from multidc.verify.run import verify
from multidc.verify.scenarios import SCENARIOS

SERVERS = {"served": {}, "disabled": {"server": {"disable_standby_reads": True}}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scenario", action="append", help="default: all")
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)
    cells: dict[str, dict[str, dict[str, object]]] = {}
    for server, topology in SERVERS.items():
        with multidc.up(topology, name=f"bc{os.getpid() % 10000}{server[0]}") as env:
            for consistency in ("eventual", "index"):
                for _ in range(args.runs):
                    results = verify(env, names, args.duration, None, Progress(quiet=True), consistency)  # type: ignore[arg-type]
                    for r in results:
                        cell = cells.setdefault(r.name, {}).setdefault(
                            f"{consistency}/{server}",
                            {"runs": 0, "linearizable": 0, "stale": 0, "own_stale": 0, "lost": 0, "reads": 0},
                        )
                        cell["runs"] += 1  # type: ignore[operator]
                        cell["linearizable"] += int(r.verdict.valid)  # type: ignore[operator]
                        cell["stale"] += len(r.verdict.stale_reads)  # type: ignore[operator]
                        cell["lost"] += len(r.verdict.lost_writes)  # type: ignore[operator]
                        cell["own_stale"] += len(r.verdict.own_stale_reads)  # type: ignore[operator]
                        ok_reads = sum(1 for o in r.operations if o.f == "read" and o.status == "ok")
                        cell["reads"] += ok_reads  # type: ignore[operator]
                        print(r.summary().splitlines()[0], flush=True)
    print(json.dumps(cells, indent=2))
    columns = [f"{c}/{s}" for s in SERVERS for c in ("eventual", "index")]
    print("scenario".ljust(20) + "".join(c.ljust(26) for c in columns))
    for name, row in cells.items():
        line = name.ljust(20)
        for c in columns:
            x = row.get(c)
            if x:
                lin = "lin" if x["linearizable"] == x["runs"] else "NOT lin"
                line += f"{lin} {x['stale']}/{x['reads']} own {x['own_stale']}".ljust(26)
        print(line)


if __name__ == "__main__":
    main()
