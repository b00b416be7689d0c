"""Host port publishing: 127.0.0.1:PORT on the host -> an address inside the environment's site network.

Run as `python -m multidc.providers.netns.forwarder SPEC.json [READY_FD]`. The listening sockets are bound in the
host's namespace first; then the process enters the site namespace, so every outgoing connection starts there. The
host gains no route, address or link: only these loopback ports, like the API ports kind publishes. It reports its
own bind on READY_FD ("ok", or the error), so `up` never mistakes another process's listener for its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from pathlib import Path

from .setns import enter

CHUNK = 65536
CONNECT_TIMEOUT = 5.0
# Threads, not asyncio: asyncio alone doubles the process's memory (~20 MB RSS against ~11 MB), and a test cluster's
# handful of connections needs no event loop. Each thread's stack is small; copying needs little.
STACK = 256 * 1024


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until source ends, then pass the end on (half-close), so the other direction can finish its answer."""
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, host: str, port: int) -> None:
    try:
        upstream = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    # A relay must not hold back a small segment (Nagle) while the far end delays its ACK: a request whose headers and
    # body come as two TLS records then waited 40 ms (measured: most POSTs and PUTs through a host port took 45 ms).
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _accept(sock: socket.socket, host: str, port: int) -> None:
    while True:
        try:
            client, _ = sock.accept()
        except OSError:
            continue
        threading.Thread(target=_relay, args=(client, host, port), daemon=True).start()


def serve(routes: list[tuple[socket.socket, str, int]]) -> None:
    threading.stack_size(STACK)
    threads = [threading.Thread(target=_accept, args=route, daemon=True) for route in routes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _report(fd: int | None, line: str) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.write(fd, (line + "\n").encode())
            os.close(fd)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    ready = int(argv[1]) if len(argv) > 1 else None
    bound = []
    for route in spec["routes"]:
        try:
            bound.append((bind(route["port"]), route["host"], route["target_port"]))
        except OSError as exc:
            message = f"cannot bind 127.0.0.1:{route['port']}: {exc.strerror or exc}"
            print(f"forwarder: {message}", file=sys.stderr, flush=True)
            _report(ready, message)
            return 1
    try:
        enter(spec["namespace"])
    except OSError as exc:
        _report(ready, f"cannot enter {spec['namespace']}: {exc.strerror or exc}")
        return 1
    print(f"forwarder: {len(bound)} port(s) published into {spec['namespace']}", flush=True)
    _report(ready, "ok")
    serve(bound)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
