"""The page of a run: rendered from a stored report (a real 3 s leader-kill on OpenBao's default configuration, with
its stale reads and keys that cannot be ordered), self-contained, readable light and dark, the witness highlighted,
and bounded in size for long runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc.cli import cli
from multidc.verify import charts, page

from . import synthetic

FIXTURE = Path(__file__).parent / "fixtures" / "report"


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    copy = tmp_path / "report"
    shutil.copytree(FIXTURE, copy)
    return copy


def _halos(html: str) -> list[str]:
    """The tooltips of the highlighted operations."""
    return re.findall(r'<path class="halo" d="[^"]*"><title>([^<]*)</title>', html)


def test_report_renders_the_stored_run_with_verdicts_and_pictures(stored: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(stored)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str((stored / "index.html").resolve())
    html = (stored / "index.html").read_text()
    verdict = json.loads((stored / "leader-kill" / "verdict.json").read_text())
    assert "<title>multidc verify: FAIL" in html and 'id="leader-kill"' in html
    assert "NOT linearizable" in html and f"{len(verdict['stale_reads'])} stale reads" in html
    assert "A read returned a value already overwritten" in html  # what it means, beside it
    for title in (
        "operations by DC over time",
        "latency of each operation (log scale)",
        "latency quantiles",
        "throughput by outcome",
        "availability per DC",
    ):
        assert title in html, title
    # every operation the verdict quotes is highlighted on the timeline (and its key drawn close up)
    quoted = {line for lines in verdict["non_linearizable_keys"].values() for line in lines} | set(
        verdict["stale_reads"]
    )
    highlighted = {t.split(": ", 1)[1] for t in _halos(html)}
    assert quoted <= {h.replace("&gt;", ">") for h in highlighted}
    for key in verdict["non_linearizable_keys"]:
        assert f"Close-up: cannot be ordered (key {key})" in html
    # DC lanes from the saved processes, the fault and both leader changes
    assert all(f">{dc}<title>" in html for dc in ("primary", "secondary", "tertiary"))
    assert "primary killed" in html and html.count('<line class="leader"') >= 2


def test_the_page_fetches_nothing_and_reads_light_and_dark(stored: Path) -> None:
    html = (page.report_page(stored)).read_text()
    assert "<script" not in html and "url(" not in html and "@import" not in html
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links and all(link.startswith("#") or not re.match(r"[a-z]+:", link) for link in links), links
    assert "@media (prefers-color-scheme: dark)" in html and '<meta name="color-scheme" content="light dark">' in html
    # colours come from the stylesheet (light or dark), never fixed in a picture
    assert not re.search(r'(?:fill|stroke|color)="#', html)


def test_verify_and_report_write_the_same_page(stored: Path) -> None:
    first = page.report_page(stored).read_bytes()
    assert CliRunner().invoke(cli, ["report", str(stored)]).exit_code == 0
    assert (stored / "index.html").read_bytes() == first


def test_the_timeline_alone_is_an_svg_with_its_colours(stored: Path) -> None:
    verdict = json.loads((stored / "leader-kill" / "verdict.json").read_text())
    page.write_timeline(stored / "leader-kill", verdict)
    svg = (stored / "leader-kill" / "timeline.svg").read_text()
    assert svg.startswith("<svg") and "<style>" in svg and "prefers-color-scheme: dark" in svg
    assert len(_halos(svg)) >= len(verdict["stale_reads"])


def test_report_refuses_what_is_not_a_report_in_one_line(tmp_path: Path, stored: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no summary.json; give the directory `verify --report` wrote" in result.output
    summary = json.loads((stored / "summary.json").read_text())
    summary["scenarios"][0]["scenario"] = "../../etc"
    (stored / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(cli, ["report", str(stored)])
    assert result.exit_code == 2 and "scenario '../../etc' is not a plain name" in result.output
    assert not (stored / "index.html").exists()
    summary["scenarios"][0]["scenario"] = "leader-kill"
    (stored / "summary.json").write_text(json.dumps(summary))
    (stored / "leader-kill" / "history.jsonl").write_text('{"process": 0, "type": "invoke"}\n')
    result = CliRunner().invoke(cli, ["report", str(stored)])
    assert result.exit_code == 2 and "history.jsonl: line 1: not a history event" in result.output


def test_check_html_draws_the_history_with_its_witness(tmp_path: Path) -> None:
    events = []
    steps = ((0, "write", 1, 0.0, 0.1), (0, "write", 2, 0.2, 0.3), (1, "read", 1, 0.4, 0.5))
    for process, f, value, call, ret in steps:
        asked = None if f == "read" else value
        events.append({"process": process, "type": "invoke", "f": f, "key": "k1", "value": asked, "time": call})
        events.append({"process": process, "type": "ok", "f": f, "key": "k1", "value": value, "time": ret})
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "h.html"
    result = CliRunner().invoke(cli, ["check", str(history), "--html", str(out)])
    assert result.exit_code == 1, result.output
    html = out.read_text()
    assert "<title>multidc check: NOT linearizable (h.jsonl)" in html
    assert any("p1 read k1 -&gt; 1 [ok] (0.400..0.500)" in t for t in _halos(html))
    missing = CliRunner().invoke(cli, ["check", str(history), "--html", str(tmp_path / "no" / "h.html")])
    assert missing.exit_code == 2 and "--html" in missing.output and "does not exist" in missing.output


def test_many_operations_are_gathered_and_those_around_the_witness_kept() -> None:
    ops = [
        charts.Op("register", i % 6, "read", "k1", "primary", "ok", i * 0.01, i * 0.01 + 0.005) for i in range(20_000)
    ]
    witness = ops[10_000]
    view = charts.View("s", 200.0, ops, ["primary"], marks=[charts.Mark(witness, "stale read", "the line")])
    svg = charts.timeline(view)
    drawn = sum(d.count("M") for d in re.findall(r'<path class="seg ok" d="([^"]*)"', svg))
    assert 0 < drawn <= charts.DETAIL_CAP  # those around the witness, one by one; the rest in columns
    assert '<path class="col ok"' in svg
    assert len(_halos(svg)) == 1


def test_sizes_of_a_60_s_and_a_10_minute_random_run(tmp_path: Path) -> None:
    """Pages and pictures (histories aside): at most 3 MB for 60 s, 10 MB for 10 minutes of every workload (a made-up
    run of the README's 10-minute run's shape: its operations per workload, 255 faults, stale reads throughout)."""
    for duration, workloads, limit in ((60, ("register",), 3e6), (600, ("register", "set", "tokens", "pki"), 10e6)):
        folder = tmp_path / str(duration)
        where = synthetic.report(folder, duration, workloads, seed=duration)
        verdict = json.loads((where / "verdict.json").read_text())
        page.write_timeline(where, verdict)
        made = page.report_page(folder).stat().st_size + (where / "timeline.svg").stat().st_size
        assert made <= limit, (duration, made)
        events = sum(len(p.read_text().splitlines()) for p in where.glob("history*.jsonl"))
        assert events > (350_000 if duration == 600 else 8_000), events  # the shape asked for: 179,000 operations


def test_a_schedule_is_drawn_on_the_history_clock_with_how_late_each_fault_began(stored: Path) -> None:
    summary = json.loads((stored / "summary.json").read_text())
    summary["scenarios"][0]["started_s"] = 0.5  # the faults' clock began 0.5 s into the history
    (stored / "summary.json").write_text(json.dumps(summary))
    schedule = {
        "version": 1,
        "seed": 3,
        "duration": 3.0,
        "datacenters": ["primary", "secondary", "tertiary"],
        "kinds": ["kill"],
        "faults": [{"kind": "kill", "start": 0.2, "end": 1.3, "target": "primary"}],
    }
    (stored / "leader-kill" / "schedule.json").write_text(json.dumps(schedule))
    html = page.report_page(stored).read_text()
    assert '<td class="n">0.7 s</td><td class="n">1.8 s</td><td>primary killed</td>' in html
    assert "primary killed from 0.76 s, 0.06 s late" in html  # the window began at 0.756 s


def test_a_summary_edited_into_nonsense_is_one_line(stored: Path) -> None:
    summary = json.loads((stored / "summary.json").read_text())
    summary["scenarios"][0]["faults"] = [{"end": 1}]  # a fault window without its start
    (stored / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(cli, ["report", str(stored)])
    assert result.exit_code == 2 and "is not one verify wrote (KeyError: 'start')" in result.output
    assert len(result.output.strip().splitlines()) == 1
