"""Benchmark: how exact `chaos delay` is, and what it costs in throughput.

On one environment, between the primary's and the secondary's namespaces: the TCP connect time (one round trip)
without a delay (the floor) and with each delay, as medians over --runs connects; the delay added is the median minus
the floor, to compare with 2 x MS. Then the throughput of one TCP stream (--megabytes) without and with a delay.

    sudo .venv/bin/python bench/delay.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import multidc
from multidc.providers.netns.setns import enter

T = TypeVar("T")
SINK_PORT = 9999


def in_namespace(namespace: str, fn: Callable[[], T]) -> T:
    """Run fn on a thread that has entered namespace (setns moves only the calling thread)."""
    box: dict[str, T] = {}

    def run() -> None:
        enter(namespace)
        box["v"] = fn()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return box["v"]


def connect_median(namespace: str, address: str, runs: int) -> float:
    def measure() -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            socket.create_connection((address, 8200), timeout=10).close()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return in_namespace(namespace, measure)


def start_sink(namespace: str) -> None:
    ready = threading.Event()

    def serve() -> None:
        enter(namespace)
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", SINK_PORT))
        srv.listen()
        ready.set()
        while True:
            conn, _ = srv.accept()
            with conn:
                while conn.recv(1 << 16):
                    pass
                conn.sendall(b"k")

    threading.Thread(target=serve, daemon=True).start()
    ready.wait()


def throughput(namespace: str, address: str, megabytes: int) -> float:
    def send() -> float:
        chunk = b"x" * (1 << 16)
        start = time.perf_counter()
        with socket.create_connection((address, SINK_PORT), timeout=60) as s:
            for _ in range(megabytes * 16):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
        return megabytes / (time.perf_counter() - start)

    return in_namespace(namespace, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--delays", default="10,50,200")
    parser.add_argument("--megabytes", type=int, default=20)
    args = parser.parse_args()
    with multidc.up(name="benchdly") as env:
        plan = env.running.plan  # type: ignore[attr-defined]  # netns: the namespaces to measure from
        a, b = plan.node("primary"), plan.node("secondary")
        target = str(b.vip)
        floor = connect_median(a.namespace, target, args.runs)
        start_sink(b.namespace)
        results: dict[str, object] = {
            "runs": args.runs,
            "floor_connect_ms": round(floor * 1000, 2),
            "throughput_undelayed_MB_s": round(throughput(a.namespace, target, args.megabytes), 1),
        }
        for ms in (int(x) for x in args.delays.split(",")):
            env.delay("primary", "secondary", ms)
            rtt = connect_median(a.namespace, target, args.runs)
            added = (rtt - floor) * 1000
            results[f"delay_{ms}ms"] = {
                "connect_ms": round(rtt * 1000, 2),
                "added_ms": round(added, 2),
                "expected_ms": 2 * ms,
                "error_ms": round(added - 2 * ms, 2),
                "throughput_MB_s": round(throughput(a.namespace, target, args.megabytes), 1),
            }
            print(f"delay {ms} ms each way: connect {rtt * 1000:.1f} ms (+{added:.1f}, expected +{2 * ms})", flush=True)
        env.heal()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
