"""The pictures of a run, from its operations: the timeline (faults as bands, leader changes, operations by DC,
gathered into columns when a lane has more than it has pixels, the operations around anomalies kept one by one and
the anomalies highlighted), latency over time (log scale) and its quantiles, throughput by outcome, availability per
DC, and a random schedule. Pure: a View in, SVG text out."""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from html import escape
from typing import Any

from . import plots
from .plots import OUTCOME_NAMES, OUTCOMES, SHAPES, Plot, Scale, decades, nice_step, num, points, polyline, rows
from .report import Window

WIDTH = 1100
LEFT, RIGHT = 110, 16  # the timeline's margins: DC names on the left
ROW = 4  # pixels per row of operations in a lane
MAX_ROWS = 8  # rows per lane; more concurrent operations than that share rows
COLUMN = 3  # pixels per column when a lane's operations are gathered
PER_PIXEL = 1.5  # a lane draws each operation while it has at most this many per pixel of width
DETAIL_CAP = 3000  # operations drawn one by one around anomalies, per lane at most
MARKS_SHOWN = 400  # anomalies highlighted per picture at most (each has its own element and tooltip)
QUANTILES = (0.5, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class Op:
    """One operation of any workload, as the pictures need it."""

    workload: str
    process: Any
    f: str
    key: str
    lane: str  # the DC it went through (or, for a history alone, its key)
    status: str  # ok | fail | info
    call: float
    done: float | None  # when its completion was recorded (an unknown outcome's too); None: never completed
    error: str = ""

    @property
    def end(self) -> float:
        return self.done if self.done is not None else self.call

    def describe(self) -> str:
        end = f"{self.done:.3f}" if self.done is not None else "?"
        where = f" through {self.lane}" if self.lane and self.lane != self.key else ""
        return f"p{self.process} {self.f} {self.key}{where} [{self.status}] ({self.call:.3f}..{end})" + (
            f" {self.error}" if self.error else ""
        )


@dataclass(frozen=True)
class Mark:
    """An operation an anomaly names (the witness of a key that cannot be ordered, a stale read, a lost write...)."""

    op: Op
    kind: str
    text: str  # the verdict's own line


@dataclass
class View:
    """What the pictures of one scenario (or one history) show."""

    name: str
    duration: float
    ops: list[Op]
    lanes: list[str]
    windows: list[Window] = field(default_factory=list)
    leaders: list[tuple[float, str]] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    lane_name: str = "DC"
    ended: float | None = None  # a verify run's: the clients stopped, every fault is undone, final observations follow

    @cached_property
    def span(self) -> float:
        ends = (o.done if o.done is not None else o.call for o in self.ops)
        return max([self.duration, 1.0, max(ends, default=0.0), *(w.end or w.start for w in self.windows)])

    def workloads(self) -> list[str]:
        return list(dict.fromkeys(o.workload for o in self.ops))


def _xscale(start: float, end: float, left: float = 64, right: float = RIGHT) -> Scale:
    return Scale(start, end, left, WIDTH - right)


def _fault_bands(plot: Plot, view: View) -> None:
    for w in view.windows:
        plot.band(w.start, w.end if w.end is not None else view.span, f"{w.label} ({w.start:.2f}s - {_end(w, view)})")


def _end(w: Window, view: View) -> str:
    return f"{w.end:.2f}s" if w.end is not None else "end"


# --- the timeline


@dataclass
class _Lane:
    name: str
    ops: list[Op]
    top: float = 0.0
    height: float = 0.0
    gathered: bool = False
    detail: list[tuple[float, float]] = field(default_factory=list)  # time intervals drawn one by one


def timeline(view: View, window: tuple[float, float] | None = None, title: str = "") -> str:
    """Operations per lane over time; faults as bars above and bands across; dashed lines at leader changes. A lane
    with more operations than it has pixels draws columns (its operations per column, by outcome) except around the
    anomalies, where each operation is drawn; `window` zooms in (every operation drawn)."""
    t0, t1 = window or (0.0, view.span)
    x = _xscale(t0, t1, LEFT)
    inside = [o for o in view.ops if o.call <= t1 and o.end >= t0]
    by_lane: dict[str, list[Op]] = defaultdict(list)
    for o in inside:
        by_lane[o.lane].append(o)
    lanes = [_Lane(name, sorted(by_lane.get(name, []), key=lambda o: o.call)) for name in view.lanes]
    windows = [w for w in view.windows if w.start <= t1 and (w.end is None or w.end >= t0)]
    fault_rows = rows([(w.start, w.end if w.end is not None else t1) for w in windows])
    top = 44 + 15 * (max(fault_rows, default=-1) + 1)
    marks = [m for m in view.marks if m.op.call <= t1 and m.op.end >= t0][:MARKS_SHOWN]
    pixels = x.end - x.start
    pad = max(0.5, (t1 - t0) / 200)
    y = top
    for lane in lanes:
        lane.gathered = window is None and len(lane.ops) > PER_PIXEL * pixels
        if lane.gathered:
            lane.detail = _detail([m.op for m in marks if m.op.lane == lane.name], lane.ops, pad)
            lane.height = 48
        else:
            lane.height = 10 + ROW * min(MAX_ROWS, _concurrency(lane.ops, x))
        lane.top = y
        y += lane.height
    bottom = y
    plot = Plot(
        title or f"{view.name}: operations by {view.lane_name} over time",
        x,
        Scale(0, 1, bottom, top),
        WIDTH,
        int(bottom + 60),
        yaxis=False,
        legend=[
            ("seg", "ok", "ok"),
            ("seg", "fail", "failed"),
            ("seg", "info", "unknown outcome"),
            ("bar", "", "fault"),
            ("leader", "", "leader change"),
            ("halo", "", "anomaly (witness)"),
        ],
    )
    if any(lane.gathered for lane in lanes):
        plot.legend.append(("detail", "", "around anomalies: every operation"))
    for w, row in zip(windows, fault_rows, strict=True):
        end = w.end if w.end is not None else t1
        x0, x1 = x(w.start), x(end)
        wide = max(1.0, x1 - x0)
        label = f"{w.label} ({w.start:.2f}s - {_end(w, view)})"
        plot.band(w.start, end, label, top)
        ry = 38 + 15 * row
        plot.back.append(
            f'<rect class="bar" x="{num(x0)}" y="{ry}" width="{num(wide)}" height="12"><title>{escape(label)}</title>'
            "</rect>"
        )
        if 6 * len(w.label) < wide:
            plot.back.append(f'<text x="{num(x0 + 2)}" y="{ry + 10}" font-size="10">{escape(w.label)}</text>')
    segments: dict[str, list[str]] = defaultdict(list)
    placed: dict[int, tuple[float, float, float]] = {}  # id(op) -> (x0, x1, y) of what is drawn one by one
    for lane in lanes:
        plot.back.append(
            f'<text x="8" y="{num(lane.top + lane.height / 2 + 4)}">{escape(lane.name)}'
            f"<title>{len(lane.ops)} operations</title></text>"
        )
        plot.back.append(
            f'<line class="grid" x1="{num(x.start)}" y1="{num(lane.top + lane.height)}" '
            f'x2="{num(x.end)}" y2="{num(lane.top + lane.height)}"/>'
        )
        single = lane.ops
        if lane.gathered:
            single = [o for o in lane.ops if _within(o.call, lane.detail)]
            for a, b in lane.detail:
                plot.back.append(
                    f'<rect class="detail" x="{num(x(a))}" y="{num(lane.top + 1)}" width="{num(max(1, x(b) - x(a)))}" '
                    f'height="{num(lane.height - 2)}"/>'
                )
            _columns(plot, lane, [o for o in lane.ops if not _within(o.call, lane.detail)], x)
        slots = rows([(x(o.call), max(x(o.end), x(o.call) + 1) + 1) for o in single])
        for o, slot in zip(single, slots, strict=True):
            oy = lane.top + 6 + ROW * (slot % MAX_ROWS)
            x0, x1 = x(o.call), max(x(o.end), x(o.call) + 1)
            placed[id(o)] = (x0, x1, oy)
            segments[o.status].append(f"M{num(x0)} {num(oy)}H{num(x1)}")
    for status in OUTCOMES:
        if segments[status]:
            plot.front.append(f'<path class="seg {status}" d="{"".join(segments[status])}"/>')
    for m in marks:
        at = placed.get(id(m.op))
        if at is None:
            continue
        x0, x1, oy = at
        plot.front.append(
            f'<path class="halo" d="M{num(x0 - 2)} {num(oy)}H{num(x1 + 2)}"><title>{escape(m.kind)}: '
            f"{escape(m.text)}</title></path>"
        )
        plot.front.append(f'<path class="mark" d="M{num(x0)} {num(oy - 3)}l-4 -6h8z"/>')
    if view.ended is not None and t0 <= view.ended <= t1:
        healed = num(x(view.ended))
        plot.front.append(
            f'<line class="axis" stroke-dasharray="2 3" x1="{healed}" y1="{num(top)}" x2="{healed}" '
            f'y2="{num(bottom)}"><title>{view.ended:.2f}s: the run ends; every fault is undone, then '
            "the final observations</title></line>"
        )
        plot.front.append(
            f'<text class="muted" x="{healed}" y="{num(bottom + 38)}" text-anchor="middle">end of the run: heal</text>'
        )
    last = -math.inf
    for t, dc in view.leaders:
        if not t0 <= t <= t1:
            continue
        px = x(t)
        plot.front.append(
            f'<line class="leader" x1="{num(px)}" y1="{num(top)}" x2="{num(px)}" y2="{num(bottom + 4)}">'
            f"<title>{t:.2f}s: leader {escape(dc)}</title></line>"
        )
        if px - last > 80:
            plot.front.append(f'<text class="leader" x="{num(px + 2)}" y="{num(bottom + 26)}">→ {escape(dc)}</text>')
            last = px
    return plot.render()


def _concurrency(ops: Sequence[Op], x: Scale) -> int:
    return max(rows([(x(o.call), max(x(o.end), x(o.call) + 1) + 1) for o in ops]), default=0) + 1


def _within(t: float, intervals: list[tuple[float, float]]) -> bool:
    """Whether t lies in one of the intervals (sorted, disjoint)."""
    i = bisect.bisect_right(intervals, (t, math.inf)) - 1
    return i >= 0 and intervals[i][0] <= t <= intervals[i][1]


def _detail(anomalous: list[Op], ops: list[Op], pad: float) -> list[tuple[float, float]]:
    """Time intervals around the anomalies' operations (merged), as many as DETAIL_CAP operations allow."""
    spans = sorted((o.call - pad, o.end + pad) for o in anomalous)
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    kept: list[tuple[float, float]] = []
    count = 0
    calls = [o.call for o in ops]
    for a, b in merged:
        n = sum(1 for c in calls if a <= c <= b)
        if count + n > DETAIL_CAP:
            break
        kept.append((a, b))
        count += n
    return kept


def _columns(plot: Plot, lane: _Lane, ops: list[Op], x: Scale) -> None:
    """A lane's operations gathered into columns of COLUMN pixels: height by count, stacked by outcome."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for o in ops:
        counts[int((x(o.call) - x.start) // COLUMN)][o.status] += 1
    if not counts:
        return
    # The scale of the 98th percentile of columns: a burst (the final observations, one by one through each DC)
    # must not flatten the rest; a column taller than that is cut at the lane's top.
    totals = sorted(sum(c.values()) for c in counts.values())
    most = totals[int(0.98 * (len(totals) - 1))]
    scale = (lane.height - 8) / most
    base = lane.top + lane.height - 2
    paths: dict[str, list[str]] = defaultdict(list)
    for column, c in sorted(counts.items()):
        px = x.start + column * COLUMN + COLUMN / 2
        y = base
        for status in OUTCOMES:
            room = y - (lane.top + 4)
            if c[status] and room > 0:
                h = min(room, max(1.0, c[status] * scale))
                paths[status].append(f"M{num(px)} {num(y)}v-{num(h)}")
                y -= h
    seconds_per = COLUMN * (x.hi - x.lo) / (x.end - x.start)
    for status in OUTCOMES:
        if paths[status]:
            plot.back.append(
                f'<path class="col {status}" stroke-width="{COLUMN}" d="{"".join(paths[status])}">'
                f"<title>{escape(lane.name)}: {OUTCOME_NAMES[status]} operations per {plots.seconds(seconds_per)} "
                f"(full height: {most} or more)</title></path>"
            )


# --- latency, throughput, availability


def latency(view: View, workload: str) -> str:
    """Each completed operation's latency against the time it began, log scale; colour: outcome; shape: operation."""
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)  # (f, outcome) -> (call, latency)
    for o in view.ops:
        if o.workload == workload and o.done is not None:
            series[(o.f, o.status)].append((o.call, max(o.done - o.call, 1e-4)))
    fs = list(dict.fromkeys(f for f, _ in series))[: len(SHAPES)]
    plot = _latency_plot(
        view,
        f"{workload}: latency of each operation (log scale)",
        [v for pts in series.values() for _, v in pts],
        300,
        [
            *(("dot", s, OUTCOME_NAMES[s]) for s in OUTCOMES),
            *((shape, "fgs", f) for shape, f in zip(SHAPES, fs, strict=False)),
        ],
    )
    for shape, f in zip(SHAPES, fs, strict=False):
        for status in OUTCOMES:
            pts = series.get((f, status))
            if pts:
                drawn = points(((plot.x(t), plot.y(v)) for t, v in pts), shape)
                plot.front.append(f'<path class="{shape} {status}" d="{drawn}"/>')
    return plot.render()


