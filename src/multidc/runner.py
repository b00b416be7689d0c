"""Every external command goes through one runner, so tests can record and script them (kind's `exec` seam)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .errors import ProviderError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def reason(self) -> str:
        """The last meaningful line of the command's error output, for one-line messages."""
        lines = [line.strip() for line in (self.stderr or self.stdout).splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"exit code {self.returncode}"


class Runner(Protocol):
    def run(
        self, argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float | None = None
    ) -> Completed: ...

    def lines(self, argv: Sequence[str]) -> Iterator[str]:
        """The command's output (stdout and stderr), line by line as it comes, until it exits or the caller stops
        iterating (then the command is ended). For `kubectl logs -f` and the like."""
        ...


class SubprocessRunner:
    """Runs commands for real."""

    def run(
        self, argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float | None = None
    ) -> Completed:
        try:
            proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise ProviderError(f"`{argv[0]}` is not installed (needed for: {shlex.join(argv)})") from None
        except subprocess.TimeoutExpired:
            raise ProviderError(f"`{shlex.join(argv)}` did not finish within {timeout:.0f}s") from None
        done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and done.returncode != 0:
            raise ProviderError(f"`{done.command}` failed: {done.reason()}")
        return done

    def lines(self, argv: Sequence[str]) -> Iterator[str]:
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError:
            raise ProviderError(f"`{argv[0]}` is not installed (needed for: {shlex.join(argv)})") from None

        def read() -> Iterator[str]:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    yield line.rstrip("\n")
            finally:
                if proc.poll() is None:
                    proc.terminate()  # the command this runner started, by its own handle
                proc.wait()
                proc.stdout.close()

        return read()


Responder = Callable[[tuple[str, ...], str | None], Completed | None]


@dataclass
class RecordingRunner:
    """Records every command; answers from responders (first non-None wins), else success with no output.

    `plan --provider kind` runs the real orchestration through one of these, so the command list it prints is the
    one `up` runs; tests script failures with responders.
    """

    responders: list[Responder] = field(default_factory=list)
    calls: list[Completed] = field(default_factory=list)
    inputs: list[str | None] = field(default_factory=list)

    def run(
        self, argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float | None = None
    ) -> Completed:
        args = tuple(argv)
        answer = next((a for r in self.responders if (a := r(args, input)) is not None), None)
        done = answer or Completed(args, 0)
        self.calls.append(done)
        self.inputs.append(input)
        if check and done.returncode != 0:
            raise ProviderError(f"`{done.command}` failed: {done.reason()}")
        return done

    def lines(self, argv: Sequence[str]) -> Iterator[str]:
        """Recorded like `run`; yields the answer's output lines."""
        done = self.run(argv, check=False)
        return iter((done.stdout + done.stderr).splitlines())

    @property
    def commands(self) -> list[str]:
        return [c.command for c in self.calls]
