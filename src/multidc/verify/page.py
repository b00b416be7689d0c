"""One self-contained HTML page per run (`verify --report DIR` writes DIR/index.html; `multidc report DIR` writes it
again from the saved report; `check HISTORY --html FILE` writes one for a history): the verdicts and what they mean
first, then the pictures. No script and nothing fetched: the CSS and the SVG are in the page, so it opens from
file://.

Everything shown comes from the report's files (summary.json, and per scenario the histories and schedule.json), so
the page verify writes and the one `report` writes again are the same. The anomalies are found in the histories by
the lines the verdict quotes (`p3 read k1 -> 5 [ok] (1.234..1.456)`, `... through primary at 12.345s`)."""

from __future__ import annotations

import bisect
import json
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..errors import MultidcError
from ..history import NEMESIS, Operation
from ..providers.base import Fault
from . import charts
from .charts import Mark, Op, View
from .plots import OUTCOME_NAMES, OUTCOMES, STYLE, standalone
from .report import Window
from .scenarios import SCENARIOS

PAGE = "index.html"
TIMELINE = "timeline.svg"
ZOOMS = 3  # witnesses drawn close up, per scenario
ZOOM_PAD = 0.5  # seconds shown either side of a witness


class PageError(MultidcError):
    """A report or history the page cannot be made from (exit 2)."""

    exit_code = 2


# --- what the verdicts mean (for people)

MEANINGS = {
    "linearizable": "Every operation can be put in one order that respects real time, as on a single copy of each "
    "key: clients saw one register, whatever the faults did.",
    "not linearizable": "No single order explains what the clients saw. The operations listed cannot be ordered (a "
    "minimal set: drop any one and the rest can); they are highlighted on the timeline.",
    "stale reads": "A read returned a value already overwritten by a write acknowledged before the read began. "
    "OpenBao's standbys answer reads from their own copy by default; `server: {disable_standby_reads: true}` makes "
    "them forward to the leader.",
    "own stale reads": "Stale reads of a client's own past: older than a value the same client had already written or "
    "read (what X-Vault-Index, `--consistency index`, prevents).",
    "lost writes": "Acknowledged writes that did not last: the final read through the leader saw an older value.",
    "lost adds": "Adds that were acknowledged but are not listed through a DC.",
    "unexpected": "Elements listed that no client ever added.",
    "failed but present": "Adds that failed (certainly not done) but are listed.",
    "lost tokens": "Tokens that were created (acknowledged) and never revoked, but look up invalid through a DC.",
    "revoked but valid": "Tokens whose revoke was acknowledged but which still look up valid through a DC.",
    "duplicate serials": "Certificates issued with a serial already used (the CA's own included).",
    "lost issues": "Certificates whose issue was acknowledged but which a DC does not list.",
    "unaccounted certificates": "Certificates listed that no acknowledged issue returned, more than the issues with an "
    "unknown outcome can explain.",
    "unobserved": "A DC the final observations could not be made through: nobody could check the invariant there.",
}
WORKLOADS = {
    "register": "reads, writes and compare-and-set on a few keys, judged for linearizability",
    "set": "unique adds, each listed through every DC afterwards",
    "tokens": "child tokens created and revoked, each looked up through every DC afterwards",
    "pki": "certificates issued from one CA, each listed through every DC afterwards",
}


@dataclass
class Verdict:
    """One workload's verdict on the page: its name, valid or not, a headline, and each finding with its meaning."""

    workload: str
    valid: bool
    headline: str
    findings: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (what, meaning, lines)
    counts: str = ""
    clear: list[str] = field(default_factory=list)  # the anomaly kinds checked for and not found

    def note(self, kind: str, lines: list[str]) -> None:
        """A kind of anomaly: with what it means when found (the first 20 quoted), in `clear` when not."""
        if lines:
            self.findings.append((f"{len(lines)} {kind}", MEANINGS.get(kind, ""), lines[:20]))
        else:
            self.clear.append(kind)


