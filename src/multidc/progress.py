"""Step-by-step progress, kind-style: one line per step with a check mark and its duration.

On a terminal the running step shows a spinner; otherwise each finished step prints one plain line; in quiet mode
(`--output json`) nothing is printed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console


@dataclass
class Progress:
    quiet: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    durations: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._console = Console(file=self.stream, highlight=False)
        self._tty = self.stream.isatty()

    def say(self, message: str) -> None:
        if not self.quiet:
            self._console.print(message) if self._tty else print(message, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        start = time.monotonic()
        status = None
        if self._tty and not self.quiet:
            status = self._console.status(f" {title} ...", spinner="dots")
            status.start()
        try:
            yield
        except BaseException:
            elapsed = time.monotonic() - start
            if status:
                status.stop()
            self.durations[title] = elapsed
            self._line(f" ✗ {title} ({elapsed:.2f}s)", "red")
            raise
        elapsed = time.monotonic() - start
        self.durations[title] = elapsed
        if status:
            status.stop()
        self._line(f" ✓ {title} ({elapsed:.2f}s)", "green")

    def _line(self, text: str, colour: str) -> None:
        if self.quiet:
            return
        if self._tty:
            self._console.print(f"[{colour}]{text[:2]}[/{colour}]{text[2:]}")
        else:
            print(text, file=self.stream, flush=True)
