"""`up`'s steps, each a small action over an explicit context (`Up`): the environment being made and the forwarder
whose report `publish_ports` waits for. In order, each one progress line: Writing certificates and configuration,
Creating site network, Publishing host ports, Starting KMS, Preparing KMS, Starting primary, Initialising primary (the
other DCs are made during its election), Joining datacenters, Waiting for healthy (and Applying configuration)."""

from __future__ import annotations

import contextlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ... import bootstrap, configure, health, pipeline, pki
from ...consistency import ConsistencyIndex
from ...errors import ProviderError
from ...paths import make_private_dir, write_private
from ...pipeline import Step
from ...state import read_secret, write_secret
from ...vaultapi import TRANSIENT, client, get
from . import kms, site
from .environment import HEALTH_TIMEOUT, Environment
from .plan import Node
from .servers import START_TIMEOUT


@dataclass
class Up:
    """What the steps of one `up` share: the environment they make, and the report pipe of the forwarder `create_site`
    started (None once `publish_ports` has read it)."""

    env: Environment
    forwarder_report: int | None = None


def write_files(up: Up) -> None:
    env = up.env
    plan = env.plan
    make_private_dir(env.paths.root)
    if plan.topology.tls:
        ca = pki.make_ca(plan.env)
        write_private(env.paths.ca_cert, ca.cert_pem.decode())
        env.paths.ca_cert.chmod(0o644)  # the CA certificate is public; its key is not
        write_private(env.paths.ca_key, ca.key_pem.decode())
        for node in [plan.kms, *plan.nodes]:
            env.issue_certificate(ca, node)
    write_private(plan.kms.paths.config, json.dumps(plan.kms_config(), indent=2))
    for node in [plan.kms, *plan.nodes]:
        node.paths.data.mkdir(parents=True, exist_ok=True, mode=0o700)


def create_site(up: Up) -> None:
    """The site network with the KMS's namespace, then the primary's: the KMS's server starts (`kms.spawn`)
    while the primary's namespace is made and the host ports published; `start_kms` then waits for it. The other
    DCs' namespaces are made during the primary's election (`init_primary`)."""
    env = up.env
    plan = env.plan
    # The KMS's server starts first, in a network namespace of its own that the site then names and wires: it
    # boots while pyroute2 loads and the site is made (its listener is on 0.0.0.0 of its own namespace).
    kms_pid = kms.spawn(env, apart=True)
    try:
        env.host.create_site(plan, [plan.kms], adopt={plan.kms.namespace: kms_pid})
    except ProviderError:
        if not env.host.alive(kms_pid):  # its namespace went with it: say why it ended
            raise ProviderError(f"the kms server exited: {env.log_tail(plan.kms) or 'no log output'}") from None
        raise
    site.write_forwarder_spec(env)
    up.forwarder_report = site.spawn_forwarder(env)  # `publish_ports` waits for its report
    try:
        env.host.add_nodes(plan, [plan.primary])
    except BaseException:
        os.close(up.forwarder_report)
        up.forwarder_report = None
        raise


def publish_ports(up: Up) -> None:
    """Publish the host ports: the forwarder `create_site` started (while the DCs' namespaces were made) must
    report that it bound every one."""
    env = up.env
    if up.forwarder_report is None:
        site.write_forwarder_spec(env)
        site.start_forwarder(env)
    else:
        report, up.forwarder_report = up.forwarder_report, None
        site.await_forwarder(env, report)


def start_kms(up: Up) -> None:
    """Wait until the KMS (spawned with the site network) answers."""
    env = up.env
    env.started(env.plan.kms, "kms")


def prepare_kms(up: Up) -> None:
    env = up.env
    kms.provision(env)
    env.write_node_configs(first_start=True)


def start_primary(up: Up) -> None:
    """Start the primary's server and wait for it (the init needs it)."""
    env = up.env
    assert env.state is not None
    primary = env.plan.primary
    env.state.pids[f"node:{primary.name}"] = env.spawn_server(primary)
    env.save()
    env.started(primary, f"node:{primary.name}")


def start_others(up: Up) -> None:
    """Every other DC: its namespace and its server (and kv's unsealers). `init_primary` does this during the
    primary's election (1-2 s in which the primary only waits); `join_datacenters` waits for the servers."""
    env = up.env
    assert env.state is not None
    others = env.plan.nodes[1:]
    env.host.add_nodes(env.plan, others)
    for node in others:
        env.state.pids[f"node:{node.name}"] = env.spawn_server(node)
    if env.plan.topology.unseal == "kv":
        kms.start_unsealers(env)
    env.save()


