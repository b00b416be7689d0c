"""The page of a real run in a real browser: `verify --report` on a live environment, the page opened from file:// in
headless Chromium (Debian's `chromium`, which .ci/run installs), its DOM and a screenshot checked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from .conftest import Live, skip_or_fail

pytestmark = pytest.mark.integration
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless Chromium once with a fresh profile; its stdout. Its process group is ended if it hangs."""
    binary = shutil.which("chromium")
    if binary is None:
        skip_or_fail("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / f"chromium-{len(list(tmp_path.glob('chromium-*')))}"
    cmd = [str(binary), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, and only it
        proc.communicate()
        raise AssertionError("chromium did not finish within 180 s") from None
    assert proc.returncode == 0, err[-2000:]
    return out


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, every pixel's bytes) of an 8-bit RGB or RGBA PNG, decoded with zlib (no image library)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat = 8, b""
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    size = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * size
    previous = bytearray(stride)
    pixels = []
    for row in range(height):
        start = row * (stride + 1)
        kind_, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - size] if i >= size else 0
            b = previous[i]
            c = previous[i - size] if i >= size else 0
            if kind_ == 1:
                line[i] = (line[i] + a) & 255
            elif kind_ == 2:
                line[i] = (line[i] + b) & 255
            elif kind_ == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_ == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [bytes(line[i : i + 3]) for i in range(0, stride, size)]
        previous = line
    return width, height, pixels


def test_the_page_of_a_real_run_opens_in_chromium_with_its_verdict(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    report = tmp_path / "report"
    args = ["verify", "--nemesis", "random", "--seed", "5", "--duration", "8", "--report", str(report)]
    out = env.run(*args, check=False, timeout=600)
    assert out.returncode in (0, 1), out.stdout + out.stderr
    page = report / "index.html"
    assert out.stdout.splitlines()[-1] == f"Page: {page.resolve()}", out.stdout
    summary = json.loads((report / "summary.json").read_text())
    word = "PASS" if summary["passed"] else "FAIL"
    assert (out.returncode == 0) == summary["passed"]

    dom = chromium(tmp_path, "--dump-dom", page.resolve().as_uri())
    assert f"multidc verify: {word}" in dom and 'id="random-5"' in dom
    assert f'<span class="badge {"pass" if summary["passed"] else "failed"}">{word}</span>' in dom
    register = "linearizable" if summary["scenarios"][0]["valid"] else "NOT linearizable"
    assert "<strong>register</strong>: <span class=" in dom and f">{register}</span>" in dom
    for title in (
        "operations by DC over time",
        "latency of each operation",
        "throughput by outcome",
        "availability per DC",
        "the random schedule",
    ):
        assert title in dom, title

    shot = tmp_path / "page.png"
    chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", page.resolve().as_uri())
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1200, 1600)
    colours = Counter(pixels)
    most = colours.most_common(1)[0][1]
    assert most < 0.95 * len(pixels), "the screenshot is (nearly) one colour: a blank page"
    assert len(colours) > 50, f"only {len(colours)} colours: no text or pictures drawn"

    # the page renders again from the saved report alone, the same
    written = page.read_bytes()
    page.unlink()
    again = env.run("report", str(report))
    assert again.stdout.strip() == str(page.resolve()) and page.read_bytes() == written
