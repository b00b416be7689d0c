"""Host port publishing: 127.0.0.1:PORT on the host -> an address inside the environment's site network.

Run as `python -m multidc.providers.netns.forwarder SPEC.json [READY_FD]`. The listening sockets are bound in the
host's namespace first; then the process enters the site namespace, so every outgoing connection starts there. The
host gains no route, address or link: only these loopback ports, like the API ports kind publishes. It reports its
own bind on READY_FD ("ok", or the error), so `up` never mistakes another process's listener for its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from pathlib import Path

from .setns import enter

CHUNK = 65536


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _handler(host: str, port: int):  # type: ignore[no-untyped-def]
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError):
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))

    return handle


async def serve(routes: list[tuple[socket.socket, str, int]]) -> None:
    servers = [await asyncio.start_server(_handler(host, port), sock=sock) for sock, host, port in routes]
    await asyncio.gather(*(s.serve_forever() for s in servers))


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
    asyncio.run(serve(bound))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
