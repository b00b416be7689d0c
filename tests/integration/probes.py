"""Measuring a network fault from inside the environment: UDP datagrams counted across a link, and UDP echo round
trips. Each runs on a thread that has entered a DC's namespace (setns moves only the calling thread). Used by the
live tests and bench/links.py."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from multidc.providers.netns.setns import enter

T = TypeVar("T")


def in_namespace(namespace: str, fn: Callable[[], T]) -> T:
    box: dict[str, T] = {}
    errors: list[BaseException] = []

    def run() -> None:
        try:
            enter(namespace)
            box["v"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return box["v"]


def _bound(namespace: str, address: str) -> socket.socket:
    """A UDP socket bound inside namespace on address, any free port."""

    def bind() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, 0))
        return s

    return in_namespace(namespace, bind)


def delivered(src_ns: str, dst_ns: str, dst_address: str, count: int = 1000, quiet: float = 1.0) -> int:
    """How many of count datagrams sent from src_ns arrive at dst_address in dst_ns (sent 1 ms apart; counted until
    nothing more arrives for `quiet` seconds)."""
    receiver = _bound(dst_ns, dst_address)  # a socket stays in the namespace it was made in
    port = receiver.getsockname()[1]
    receiver.settimeout(quiet)

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(count):
                s.sendto(i.to_bytes(4, "big"), (dst_address, port))
                time.sleep(0.001)

    sender = threading.Thread(target=in_namespace, args=(src_ns, send))
    sender.start()
    seen: set[int] = set()
    with receiver:
        while True:
            try:
                data, _ = receiver.recvfrom(64)
            except TimeoutError:
                if not sender.is_alive():
                    break
                continue
            seen.add(int.from_bytes(data[:4], "big"))
    sender.join()
    return len(seen)


def echo_round_trips(src_ns: str, dst_ns: str, dst_address: str, count: int = 200) -> list[float]:
    """Round trips (ms) of count UDP echoes from src_ns to an echo socket in dst_ns; lost ones are left out."""
    echo = _bound(dst_ns, dst_address)
    port = echo.getsockname()[1]
    echo.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        with echo:
            while not done.is_set():
                try:
                    data, peer = echo.recvfrom(64)
                except TimeoutError:
                    continue
                echo.sendto(data, peer)

    server = threading.Thread(target=serve, daemon=True)
    server.start()

    def ping() -> list[float]:
        times = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            for i in range(count):
                start = time.perf_counter()
                s.sendto(i.to_bytes(4, "big"), (dst_address, port))
                try:
                    while int.from_bytes(s.recvfrom(64)[0][:4], "big") != i:
                        pass  # a late answer to an earlier ping
                except TimeoutError:
                    continue
                times.append((time.perf_counter() - start) * 1000)
        return times

    try:
        return in_namespace(src_ns, ping)
    finally:
        done.set()
        server.join()


def spread(times: list[float]) -> dict[str, float]:
    q = statistics.quantiles(times, n=20)
    return {
        "n": len(times),
        "min": round(min(times), 1),
        "p5": round(q[0], 1),
        "median": round(statistics.median(times), 1),
        "p95": round(q[-1], 1),
        "max": round(max(times), 1),
        "stdev": round(statistics.stdev(times), 1),
    }
