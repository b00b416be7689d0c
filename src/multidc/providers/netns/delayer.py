"""Latency, jitter and loss between datacenters without netem: a TUN device that holds packets back (or drops them),
inside each shaped side's namespace.

Run as `python -m multidc.providers.netns.delayer SPEC.json`: one process for every shaped side of the environment
(DCs and the KMS), a thread per side inside that side's namespace (one process per side cost ~12.6 MB each). Each
thread creates the TUN device named in the spec in its namespace; the provider then routes the shaped peers'
addresses (/32) through it. Every IP packet the kernel sends to such a peer arrives there, is dropped with the peer's
loss probability, or waits the peer's delay plus a uniform draw in [-jitter, +jitter] ms (so packets may overtake each
other, as under netem), and leaves through the namespace's own link to the site bridge as an Ethernet frame addressed
to the peer's MAC (a packet socket: no routing, so no loop back into the TUN). Only a side's outgoing packets wait
there; the peer's side has its own thread and device for the way back.

When this process ends, the kernel removes every TUN device and every route through them: the delay is gone with it.
Standard library only, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .setns import enter

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
ETH_P_IP = 0x0800
MTU = 65535


def open_tun(name: str) -> int:
    """Create TUN device `name` in this process's network namespace; the device lives as long as the descriptor."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def loosen_reverse_path_filter(ifname: str) -> None:
    """Replies from a delayed peer arrive on the bridge link while the route to that peer points at the TUN: strict
    reverse-path filtering (1) would drop them. Loose mode (2) accepts a source that is routable at all."""
    for conf in ("all", ifname):
        path = Path(f"/proc/sys/net/ipv4/conf/{conf}/rp_filter")
        if path.exists() and path.read_text().strip() == "1":
            path.write_text("2")


class Delayer:
    def __init__(self, ifname: str, peers: dict[str, tuple[bytes, float, float, float]]) -> None:
        self.ifname = ifname
        self.peers = peers  # destination address (dotted text) -> (MAC, seconds, jitter seconds, loss probability)
        self.random = random.Random()
        self.queue: list[tuple[float, int, bytes, bytes]] = []
        self.ready = threading.Condition()
        self.seq = 0
        self.out = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))

    def hold(self, packet: bytes) -> None:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # not IPv4: nothing of ours
        peer = self.peers.get(socket.inet_ntoa(packet[16:20]))
        if peer is None:
            return
        mac, seconds, jitter, loss = peer
        if loss and self.random.random() < loss:
            return  # lost
        if jitter:
            seconds = max(0.0, seconds + self.random.uniform(-jitter, jitter))
        with self.ready:
            self.seq += 1
            heapq.heappush(self.queue, (time.monotonic() + seconds, self.seq, mac, packet))
            self.ready.notify()

    def send_due(self) -> None:
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, _, mac, packet = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.ready.wait(wait)
                    continue
                heapq.heappop(self.queue)
            try:
                self.out.sendto(packet, (self.ifname, ETH_P_IP, 0, 0, mac))
            except OSError as exc:  # a full queue on the link: dropped, as a congested link would
                print(f"delayer: send failed: {exc}", file=sys.stderr, flush=True)


def run_side(side: dict[str, Any]) -> None:
    """One side's delayer, in that side's namespace (this thread only); never returns."""
    peers = {
        addr: (
            bytes.fromhex(p["mac"].replace(":", "")),
            p["ms"] / 1000.0,
            p.get("jitter", 0) / 1000.0,
            p.get("loss", 0) / 100.0,
        )
        for addr, p in side["peers"].items()
    }
    enter(side["namespace"])  # the TUN device and the packet socket are made in, and belong to, this namespace
    fd = open_tun(side["tun"])
    loosen_reverse_path_filter(side["ifname"])
    delayer = Delayer(side["ifname"], peers)
    threading.Thread(target=_guarded, args=(delayer.send_due,), daemon=True, name=f"{side['name']}-send").start()
    described = ", ".join(
        f"{addr} +{p['ms']}ms ±{p.get('jitter', 0)}ms {p.get('loss', 0)}% loss"
        for addr, p in sorted(side["peers"].items())
    )
    print(f"delayer: {side['name']}: {side['tun']} holding packets to {described}", flush=True)
    while True:
        delayer.hold(os.read(fd, MTU))


def _guarded(target: Any, *args: Any) -> None:
    try:
        target(*args)
    except BaseException:  # noqa: BLE001 - one side's failure ends the process: its devices and routes go with it
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    threading.stack_size(512 * 1024)
    threads = [
        threading.Thread(target=_guarded, args=(run_side, side), daemon=True, name=side["name"])
        for side in spec["sides"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