def _latency_plot(view: View, title: str, lat: list[float], height: int, legend: list[tuple[str, str, str]]) -> Plot:
    """A plot of latencies against time: log scale over whole decades, the faults as bands."""
    lo, hi = decades(min(lat, default=1e-3), max(lat, default=1.0))
    plot = Plot(
        title,
        _xscale(0, view.span),
        Scale(lo, hi, height - 34, 44, log=True),
        WIDTH,
        height,
        ylabel="latency",
        yfmt=plots.seconds,
        legend=legend,
    )
    _fault_bands(plot, view)
    return plot


def bucket(span: float, most: int) -> float:
    """A round time bucket giving at most `most` buckets over the span, and no more than one per second of a run
    over 20 s (a short run gets 20, so it still shows a shape)."""
    return max(0.1, nice_step(span / min(most, max(20.0, span))))


def quantiles(view: View, workload: str) -> str:
    """Latency quantiles of acknowledged operations per time bucket, log scale; colour: operation; dashes: quantile."""
    span = view.span
    dt = bucket(span, 60)
    ops = [o for o in view.ops if o.workload == workload and o.status == "ok" and o.done is not None]
    fs = list(dict.fromkeys(o.f for o in ops))[:4]
    lat = [max(o.end - o.call, 1e-4) for o in ops]
    plot = _latency_plot(
        view,
        f"{workload}: latency quantiles of acknowledged operations, per {dt:g} s",
        lat,
        260,
        [
            *(("line", f"s{i}", f) for i, f in enumerate(fs)),
            *((f"q{j}", "fgs", _qname(q)) for j, q in enumerate(QUANTILES)),
        ],
    )
    buckets = int(span // dt) + 1
    for i, f in enumerate(fs):
        per: list[list[float]] = [[] for _ in range(buckets)]
        for o, v in zip(ops, lat, strict=True):
            if o.f == f:
                per[int(o.call // dt)].append(v)
        for v_ in per:
            v_.sort()
        for j, q in enumerate(QUANTILES):
            line = [
                (plot.x((b + 0.5) * dt), plot.y(vs[min(len(vs) - 1, math.ceil(q * len(vs)) - 1)])) if vs else None
                for b, vs in enumerate(per)
            ]
            plot.front.append(
                f'<path class="line s{i} q{j}" d="{polyline(line)}"><title>{escape(f)} {_qname(q)}</title></path>'
            )
    return plot.render()


def _qname(q: float) -> str:
    return "max" if q == 1.0 else f"p{q * 100:g}"


def throughput(view: View, workload: str) -> str:
    """Operations per second by outcome (by the second each began in)."""
    span = view.span
    dt = bucket(span, 600)
    buckets = int(span // dt) + 1
    counts = {s: [0] * buckets for s in OUTCOMES}
    for o in view.ops:
        if o.workload == workload:
            counts[o.status][int(o.call // dt)] += 1
    top = max(1.0, max(max(c) for c in counts.values()) / dt) * 1.1
    height = 220
    plot = Plot(
        f"{workload}: throughput by outcome, per {dt:g} s",
        _xscale(0, span),
        Scale(0, top, height - 34, 44),
        WIDTH,
        height,
        ylabel="operations/s",
        legend=[("line", s, OUTCOME_NAMES[s]) for s in OUTCOMES],
    )
    _fault_bands(plot, view)
    for status in OUTCOMES:
        if not any(counts[status]):
            continue
        line: list[tuple[float, float] | None] = []
        for b, c in enumerate(counts[status]):
            yv = plot.y(c / dt)
            line += [(plot.x(b * dt), yv), (plot.x(min(span, (b + 1) * dt)), yv)]
        plot.front.append(f'<path class="line {status}" d="{polyline(line)}"/>')
    return plot.render()


def availability(view: View) -> tuple[str, list[dict[str, Any]]]:
    """Per lane, per time bucket, the share of operations (every workload's, by the time each began) that were
    acknowledged; and per lane the figures: operations, share ok, the longest stretch without an acknowledged one."""
    span = view.span
    dt = bucket(span, 300)
    buckets = int(span // dt) + 1
    lanes = [lane for lane in view.lanes if lane != "final"]  # the final reads come after the run, through the leader
    row_h = 28
    top = 44
    height = top + row_h * len(lanes) + 40
    x = _xscale(0, span, LEFT, 80)
    plot = Plot(
        f"{view.name}: availability per {view.lane_name}: share of operations acknowledged, per {dt:g} s",
        x,
        Scale(0, 1, top + row_h * len(lanes), top),
        WIDTH,
        height,
        yaxis=False,
        legend=[*(("seg", s, OUTCOME_NAMES[s]) for s in OUTCOMES), ("bar", "", "fault")],
    )
    _fault_bands(plot, view)
    table = []
    width = max(1.0, COLUMN, (x.end - x.start) / buckets)
    by_lane: dict[str, list[Op]] = defaultdict(list)
    for o in view.ops:
        by_lane[o.lane].append(o)
    for i, lane in enumerate(lanes):
        ops = by_lane[lane]
        per = [Counter[str]() for _ in range(buckets)]
        for o in ops:
            per[int(o.call // dt)][o.status] += 1
        base = top + row_h * (i + 1) - 2
        paths: dict[str, list[str]] = defaultdict(list)
        for b, c in enumerate(per):
            n = sum(c.values())
            if not n:
                continue
            y = float(base)
            for status in OUTCOMES:
                if c[status]:
                    h = (row_h - 6) * c[status] / n
                    paths[status].append(f"M{num(x(b * dt) + width / 2)} {num(y)}v-{num(h)}")
                    y -= h
        for status in OUTCOMES:
            if paths[status]:
                plot.front.append(
                    f'<path class="col {status}" stroke-width="{num(width)}" d="{"".join(paths[status])}"/>'
                )
        ok = sum(1 for o in ops if o.status == "ok")
        share = 100 * ok / len(ops) if ops else 0.0
        plot.back.append(f'<text x="8" y="{num(base - 8)}">{escape(lane)}</text>')
        plot.front.append(f'<text x="{num(x.end + 6)}" y="{num(base - 8)}">{share:.1f}% ok</text>')
        acked = sorted(o.end for o in ops if o.status == "ok")
        stretch = [0.0, *acked, view.duration] if acked else [0.0, view.duration]
        table.append(
            {
                "lane": lane,
                "operations": len(ops),
                "ok": ok,
                "share": round(share, 1),
                "longest_gap_s": round(max(b - a for a, b in zip(stretch, stretch[1:], strict=False)), 3),
            }
        )
    return plot.render(), table


def schedule(faults: list[dict[str, Any]], span: float, skipped: dict[int, str]) -> str:
    """A random schedule as planned (times on the history's clock, as the other pictures): one bar per fault,
    overlapping ones on their own rows; skipped ones outlined."""
    spans = [(float(f["start"]), float(f["end"])) for f in faults]
    placed = rows(spans)
    height = 44 + 18 * (max(placed, default=0) + 1) + 40
    x = _xscale(0, max(span, 1.0))
    plot = Plot(
        "the random schedule as drawn from the seed (planned times)",
        x,
        Scale(0, 1, height - 34, 44),
        WIDTH,
        height,
        yaxis=False,
        legend=[("bar", "", "fault"), ("seg", "fail", "skipped (see the table)")],
    )
    for i, (f, row) in enumerate(zip(faults, placed, strict=True)):
        x0, x1 = x(float(f["start"])), x(float(f["end"]))
        y = 44 + 18 * row
        label = str(f.get("label", f.get("kind", "")))
        why = f"; skipped: {skipped[i]}" if i in skipped else ""
        cls = 'class="bar"' if i not in skipped else 'class="fail" fill="none" stroke-dasharray="3 2"'
        plot.front.append(
            f'<rect {cls} x="{num(x0)}" y="{y}" width="{num(max(1.0, x1 - x0))}" height="14">'
            f"<title>{escape(label)} ({f['start']}s - {f['end']}s){escape(why)}</title></rect>"
        )
        if 6 * len(label) < x1 - x0:
            plot.front.append(f'<text x="{num(x0 + 2)}" y="{y + 11}" font-size="10">{escape(label)}</text>')
    return plot.render()
