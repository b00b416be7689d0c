"""The workload's outcome rules: an operation is `fail` only when it certainly took no effect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import hvac
import pytest
import requests

from multidc.verify.workload import Recorder, Unanswered, Workload, classify


class _Server:
    def __init__(self, status: int, location: str = "") -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.hits.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                if location:
                    self.send_header("Location", location + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def standby_redirecting() -> Iterator[tuple[_Server, _Server]]:
    """A 'standby' that answers 307 to a 'leader' address, as OpenBao does when it cannot forward."""
    leader = _Server(200)
    standby = _Server(307, location=leader.url)
    yield standby, leader
    standby.close()
    leader.close()


def _workload(url: str) -> Workload:
    return Workload(endpoints={"dc": url}, ca=None, token="t", keys=["k1"], prefix="p", recorder=Recorder())


def test_a_redirect_is_not_followed_and_a_write_behind_it_is_unknown(standby_redirecting) -> None:  # type: ignore[no-untyped-def]
    standby, leader = standby_redirecting
    from multidc.vaultapi import client

    wl = _workload(standby.url)
    with pytest.raises(Unanswered) as caught:
        wl.write(client(standby.url, None, "t"), "k1", 7)
    assert leader.hits == [], "the client followed the standby's redirect (packets to the leader's VIP)"
    assert len(standby.hits) == 1
    assert classify(caught.value, mutating=True) == "info"
    assert classify(caught.value, mutating=False) == "fail"


def test_a_read_answered_with_a_redirect_fails_without_following_it(standby_redirecting) -> None:  # type: ignore[no-untyped-def]
    standby, leader = standby_redirecting
    from multidc.vaultapi import client

    with pytest.raises(Unanswered):
        _workload(standby.url).read(client(standby.url, None, "t"), "k1")
    assert leader.hits == []


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (hvac.exceptions.InvalidRequest("check-and-set parameter did not match", errors=[]), "fail"),
        (hvac.exceptions.Forbidden("permission denied", errors=[]), "fail"),
        (hvac.exceptions.InternalServerError("forwarding failed", errors=[]), "info"),
        (hvac.exceptions.VaultDown("sealed", errors=[]), "info"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "fail"),
        (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "fail"),
        (requests.exceptions.ReadTimeout("read timed out"), "info"),
        (requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"), "info"),
    ],
)
def test_a_write_fails_only_when_it_certainly_took_no_effect(exc: Exception, expected: str) -> None:
    assert classify(exc, mutating=True) == expected


def test_failed_and_unknown_operations_carry_their_reason(standby_redirecting) -> None:  # type: ignore[no-untyped-def]
    standby, _ = standby_redirecting
    wl = _workload(standby.url)
    stop = threading.Event()
    threads = wl.run(stop)
    threading.Event().wait(0.3)
    stop.set()
    for t in threads:
        t.join(5)
    completions = [e for e in wl.recorder.history() if e["type"] in ("fail", "info")]
    assert completions, "the workload recorded no failures against a server that never does anything"
    assert all("answered 307" in e["error"] for e in completions)
    assert not [e for e in wl.recorder.history() if e["type"] == "ok" and e["f"] != "read"]
