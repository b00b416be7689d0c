"""ruff and mypy stay clean: run here so CI enforces them with the rest of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "ruff", "check", "src", "tests", "bench", "examples"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff", "mypy"],
)
def test_clean(argv: list[str]) -> None:
    tool = argv[2]
    if (
        shutil.which(tool) is None
        and subprocess.run([sys.executable, "-m", tool, "--version"], capture_output=True).returncode != 0
    ):
        pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_the_registry_reads_provider_names() -> None:
    """A branch on a provider's name outside the registry means a capability is missing from the interface."""
    import re

    compare = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](netns|kind|kube)["']|["'](netns|kind|kube)["']\s*(==|!=)""")
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "src" / "multidc").rglob("*.py"))
        if path.name != "registry.py"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if compare.search(line)
    ]
    assert found == []
