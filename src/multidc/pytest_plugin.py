"""pytest plugin (entry point `pytest11`): a multi-DC OpenBao cluster as a fixture.

    def test_something(multidc_env):
        multidc_env.client("secondary").sys.read_health_status()

`multidc_env` is the session's environment (created on first use, removed when the session ends). A module marked
`@pytest.mark.multidc(topology=PATH_OR_DICT)` gets an environment of its own, one per distinct topology. Options:
--multidc-topology PATH, --multidc-name NAME, --multidc-provider netns|docker|kind|kube, --multidc-keep (leave it
running), --multidc-reuse (attach to a running environment of that name, whatever its provider, instead of creating
one). Where the host cannot run the provider (netns: not root, no network namespaces, no server binary; docker: no
engine answering; kind: docker, kind, kubectl, helm) tests using the fixture are skipped with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .api import Environment, attach, up
from .errors import MultidcError, NotFoundError
from .paths import env_paths
from .state import load

DEFAULT_NAME = "pytest"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("multidc", "multi-DC Vault/OpenBao environments")
    group.addoption("--multidc-topology", default=None, help="Topology file for the multidc_env fixture.")
    group.addoption("--multidc-name", default=None, help=f"Environment name (default: {DEFAULT_NAME}).")
    group.addoption(
        "--multidc-provider", default=None, help="Provider for new environments: netns (default), docker, kind or kube."
    )
    group.addoption("--multidc-keep", action="store_true", help="Leave the environment(s) running after the session.")
    group.addoption(
        "--multidc-reuse",
        action="store_true",
        help="Attach to a running environment of that name instead of creating one.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "multidc(topology=PATH_OR_DICT): give this module its own multidc environment for that topology"
    )


def _host_problem(provider: str | None) -> str | None:
    from .providers import registry

    try:
        registry.get(provider or registry.DEFAULT).check_host()
    except MultidcError as exc:  # a missing tool, or an unknown --multidc-provider
        return f"multidc cannot run here: {exc}"
    return None


class Registry:
    """The session's environments, one per distinct topology; removed at the end unless kept or reused."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.base = config.getoption("--multidc-name") or DEFAULT_NAME
        self.keep = bool(config.getoption("--multidc-keep"))
        self.reuse = bool(config.getoption("--multidc-reuse"))
        self.provider: str | None = config.getoption("--multidc-provider")
        self.envs: dict[str, Environment] = {}
        self.names: dict[str, str] = {}
        self.failures: dict[str, str] = {}

    def key(self, topology: Any) -> str:
        if topology is None:
            return "default"
        if isinstance(topology, dict):
            return json.dumps(topology, sort_keys=True)
        return str(Path(topology).resolve())

    def get(self, topology: Any) -> Environment:
        problem = _host_problem(self.provider)
        if problem:
            pytest.skip(problem)
        key = self.key(topology)
        if key in self.failures:
            pytest.fail(self.failures[key], pytrace=False)
        if key not in self.envs:
            name = self.base if not self.names else f"{self.base}{len(self.names)}"
            self.names[key] = name
            try:
                self.envs[key] = self._make(topology, name)
            except MultidcError as exc:
                self.failures[key] = f"multidc environment {name!r} could not be brought up: {exc}"
                pytest.fail(self.failures[key], pytrace=False)
        return self.envs[key]

    def _make(self, topology: Any, name: str) -> Environment:
        if self.reuse and load(env_paths(name)) is not None:
            try:
                env = attach(name, keep=True)
            except NotFoundError:
                pass
            else:
                env.wait_healthy()
                return env
        return up(topology, name=name, keep=self.keep, provider=self.provider)

    def close(self) -> None:
        for env in self.envs.values():
            if not env.keep:
                env.down()


@pytest.fixture(scope="session")
def _multidc_registry(pytestconfig: pytest.Config) -> Iterator[Registry]:
    registry = Registry(pytestconfig)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def multidc_env(request: pytest.FixtureRequest, _multidc_registry: Registry) -> Environment:
    """The session's multidc environment (or the module's, when marked `@pytest.mark.multidc(topology=...)`)."""
    marker = request.node.get_closest_marker("multidc")
    if marker is not None:
        topology = marker.kwargs.get("topology", marker.args[0] if marker.args else None)
    else:
        topology = request.config.getoption("--multidc-topology")
    return _multidc_registry.get(topology)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """On a failed test that used the environment, attach its status and the servers' last log lines."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    env = getattr(item, "funcargs", {}).get("multidc_env")
    if not isinstance(env, Environment):
        return
    try:
        status = env.status(probe_write=False)
        lines = [f"healthy: {status.healthy}"] + [f"problem: {p}" for p in status.problems]
        lines += [
            f"{n.dc}: role={n.role} voter={n.voter} sealed={n.sealed} applied={n.applied_index} {n.error}".rstrip()
            for n in status.nodes
        ]
        report.sections.append(("multidc status", "\n".join(lines)))
        logs = env.logs(lines=10)
        report.sections.append(
            ("multidc server logs", "\n".join(f"--- {name}\n" + "\n".join(text) for name, text in logs.items()))
        )
    except Exception as exc:  # noqa: BLE001 - the report must never break the run
        report.sections.append(("multidc status", f"unavailable: {exc}"))
    report.sections.append(("multidc export", _export(item, env)))


def _export(item: pytest.Item, env: Environment) -> str:
    """Bundle the environment as the failure left it (`multidc export logs`: every log, configs, status, faults,
    secrets removed) next to pytest's temporary directories: the environment itself may be gone after the session."""
    import re
    import tempfile

    factory = getattr(item.config, "_tmp_path_factory", None)
    base = Path(factory.getbasetemp()) if factory is not None else Path(tempfile.gettempdir())
    target = base / f"multidc-{env.name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', item.name)[:60]}.tar.gz"
    again = f"while it exists: multidc export logs --name {env.name} [DIR|FILE.tar.gz]"
    try:
        target.unlink(missing_ok=True)
        return f"everything about this failure, secrets removed: {env.export(target)}\n({again})"
    except Exception as exc:  # noqa: BLE001 - the report must never break the run
        return f"the bundle could not be written ({exc}); {again}"
