"""`verify` on a kind environment: the faults go through docker (recorded here, no docker needed), the workload and
the checker are the provider-neutral ones. The DCs' API is a small in-memory KV v2 on loopback standing in for the
cluster, so the history is real HTTP and the verdict is the checker's own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import multidc
from multidc.progress import Progress
from multidc.providers.kube.provider import KubeRunning
from multidc.runner import RecordingRunner
from multidc.verify.run import verify

from .conftest import FakeKms

Store = dict[str, tuple[int, dict[str, object]]]


class KV(BaseHTTPRequestHandler):
    """KV v2 read and write with check-and-set, one store for every DC (a cluster that is always consistent)."""

    store: Store = {}
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        return None

    def _answer(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        with self.lock:
            found = self.store.get(self.path)
        if found is None:
            self._answer(404, {"errors": []})
            return
        version, data = found
        self._answer(200, {"data": {"data": data, "metadata": {"version": version}}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cas = (body.get("options") or {}).get("cas")
        with self.lock:
            version = self.store.get(self.path, (0, {}))[0]
            if cas is not None and cas != version:
                self._answer(400, {"errors": ["check-and-set parameter did not match the current version"]})
                return
            self.store[self.path] = (version + 1, body["data"])
        self._answer(200, {"data": {"version": version + 1}})

    do_PUT = do_POST


@pytest.fixture
def api_on_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    KV.store = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), KV)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # Every DC's API is this server (plain HTTP): nothing is sent beyond loopback.
    monkeypatch.setattr(KubeRunning, "address", lambda self, dc: url)
    monkeypatch.setattr(KubeRunning, "ca_for", lambda self, dc: None)
    monkeypatch.setattr(KubeRunning, "ca_cert", property(lambda self: None))
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_verify_runs_on_kind_with_docker_faults_and_judges_the_history(
    kind_env: tuple[RecordingRunner, FakeKms, Path],
    api_on_loopback: str,
    tmp_path: Path,
) -> None:
    runner, kms, _ = kind_env
    env = multidc.attach("k")
    report = tmp_path / "report"
    results = verify(env, ["leader-kill", "minority-partition"], 2.0, report, Progress(quiet=True), "index")
    assert [r.name for r in results] == ["leader-kill", "minority-partition"]
    for r in results:
        assert r.passed, r.summary()
        assert r.verdict.valid and len(r.operations) > 20  # a real history, judged by the checker
    # the leader (primary, as the API says) killed and started through docker; the follower cut off and reconnected
    assert runner.commands[:2] == ["docker kill primary-control-plane", "docker start primary-control-plane"]
    assert "docker network disconnect kind secondary-control-plane" in runner.commands
    assert runner.commands[-1] == "docker network connect kind secondary-control-plane"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["environment"] == "k" and summary["passed"] is True
    assert summary["client_consistency"] == "index" and summary["server_standby_reads"] == "served"
    assert all(s["client_consistency"] == "index" for s in summary["scenarios"])
    assert "(clients index, standby reads served)" in results[0].summary()
    assert env.active_faults() == {}


def test_a_random_schedule_runs_on_kind_through_docker_and_tc(
    kind_env: tuple[RecordingRunner, FakeKms, Path],
    api_on_loopback: str,
    tmp_path: Path,
) -> None:
    from multidc.runner import Completed
    from multidc.verify import nemesis

    runner, _, _ = kind_env

    def inspect(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        return Completed(argv, 0, "172.18.0.9\n") if argv[:2] == ("docker", "inspect") else None

    runner.responders.append(inspect)
    env = multidc.attach("k")
    schedule = nemesis.generate(3, env.datacenters, 4.0, ["kill", "pause", "one-way", "bridge", "loss"])
    assert len(schedule.faults) >= 3
    [result] = verify(env, [], 4.0, tmp_path, Progress(quiet=True), "eventual", schedule)
    assert result.name == "random-3" and result.passed, result.summary()
    assert (tmp_path / "random-3" / "schedule.json").exists()
    # every fault of the schedule was begun through docker (tc for the network ones), and ended
    begun = {w.kind for w in result.windows}
    skipped = result.checks.get("skipped", [])
    assert begun <= {f.kind for f in schedule.faults} and len(result.windows) + len(skipped) == len(schedule.faults)
    assert all(w.end is not None for w in result.windows)
    docker = " ".join(runner.commands)
    for kind, command in (("kill", "docker kill"), ("pause", "docker pause"), ("one-way", "action drop")):
        if kind in begun:
            assert command in docker, kind
    assert env.active_faults() == {}


def test_a_scenario_whose_day2_operation_kind_lacks_is_refused_before_any_fault(
    kind_env: tuple[RecordingRunner, FakeKms, Path],
    api_on_loopback: str,  # should it run after all, its clients reach only loopback
) -> None:
    from click.testing import CliRunner

    from multidc.cli import cli

    runner, _, _ = kind_env
    out = CliRunner().invoke(cli, ["verify", "--scenario", "lost-quorum", "--name", "k"])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert "--scenario lost-quorum: recover: the kind provider cannot do this yet" in out.output
    assert runner.commands == []  # before: two DCs killed (`docker kill`), then `recover` refused


def test_the_faults_are_nemesis_ops_in_the_history_and_check_and_the_page_read_it(
    kind_env: tuple[RecordingRunner, FakeKms, Path],
    api_on_loopback: str,
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from multidc.cli import cli
    from multidc.verify.page import report_page

    env = multidc.attach("k")
    report = tmp_path / "report"
    [result] = verify(env, ["leader-kill"], 2.0, report, Progress(quiet=True), "index")
    history = report / "leader-kill" / "history.jsonl"
    events = [json.loads(line) for line in history.read_text().splitlines()]
    faults = [(e["type"], e["f"], e["value"]) for e in events if e["process"] == "nemesis"]
    assert faults == [
        ("invoke", "start-kill", {"kind": "kill", "target": "primary"}),
        ("info", "start-kill", "killed primary's kind node (docker kill)"),
        ("invoke", "stop-kill", {"kind": "kill", "target": "primary"}),
        ("info", "stop-kill", "started primary's kind node (docker start)"),
    ]
    checked = CliRunner().invoke(cli, ["check", str(history), "-o", "json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["operations"] == len(result.operations)  # the faults are not operations
    page = report_page(report).read_text()
    assert "primary killed" in page and ">?<" not in page  # the fault's window; no lane for the nemesis
    html = tmp_path / "check.html"
    assert CliRunner().invoke(cli, ["check", str(history), "--html", str(html)]).exit_code == 0
    assert "primary killed" in html.read_text()  # `check --html` shades the faults its nemesis ops name