def init_primary(up: Up) -> None:
    env = up.env
    plan = env.plan
    # The init holds for the primary's first election (1-2 s), while the other DCs start on the same CPUs.
    c = env.client(plan.primary, timeout=START_TIMEOUT)
    transit = plan.topology.unseal == "transit"

    def keep(result: bootstrap.InitResult) -> None:
        write_secret(env.paths, "root-token", result.root_token)
        write_secret(env.paths, "recovery-keys" if transit else "unseal-keys", "\n".join(result.keys))

    with ThreadPoolExecutor(max_workers=1) as pool:
        initialised = pool.submit(bootstrap.initialize, c, auto_unseal=transit)
        try:
            start_others(up)  # the other DCs are made meanwhile
        except BaseException:
            with contextlib.suppress(Exception):  # an initialised primary's keys are kept (`--retain`)
                keep(initialised.result())
            raise
        result = initialised.result()
    keep(result)
    if not transit:
        # The seed's flow: keys go to the central KMS, where the unsealers take them from for every later start.
        # This first time multidc, which holds them, submits them itself: the unsealer would only in its next
        # round (every 0.25 s); a share given twice counts once.
        kms = env.client(plan.kms, read_secret(env.paths, "kms-root-token"))
        bootstrap.store_unseal_keys(kms, result)
        bootstrap.unseal(c, result.keys[: bootstrap.SECRET_THRESHOLD])
    c.token = result.root_token
    bootstrap.wait_active(c, START_TIMEOUT)
    bootstrap.configure_cluster(c, plan.topology.autopilot)  # autopilot before any join; KV v2 at secret/


def join_datacenters(up: Up) -> None:
    # The seed's raftLeaderAddress: each other DC joins through the primary's VIP, trusting the shared CA. Asking
    # now saves waiting for retry_join's next tick (~2 s). The keys multidc holds unseal a joiner at once: under
    # transit the recovery keys (else the seal retries only every 5 s), under kv the unseal keys (else its unsealer,
    # as the seed's sidecar, in its next round; it unseals every later start). Under kv the joiner's first start had
    # no retry_join to race this join (see prepare_kms).
    env = up.env
    ca_pem = env.paths.ca_cert.read_text() if env.plan.topology.tls else None
    kv = env.plan.topology.unseal == "kv"
    keys = (read_secret(env.paths, "unseal-keys" if kv else "recovery-keys") or "").split()
    primary = env.plan.api_addr(env.plan.primary)

    clients = {node.name: env.client(node) for node in env.plan.nodes[1:]}

    def join(node: Node) -> None:
        env.started(node, f"node:{node.name}")
        bootstrap.join(clients[node.name], primary, ca_pem)

    def unseal(node: Node) -> None:
        c = clients[node.name]
        bootstrap.unseal_joined(c, keys, timeout=10)
        # Autopilot calls a joined standby healthy (and makes it a voter) only once the standby has reached the
        # active node, which it does at its periodic leader check, or at once when asked something that needs
        # the leader. Measured: `up`'s health wait 2.8 s unasked, 0.3 s asked.
        with contextlib.suppress(*TRANSIENT):
            get(c, "/v1/sys/leader")

    with ThreadPoolExecutor(max_workers=len(env.plan.nodes)) as pool:
        list(pool.map(join, env.plan.nodes[1:]))
        # The leader sends its log to a joiner as it adds it, before the joiner's cluster listener is up; Raft
        # tries again at its next commit tick (50-100 ms), or at once for a new entry: autopilot's configuration,
        # written again, is one. (A KV mount made here instead answered "upgrading" on standbys for ~1 s.)
        leader = env.client(env.plan.primary, env.root_token())
        bootstrap.configure_autopilot(leader, env.plan.topology.autopilot)
        list(pool.map(unseal, env.plan.nodes[1:]))
    others = {n.name for n in env.plan.nodes[1:]}
    missing = set(others)

    def joined() -> bool:
        config = leader.adapter.get("/v1/sys/storage/raft/configuration")["data"]["config"]
        missing.intersection_update(others - {s["node_id"] for s in config["servers"]})
        return not missing

    try:
        pipeline.wait_until(joined, HEALTH_TIMEOUT, "joined", interval=0.05)
    except TimeoutError:
        tails = "; ".join(f"{n}: {env.log_tail(env.plan.node(n), 1)}" for n in sorted(missing))
        raise ProviderError(
            f"{', '.join(sorted(missing))} did not join the primary within {HEALTH_TIMEOUT:.0f}s ({tails})"
        ) from None
    env.write_node_configs(first_start=False)  # for any later start (the running servers have joined)


