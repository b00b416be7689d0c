"""The set, tokens and pki workloads against a real 3-DC environment: a few seconds each, without faults and while the
leader's server is killed and started again; the verdict must be valid, with operations acknowledged through every
DC."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import multidc
from multidc.api import Environment
from multidc.verify.workload import Recorder
from multidc.verify.workloads import WORKLOADS, Workload, make

from .conftest import TEST_PREFIX, Live, _counter, _skip_reason, leftovers, skip_or_fail

pytestmark = pytest.mark.integration
DURATION = 4.0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    """One environment for the module, taken down (and checked for leftovers) even when a test or `up` fails. Its
    standbys forward reads (`disable_standby_reads`): by default a standby asked to revoke a token accessor it has not
    replicated yet answers on its own, and the token stays valid ('revoked but valid', see the README). Once requests
    through the host ports were no longer held 40 ms each (twice the rate), `bench/workloads.py` judged the tokens
    workload under a leader kill invalid in 2 of 2 8-second runs with reads served, valid in 2 of 2 forwarded."""
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    name = f"{TEST_PREFIX}{os.getpid() % 100000}x{next(_counter)}"
    state: Path = tmp_path_factory.mktemp("workloads") / "state"
    live = Live(name, state, {**os.environ, "MULTIDC_STATE_DIR": str(state)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MULTIDC_STATE_DIR", str(state))
        try:
            yield multidc.up({"server": {"disable_standby_reads": True}}, name=name)
        finally:
            live.run("down", check=False)
            assert not leftovers(name, state)


def run(env: Environment, name: str, kill: bool) -> tuple[Workload, float]:
    """Run the workload for DURATION (killing the leader at 25 % and starting it at 60 % when asked), heal, observe;
    returns the workload and its acknowledged operations per second."""
    env.wait_healthy()
    w = make(
        name,
        endpoints={dc: env.address(dc) for dc in env.datacenters},
        ca=env.ca_cert,
        token=env.root_token,
        prefix=f"multidc-test/{name}-{time.time_ns()}",
        recorder=Recorder(),
    )
    w.setup()
    victim = env.leader() or env.primary
    stop = threading.Event()
    start = w.recorder.now()
    threads = w.run(stop)
    if kill:
        time.sleep(0.25 * DURATION)
        env.kill(victim)
        time.sleep(0.35 * DURATION)
        env.start(victim)
    time.sleep(max(0.0, start + DURATION - w.recorder.now()))
    stop.set()
    for t in threads:
        t.join(timeout=w.timeout + 3)
    elapsed = w.recorder.now() - start
    env.wait_healthy(timeout=90)
    w.final()
    acknowledged = sum(1 for o in w.recorder.history() if o["type"] == "ok" and o["f"] in w.mutations)
    return w, acknowledged / elapsed


@pytest.mark.parametrize("kill", [False, True], ids=["no-faults", "leader-killed"])
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_workload_is_valid_and_every_dc_acknowledges(env: Environment, name: str, kill: bool) -> None:
    w, rate = run(env, name, kill)
    verdict = w.verdict()
    print(f"{name} {'leader killed' if kill else 'no faults'}: {rate:.0f} acknowledged/s; {verdict.summary()}")
    assert verdict.valid, verdict.summary()
    for dc in env.datacenters:
        assert verdict.counts.get(f"ok@{dc}", 0) > 0, (dc, verdict.counts)
    finals = {e["key"] for e in w.recorder.history() if e["type"] == "ok" and e["f"] in ("read", "lookup", "list")}
    assert finals == set(env.datacenters)
    history = json.dumps(w.recorder.history())
    assert env.root_token not in history
    if name == "tokens":
        assert w.client_token() not in history  # type: ignore[attr-defined]  # accessors only, never a token
    w.cleanup()
    assert w.cleanup_problems == []
    mounts = env.client(env.leader() or env.primary).sys.list_mounted_secrets_engines()["data"]
    assert not [m for m in mounts if m.startswith(w.prefix)]  # type: ignore[attr-defined]
