"""The site network's host side: the forwarder that publishes each node's and the KMS's port on 127.0.0.1, started,
waited for (its own report that it bound every port) and started again with a new list."""

from __future__ import annotations

import json
import os
import select
import sys

from ... import interrupts
from ...errors import ProviderError
from ...paths import write_private
from .plan import API_PORT
from .servers import Servers

FORWARDER_TIMEOUT = 10.0


def write_forwarder_spec(env: Servers) -> None:
    plan = env.plan
    spec = {
        "namespace": plan.site_namespace,
        "routes": [
            {"port": n.host_port, "host": str(n.service_address), "target_port": API_PORT}
            for n in [plan.kms, *plan.nodes]
        ],
    }
    write_private(env.paths.forwarder_spec, json.dumps(spec, indent=2))


def republish_ports(env: Servers) -> None:
    """Publish the plan's host ports as they are now: our forwarder stopped (by its recorded PID), started again
    with the new list. Connections through it at that moment are cut."""
    assert env.state is not None
    pid = env.state.pids.get("forwarder")
    if pid is not None and env.host.belongs(pid, str(env.paths.root)):
        survivors = env.host.terminate([pid], grace=2.0)
        if survivors:
            raise ProviderError(f"could not stop the forwarder (pid {pid}) to publish the new host ports")
    write_forwarder_spec(env)
    start_forwarder(env)


def start_forwarder(env: Servers) -> None:
    """Start the forwarder and wait for its own report that it bound every port (another process answering on a
    port must never pass for it)."""
    await_forwarder(env, spawn_forwarder(env))


def spawn_forwarder(env: Servers) -> int:
    """Start the forwarder; returns the read end of the pipe it reports on."""
    assert env.state is not None
    argv = [sys.executable, "-m", "multidc.providers.netns.forwarder", str(env.paths.forwarder_spec)]
    read_end, write_end = os.pipe()
    try:
        with interrupts.deferred():  # the PID recorded before a Ctrl-C is raised
            pid = env.host.spawn([*argv, str(write_end)], None, env.paths.forwarder_log, pass_fds=(write_end,))
            env.state.pids["forwarder"] = pid
            env.save()
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end


def await_forwarder(env: Servers, read_end: int) -> None:
    with os.fdopen(read_end, "rb") as report:
        ready, _, _ = select.select([report], [], [], FORWARDER_TIMEOUT)
        line = report.readline().decode(errors="replace").strip() if ready else ""
    if line == "ok":
        return
    if not ready:
        raise ProviderError(
            f"publishing host ports failed: the forwarder did not report within {FORWARDER_TIMEOUT:.0f}s"
        )
    if not line:
        tail = env.paths.forwarder_log.read_text(errors="replace").strip().splitlines()[-1:]
        line = " ".join(tail) or "the forwarder exited"
    raise ProviderError(f"publishing host ports failed: {line}")
