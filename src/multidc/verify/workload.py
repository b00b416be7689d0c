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

    def add(self, process: int, type_: str, f: str, key: str, value: Any, at: float) -> None:
        with self.lock:
            self.events.append({"process": process, "type": type_, "f": f, "key": key, "value": value, "time": at})

    def history(self) -> list[dict[str, Any]]:
        with self.lock:
            return sorted(self.events, key=lambda e: (e["time"], e["type"] != "invoke"))


class Outcome(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


def classify(exc: Exception, mutating: bool) -> str:
    """fail when the operation certainly took no effect, info when it may have."""
    if not mutating:
        return "fail"
    if isinstance(exc, hvac.exceptions.VaultError):
        status = getattr(exc, "status_code", None) or 0
        return "fail" if 400 <= int(status) < 500 else "info"
    text = str(exc)
    # Not connected, or the TLS handshake failed (the published port answers, nothing listens behind it): the
    # request was never sent.
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return "fail"
    if "Connection refused" in text:
        return "fail"
    return "info"


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
        return got["data"]["data"].get("v"), int(got["data"]["metadata"]["version"])

    def write(self, c: hvac.Client, key: str, value: Any, cas: int | None = None) -> None:
        c.secrets.kv.v2.create_or_update_secret(path=self.path(key), secret={"v": value}, cas=cas, mount_point=MOUNT)

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
        c = client(url, self.ca, self.token, timeout=self.timeout)
        process = self._new_process(dc)
        rec = self.recorder
        while not stop.is_set():
            key = rng.choice(self.keys)
            f = rng.choices(["read", "write", "cas"], weights=[5, 3, 2])[0]
            start = rec.now()
            if f == "read":
                try:
                    value, _ = self.read(c, key)
                    outcome, result = "ok", value
                except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
                    outcome, result = classify(exc, False), None
                rec.add(process, "invoke", f, key, None, start)
                rec.add(process, outcome, f, key, result, rec.now())
            elif f == "write":
                value = self._next(self._values)
                rec.add(process, "invoke", f, key, value, start)
                try:
                    self.write(c, key, value)
                    outcome = "ok"
                except Exception as exc:  # noqa: BLE001
                    outcome = classify(exc, True)
                rec.add(process, outcome, f, key, value, rec.now())
            else:
                new = self._next(self._values)
                try:
                    expected, version = self.read(c, key)
                except Exception:  # noqa: BLE001 - no value to compare with: the cas is not attempted
                    rec.add(process, "invoke", f, key, [None, new], start)
                    rec.add(process, "fail", f, key, [None, new], rec.now())
                    time.sleep(self.pause)
                    continue
                pair = [expected, new]
                rec.add(process, "invoke", f, key, pair, start)
                try:
                    self.write(c, key, new, cas=version)
                    outcome = "ok"
                except hvac.exceptions.InvalidRequest as exc:
                    outcome = "fail" if "check-and-set" in str(exc) else classify(exc, True)
                except Exception as exc:  # noqa: BLE001
                    outcome = classify(exc, True)
                rec.add(process, outcome, f, key, pair, rec.now())
            if outcome == "info":
                process = self._new_process(dc)
            time.sleep(self.pause)
