"""What the CLI does for --provider kind|kube: up, down, plan (dry run through a recording runner), status, env."""

from __future__ import annotations

import json
import shutil
import tempfile
from ipaddress import IPv4Network
from pathlib import Path

from ... import health, locks, topology
from ...errors import NotFoundError
from ...health import Endpoint
from ...paths import EnvPaths, env_paths
from ...progress import Progress
from ...runner import Completed, RecordingRunner, Runner, SubprocessRunner
from ...state import load, read_secret
from . import manifests
from .manifests import KubePlan
from .provider import KubeResult, Orchestrator, kind_subnet, plan_factory, rendered

UP_WAIT = 600.0  # a second `up` of the same name waits this long for the first


def _topology(file: str | None, env: str) -> tuple[topology.Topology, str]:
    st = load(env_paths(env)) if file is None else None
    if st is not None:
        return topology.parse(st.topology, str(env_paths(env).state)), str(env_paths(env).state)
    return topology.load(file), file or "topology"


def orchestrator(
    file: str | None,
    env: str,
    provider: str,
    contexts: list[str] | None,
    runner: Runner | None = None,
    progress: Progress | None = None,
) -> Orchestrator:
    topo, source = _topology(file, env)
    st = load(env_paths(env))
    if not contexts and st is not None:
        contexts = st.made.get("contexts")
    plan_for = plan_factory(topo, env, provider, contexts, source)
    plan_for(None)  # validate before anything runs
    return Orchestrator(plan_for, runner or SubprocessRunner(), env_paths(env), progress=progress)


def up(file: str | None, env: str, provider: str, contexts: list[str] | None, progress: Progress) -> KubeResult:
    with locks.hold(env, "up", env_paths(env).root.parent, wait=UP_WAIT, on_wait=progress.say):
        return orchestrator(file, env, provider, contexts, progress=progress).up()


def down(env: str, provider: str, contexts: list[str] | None = None) -> list[str]:
    with locks.hold(env, "down", env_paths(env).root.parent):
        return orchestrator(None, env, provider, contexts).down()


class DryKms:
    """Stands in for the KMS during `plan`: placeholder tokens, no health check."""

    def prepare(self, url: str, plan: KubePlan, paths: EnvPaths) -> tuple[str, str | None]:
        return "<unsealer-token>", "<seal-token>" if plan.topology.unseal == "transit" else None

    def root_token(self, url: str, paths: EnvPaths) -> str | None:
        return None

    def health(self, endpoints: list[health.Endpoint], ca: str | None, token: str | None) -> health.Health:
        return health.Health(healthy=True, nodes=[])

    def configure_cluster(self, endpoint: Endpoint, ca: str | None, token: str | None, plan: KubePlan) -> None:
        return None


def dry_responders(plan: KubePlan) -> list:  # type: ignore[type-arg]
    """Plausible answers for read-only commands so the orchestration can run without docker or a cluster."""
    from ... import addressing

    kms_ip = str(addressing.allocate(plan.topology.model_copy(update={"network": plan.subnet})).kms)

    def answer(argv: tuple[str, ...], _input: str | None) -> Completed | None:
        joined = " ".join(argv)
        if argv[:3] == ("docker", "network", "inspect"):
            return Completed(argv, 0, json.dumps([{"Subnet": str(plan.subnet)}]))
        if argv[:2] == ("docker", "inspect") and "--format" not in argv:
            return Completed(argv, 1, "", "Error: No such object")
        if argv[:2] == ("docker", "inspect"):
            return Completed(argv, 0, kms_ip + "\n")
        if "get secret" in joined:
            return Completed(
                argv,
                0,
                json.dumps(
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": plan.primary.tls_secret}, "data": {}}
                ),
            )
        if "jsonpath={.status.loadBalancer.ingress[0].ip}" in joined:
            return Completed(argv, 0, "<load-balancer-ip>")
        return None

    return [answer]


def plan(
    file: str | None, env: str, provider: str, contexts: list[str] | None, out_dir: str | None
) -> tuple[str, list[str], KubePlan]:
    """Render every manifest and the ordered command list `up` would run, touching neither docker nor a cluster."""
    topo, source = topology.load(file), file or "topology"
    plan_for = plan_factory(topo, env, provider, contexts, source)
    subnet: IPv4Network | None = None
    if provider == "kind" and shutil.which("docker"):
        try:
            subnet = kind_subnet(SubprocessRunner())  # read-only
        except Exception:
            subnet = None
    base = plan_for(subnet)
    recorder = RecordingRunner(responders=dry_responders(base))
    with tempfile.TemporaryDirectory() as tmp:
        orch = Orchestrator(lambda _s: plan_for(subnet), recorder, EnvPaths(Path(tmp) / env), kms=DryKms(), wait=0)
        orch.up(check_tools=False)
    kms_url = orch.state.made.get("kms_url", "") if orch.state else ""
    stream = rendered(base, kms_url)
    real = str(env_paths(env).root)
    commands = []
    for call, given in zip(recorder.calls, recorder.inputs, strict=True):
        line = call.command.replace(str(Path(tmp) / env), real)
        if given:
            objects = [
                f"{d.get('kind')}/{d.get('metadata', {}).get('name') or d.get('name')}"
                for d in manifests.documents(given)
            ]
            line += f"  < {', '.join(objects)}"
        commands.append(line)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for i, doc in enumerate(stream.split("---\n")):
            kind, name = _kind_name(doc)
            (out / f"{i:02d}-{kind}-{name}.yaml".lower()).write_text(doc)
        (out / "commands.txt").write_text("\n".join(commands) + "\n")
    return stream, commands, base


def _kind_name(doc: str) -> tuple[str, str]:
    parsed = manifests.documents(doc)
    if not parsed:
        return "empty", "doc"
    first = parsed[0]
    return str(first.get("kind", "doc")), str(first.get("metadata", {}).get("name") or first.get("name") or "doc")


def status(env: str) -> tuple[health.Health, list[health.Endpoint]]:
    paths = env_paths(env)
    st = load(paths)
    if st is None:
        raise NotFoundError(f"no environment {env!r} here (no {paths.state})")
    orch = orchestrator(None, env, st.provider, None)
    eps = orch.endpoints()
    ca = str(paths.ca_cert) if paths.ca_cert.exists() else None
    return health.check_endpoints(eps, ca, read_secret(paths, "root-token")), eps
