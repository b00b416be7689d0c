"""Concurrent clients doing reads, writes and compare-and-set on a few KV v2 keys, each through its own DC's VIP.

Every operation becomes two events in the history (invoke, then ok/fail/info). A compare-and-set is KV v2's `cas`:
read the key's value and version, then write the new value only if the version is still the one read; it succeeds
only if the value was still `expected` when it took effect. A process whose operation ended in `info` (outcome
unknown) never issues another one under the same process number, as the history format requires.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import hvac
import requests

from ..consistency import Consistency, ConsistencyIndex
from ..vaultapi import client

MOUNT = "secret"


@dataclass
class Recorder:
    """Thread-safe event log with times relative to its start."""

    start: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return round(time.monotonic() - self.start, 6)

    def add(self, process: int, type_: str, f: str, key: str, value: Any, at: float, error: str = "") -> None:
        event = {"process": process, "type": type_, "f": f, "key": key, "value": value, "time": at}
        if error:  # why an operation failed or has an unknown outcome: for the reader, the checker ignores it
            event["error"] = error
        with self.lock:
            self.events.append(event)

    def history(self) -> list[dict[str, Any]]:
        with self.lock:
            return sorted(self.events, key=lambda e: (e["time"], e["type"] != "invoke"))


# hvac's exceptions for 4xx answers (they carry no status code).
REFUSED = (
    hvac.exceptions.InvalidRequest,
    hvac.exceptions.Unauthorized,
    hvac.exceptions.Forbidden,
    hvac.exceptions.InvalidPath,
    hvac.exceptions.RateLimitExceeded,
)


class Unanswered(Exception):
    """A server answered without doing the operation itself: a standby that could not forward it (307 to the leader).

    The forwarding it tried may still have reached the leader, so a write's outcome is unknown.
    """


def describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


def classify(exc: Exception, mutating: bool) -> str:
    """fail when the operation certainly took no effect, info when it may have."""
    if not mutating:
        return "fail"
    if isinstance(exc, Unanswered):
        return "info"
    if isinstance(exc, REFUSED):  # the server (the leader, when forwarded) answered 4xx: it refused, nothing was done
        return "fail"
    if isinstance(exc, hvac.exceptions.VaultError):  # 5xx: it may have been done before the error
        return "info"
    text = str(exc)
    # Not connected, or the TLS handshake failed (the published port answers, nothing listens behind it): the
    # request was never sent.
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return "fail"
    if "Connection refused" in text:
        return "fail"
    return "info"


def answered(result: Any) -> None:
    """hvac returns a decoded dict for 200 and the Response otherwise: anything but 200 (a 307 from a standby that
    could not forward, a 204) means this call did not see the operation done."""
    if not isinstance(result, dict):
        status = getattr(result, "status_code", "?")
        raise Unanswered(f"answered {status} instead of doing it (a standby that could not forward?)")


@dataclass
class Workload:
    endpoints: dict[str, str]  # DC -> URL (through its VIP)
    ca: str | None
    token: str
    keys: list[str]
    prefix: str
    recorder: Recorder
    per_dc: int = 2
    timeout: float = 1.5
    pause: float = 0.01
    seed: int = 1
    consistency: Consistency = "eventual"  # index: each client keeps its own X-Vault-Index, as an application would
    processes_by_dc: dict[int, str] = field(default_factory=dict)
    _values: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _pids: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _next(self, counter: itertools.count) -> int:  # type: ignore[type-arg]
        with self._lock:
            return int(next(counter))

    def path(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    def read(self, c: hvac.Client, key: str) -> tuple[Any, int]:
        try:
            got = c.secrets.kv.v2.read_secret_version(
                path=self.path(key), mount_point=MOUNT, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None, 0
        answered(got)
        return got["data"]["data"].get("v"), int(got["data"]["metadata"]["version"])

    def write(self, c: hvac.Client, key: str, value: Any, cas: int | None = None) -> None:
        answered(
            c.secrets.kv.v2.create_or_update_secret(
                path=self.path(key), secret={"v": value}, cas=cas, mount_point=MOUNT
            )
        )

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for dc, url in self.endpoints.items():
            for slot in range(self.per_dc):
                t = threading.Thread(
                    target=self._loop, args=(dc, url, slot, stop), daemon=True, name=f"client-{dc}-{slot}"
                )
                t.start()
                threads.append(t)
        return threads

    def _new_process(self, dc: str) -> int:
        pid = self._next(self._pids)
        self.processes_by_dc[pid] = dc
        return pid

    def _loop(self, dc: str, url: str, slot: int, stop: threading.Event) -> None:
        rng = random.Random(f"{self.seed}-{dc}-{slot}")
        index = ConsistencyIndex() if self.consistency == "index" else None
        c = client(url, self.ca, self.token, timeout=self.timeout, index=index)
        process = self._new_process(dc)
        rec = self.recorder
        while not stop.is_set():
            key = rng.choice(self.keys)
            f = rng.choices(["read", "write", "cas"], weights=[5, 3, 2])[0]
            start = rec.now()
            if f == "read":
                try:
                    value, _ = self.read(c, key)
                    outcome, result, error = "ok", value, ""
                except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
                    outcome, result, error = classify(exc, False), None, describe(exc)
                rec.add(process, "invoke", f, key, None, start)
                rec.add(process, outcome, f, key, result, rec.now(), error)
            elif f == "write":
                value = self._next(self._values)
                rec.add(process, "invoke", f, key, value, start)
                try:
                    self.write(c, key, value)
                    outcome, error = "ok", ""
                except Exception as exc:  # noqa: BLE001
                    outcome, error = classify(exc, True), describe(exc)
                rec.add(process, outcome, f, key, value, rec.now(), error)
            else:
                new = self._next(self._values)
                try:
                    expected, version = self.read(c, key)
                except Exception as exc:  # noqa: BLE001 - no value to compare with: the cas is not attempted
                    rec.add(process, "invoke", f, key, [None, new], start)
                    rec.add(process, "fail", f, key, [None, new], rec.now(), describe(exc))
                    time.sleep(self.pause)
                    continue
                pair = [expected, new]
                rec.add(process, "invoke", f, key, pair, start)
                try:
                    self.write(c, key, new, cas=version)
                    outcome, error = "ok", ""
                except hvac.exceptions.InvalidRequest as exc:
                    outcome = "fail" if "check-and-set" in str(exc) else classify(exc, True)
                    error = describe(exc)
                except Exception as exc:  # noqa: BLE001
                    outcome, error = classify(exc, True), describe(exc)
                rec.add(process, outcome, f, key, pair, rec.now(), error)
            if outcome == "info":
                process = self._new_process(dc)
            time.sleep(self.pause)
