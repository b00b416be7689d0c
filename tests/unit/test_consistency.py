"""The consistency index multidc's clients carry (X-Vault-Index), against a stand-in server on loopback."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import hvac
import pytest

from multidc.consistency import UPGRADING, ConsistencyIndex, IndexedSession, decode
from multidc.vaultapi import client


def header(cluster: str, value: int) -> str:
    return base64.b64encode(json.dumps({"cluster": cluster, "value": str(value)}).encode()).decode()


def test_the_newest_index_wins_and_garbage_is_ignored() -> None:
    index = ConsistencyIndex()
    assert index.header is None
    index.seen(header("c1", 42))
    index.seen(header("c1", 41))  # an older answer arriving late
    index.seen("not base64 at all!")
    index.seen(base64.b64encode(b'{"value": "x"}').decode())
    assert index.value == 42 and decode(index.header or "") == ("c1", 42)
    index.seen(header("c2", 3))  # another cluster (the environment was made again): its index, not a comparison
    assert decode(index.header or "") == ("c2", 3)


class Server(BaseHTTPRequestHandler):
    """Answers every request with an increasing index; the first `upgrading` reads give kv-v2's upgrade answer."""

    seen: list[dict[str, str]] = []
    upgrading = 0
    counter = 40

    def log_message(self, *args: object) -> None:
        return None

    def _answer(self, code: int, body: dict[str, object]) -> None:
        Server.counter += 1
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Vault-Index", header("c1", Server.counter))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        Server.seen.append({k: v for k, v in self.headers.items() if k.startswith("X-Vault-I")})
        if Server.upgrading:
            Server.upgrading -= 1
            self._answer(400, {"errors": [f"Waiting for the primary to upgrade {UPGRADING}. Unavailable for a moment"]})
            return
        self._answer(200, {"data": {"data": {"v": 1}, "metadata": {"version": 1}}})


@pytest.fixture
def server() -> Iterator[str]:
    Server.seen, Server.upgrading, Server.counter = [], 0, 40
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_every_request_sends_the_newest_index_seen_by_any_client_sharing_it(server: str) -> None:
    index = ConsistencyIndex()
    a, b = client(server, None, "t", index=index), client(server, None, "t", index=index)
    a.secrets.kv.v2.read_secret_version(path="x", raise_on_deleted_version=True)
    b.secrets.kv.v2.read_secret_version(path="x", raise_on_deleted_version=True)
    assert Server.seen[0] == {}  # nothing seen yet: nothing to send
    assert Server.seen[1] == {"X-Vault-Index": header("c1", 41), "X-Vault-Inconsistent": "forward-active-node"}
    plain = client(server, None, "t")  # eventual: the raw standby behaviour, no headers
    plain.secrets.kv.v2.read_secret_version(path="x", raise_on_deleted_version=True)
    assert Server.seen[2] == {}


def test_the_kv_v2_upgrade_answer_is_waited_out_then_given_to_the_caller(server: str) -> None:
    Server.upgrading = 3
    c = client(server, None, "t", index=ConsistencyIndex())
    assert c.secrets.kv.v2.read_secret_version(path="x", raise_on_deleted_version=True)["data"]["data"] == {"v": 1}
    assert len(Server.seen) == 4
    Server.upgrading = 10**6  # never done: after the bound, the server's own answer
    impatient = hvac.Client(url=server, token="t", session=IndexedSession(ConsistencyIndex(), upgrade_wait=0.2))
    with pytest.raises(hvac.exceptions.InvalidRequest, match="Waiting for the primary to upgrade"):
        impatient.secrets.kv.v2.read_secret_version(path="x", raise_on_deleted_version=True)
