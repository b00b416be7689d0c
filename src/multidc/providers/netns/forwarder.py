"""Host port publishing: 127.0.0.1:PORT on the host -> an address inside the environment's site network.

Run as `python -m multidc.providers.netns.forwarder SPEC.json`. The listening sockets are bound in the host's
namespace first; then the process enters the site namespace, so every outgoing connection starts there. The host
gains no route, address or link: only these loopback ports, like the API ports kind publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    try:
        bound = [(bind(r["port"]), r["host"], r["target_port"]) for r in spec["routes"]]
    except OSError as exc:
        print(f"forwarder: cannot bind 127.0.0.1: {exc}", file=sys.stderr)
        return 1
    enter(spec["namespace"])
    print(f"forwarder: {len(bound)} port(s) published into {spec['namespace']}", flush=True)
    asyncio.run(serve(bound))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
