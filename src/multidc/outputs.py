"""Standard output and error may lose their reader at any moment (`multidc up 2>&1 | head -1`): from then on what the
command prints goes to /dev/null and the command carries on (or cleans up) as if nothing happened; only the commands
that follow forever (`logs -f`, `status --watch`) end, exit 0, since nobody reads them (`output_gone`).

Its own module, below both the entry point (which installs it) and the CLI (which asks `output_gone`)."""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class _Forgiving(io.FileIO):
    """An output descriptor whose reader may leave: on the first EPIPE, /dev/null takes the descriptor's place (for
    every later writer of it, children started later included) and the write is taken as done."""

    gone = False

    def write(self, b: ReadableBuffer, /) -> int:
        try:
            return super().write(b)
        except BrokenPipeError:
            _silence(self.fileno())
            self.gone = True
            return len(memoryview(b))


def _silence(fd: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


_outputs: dict[str, _Forgiving] = {}


def forgive(which: str) -> None:
    """Replace sys.stdout or sys.stderr by the same text stream over a `_Forgiving` descriptor."""
    stream: TextIO | None = getattr(sys, which)
    try:
        fd = stream.fileno() if stream is not None else -1
    except (OSError, ValueError):  # not a descriptor (an embedding program's stream): leave it as it is
        return
    if stream is None or fd < 0 or not isinstance(stream, io.TextIOWrapper):
        return
    raw = _Forgiving(fd, "wb", closefd=False)
    text = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=stream.write_through,
    )
    _outputs[which] = raw
    setattr(sys, which, text)


def output_gone() -> bool:
    """Whether standard output's reader has left (a follow loop then ends: nobody reads it)."""
    raw = _outputs.get("stdout")
    return raw is not None and raw.gone
