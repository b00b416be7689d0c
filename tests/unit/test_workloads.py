"""The set, tokens and pki workloads' client side without a server: how an operation is recorded, and the registry."""

from __future__ import annotations

import hvac
import pytest
import requests

from multidc.verify.workload import Recorder, Unanswered
from multidc.verify.workloads import WORKLOADS, InvariantVerdict, SetWorkload, Workload, make
from multidc.verify.workloads.clients import Client, no_content, slug


def _set() -> SetWorkload:
    return SetWorkload(endpoints={"a": "http://127.0.0.1:9"}, ca=None, token="t", prefix="/p/x-1/", recorder=Recorder())


def test_the_registry_builds_each_workload_with_the_registers_keywords() -> None:
    assert sorted(WORKLOADS) == ["pki", "set", "tokens"]
    for name in WORKLOADS:
        w: Workload = make(name, endpoints={"a": "u"}, ca=None, token="t", prefix="p/1", recorder=Recorder(), per_dc=1)
        assert w.name == name and w.mutations and w.timeout > 0
    with pytest.raises(ValueError, match="choose one of set, tokens, pki"):
        make("queue", endpoints={}, ca=None, token="t", prefix="p", recorder=Recorder())


def test_paths_lie_under_the_prefix() -> None:
    assert _set().mount == "p/x-1/set"
    assert slug("multidc-verify/leader-kill-17") == "multidc-verify-leader-kill-17"


def test_attempt_records_ok_fail_and_info_and_a_new_process_after_info() -> None:
    w = _set()
    c = Client("a", hvac.Client(), w.new_process("a"))
    assert w.attempt(c, "add", 1, lambda: 1) == ("ok", 1)
    refused = hvac.exceptions.InvalidRequest("no")
    assert w.attempt(c, "add", 2, lambda: (_ for _ in ()).throw(refused)) == ("fail", None)
    assert c.process == 0
    timeout = requests.exceptions.ReadTimeout("slow")
    assert w.attempt(c, "add", 3, lambda: (_ for _ in ()).throw(timeout)) == ("info", None)
    assert c.process == 1 and w.processes_by_dc == {0: "a", 1: "a"}
    # a read that fails is a fail whatever the reason
    assert w.attempt(c, "read", None, lambda: (_ for _ in ()).throw(timeout), mutating=False) == ("fail", None)
    events = w.recorder.history()
    assert [(e["process"], e["type"], e["f"], e["key"], e["value"]) for e in events] == [
        (0, "invoke", "add", "a", 1),
        (0, "ok", "add", "a", 1),
        (0, "invoke", "add", "a", 2),
        (0, "fail", "add", "a", 2),
        (0, "invoke", "add", "a", 3),
        (0, "info", "add", "a", 3),
        (1, "invoke", "read", "a", None),
        (1, "fail", "read", "a", None),
    ]
    assert events[3]["error"].startswith("InvalidRequest") and "error" not in events[1]
    verdict = w.verdict()
    assert isinstance(verdict, InvariantVerdict) and verdict.counts["adds unknown"] == 1


def test_no_content_accepts_204_and_refuses_a_redirect() -> None:
    ok, redirect = requests.Response(), requests.Response()
    ok.status_code, redirect.status_code = 204, 307
    no_content(ok)
    no_content({"data": {}})
    with pytest.raises(Unanswered, match="307"):
        no_content(redirect)


def test_cleanup_never_raises_and_says_what_it_could_not_remove() -> None:
    w = _set()
    w.final_timeout = 0.2
    w.cleanup()  # nothing listens at the endpoint
    assert len(w.cleanup_problems) == 1 and w.cleanup_problems[0].startswith("set cleanup under p/x-1: ")
