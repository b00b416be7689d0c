"""The docker CLI through the Runner seam: every command the docker provider (and kind's central KMS) runs, so unit
tests record them and a user's `docker` (Docker Engine, rootless, Docker Desktop, a remote DOCKER_HOST) is used as
configured. Everything made carries the environment's label, so it is found again without the state directory."""

from __future__ import annotations

import json
import shutil
from ipaddress import IPv4Network, ip_network

from ...errors import PrerequisiteError, ProviderError
from ...runner import Completed, Runner

LABEL = "multidc.io/environment"  # every container, network and volume multidc makes: the environment's name
PROVIDER_LABEL = "multidc.io/provider"  # "docker": kind's KMS container carries LABEL too, not this one
KINDS = ("container", "volume", "network")


def reason(done: Completed) -> str:
    """docker's own error line (`docker run` ends its output with a hint to read --help instead)."""
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if "Error" in line]
    return lines[0].removeprefix("docker: ")[:300] if lines else done.reason()


def run(runner: Runner, *args: str, timeout: float = 120) -> str:
    """A docker command that must succeed; its output."""
    done = runner.run(["docker", *args], check=False, timeout=timeout)
    if done.returncode != 0:
        raise ProviderError(f"`{done.command}` failed: {reason(done)}")
    return done.stdout.strip()


def create_network(runner: Runner, name: str, env: str, wanted: str | None, tries: int = 10) -> None:
    """A labelled bridge network. A fixed address (`--ip`) needs a subnet given at creation: without one asked for,
    docker chooses a free one (a probe network, removed at once), which is then asked for (another `up` may take it
    meanwhile: then again)."""
    for _ in range(tries):
        chosen = wanted
        if chosen is None:
            probe = f"{name}.probe"
            run(runner, "network", "create", *labels(env), probe)
            try:
                found = subnet(runner, probe)
            finally:
                runner.run(["docker", "network", "rm", probe], check=False)
            chosen = str(found)
        done = runner.run(["docker", "network", "create", *labels(env), "--subnet", chosen, name], check=False)
        if done.returncode == 0:
            return
        if wanted is not None or "overlap" not in reason(done):
            raise ProviderError(f"`{done.command}` failed: {reason(done)}")
    raise ProviderError(f"docker network {name}: every subnet docker offered was taken by the time it was asked for")


def labels(env: str) -> list[str]:
    return ["--label", f"{LABEL}={env}", "--label", f"{PROVIDER_LABEL}=docker"]


def check(runner: Runner) -> str:
    """The engine's version; one PrerequisiteError line when docker is missing or its daemon cannot be reached."""
    if shutil.which("docker") is None:
        raise PrerequisiteError(
            "--provider docker needs the docker CLI and a running engine: install Docker Engine (Debian: "
            "`apt-get install docker.io`) or Docker Desktop; or use --provider netns as root"
        )
    done = runner.run(["docker", "version", "--format", "{{.Server.Version}}"], check=False, timeout=30)
    if done.returncode != 0:
        raise PrerequisiteError(
            f"--provider docker: the docker engine does not answer ({done.reason()}); start it (`dockerd`, or "
            "Docker Desktop) and make sure you may use it (root, or a member of the `docker` group)"
        )
    return done.stdout.strip()


def subnet(runner: Runner, network: str) -> IPv4Network | None:
    """The IPv4 subnet docker gave `network`, or None when there is no such network."""
    done = runner.run(["docker", "network", "inspect", network, "--format", "{{json .IPAM.Config}}"], check=False)
    if done.returncode != 0:
        return None
    try:
        configs = json.loads(done.stdout or "[]")
    except ValueError:
        raise ProviderError(f"cannot read docker network {network}'s subnet from: {done.stdout[:200]!r}") from None
    for entry in configs or []:
        net = ip_network(entry.get("Subnet", ""), strict=False)
        if net.version == 4:
            return net
    raise ProviderError(f"docker network {network} has no IPv4 subnet")


def found(runner: Runner, kind: str, env: str | None = None) -> list[str]:
    """Names of the containers, volumes or networks the docker provider made (for `env`, or for any environment)."""
    wanted = f"{LABEL}={env}" if env else LABEL
    argv = ["docker", kind, "ls", "-q", "--filter", f"label={wanted}", "--filter", f"label={PROVIDER_LABEL}=docker"]
    if kind == "container":
        argv = ["docker", "ps", "-a", "--format", "{{.Names}}", *argv[4:]]
    elif kind == "network":
        argv += ["--format", "{{.Name}}"]
    done = runner.run(argv, check=False, timeout=60)
    if done.returncode != 0:
        raise ProviderError(f"`{done.command}` failed: {done.reason()}")
    return sorted({line.strip() for line in done.stdout.splitlines() if line.strip()})


def environments(runner: Runner) -> list[str]:
    """The environments that have a labelled container, volume or network of the docker provider."""
    envs: set[str] = set()
    for kind in KINDS:
        argv = ["docker", kind, "ls", "--filter", f"label={PROVIDER_LABEL}=docker", "--format"]
        if kind == "container":
            argv = ["docker", "ps", "-a", "--filter", f"label={PROVIDER_LABEL}=docker", "--format"]
        done = runner.run([*argv, '{{.Label "' + LABEL + '"}}'], check=False, timeout=60)
        if done.returncode == 0:
            envs |= {line.strip() for line in done.stdout.splitlines() if line.strip()}
    return sorted(envs)


def remove(runner: Runner, env: str) -> dict[str, list[str]]:
    """Remove every container, volume and network labelled with the environment (containers first: a network or
    volume in use cannot go). Returns what was removed, by kind; raises naming what could not be removed."""
    removed: dict[str, list[str]] = {}
    stuck: list[str] = []
    for kind in KINDS:
        names = found(runner, kind, env)
        if not names:
            continue
        argv = ["docker", "rm", "-f", "-v"] if kind == "container" else ["docker", kind, "rm"]
        done = runner.run([*argv, *names], check=False, timeout=120)
        if done.returncode != 0:
            stuck.append(f"{kind}(s) {', '.join(names)}: {done.reason()}")
        removed[kind] = names
    if stuck:
        raise ProviderError(f"could not remove {'; '.join(stuck)}")
    return removed


def address(runner: Runner, container: str, network: str) -> str:
    """The container's address on `network`."""
    fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
    done = runner.run(["docker", "inspect", "--format", fmt, container], check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise ProviderError(f"container {container} has no address on docker network {network}")
    return done.stdout.strip()


def host_port(runner: Runner, container: str, port: int) -> int:
    """The 127.0.0.1 port docker published for the container's `port`."""
    done = runner.run(["docker", "port", container, f"{port}/tcp"])
    for line in done.stdout.splitlines():
        host, _, number = line.strip().rpartition(":")
        if host == "127.0.0.1" and number.isdigit():
            return int(number)
    raise ProviderError(f"container {container} publishes no 127.0.0.1 port for {port}: {done.stdout.strip()!r}")


def running(runner: Runner, container: str) -> bool:
    done = runner.run(["docker", "inspect", "--format", "{{.State.Running}}", container], check=False)
    return done.returncode == 0 and done.stdout.strip() == "true"


def exists(runner: Runner, container: str) -> bool:
    return runner.run(["docker", "inspect", "--format", "{{.Id}}", container], check=False).returncode == 0
