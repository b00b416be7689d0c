"""Latency, jitter and loss between datacenters without netem: a TUN device that holds packets back (or drops them),
inside one node's namespace.

Run as `python -m multidc.providers.netns.delayer SPEC.json` inside a DC's (or the KMS's) namespace. It creates the
TUN device named in the spec; the provider then routes the shaped peers' addresses (/32) through it. Every IP packet
the kernel sends to such a peer arrives here, is dropped with the peer's loss probability, or waits the peer's delay
plus a uniform draw in [-jitter, +jitter] ms (so packets may overtake each other, as under netem), and leaves through
the namespace's own link to the site bridge as an Ethernet frame addressed to the peer's MAC (a packet socket: no
routing, so no loop back into the TUN). Only this namespace's outgoing packets wait; the peer's namespace runs its
own delayer for the way back.

When this process ends, the kernel removes the TUN device and every route through it: the delay is gone with it.
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
from pathlib import Path

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


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    peers = {
        addr: (
            bytes.fromhex(p["mac"].replace(":", "")),
            p["ms"] / 1000.0,
            p.get("jitter", 0) / 1000.0,
            p.get("loss", 0) / 100.0,
        )
        for addr, p in spec["peers"].items()
    }
    fd = open_tun(spec["tun"])
    loosen_reverse_path_filter(spec["ifname"])
    delayer = Delayer(spec["ifname"], peers)
    threading.Thread(target=delayer.send_due, daemon=True, name="send").start()
    described = ", ".join(
        f"{addr} +{p['ms']}ms ±{p.get('jitter', 0)}ms {p.get('loss', 0)}% loss"
        for addr, p in sorted(spec["peers"].items())
    )
    print(f"delayer: {spec['tun']} holding packets to {described}", flush=True)
    while True:
        delayer.hold(os.read(fd, MTU))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
