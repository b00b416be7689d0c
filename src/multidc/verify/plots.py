"""Hand-written SVG plots: scales with readable ticks, a framed plot with axes, legend and bands, and compact paths for
many marks (one path per series, points rounded to a pixel grid and deduplicated, so the size is bounded by the
picture, not by the number of operations). Colours are CSS classes (STYLE), so a picture reads on light and dark
backgrounds; a page embeds STYLE once, a standalone file gets it inside the SVG."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

# Colours as CSS variables, light and dark: outcomes, faults, leader changes, the witness, and series s0-s3.
STYLE = """
:root{--fg:#1f2328;--bg:#ffffff;--muted:#59636e;--grid:#d8dee4;--ok:#1a7f37;--fail:#cf222e;--info:#bc4c00;
--fault:#8c959f;--leader:#0969da;--mark:#a21caf;--s0:#0969da;--s1:#bc4c00;--s2:#1a7f37;--s3:#8250df;--detail:#fff8c5}
@media (prefers-color-scheme: dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--grid:#30363d;--ok:#3fb950;
--fail:#ff7b72;--info:#f0883e;--fault:#6e7681;--leader:#58a6ff;--mark:#f778ba;--s0:#58a6ff;--s1:#f0883e;
--s2:#3fb950;--s3:#bc8cff;--detail:#3b2e00}}
svg.plot{font-family:system-ui,sans-serif;font-size:11px;background:var(--bg)}
svg.plot text{fill:var(--fg)}svg.plot text.muted{fill:var(--muted)}svg.plot text.title{font-size:13px;font-weight:600}
.grid{stroke:var(--grid);stroke-width:1}.axis{stroke:var(--muted);stroke-width:1}
.band{fill:var(--fault);opacity:.18}.bar{fill:var(--fault);opacity:.55}.detail{fill:var(--detail);opacity:.6}
.leader{stroke:var(--leader);stroke-dasharray:4 3;stroke-width:1.2}text.leader{fill:var(--leader);stroke:none}
.ok{stroke:var(--ok);fill:var(--ok)}.fail{stroke:var(--fail);fill:var(--fail)}.info{stroke:var(--info);fill:var(--info)}
.s0{stroke:var(--s0)}.s1{stroke:var(--s1)}.s2{stroke:var(--s2)}.s3{stroke:var(--s3)}
.mark{stroke:var(--mark);fill:var(--mark)}.fgs{stroke:var(--fg);fill:var(--fg)}.halo{stroke:var(--mark);fill:none;stroke-width:7;opacity:.45}
path.dot{fill:none;stroke-width:3;stroke-linecap:round}path.square{fill:none;stroke-width:3;stroke-linecap:square}
path.cross{fill:none;stroke-width:1.2}path.seg{fill:none;stroke-width:3}path.col{fill:none}
path.line{fill:none;stroke-width:1.5}path.q1{stroke-dasharray:6 3}path.q2{stroke-dasharray:2 2}path.q3{stroke-width:.8}
"""
SHAPES = ("dot", "square", "cross")  # point shapes, one per operation of a workload
OUTCOMES = ("ok", "fail", "info")
OUTCOME_NAMES = {"ok": "ok", "fail": "failed", "info": "unknown outcome"}


def num(v: float) -> str:
    """A coordinate in as few characters as reads well (one decimal, none when whole)."""
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def seconds(v: float) -> str:
    """A duration for an axis label: 1 ms, 250 ms, 1.5 s, 20 s."""
    if v < 1:
        return f"{v * 1000:.3g} ms"
    return f"{v:.3g} s"


@dataclass(frozen=True)
class Scale:
    """Data [lo, hi] onto pixels [start, end], linear or log10; values outside are clamped to the edge."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def __call__(self, v: float) -> float:
        lo, hi = (math.log10(self.lo), math.log10(self.hi)) if self.log else (self.lo, self.hi)
        if self.log:
            v = math.log10(max(v, self.lo))
        f = (v - lo) / (hi - lo) if hi > lo else 0.0
        return self.start + min(1.0, max(0.0, f)) * (self.end - self.start)

    def ticks(self, target: int = 8) -> list[float]:
        if self.log:
            decades = range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1)
            steps = (1, 2, 5) if len(decades) <= 4 else (1,)  # a short range gets 2s and 5s too
            values = [m * 10.0**d for d in decades for m in steps]
            return [v for v in values if self.lo * 0.999 <= v <= self.hi * 1.001]
        step = nice_step((self.hi - self.lo) / target)
        first = math.ceil(self.lo / step - 1e-9) * step
        return [first + i * step for i in range(int((self.hi - first) / step + 1e-9) + 1)]


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least `raw`."""
    if raw <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def decades(lo: float, hi: float) -> tuple[float, float]:
    """A log axis's range: whole decades around [lo, hi]."""
    return 10.0 ** math.floor(math.log10(lo)), 10.0 ** math.ceil(math.log10(max(hi, lo * 1.0001)))


@dataclass
class Plot:
    """A framed plot: a title, a legend, x and y axes with ticks and grid, bands behind, marks in front."""

    title: str
    x: Scale
    y: Scale
    width: int
    height: int
    xlabel: str = "time since the run began (s)"
    ylabel: str = ""
    xfmt: Callable[[float], str] = num
    yfmt: Callable[[float], str] = num
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (shape, css class, label)
    back: list[str] = field(default_factory=list)
    front: list[str] = field(default_factory=list)
    yaxis: bool = True

    def band(self, start: float, end: float, title: str, top: float | None = None) -> None:
        x0, x1 = self.x(start), self.x(end)
        y0 = self.y.end if top is None else top
        self.back.append(
            f'<rect class="band" x="{num(x0)}" y="{num(y0)}" width="{num(max(1.0, x1 - x0))}" '
            f'height="{num(self.y.start - y0)}"><title>{escape(title)}</title></rect>'
        )

    def render(self) -> str:
        left, right = self.x.start, self.x.end
        top, bottom = min(self.y.start, self.y.end), max(self.y.start, self.y.end)
        out = [
            f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" aria-label="{escape(self.title)}">',
            f'<text class="title" x="{num(left)}" y="16">{escape(self.title)}</text>',
            *legend_row(self.legend, left, 32),
        ]
        for v in self.x.ticks(10):
            px = num(self.x(v))
            out.append(f'<line class="grid" x1="{px}" y1="{num(top)}" x2="{px}" y2="{num(bottom)}"/>')
            out.append(
                f'<text class="muted" x="{px}" y="{num(bottom + 13)}" text-anchor="middle">{self.xfmt(v)}</text>'
            )
        if self.yaxis:
            for v in self.y.ticks(5):
                py = num(self.y(v))
                out.append(f'<line class="grid" x1="{num(left)}" y1="{py}" x2="{num(right)}" y2="{py}"/>')
                out.append(
                    f'<text class="muted" x="{num(left - 4)}" y="{num(self.y(v) + 4)}" text-anchor="end">'
                    f"{self.yfmt(v)}</text>"
                )
            out.append(
                f'<text class="muted" transform="translate(12 {num((top + bottom) / 2)}) rotate(-90)" '
                f'text-anchor="middle">{escape(self.ylabel)}</text>'
            )
        out += self.back
        out.append(
            f'<path class="axis" d="M{num(left)} {num(top)}V{num(bottom)}H{num(right)}" fill="none"/>'
            if self.yaxis
            else f'<path class="axis" d="M{num(left)} {num(bottom)}H{num(right)}"/>'
        )
        out.append(
            f'<text class="muted" x="{num((left + right) / 2)}" y="{self.height - 4}" text-anchor="middle">'
            f"{escape(self.xlabel)}</text>"
        )
        out += self.front
        out.append("</svg>")
        return "\n".join(out)


def legend_row(items: Sequence[tuple[str, str, str]], left: float, y: float) -> list[str]:
    """Swatches and labels in a row: shape is dot, square, cross, seg (a short bar), line, q1-q3 (dashes), band."""
    out = []
    x = left
    for shape, css, label in items:
        if shape in ("dot", "square", "cross"):
            out.append(f'<path class="{shape} {css}" d="{points([(x + 5, y - 4)], shape, cell=1)}"/>')
        elif shape in ("band", "bar", "detail"):
            out.append(
                f'<rect class="{shape if shape != "band" else "bar"}" x="{num(x)}" y="{y - 9}" width="10" height="10"/>'
            )
        elif shape == "leader":
            out.append(f'<line class="leader" x1="{num(x + 5)}" y1="{y - 10}" x2="{num(x + 5)}" y2="{y + 1}"/>')
        elif shape == "halo":
            out.append(f'<path class="halo" d="M{num(x)} {y - 4}h12"/>')
        else:  # seg, line, q1..q3: a stroke
            cls = "seg" if shape == "seg" else f"line {shape}"
            out.append(f'<path class="{cls} {css}" d="M{num(x)} {y - 4}h14"/>')
        out.append(f'<text x="{num(x + 18)}" y="{y}">{escape(label)}</text>')
        x += 30 + 6.6 * len(label)
    return out


def points(pts: Iterable[tuple[float, float]], shape: str = "dot", cell: float = 2.0) -> str:
    """A path drawing a mark at each point, rounded to a `cell`-pixel grid and deduplicated (a mark hidden under an
    identical one adds nothing to the picture, only bytes)."""
    seen = sorted({(round(x / cell), round(y / cell)) for x, y in pts})
    if shape == "cross":
        return "".join(f"M{num(a * cell - 2)} {num(b * cell - 2)}l4 4m0-4l-4 4" for a, b in seen)
    return "".join(f"M{num(a * cell)} {num(b * cell)}h0" for a, b in seen)


def polyline(pts: Sequence[tuple[float, float] | None]) -> str:
    """A line through the points; None breaks it (no data there)."""
    out = []
    pen = False
    for p in pts:
        if p is None:
            pen = False
            continue
        out.append(f"{'L' if pen else 'M'}{num(p[0])} {num(p[1])}")
        pen = True
    return "".join(out)


def rows(spans: Sequence[tuple[float, float]]) -> list[int]:
    """A row per span, the first one free at its start (spans that overlap never share a row)."""
    ends: list[float] = []
    out = []
    for start, end in spans:
        row = next((i for i, e in enumerate(ends) if e <= start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        out.append(row)
    return out


def standalone(svg: str) -> str:
    """An SVG file of its own: the colours (STYLE) inside it, so it reads alone, light or dark."""
    head, rest = svg.split(">", 1)
    return f"{head}><style>{STYLE}</style>{rest}\n"