def apply_configuration(up: Up, dry_run: bool = False) -> configure.Result:
    """Apply the topology's configuration (Bank-Vaults externalConfig) through the leader; idempotent."""
    env = up.env
    # Index-aware: it waits out a new kv-v2 mount's upgrade before writing its startupSecrets.
    leader = client(env.plan.host_url(env.leader_node()), env.ca, env.root_token(), 10, ConsistencyIndex())
    result = configure.apply(leader, env.plan.topology.configuration, dry_run=dry_run)
    if not dry_run and env.state is not None:
        env.state.made["configuration"] = result.counts
        env.save()
    if result.changes and not dry_run:
        # A barrier: the health check's write through one DC, read back through every other, comes after every
        # change in the Raft log, so once it is through, what was configured is readable through every DC; and
        # a new kv-v2 mount answers without "upgrading" everywhere.
        env.wait_healthy()
        plain = [env.client(node, env.root_token(), timeout=5) for node in env.plan.nodes]
        configure.wait_upgraded(plain, configure.kv2_mounts(env.plan.topology.configuration))
    return result


def wait_up_healthy(up: Up) -> health.Health:
    """`up`'s last wait: first for the primary's autopilot to call every DC a healthy voter (one request, asked
    every 20 ms; the joiners' promotion is most of this wait), meanwhile the write probe (every DC has joined: a
    write through the first is read back through every other); then the whole health check, which judges (it
    writes again unless that probe passed)."""
    env = up.env
    primary = env.client(env.plan.primary, env.root_token(), timeout=2)
    others = {node.name: env.client(node, timeout=2) for node in env.plan.nodes[1:]}
    wanted = {node.name for node in env.plan.nodes}

    def promoted() -> bool:
        code, body = get(primary, "/v1/sys/storage/raft/autopilot/state")
        data = body.get("data") or {}
        servers = data.get("servers") or {}
        for name in others.keys() - {n for n, s in servers.items() if s.get("healthy")}:
            get(others[name], "/v1/sys/leader")  # see `join_datacenters`: a standby asked looks for the leader
        voters = set(data.get("voters") or [])
        return code == 200 and bool(data.get("healthy")) and voters >= wanted

    with ThreadPoolExecutor(max_workers=1) as pool:
        probe = pool.submit(health.replication, env.endpoints(), env.ca, env.root_token())
        try:
            pipeline.wait_until(promoted, HEALTH_TIMEOUT, "every DC a voter", interval=0.02)
        except TimeoutError:
            final = health.check_endpoints(env.endpoints(), env.ca, env.root_token())
            if final.healthy:
                return final
            raise ProviderError(f"not healthy after {HEALTH_TIMEOUT:.0f}s: {'; '.join(final.problems)}") from None
        written = False  # True when the probe passed: the check below then does not write again
        with contextlib.suppress(*TRANSIENT):
            written = not probe.result()
    return env.wait_healthy(written=written, whole=False)  # the KMS was prepared by this very `up`


def steps(up: Up) -> list[Step]:
    """The steps of `up` for a new environment, in order."""
    configuration = up.env.plan.topology.configuration
    return [
        Step("Writing certificates and configuration", lambda: write_files(up)),
        Step("Creating site network", lambda: create_site(up)),
        Step("Publishing host ports", lambda: publish_ports(up)),
        Step("Starting KMS", lambda: start_kms(up)),
        Step("Preparing KMS", lambda: prepare_kms(up)),
        Step("Starting primary", lambda: start_primary(up)),
        Step("Initialising primary", lambda: init_primary(up)),
        Step("Joining datacenters", lambda: join_datacenters(up)),
        Step("Waiting for healthy", lambda: wait_up_healthy(up)),
        *([Step("Applying configuration", lambda: apply_configuration(up))] if not configuration.is_empty() else []),
    ]
