"""Benchmark: how exact the network faults are, measured from inside the environment with UDP datagrams.

On one environment: the datagrams of --count sent one way across a partition, a one-way cut (both directions) and a
bridge (cut and bridged pairs) that arrive; the fraction lost under --losses percent each way; and the spread of UDP
echo round trips under a delay with jitter (--jitter MS±J), against the floor (no fault) measured in the same run.

    sudo .venv/bin/python bench/links.py --count 1000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.probes import delivered, echo_round_trips, spread  # noqa: E402

import multidc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--losses", default="1,10,30")
    parser.add_argument("--jitter", default="40,20", help="MS,J: delay and jitter each way")
    parser.add_argument("--echoes", type=int, default=500)
    args = parser.parse_args()
    n = args.count
    with multidc.up(name="benchlnk") as env:
        plan = env.running.plan  # type: ignore[attr-defined]
        node = {dc: plan.node(dc) for dc in ("primary", "secondary", "tertiary")}

        def arrived(a: str, b: str) -> str:
            return f"{delivered(node[a].namespace, node[b].namespace, str(node[b].address), n)}/{n}"

        results: dict[str, object] = {"count": n, "floor": arrived("primary", "secondary")}
        env.partition(["primary"])
        results["partition primary"] = {"primary->secondary": arrived("primary", "secondary")}
        env.heal()
        env.cut("primary", "secondary")
        results["one-way primary->secondary"] = {
            "primary->secondary": arrived("primary", "secondary"),
            "secondary->primary": arrived("secondary", "primary"),
        }
        env.heal()
        env.bridge("secondary")
        results["bridge via secondary"] = {
            "primary->tertiary": arrived("primary", "tertiary"),
            "tertiary->primary": arrived("tertiary", "primary"),
            "primary->secondary": arrived("primary", "secondary"),
            "secondary->tertiary": arrived("secondary", "tertiary"),
        }
        env.heal()
        for pct in (float(x) for x in args.losses.split(",")):
            env.loss("primary", "secondary", pct)
            got = delivered(node["primary"].namespace, node["secondary"].namespace, str(node["secondary"].address), n)
            results[f"loss {pct:g}%"] = {"arrived": got, "lost_percent": round(100 * (n - got) / n, 1)}
            print(f"loss {pct:g}%: lost {100 * (n - got) / n:.1f}% of {n}", flush=True)
        env.heal()
        a, b = node["primary"], node["secondary"]
        results["echo floor ms"] = spread(echo_round_trips(a.namespace, b.namespace, str(b.address), args.echoes))
        ms, jitter = (int(x) for x in args.jitter.split(","))
        env.delay("primary", "secondary", ms, jitter)
        times = echo_round_trips(a.namespace, b.namespace, str(b.address), args.echoes)
        results[f"echo ms, delay {ms} ± {jitter} each way"] = {
            **spread(times),
            "expected_range": [2 * (ms - jitter), 2 * (ms + jitter)],
            "expected_stdev": round((2 * jitter**2 / 3) ** 0.5, 1),  # two independent uniforms, one per direction
        }
        env.heal()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
