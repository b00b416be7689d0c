"""The pytest plugin, exercised with pytester: options, skipping, keep/reuse, cleanup after a failing test, markers,
and the README's example file run as a user would."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

import pytest

# Imported here, before pytester's in-process runs: a module first imported inside one is dropped from sys.modules
# after it, and cryptography's Python layer imported a second time over its Rust bindings fails ("curve must be an
# EllipticCurve instance"). Run alone, this file failed that way; in the whole suite another test imported it first.
from multidc import pki  # noqa: F401
from multidc.providers.netns.plan import namespace_prefix

from .conftest import TEST_PREFIX, _skip_reason, leftovers, skip_or_fail

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "test_multidc_example.py"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(root))
    return root


def unique(tag: str) -> str:
    return f"{TEST_PREFIX}p{os.getpid() % 100000}{tag}"


def namespaces_of(name: str) -> list[str]:
    return (
        [n for n in os.listdir("/run/netns") if n.startswith(namespace_prefix(name))]
        if os.path.isdir("/run/netns")
        else []
    )


def test_options_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for option in ("--multidc-topology", "--multidc-name", "--multidc-keep", "--multidc-reuse"):
        result.stdout.fnmatch_lines([f"*{option}*"])


def test_skipped_with_the_reason_where_it_cannot_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, state: Path
) -> None:
    from multidc.providers.netns import namespaces

    monkeypatch.setattr(namespaces.os, "geteuid", lambda: 1000)
    pytester.makepyfile("def test_uses_it(multidc_env):\n    pass\n")
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*multidc cannot run here*needs root*"])


def test_example_from_the_readme_runs_and_cleans_up(pytester: pytest.Pytester, state: Path) -> None:
    if _skip_reason():
        skip_or_fail(str(_skip_reason()))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert EXAMPLE.read_text().strip() in readme, "the README must show examples/test_multidc_example.py verbatim"
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    name = unique("ex")
    result = pytester.runpytest_inprocess("--multidc-name", name)
    result.assert_outcomes(passed=2)
    assert leftovers(name, state) == [] and namespaces_of(name) == []


def test_keep_then_reuse_then_failure_report_and_cleanup(pytester: pytest.Pytester, state: Path) -> None:
    if _skip_reason():
        skip_or_fail(str(_skip_reason()))
    name = unique("kr")
    pytester.makepyfile(test_a="def test_up(multidc_env):\n    assert multidc_env.status().healthy\n")
    try:
        kept = pytester.runpytest_inprocess("--multidc-name", name, "--multidc-keep")
        kept.assert_outcomes(passed=1)
        created = (state / name / "state.json").read_text()
        assert namespaces_of(name)  # still running

        pytester.makepyfile(
            test_a="def test_up(multidc_env):\n    assert multidc_env.name.startswith('p')\n"
            "    assert False, 'on purpose'\n"
        )
        reused = pytester.runpytest_inprocess("--multidc-name", name, "--multidc-reuse")
        reused.assert_outcomes(failed=1)
        reused.stdout.fnmatch_lines(
            ["*multidc status*", "*healthy: True*", "*multidc server logs*", "*multidc export*", "*secrets removed: *"]
        )
        bundle = Path(re.search(r"secrets removed: (\S+\.tar\.gz)", reused.stdout.str()).group(1))  # type: ignore[union-attr]
        with tarfile.open(bundle) as tar:
            assert any(m.name.endswith("/logs/primary.log") for m in tar.getmembers())
        # reuse attached to the same environment (same state), and without --multidc-keep... reuse never removes it
        assert (state / name / "state.json").read_text() == created
    finally:
        from multidc.providers.netns import provider

        provider.down(name, state)
    assert leftovers(name, state) == []


def test_failing_test_still_cleans_up_and_marker_gets_its_own_environment(
    pytester: pytest.Pytester, state: Path
) -> None:
    if _skip_reason():
        skip_or_fail(str(_skip_reason()))
    name = unique("mk")
    pytester.makepyfile(
        test_m="""
import pytest

pytestmark = pytest.mark.multidc(topology={"datacenters": ["solo"], "tls": False})

def test_solo(multidc_env):
    assert multidc_env.datacenters == ["solo"]
    assert multidc_env.address("solo").startswith("http://127.0.0.1:")
    raise RuntimeError("boom")
"""
    )
    result = pytester.runpytest_inprocess("--multidc-name", name)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: boom*", "*multidc status*"])
    assert leftovers(name, state) == [] and namespaces_of(name) == []
