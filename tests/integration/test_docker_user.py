"""`--provider docker` as a user without root: uid 65534 (nobody) whose only privilege is the `docker` group, with a
state directory under its own home. The same checks as tests/integration/test_docker.py's, run as that user."""

from __future__ import annotations

import grp
import ipaddress
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import multidc

from .conftest import TEST_PREFIX, _counter, docker_leftovers, skip_or_fail, wait_for
from .test_docker import BAO, TOPOLOGY, _skip_reason

pytestmark = pytest.mark.integration

NOBODY = 65534


class User:
    """Runs multidc (and bao) as uid NOBODY with the docker group only, from this installation's code."""

    def __init__(self, home: Path, python: str, gid: int) -> None:
        self.home, self.python, self.gid = home, python, gid
        self.name = f"{TEST_PREFIX}{os.getpid() % 100000}x{next(_counter)}"
        paths = sysconfig.get_paths()
        code = [str(Path(multidc.__file__).resolve().parents[1]), paths["purelib"], paths["platlib"]]
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(code)),
            "LANG": "C.UTF-8",
        }

    def argv(self, *argv: str) -> list[str]:
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", f"--groups={self.gid}", "--", *argv]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [*args, "--name", self.name] if args[0] not in ("list",) else list(args)
        done = subprocess.run(
            self.argv(self.python, "-m", "multidc", *argv),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def healthy(self) -> bool:
        return bool(json.loads(self.run("status", "--output", "json", check=False).stdout).get("healthy"))


def _python_for_others() -> str | None:
    """An interpreter of this version that uid NOBODY may run (a venv's may live under /root, which it cannot enter)."""
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.realpath(sys.executable), f"/usr/bin/{minor}", f"/usr/local/bin/{minor}"):
        probe = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", candidate, "-c", "pass"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    reason = _skip_reason()
    if reason is None and shutil.which("setpriv") is None:
        reason = "setpriv is missing (Debian: util-linux)"
    try:
        gid = grp.getgrnam("docker").gr_gid
    except KeyError:
        gid, reason = -1, reason or "there is no docker group on this host"
    python = _python_for_others()
    if reason is None and python is None:
        reason = f"no python{sys.version_info.major}.{sys.version_info.minor} that uid {NOBODY} may run"
    if reason:
        skip_or_fail(reason)
    assert python is not None
    socket = os.stat("/var/run/docker.sock")
    assert socket.st_gid == gid and socket.st_mode & stat.S_IRWXG, "the docker socket is not the docker group's"
    home = Path(tempfile.mkdtemp(prefix="multidc-user-"))
    home.chmod(0o700)
    os.chown(home, NOBODY, NOBODY)
    item = User(home, python, gid)
    access = subprocess.run(
        item.argv(python, "-c", "import multidc.cli"), capture_output=True, text=True, env=item.env, check=False
    )
    if access.returncode != 0:
        shutil.rmtree(home)
        skip_or_fail(f"uid {NOBODY} cannot read this installation's code: {access.stderr.strip()[-200:]}")
    (home / "topology.yaml").write_text(TOPOLOGY)
    os.chown(home / "topology.yaml", NOBODY, NOBODY)
    try:
        yield item
    finally:
        item.run("down", check=False)
        rest = docker_leftovers(item.name)
        shutil.rmtree(home)
        assert not rest, f"{item.name} left: {rest}"


def test_a_docker_group_member_brings_it_up_healthy_with_state_under_their_home(user: User) -> None:
    up = user.run("up", "--provider", "docker", "-f", str(user.home / "topology.yaml"))
    assert f"Environment '{user.name}' is healthy" in up.stdout
    state = user.home / ".local" / "state" / "multidc" / user.name / "state.json"
    assert state.stat().st_uid == NOBODY  # under the user's home, the user's own
    network = subprocess.run(
        ["docker", "network", "inspect", f"mdc.{user.name}", "--format", "{{(index .IPAM.Config 0).Subnet}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    subnet = ipaddress.ip_network(network.stdout.strip())
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in user.run("env", "primary").stdout.splitlines()
    )
    peers = subprocess.run(
        user.argv(BAO, "operator", "raft", "list-peers", "-format=json"),
        capture_output=True,
        text=True,
        env={**user.env, **{k: v.strip("'") for k, v in exports.items()}},
        timeout=60,
        check=False,
    )
    assert peers.returncode == 0, peers.stderr
    servers = json.loads(peers.stdout)["data"]["config"]["servers"]
    assert len(servers) == 3 and all(s["voter"] for s in servers)
    assert all(ipaddress.ip_address(s["address"].rsplit(":", 1)[0]) in subnet for s in servers), servers


def test_the_user_partitions_heals_and_verifies(user: User) -> None:
    user.run("chaos", "partition", "tertiary")
    try:
        wait_for(lambda: not user.healthy(), 30, "unhealthy under the partition")
    finally:
        user.run("chaos", "heal")
    wait_for(user.healthy, 60, "healthy after heal")
    verify = user.run("verify", "--scenario", "leader-kill", "--duration", "8")
    assert "PASS leader-kill" in verify.stdout and "linearizable: yes" in verify.stdout


def test_the_user_removes_it_and_nothing_is_left(user: User) -> None:
    down = user.run("down")
    assert "removed" in down.stdout
    assert not docker_leftovers(user.name)
    assert not (user.home / ".local" / "state" / "multidc" / user.name).exists()
