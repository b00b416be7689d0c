"""What the set, tokens and pki workloads share: clients per DC recording into a Recorder, and the final observations.

Each client is a thread with its own process number and its own connection through its DC's endpoint (VIP), as the
register's are: every operation is an invoke and a completion in the history, the outcome decided by the register
workload's `classify` (fail only when the operation certainly took no effect). A process whose operation ended `info`
continues under a new number, as the history format requires.

Final observations (after the cluster is healed and healthy) are made through every DC, the leader first, each with
a plain client (no consistency index: what that DC itself serves), but only once the DC has applied everything the
leader had committed when `final` began. A standby answers reads from its own copy, 50-100 ms behind right after a
write (NOTES-openbao.md); waiting for its applied index rather than forwarding to the leader keeps the observation the
DC's own. A DC that does not catch up within `final_timeout` is read anyway, and what it misses shows as an anomaly.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import hvac
import requests

from ...consistency import Consistency, ConsistencyIndex
from ...vaultapi import client, get, wait_until
from ..workload import Recorder, Unanswered, classify, describe
from .invariants import CHECKERS
from .verdict import InvariantVerdict

POLL = 0.05


def slug(text: str) -> str:
    """A name OpenBao takes for a policy or a certificate name: letters, digits and dashes."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-").lower() or "multidc"


def no_content(result: Any) -> None:
    """An answer that should be 204 (or a 200 with a body): anything else, e.g. a standby's 307, did not do it."""
    if isinstance(result, dict):
        return
    status = getattr(result, "status_code", None)
    if status != 204:
        raise Unanswered(f"answered {status} instead of doing it (a standby that could not forward?)")


@dataclass
class Noted:
    """A result the server acknowledged with a warning (kept in the history beside the ok, for the reader)."""

    value: Any
    note: str


@dataclass
class Client:
    """One client thread's own things: its DC, connection, random choices and process number."""

    dc: str
    api: hvac.Client
    process: int
    rng: random.Random = field(default_factory=random.Random)
    memory: list[Any] = field(default_factory=list)  # what it acknowledged and may act on later (tokens to revoke)


