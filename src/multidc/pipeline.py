"""Steps and waiting, shared by every provider.

A step is a title and an action. `run` is the one loop: one progress line per step, and one error rule: whatever a step
raises (a command, an HTTP call, a timeout, a refusal) reaches the user as "<step title>: <reason>", one line, never a
traceback. Ctrl-C passes through untouched; the caller decides what to remove (`--retain` keeps it).

`wait_until` is the one waiting loop: poll a condition until it holds or a bound passes, then say what was awaited and
the last error seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import hvac
import requests

from .errors import MultidcError, ProviderError

T = TypeVar("T")

# What a step's action may raise that is still the step's failure, not multidc's bug.
STEP_ERRORS: tuple[type[BaseException], ...] = (
    MultidcError,
    OSError,
    TimeoutError,
    ValueError,
    hvac.exceptions.VaultError,
    requests.RequestException,
)


@dataclass(frozen=True)
class Step:
    title: str
    action: Callable[[], object]


class StepFailed(ProviderError):
    """A step failed: its message is "<title>: <reason>"; `step` names the step, `cause` keeps the original."""

    def __init__(self, step: str, reason: str, cause: BaseException) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.cause = cause
        if isinstance(cause, MultidcError):
            self.exit_code = cause.exit_code


def reason(exc: BaseException) -> str:
    """The first line of what an exception says, or its type when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run(steps: Sequence[Step], progress: object) -> dict[str, object]:
    """Run the steps in order under `progress.step(title)`; returns each step's result by title."""
    results: dict[str, object] = {}
    for step in steps:
        with progress.step(step.title):  # type: ignore[attr-defined]
            try:
                results[step.title] = step.action()
            except STEP_ERRORS as exc:
                # A refusal keeps its own words (already one line); anything else gives its first line.
                said = str(exc) if isinstance(exc, MultidcError) and str(exc) else reason(exc)
                raise StepFailed(step.title, said, exc) from exc
    return results


# Failures that mean "not yet" while something starts: connections refused or reset, server-side refusals, timeouts.
TRANSIENT: tuple[type[BaseException], ...] = (requests.RequestException, hvac.exceptions.VaultError, OSError)


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
    last: Callable[[], str] | None = None,
) -> T:
    """Call `check` until it returns something other than None/False, at most `timeout` seconds (at least once).

    Transient errors count as "not yet"; anything else (a MultidcError saying the awaited thing died) ends the wait at
    once. On timeout: TimeoutError("timed out after <timeout>s waiting for <what> (last error: ...)"), the last error
    being `last()` or the last transient error `check` raised."""
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        try:
            got = check()
            if got is not None and got is not False:
                return got
        except TRANSIENT as exc:
            seen = reason(exc)[:200]
        if time.monotonic() >= deadline:
            detail = (last() if last else "") or seen
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {detail})" if detail else "")
            )
        time.sleep(interval)
