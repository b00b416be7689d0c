"""The README and docs/ as a newcomer reads them: short enough to read, every link leads somewhere, and the hint `up`
prints works in the shell it was printed to."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from multidc.cli import render

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a `#` line inside a code block is no heading
    return {_slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def _links() -> list[tuple[Path, str]]:
    found = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        found += [(page, target) for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]
    return found


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines: move reference into docs/"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[0] == "## The two commands"


def test_every_page_in_docs_is_linked_from_the_readme() -> None:
    linked = {(page.parent / target.split("#")[0]).resolve() for page, target in _links() if page.name == "README.md"}
    orphans = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not orphans, f"docs pages the README does not link: {orphans}"


@pytest.mark.parametrize(("page", "target"), _links(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_every_link_leads_to_a_file_and_heading_that_exist(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    assert dest.exists(), f"{page.name}: {target} names no file"
    if anchor:
        assert anchor in _anchors(dest), f"{page.name}: {target}: {dest.name} has no such heading"


def test_the_up_hint_names_the_full_path_until_path_finds_this_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv bin"
    venv.mkdir()
    for name in ("python", "multidc", "bao"):
        (venv / name).write_text("#!/bin/sh\n")
        (venv / name).chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert render.command("multidc") == f"'{venv}/multidc'"  # quoted: the path has a space
    monkeypatch.setenv("PATH", f"{venv}:/usr/bin:/bin")
    assert render.command("multidc") == "multidc" and render.command("bao") == "bao"
    other = tmp_path / "other"
    other.mkdir()
    (other / "bao").write_text("#!/bin/sh\n")
    (other / "bao").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}:/usr/bin:/bin")  # PATH finds another bao: name ours
    assert render.command("bao") == f"'{venv}/bao'"


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_the_model_example_prints_what_docs_models_says(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/models.md's example runs as written and prints the text shown under it; the README, once it shows the
    example, shows the same text."""
    text = (ROOT / "docs" / "models.md").read_text()
    (code,) = [b for b in _blocks(text, "python") if "from multidc.checker import" in b]
    shown = _blocks(text.split(code, 1)[1], "text")[0]
    exec(compile(code, "docs/models.md", "exec"), {"__name__": "docs_models"})
    assert capsys.readouterr().out == shown
    readme = [b for b in _blocks((ROOT / "README.md").read_text(), "python") if "from multidc.checker import" in b]
    assert readme == [code], "the README's model example must be docs/models.md's, verbatim"