@dataclass
class Clients:
    """The shared part of a workload; a subclass gives `name`, `prepare`, `operation`, `observe` and `remove`."""

    endpoints: dict[str, str]  # DC -> URL (through its VIP)
    ca: str | None
    token: str  # root: setup, final observations and cleanup (clients may use a token setup makes)
    prefix: str  # unique per run: every path, mount and name the workload makes lies under it
    recorder: Recorder
    per_dc: int = 2
    timeout: float = 1.5
    pause: float = 0.01
    seed: int = 1
    consistency: Consistency = "eventual"  # index: each client keeps its own X-Vault-Index, as an application would
    final_timeout: float = 10.0  # per final request, and for a DC to catch up with the leader before it is observed
    processes_by_dc: dict[int, str] = field(default_factory=dict)
    # Seconds each DC took at `final` to apply what the leader had committed (None: not within final_timeout).
    caught_up: dict[str, float | None] = field(default_factory=dict)
    cleanup_problems: list[str] = field(default_factory=list)

    name: ClassVar[str] = ""
    mutations: ClassVar[tuple[str, ...]] = ()  # the `f`s that change the cluster (for failover and availability)

    def __post_init__(self) -> None:
        self.prefix = self.prefix.strip("/")
        self._pids = itertools.count()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._admin_index = ConsistencyIndex()

    # --- the pieces a subclass uses

    def next_value(self) -> int:
        """A number unique in this workload (elements, names)."""
        with self._lock:
            return next(self._counter)

    def new_process(self, dc: str) -> int:
        with self._lock:
            pid = next(self._pids)
            self.processes_by_dc[pid] = dc
            return pid

    def api(self, dc: str, token: str | None = None, timeout: float | None = None) -> hvac.Client:
        """A plain client through the DC: no consistency index (what that DC serves)."""
        return client(self.endpoints[dc], self.ca, token or self.token, timeout=timeout or self.final_timeout)

    def admin(self) -> hvac.Client:
        """A root client through the leader that reads its own writes (setup, cleanup)."""
        return client(
            self.endpoints[self.leader()], self.ca, self.token, timeout=self.final_timeout, index=self._admin_index
        )

    def leader(self) -> str:
        """The DC whose server is active now (the first DC when none says so)."""
        for dc in self.endpoints:
            try:
                code, body = get(self.api(dc, timeout=2.0), "/v1/sys/leader")
            except (requests.RequestException, hvac.exceptions.VaultError):
                continue
            if code == 200 and body.get("is_self"):
                return dc
        return next(iter(self.endpoints))

    def attempt(self, c: Client, f: str, value: Any, call: Callable[[], Any], mutating: bool = True) -> tuple[str, Any]:
        """Run one operation and record it: the invoke with `value`, then ok with what `call` returned, or fail/info
        (with the reason) with `value` again. After info the client continues as a new process."""
        rec = self.recorder
        rec.add(c.process, "invoke", f, c.dc, value, rec.now())
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
            outcome = classify(exc, mutating)
            rec.add(c.process, outcome, f, c.dc, value, rec.now(), describe(exc))
            if outcome == "info":
                c.process = self.new_process(c.dc)
            return outcome, None
        note = ""
        if isinstance(result, Noted):
            result, note = result.value, f"warning: {result.note}"
        rec.add(c.process, "ok", f, c.dc, result, rec.now(), note)
        return "ok", result

    def catch_up(self) -> dict[str, float | None]:
        """Wait until every DC has applied what the leader has committed now; seconds each took (None: not in time)."""
        try:
            _, body = get(self.api(self.leader()), "/v1/sys/leader")
            target = int(body.get("raft_committed_index") or 0)
        except (requests.RequestException, hvac.exceptions.VaultError, ValueError):
            return {dc: None for dc in self.endpoints}
        took: dict[str, float | None] = {}
        for dc in self.endpoints:
            start = time.monotonic()
            took[dc] = None
            while time.monotonic() - start < self.final_timeout:
                try:
                    _, body = get(self.api(dc, timeout=2.0), "/v1/sys/leader")
                    if int(body.get("raft_applied_index") or 0) >= target:
                        took[dc] = round(time.monotonic() - start, 3)
                        break
                except (requests.RequestException, hvac.exceptions.VaultError, ValueError):
                    pass
                time.sleep(POLL)
        return took

    # --- the interface

    def client_token(self) -> str:
        """The token the clients use (root unless the workload's setup made one for them)."""
        return self.token

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for dc in self.endpoints:
            for slot in range(self.per_dc):
                t = threading.Thread(
                    target=self._loop, args=(dc, slot, stop), daemon=True, name=f"{self.name}-{dc}-{slot}"
                )
                t.start()
                threads.append(t)
        return threads

    def _loop(self, dc: str, slot: int, stop: threading.Event) -> None:
        index = ConsistencyIndex() if self.consistency == "index" else None
        api = client(self.endpoints[dc], self.ca, self.client_token(), timeout=self.timeout, index=index)
        c = Client(dc, api, self.new_process(dc), random.Random(f"{self.seed}-{self.name}-{dc}-{slot}"))
        while not stop.is_set():
            self.operation(c)
            time.sleep(self.pause)

    def final(self) -> None:
        """Observe through every DC (the leader first, each in its own thread) once each has caught up."""
        self.caught_up = self.catch_up()
        leader = self.leader()
        order = [leader, *(dc for dc in self.endpoints if dc != leader)]
        threads = [threading.Thread(target=self._observe, args=(dc,), name=f"{self.name}-final-{dc}") for dc in order]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _observe(self, dc: str) -> None:
        c = Client(dc, self.api(dc), self.new_process(dc))
        self.observe(c)

    def verdict(self) -> InvariantVerdict:
        return CHECKERS[self.name](self.recorder.history())

    # --- what each workload gives

    def setup(self) -> None:
        """Make what the workload needs, through the leader; every step is idempotent, so a transient error (a 5xx
        from a standby that has lost the active node for a moment, a timeout on a loaded machine) is tried again for
        up to final_timeout."""

        def prepared() -> bool:
            self.prepare()
            return True

        wait_until(prepared, self.final_timeout, f"{self.name} setup under {self.prefix}")

    def prepare(self) -> None:
        raise NotImplementedError

    def operation(self, c: Client) -> None:
        """One operation of a client (recorded with `attempt`)."""
        raise NotImplementedError

    def observe(self, c: Client) -> None:
        """The final observation(s) through c's DC (recorded with `attempt`, mutating=False)."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Best effort: remove what setup and the clients made; what could not be removed goes to cleanup_problems."""
        try:
            self.remove()
        except Exception as exc:  # noqa: BLE001 - never judged, never fatal: said, not raised
            self.cleanup_problems.append(f"{self.name} cleanup under {self.prefix}: {describe(exc)}")

    def remove(self) -> None:
        raise NotImplementedError