@dataclass
class Section:
    """One scenario (or one history) on the page."""

    name: str
    anchor: str
    passed: bool
    about: str
    verdicts: list[Verdict]
    figures: list[tuple[str, str]]
    problems: list[str]
    timeline: str
    zooms: list[tuple[str, str]]  # (what, svg)
    workloads: list[tuple[str, list[str]]]  # (workload, its pictures)
    availability: str = ""
    lanes: list[dict[str, Any]] = field(default_factory=list)
    schedule: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (count, operation and outcome, error)
    details: str = ""


# --- reading a report


def _events(path: Path) -> list[dict[str, Any]]:
    """A history's events, each checked only as far as the pictures need (the checker judged it already)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PageError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    try:  # one call of the C decoder for the whole file (a 10-minute run's histories hold ~500,000 events)
        events = json.loads("[" + ",".join(line for _, line in lines) + "]")
    except ValueError:
        events = None
    if not isinstance(events, list) or len(events) != len(lines):  # a line that is not one JSON value: find it
        events = []
        for number, line in lines:
            try:
                events.append(json.loads(line))
            except ValueError as exc:
                raise PageError(f"{path}: line {number}: not JSON ({exc}); give a report verify wrote") from None
    for (number, _), event in zip(lines, events, strict=True):
        if (
            not isinstance(event, dict)
            or not {"process", "type", "f", "time"} <= event.keys()
            or not isinstance(event["process"], (int, str))
            or isinstance(event["time"], bool)
            or not isinstance(event["time"], (int, float))
        ):
            raise PageError(
                f"{path}: line {number}: not a history event (process, type, f, time); give a report verify wrote"
            )
    return events


def operations(events: Iterable[dict[str, Any]], workload: str, lane: Callable[[dict[str, Any]], str]) -> list[Op]:
    """Invokes paired with their process's next completion; an invoke never completed is an unknown outcome."""
    ordered = sorted(events, key=lambda e: (e["time"], e["type"] != "invoke"))
    open_: dict[Any, dict[str, Any]] = {}
    ops: list[Op] = []

    def op(invoke: dict[str, Any], status: str, done: float | None, error: str = "") -> Op:
        call = float(invoke["time"])
        return Op(
            workload,
            invoke["process"],
            str(invoke["f"]),
            str(invoke.get("key", "")),
            lane(invoke),
            status,
            call,
            done,
            error,
        )

    for e in ordered:
        process = e["process"]
        if process == NEMESIS:  # a fault's op: the fault windows draw it
            continue
        if e["type"] == "invoke":
            if process in open_:  # not a well-formed history; the earlier one never completed
                ops.append(op(open_[process], "info", None))
            open_[process] = e
            continue
        invoke = open_.pop(process, None)
        if invoke is not None:
            status = e["type"] if e["type"] in OUTCOMES else "info"
            ops.append(op(invoke, status, float(e["time"]), str(e.get("error", ""))))
    ops += [op(invoke, "info", None) for invoke in open_.values()]
    return sorted(ops, key=lambda o: o.call)


_DESCRIBED = re.compile(r"^p(\S+) .*\((-?\d+\.\d{3})\.\.(?:-?\d+\.\d{3}|\?)\)$")
_THROUGH = re.compile(r"through (\S+) at (-?\d+\.\d{3})s")


