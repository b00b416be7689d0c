"""Every rule of the health definition, each broken on its own, against fake servers speaking the API's shapes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from multidc import health
from multidc.health import Endpoint, check_endpoints

DCS = ["primary", "secondary", "tertiary"]


@dataclass
class Store:
    """The KV value the health probe writes; `stale` readers never see writes (a read slower than any bound)."""

    value: Any = None
    stale: set[str] = field(default_factory=set)


class FakeNode:
    def __init__(self, dc: str, store: Store) -> None:
        self.dc = dc
        self.store = store
        self.sealed = False
        self.initialized = True
        self.leader = "primary"
        self.servers = [{"node_id": d, "address": f"{d}:8201", "voter": True, "leader": d == "primary"} for d in DCS]
        self.autopilot_healthy = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body or {}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(*outer.get(self.path))

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.store.value = body.get("data", {}).get("value")
                self._send(200, {"data": {"version": 1}})

            do_PUT = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        if path.startswith("/v1/sys/seal-status"):
            return 200, {"initialized": self.initialized, "sealed": self.sealed}
        if path.startswith("/v1/sys/leader"):
            return 200, {
                "is_self": self.dc == self.leader,
                "leader_address": f"https://{self.leader}:8200",
                "raft_applied_index": 42,
            }
        if path.startswith("/v1/sys/storage/raft/configuration"):
            return 200, {"data": {"config": {"servers": self.servers}}}
        if path.startswith("/v1/sys/storage/raft/autopilot/state"):
            servers = {d: {"healthy": self.autopilot_healthy or d != "tertiary"} for d in DCS}
            return 200, {"data": {"healthy": self.autopilot_healthy, "servers": servers}}
        if path.startswith("/v1/secret/data/multidc/health"):
            value = None if self.dc in self.store.stale else self.store.value
            return 200, {"data": {"data": {"value": value}, "metadata": {"version": 1}}}
        return 404, {"errors": []}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def nodes() -> Iterator[dict[str, FakeNode]]:
    store = Store()
    made = {dc: FakeNode(dc, store) for dc in DCS}
    yield made
    for node in made.values():
        node.close()


def check(nodes: dict[str, FakeNode]) -> health.Health:
    eps = [Endpoint(dc, f"172.18.{i}.128", n.url) for i, (dc, n) in enumerate(nodes.items(), start=1)]
    return check_endpoints(eps, None, "root-token")


def test_the_fakes_pass_when_nothing_is_wrong(nodes: dict[str, FakeNode]) -> None:
    result = check(nodes)
    assert result.healthy and result.problems == [] and result.leader == "primary"
    assert [n.voter for n in result.nodes] == [True, True, True]


def test_a_sealed_node(nodes: dict[str, FakeNode]) -> None:
    nodes["secondary"].sealed = True
    result = check(nodes)
    assert not result.healthy and "secondary: sealed" in result.problems
    assert result.nodes[1].role == "sealed" and result.nodes[1].sealed is True


def test_an_uninitialised_node(nodes: dict[str, FakeNode]) -> None:
    nodes["tertiary"].initialized = False
    nodes["tertiary"].sealed = True
    assert "tertiary: not initialised (not joined to the cluster)" in check(nodes).problems


def test_a_non_voter(nodes: dict[str, FakeNode]) -> None:
    for n in nodes.values():
        n.servers[2]["voter"] = False
    result = check(nodes)
    assert "tertiary: in the Raft configuration but not a voter yet" in result.problems
    assert result.nodes[2].voter is False


def test_two_raft_configurations(nodes: dict[str, FakeNode]) -> None:
    nodes["tertiary"].servers = [dict(s, address="10.0.0.9:8201") for s in nodes["tertiary"].servers]
    assert "nodes report different Raft configurations" in check(nodes).problems


def test_disagreeing_leaders(nodes: dict[str, FakeNode]) -> None:
    nodes["tertiary"].leader = "tertiary"
    problems = check(nodes).problems
    assert any(p.startswith("nodes disagree on the leader:") for p in problems), problems


def test_an_unexpected_member(nodes: dict[str, FakeNode]) -> None:
    for n in nodes.values():
        n.servers = [*n.servers, {"node_id": "stranger", "address": "x:8201", "voter": True, "leader": False}]
    assert "unexpected Raft members: stranger" in check(nodes).problems


def test_a_missing_member(nodes: dict[str, FakeNode]) -> None:
    for n in nodes.values():
        n.servers = n.servers[:2]
    assert "tertiary: not a member of the Raft configuration" in check(nodes).problems


def test_autopilot_unhealthy(nodes: dict[str, FakeNode]) -> None:
    for n in nodes.values():
        n.autopilot_healthy = False
    assert check(nodes).problems == ["autopilot reports unhealthy servers: tertiary"]


def test_a_read_slower_than_the_bound(nodes: dict[str, FakeNode], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "REPLICATION_LAG", 0.3)
    nodes["secondary"].store.stale.add("secondary")
    problems = check(nodes).problems
    assert problems == ["secondary: a write through primary was not readable through secondary within 0.3s"], problems


def test_an_unreachable_node_is_unknown_not_sealed_or_a_voter(nodes: dict[str, FakeNode]) -> None:
    nodes["tertiary"].close()
    result = check(nodes)
    down = result.nodes[2]
    assert down.role == "down" and down.sealed is None and down.voter is None and not down.reachable
    assert down.error == "no answer from its server (not running?)"
    assert result.to_dict()["nodes"][2]["sealed"] is None
    assert not result.healthy and result.problems[0].startswith("tertiary: not reachable at")


def test_a_certificate_from_another_ca_is_named_as_such(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import ssl
    from ipaddress import IPv4Address

    from multidc import pki

    theirs, ours = pki.make_ca("someone-else"), pki.make_ca("ours")
    issued = pki.issue(theirs, "node", [IPv4Address("127.0.0.1")], ["localhost"])
    (tmp_path / "c.pem").write_bytes(issued.cert_pem)
    (tmp_path / "k.pem").write_bytes(issued.key_pem)
    (tmp_path / "ca.pem").write_bytes(ours.cert_pem)
    store = Store()
    node = FakeNode("primary", store)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    node.httpd.socket = context.wrap_socket(node.httpd.socket, server_side=True)
    try:
        url = node.url.replace("http://", "https://")
        result = check_endpoints([Endpoint("primary", "172.18.1.128", url)], str(tmp_path / "ca.pem"), "t")
    finally:
        node.close()
    assert result.nodes[0].error.startswith("TLS verification failed"), result.nodes[0].error
    assert "not one the environment's CA signed" in result.problems[0]