def marks(verdict: dict[str, Any], ops: list[Op]) -> list[Mark]:
    """The operations each anomaly of the verdict quotes, the witnesses first."""
    by_process: dict[str, list[Op]] = defaultdict(list)  # a process's operations are few: look the time up there
    by_place: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for o in ops:
        if o.workload == "register":
            by_process[str(o.process)].append(o)
        else:
            by_place[(o.workload, o.lane)].append(o)
    found: list[Mark] = []

    def quoted(lines: Iterable[str], kind: str) -> None:
        for line in lines:
            m = _DESCRIBED.match(line)
            if m:
                found.extend(Mark(o, kind, line) for o in by_process.get(m[1], []) if f"{o.call:.3f}" == m[2])

    for key, lines in (verdict.get("non_linearizable_keys") or {}).items():
        quoted(lines, f"cannot be ordered (key {key})")
    quoted(verdict.get("lost_writes") or [], "lost write")
    own = set(verdict.get("own_stale_reads") or [])
    quoted(verdict.get("own_stale_reads") or [], "stale read of the client's own past")
    quoted([line for line in verdict.get("stale_reads") or [] if line not in own], "stale read")
    for workload, inv in (verdict.get("invariants") or {}).items():
        for kind, lines in (inv.get("anomalies") or {}).items():
            for line in lines:
                for m in _THROUGH.finditer(line):
                    near = by_place.get((workload, m[1]), [])
                    at = float(m[2])
                    first = bisect.bisect_left(near, at - 0.001, key=lambda o: o.call)
                    found += [
                        Mark(o, f"{workload}: {kind}", line) for o in near[first : first + 8] if f"{o.call:.3f}" == m[2]
                    ]
    return found


def _lanes(processes: dict[str, str], ops: list[Op]) -> list[str]:
    """DCs in the order the clients were made (the environment's), then any other lane, the final reads last."""
    order = list(dict.fromkeys(v for v in processes.values() if v != "final"))
    rest = sorted({o.lane for o in ops} - set(order) - {"final"})
    return order + rest + (["final"] if any(o.lane == "final" for o in ops) else [])


def _plain(name: Any, what: str, where: Path) -> str:
    """A name from a report file that is used as a file or folder name: one plain name, nothing that climbs out."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
        raise PageError(f"{where}: {what} {name!r} is not a plain name; give a report verify wrote")
    return name


def scenario_view(folder: Path, verdict: dict[str, Any]) -> View:
    """A scenario's view from its folder (histories) and its verdict (summary.json's entry, or verdict.json)."""
    processes = {str(k): str(v) for k, v in (verdict.get("processes") or {}).items()}
    ops: list[Op] = []
    for workload in verdict.get("workloads") or ["register"]:
        _plain(workload, "workload", folder)
        if workload == "register":
            path = folder / "history.jsonl"
            if path.is_file():
                ops += operations(_events(path), "register", lambda e: processes.get(str(e["process"]), "?"))
        elif (folder / f"history-{workload}.jsonl").is_file():
            ops += operations(_events(folder / f"history-{workload}.jsonl"), workload, lambda e: str(e.get("key")))
    windows = [
        Window(
            float(f["start"]),
            None if f.get("end") is None else float(f["end"]),
            str(f.get("label", "")),
            str(f.get("kind", "")),
            str(f.get("target", "")),
        )
        for f in verdict.get("faults") or []
    ]
    ops.sort(key=lambda o: o.call)
    duration = verdict.get("duration_s") or max((o.call for o in ops if o.lane != "final"), default=1.0)
    return View(
        name=str(verdict.get("scenario", folder.name)),
        duration=float(duration),
        ops=ops,
        lanes=_lanes(processes, ops),
        windows=windows,
        leaders=[(float(c["time"]), str(c["leader"])) for c in verdict.get("leader_changes") or []],
        marks=marks(verdict, ops),
        ended=None if verdict.get("ended_s") is None else float(verdict["ended_s"]),
    )


def write_timeline(folder: Path, verdict: dict[str, Any]) -> None:
    """A scenario's timeline.svg, a picture of its own (as the page draws it)."""
    _write(folder / TIMELINE, standalone(charts.timeline(scenario_view(folder, verdict))))


# --- the sections


def _verdicts(verdict: dict[str, Any]) -> list[Verdict]:
    out = []
    if "register" in (verdict.get("workloads") or ["register"]) and "valid" in verdict:
        failing = verdict.get("non_linearizable_keys") or {}
        v = Verdict(
            "register",
            bool(verdict["valid"]) and not verdict.get("lost_writes"),
            "linearizable" if verdict["valid"] else "NOT linearizable",
        )
        v.findings.append(
            (
                "linearizable" if verdict["valid"] else "not linearizable",
                MEANINGS["linearizable" if verdict["valid"] else "not linearizable"],
                [f"key {k}: {line}" for k, lines in failing.items() for line in lines],
            )
        )
        for what in ("stale reads", "own stale reads", "lost writes"):
            lines = verdict.get(what.replace(" ", "_")) or []
            v.note(what, lines)
        counts = (verdict.get(k) for k in ("operations", "ok", "fail", "info"))
        n, ok, fail, info = counts
        if n is not None:
            v.counts = f"{n} operations: {ok} ok, {fail} failed, {info} unknown outcome"
        out.append(v)
    for workload, inv in (verdict.get("invariants") or {}).items():
        v = Verdict(str(workload), bool(inv.get("valid")), "valid" if inv.get("valid") else "NOT valid")
        for kind, lines in (inv.get("anomalies") or {}).items():
            v.note(kind, list(lines))
        v.counts = ", ".join(f"{n} {k}" for k, n in (inv.get("counts") or {}).items() if "@" not in k)
        out.append(v)
    return out


def _figures(verdict: dict[str, Any]) -> list[tuple[str, str]]:
    def s(key: str) -> str:
        v = verdict.get(key)
        return "—" if v is None else f"{v} s"

    rows = [
        ("failover (first fault to the first write acknowledged after it)", s("failover_time_s")),
        ("longest stretch without an acknowledged write", s("unavailability_window_s")),
        ("healthy again after the heal", s("time_to_healthy_after_heal_s")),
        ("checkers' time", s("checking_s")),
        ("clients", str(verdict.get("client_consistency", "—"))),
        ("standby reads (servers)", str(verdict.get("server_standby_reads", "—"))),
    ]
    if verdict.get("seed") is not None:
        rows.append(("seed", str(verdict["seed"])))
    return [(k, v) for k, v in rows if v != "—" or k.startswith("failover")]


def _zooms(view: View) -> list[tuple[str, str]]:
    """Close-ups of the witnesses: each failing key's operations around it, every one drawn."""
    out = []
    kinds = list(dict.fromkeys(m.kind for m in view.marks if m.kind.startswith("cannot be ordered")))
    for kind in kinds[:ZOOMS]:
        picked = [m for m in view.marks if m.kind == kind]
        key = picked[0].op.key
        start = min(m.op.call for m in picked) - ZOOM_PAD
        end = max(m.op.end for m in picked) + ZOOM_PAD
        close = View(
            view.name,
            view.duration,
            [o for o in view.ops if o.workload == "register" and o.key == key],
            view.lanes,
            view.windows,
            view.leaders,
            picked,
            view.lane_name,
            view.ended,
        )
        title = f"{view.name}: the witness for key {key}, {start:.2f}s - {end:.2f}s (operations on {key} only)"
        out.append((kind, charts.timeline(close, (max(0.0, start), end), title)))
    return out


def _errors(ops: list[Op]) -> list[tuple[int, str, str]]:
    counted = Counter(
        (f"{o.workload} {o.f} {OUTCOME_NAMES[o.status]}", o.error or "(no reason recorded)")
        for o in ops
        if o.status != "ok"
    )
    return [(n, what, error) for (what, error), n in counted.most_common(10)]


def _plan(schedule: dict[str, Any], verdict: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The schedule's faults with what became of each: applied (when, on whom) or skipped (why)."""
    notes = [str(s) for s in (verdict.get("checks") or {}).get("skipped", [])]
    notes += [str(p) for p in verdict.get("problems") or []]
    windows = iter(verdict.get("faults") or [])
    zero = float(verdict.get("started_s") or 0.0)  # the schedule counts from when the workloads were set up
    plan, skipped = [], {}
    for i, f in enumerate(schedule.get("faults") or []):
        try:
            label = Fault(**f).label()
        except TypeError:
            label = str(f.get("kind", "?"))
        at = f"{float(f['start']):.2f}s"
        why = next((n for n in notes if n.startswith((f"{at} ", f"at {at}, "))), None)
        start, end = round(zero + float(f["start"]), 3), round(zero + float(f["end"]), 3)
        row = {"start": start, "end": end, "label": label, "happened": ""}
        if why is not None:
            skipped[i] = why
            row["happened"] = f"skipped: {why}"
        else:
            w = next(windows, None)
            if w is not None:
                late = f", {float(w['start']) - start:.2f} s late" if verdict.get("started_s") is not None else ""
                row["happened"] = f"{w.get('label')} from {float(w['start']):.2f} s{late}"
        plan.append({**f, **row})
    return plan, skipped


def section(view: View, verdict: dict[str, Any], about: str, schedule: dict[str, Any] | None = None) -> Section:
    """One scenario's (or history's) part of the page."""
    passed = bool(verdict.get("passed", verdict.get("valid", False)))
    problems = [str(p) for p in verdict.get("problems") or []]
    availability, lanes = charts.availability(view)
    sec = Section(
        name=view.name,
        anchor=re.sub(r"[^A-Za-z0-9-]+", "-", view.name),
        passed=passed,
        about=about,
        verdicts=_verdicts(verdict),
        figures=_figures(verdict),
        problems=problems,
        timeline=charts.timeline(view),
        zooms=_zooms(view),
        workloads=[
            (w, [charts.latency(view, w), charts.quantiles(view, w), charts.throughput(view, w)])
            for w in dict.fromkeys([*(verdict.get("workloads") or []), *view.workloads()])
            if w in view.workloads()
        ],
        availability=availability,
        lanes=lanes,
        errors=_errors(view.ops),
        details=json.dumps({k: verdict[k] for k in ("checks", "faults", "leader_changes") if verdict.get(k)}, indent=1),
    )
    if schedule is not None:
        sec.plan, skipped = _plan(schedule, verdict)
        sec.schedule = charts.schedule(sec.plan, view.span, skipped)
    return sec


# --- the page


def _template() -> jinja2.Template:
    text = files("multidc").joinpath("templates", "report", "page.html.j2").read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["code"] = _code
    return env.from_string(text)


def _code(text: str) -> Markup:
    """Text with `this` set as code (the rest escaped)."""
    return Markup(re.sub(r"`([^`]*)`", r"<code>\1</code>", str(Markup.escape(text))))


def render(title: str, head: list[tuple[str, str]], sections: list[Section], files_: list[str]) -> str:
    return _template().render(
        title=title,
        head=head,
        sections=sections,
        files=files_,
        passed=all(s.passed for s in sections),
        style=Markup(STYLE),
        svg=Markup,
    )


def _about(verdict: dict[str, Any], schedule: dict[str, Any] | None) -> str:
    name = str(verdict.get("scenario", ""))
    if name in SCENARIOS:
        text = SCENARIOS[name].description
    elif schedule is not None:
        text = (
            f"a random schedule of {len(schedule.get('faults') or [])} faults drawn from seed "
            f"{schedule.get('seed')} ({', '.join(schedule.get('kinds') or [])}), {schedule.get('duration')} s"
        )
    else:
        text = ""
    workloads = verdict.get("workloads") or ["register"]
    return text + ("; " if text else "") + "; ".join(f"{w}: {WORKLOADS.get(w, w)}" for w in workloads)


def report_page(folder: Path) -> Path:
    """Write FOLDER/index.html from the report verify saved there; its path. One line when it is not a report."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PageError(f"{folder}: no summary.json; give the directory `verify --report` wrote") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PageError(f"{folder / 'summary.json'}: cannot read it ({exc}); give a report verify wrote") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("scenarios"), list):
        raise PageError(f"{folder / 'summary.json'}: not a verify summary (no scenarios); give a report verify wrote")
    sections = []
    names = []
    for verdict in summary["scenarios"]:
        name = _plain(verdict.get("scenario") if isinstance(verdict, dict) else None, "scenario", folder)
        where = folder / name
        schedule = None
        if (where / "schedule.json").is_file():
            try:
                schedule = json.loads((where / "schedule.json").read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise PageError(f"{where / 'schedule.json'}: cannot read it ({exc})") from None
        try:
            sections.append(section(scenario_view(where, verdict), verdict, _about(verdict, schedule), schedule))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a summary or schedule edited by hand
            raise PageError(
                f"{where}: its verdict (summary.json) or schedule.json is not one verify wrote "
                f"({type(exc).__name__}: {exc}); give a report verify wrote"
            ) from None
        names.append(name)
    head = [
        ("environment", str(summary.get("environment", "?"))),
        ("clients", str(summary.get("client_consistency", "?"))),
        ("standby reads", str(summary.get("server_standby_reads", "?"))),
        ("workloads", ", ".join(summary.get("workloads") or ["register"])),
    ]
    if summary.get("peak_rss_mb") is not None:
        head.append(("multidc's peak memory", f"{summary['peak_rss_mb']} MB"))
    listing = ["summary.json"] + [f"{n}/{f.name}" for n in names for f in sorted((folder / n).glob("*")) if f.is_file()]
    page = folder / PAGE
    verdict_word = "PASS" if all(s.passed for s in sections) else "FAIL"
    _write(page, render(f"multidc verify: {verdict_word} ({summary.get('environment', '?')})", head, sections, listing))
    return page


def fault_windows(events: Iterable[dict[str, Any]]) -> list[Window]:
    """The faults of a history verify wrote (its nemesis ops, start-KIND and stop-KIND) as a timeline's windows."""
    windows: list[Window] = []
    for e in events:
        f, value = str(e.get("f", "")), e.get("value")
        if e.get("process") != NEMESIS or e.get("type") != "invoke" or not isinstance(value, dict):
            continue
        try:
            fault = Fault(**{**value, "kind": f.partition("-")[2]})
        except TypeError:
            continue  # not a fault verify wrote
        if f.startswith("start-"):
            windows.append(Window(float(e["time"]), None, fault.label(), fault.kind, fault.target))
        for w in windows if f.startswith("stop-") else []:
            if w.end is None and fault.ends(w.kind, w.target):
                w.end = float(e["time"])
    return windows


def history_page(path: Path, ops: list[Operation], verdict: dict[str, Any], out: Path) -> Path:
    """Write a page for one history that `check` judged (its verdict as `check -o json` prints it)."""
    mine = [
        Op("register", o.process, o.f, o.key, o.key, o.status, o.call, None if o.status == "info" else o.ret)
        for o in ops
    ]
    keys = list(dict.fromkeys(sorted(o.key for o in mine)))
    if len(keys) > 12:  # too many lanes to read: one for all
        mine = [Op(o.workload, o.process, o.f, o.key, "all keys", o.status, o.call, o.done) for o in mine]
        keys = ["all keys"]
    duration = max((o.end for o in mine), default=1.0)
    try:  # a history verify wrote holds its faults: shaded as in the report
        windows = fault_windows(_events(path))
    except PageError:
        windows = []  # not JSON lines (a Jepsen EDN history): no faults drawn
    view = View(path.name, duration, mine, keys, windows=windows, marks=[], lane_name="key")
    view.marks = marks(verdict, mine)
    about = f"the history {path} ({len(ops)} operations), judged by `multidc check`"
    sec = section(view, {**verdict, "workloads": ["register"]}, about)
    sec.figures = []
    word = "linearizable" if verdict.get("valid") else "NOT linearizable"
    _write(out, render(f"multidc check: {word} ({path.name})", [("history", str(path))], [sec], []))
    return out


def _write(path: Path, text: str) -> None:
    """Replace the file whole (a reader never sees half a page; a link in its place is replaced, not followed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
