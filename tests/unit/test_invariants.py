"""The set, tokens and pki checkers on hand-written histories: valid ones, one per anomaly, unknown outcomes, empty."""

from __future__ import annotations

from typing import Any

import pytest

from multidc.verify.workloads import check_pki, check_set, check_tokens
from multidc.verify.workloads.invariants import operations
from multidc.verify.workloads.verdict import InvariantVerdict


class H:
    """A history builder: `op(process, f, dc, asked, status, answered, call, ret)` adds an invoke and a completion."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def op(self, p: int, f: str, dc: str, asked: Any, status: str, answered: Any, call: float, ret: float) -> H:
        self.events.append({"process": p, "type": "invoke", "f": f, "key": dc, "value": asked, "time": call})
        completion = {"process": p, "type": status, "f": f, "key": dc, "value": answered, "time": ret}
        if status != "ok":
            completion["error"] = "ConnectionError: boom"
        self.events.append(completion)
        return self

    def open(self, p: int, f: str, dc: str, asked: Any, call: float) -> H:
        self.events.append({"process": p, "type": "invoke", "f": f, "key": dc, "value": asked, "time": call})
        return self


DCS = ("a", "b")


def only(v: InvariantVerdict) -> dict[str, list[str]]:
    return v.found()


# --- pairing


def test_an_open_invoke_is_unknown_and_completions_carry_the_answer() -> None:
    h = H().op(0, "create", "a", None, "ok", "acc1", 0.0, 0.1).open(1, "create", "b", None, 0.2)
    ops = operations(h.events)
    assert [(o.status, o.output) for o in ops] == [("ok", "acc1"), ("info", None)]
    assert ops[1].ret == float("inf")


def test_malformed_histories_are_refused() -> None:
    with pytest.raises(ValueError, match="without an invoke"):
        operations([{"process": 0, "type": "ok", "f": "add", "key": "a", "value": 1, "time": 0.0}])
    with pytest.raises(ValueError, match="still outstanding"):
        operations(H().open(0, "add", "a", 1, 0.0).open(0, "add", "a", 2, 0.1).events)


# --- set


def set_history(final: dict[str, list[Any]], at: float = 10.0) -> H:
    h = H()
    h.op(0, "add", "a", 1, "ok", 1, 0.0, 0.1)
    h.op(1, "add", "b", 2, "ok", 2, 0.0, 0.2)
    h.op(0, "add", "a", 3, "fail", 3, 0.3, 0.4)
    h.op(1, "add", "b", 4, "info", 4, 0.3, 1.0)  # unknown: may or may not be there
    for i, (dc, elements) in enumerate(final.items()):
        h.op(10 + i, "read", dc, None, "ok", elements, at, at + 0.1)
    return h


def test_set_valid_with_or_without_an_unknown_add() -> None:
    v = check_set(set_history({"a": [1, 2, 4], "b": [1, 2]}).events)
    assert v.valid, v.summary()
    assert v.counts["adds"] == 4 and v.counts["adds ok"] == 2 and v.counts["adds unknown"] == 1
    assert v.counts["ok@a"] == 1 and v.counts["ok@b"] == 1
    assert v.summary().startswith("set: valid (4 adds")


def test_set_elements_compare_as_listed_names() -> None:
    assert check_set(set_history({"a": ["1", "2"], "b": ["2", "1"]}).events).valid


def test_set_lost_add_names_the_element_and_every_dc_missing_it() -> None:
    v = check_set(set_history({"a": [2], "b": [2]}).events)
    assert not v.valid
    assert only(v) == {"lost adds": ["1 (acknowledged, added through a at 0.000s): missing through a, b"]}
    assert "NOT valid: 1 lost adds" in v.summary()


def test_set_lost_through_one_dc_only() -> None:
    v = check_set(set_history({"a": [1, 2], "b": [1]}).events)
    assert only(v) == {"lost adds": ["2 (acknowledged, added through b at 0.000s): missing through b"]}


def test_set_an_add_acknowledged_after_the_read_began_is_not_required() -> None:
    h = H().op(0, "add", "a", 1, "ok", 1, 0.0, 5.0).op(1, "read", "a", None, "ok", [], 1.0, 2.0)
    assert check_set(h.events).valid


def test_set_unexpected_and_failed_but_present() -> None:
    v = check_set(set_history({"a": [1, 2, 3, 99], "b": [1, 2]}).events)
    assert only(v) == {
        "unexpected": ["99 (never added): read through a"],
        "failed but present": ["3 (add failed through a at 0.300s: ConnectionError: boom): read through a"],
    }


def test_set_every_dc_needs_a_final_read() -> None:
    h = set_history({"a": [1, 2]})
    h.op(20, "read", "b", None, "fail", None, 10.0, 10.1)
    v = check_set(h.events)
    assert only(v) == {"unobserved": ["no final read through b (ConnectionError: boom)"]}
    v = check_set(set_history({}).events)
    assert only(v) == {"unobserved": ["no final read through a", "no final read through b"]}


def test_set_empty_history_is_valid() -> None:
    v = check_set([])
    assert v.valid and v.counts["adds"] == 0
    assert set(v.anomalies) == {"lost adds", "unexpected", "failed but present", "unobserved"}


# --- tokens


def lookup(h: H, p: int, dc: str, accessor: str, valid: bool) -> None:
    at = 10.0 + 0.01 * sum(e["process"] == p for e in h.events)  # one lookup after another
    h.op(p, "lookup", dc, accessor, "ok", {"accessor": accessor, "valid": valid}, at, at + 0.005)


def tokens_history(valid: dict[str, bool]) -> H:
    h = H()
    h.op(0, "create", "a", None, "ok", "t1", 0.0, 0.1)
    h.op(1, "create", "b", None, "ok", "t2", 0.0, 0.1)
    h.op(0, "create", "a", None, "ok", "t3", 0.2, 0.3)
    h.op(1, "create", "b", None, "ok", "t4", 0.2, 0.3)
    h.op(0, "create", "a", None, "info", None, 0.4, 0.5)  # unknown: no accessor, not judged
    h.op(2, "revoke", "a", "t2", "ok", "t2", 0.6, 0.7)
    h.op(1, "revoke", "b", "t3", "info", "t3", 0.6, 0.7)
    h.op(3, "revoke", "b", "t4", "fail", "t4", 0.8, 0.9)  # certainly not revoked: must still be valid
    for i, dc in enumerate(DCS):
        for accessor, ok in valid.items():
            lookup(h, 10 + i, dc, accessor, ok)
    return h


GOOD = {"t1": True, "t2": False, "t3": True, "t4": True}


@pytest.mark.parametrize("t3", [True, False])
def test_tokens_valid_either_way_for_an_unknown_revoke(t3: bool) -> None:
    v = check_tokens(tokens_history({**GOOD, "t3": t3}).events)
    assert v.valid, v.summary()
    assert v.counts["creates ok"] == 4 and v.counts["creates unknown"] == 1 and v.counts["revokes failed"] == 1
    assert v.counts["final lookups"] == 8


def test_tokens_a_revocation_pending_counts_as_invalid() -> None:
    h = tokens_history({})
    for i, dc in enumerate(DCS):
        for accessor, ok in GOOD.items():
            if (dc, accessor) == ("b", "t3"):  # its revoke's outcome is unknown: a revocation under way
                at = 10.0 + 0.01 * sum(e["process"] == 10 + i for e in h.events)
                h.op(10 + i, "lookup", dc, "t3", "ok", {"accessor": "t3", "valid": False, "pending": True}, at, at)
            else:
                lookup(h, 10 + i, dc, accessor, ok)
    v = check_tokens(h.events)
    assert v.valid and v.counts["revocations pending"] == 1


def test_tokens_lost_token() -> None:
    v = check_tokens(tokens_history({**GOOD, "t1": False}).events)
    assert only(v) == {"lost tokens": ["t1 (created through a at 0.000s, never revoked): invalid through a, b"]}


def test_tokens_a_failed_revoke_leaves_a_token_that_must_be_valid() -> None:
    v = check_tokens(tokens_history({**GOOD, "t4": False}).events)
    assert list(only(v)) == ["lost tokens"] and v.anomalies["lost tokens"][0].startswith("t4 ")


def test_tokens_revoked_but_valid() -> None:
    v = check_tokens(tokens_history({**GOOD, "t2": True}).events)
    assert only(v) == {"revoked but valid": ["t2 (revoke acknowledged through a at 0.600s): valid through a, b"]}


def test_tokens_revoked_but_valid_through_one_dc() -> None:
    h = tokens_history({})
    for i, dc in enumerate(DCS):
        for accessor, ok in GOOD.items():
            lookup(h, 10 + i, dc, accessor, ok if (dc, accessor) != ("b", "t2") else True)
    assert only(check_tokens(h.events)) == {
        "revoked but valid": ["t2 (revoke acknowledged through a at 0.600s): valid through b"]
    }


def test_tokens_unobserved_lookups() -> None:
    h = tokens_history({})
    lookup(h, 10, "a", "t1", True)
    h.op(11, "lookup", "b", "t1", "fail", None, 10.0, 10.1)
    assert only(check_tokens(h.events)) == {
        "unobserved": [
            "no final lookup through b (ConnectionError: boom)",
            "3 acknowledged tokens not looked up through a (e.g. t2)",
        ]
    }


def test_tokens_a_create_acknowledged_once_the_lookups_began_need_not_be_looked_up() -> None:
    h = tokens_history(GOOD)
    h.op(7, "create", "a", None, "ok", "late", 9.0, 10.001)  # a straggler, acknowledged during the final lookups
    assert check_tokens(h.events).valid


def test_tokens_a_failed_lookup_is_named() -> None:
    h = tokens_history({})
    for i, dc in enumerate(DCS):
        for accessor, ok in GOOD.items():
            if (dc, accessor) == ("a", "t1"):
                h.op(30, "lookup", "a", "t1", "fail", None, 10.5, 10.6)
            else:
                lookup(h, 10 + i, dc, accessor, ok)
    assert only(check_tokens(h.events)) == {
        "unobserved": ["1 acknowledged tokens not looked up through a (e.g. t1: ConnectionError: boom)"]
    }


def test_tokens_empty_history_is_valid() -> None:
    v = check_tokens([])
    assert v.valid and set(v.anomalies) == {"lost tokens", "revoked but valid", "unobserved"}


def test_tokens_only_unknown_creates_need_no_lookup() -> None:
    h = H().op(0, "create", "a", None, "info", None, 0.0, 0.1).op(1, "create", "a", None, "fail", None, 0.0, 0.1)
    lookup(h, 2, "a", "unrelated", False)
    assert check_tokens(h.events).valid


# --- pki


def pki_history(listed: dict[str, list[str]], issued: tuple[str, ...] = ("01:aa", "02:bb")) -> H:
    h = H().op(9, "ca", "a", None, "ok", "ff:00", -1.0, -0.9)
    for i, s in enumerate(issued):
        h.op(i, "issue", DCS[i % 2], f"{i}.test", "ok", s, 0.1 * i, 0.1 * i + 0.05)
    h.op(5, "issue", "a", "x.test", "fail", None, 0.5, 0.6)
    for i, (dc, serials) in enumerate(listed.items()):
        h.op(10 + i, "list", dc, None, "ok", serials, 10.0, 10.1)
    return h


def test_pki_valid_and_serials_compare_in_any_case() -> None:
    v = check_pki(pki_history({"a": ["01:AA", "02:bb", "ff:00"], "b": ["01:aa", "02-bb"]}).events)
    assert v.valid, v.summary()
    assert v.counts["issues ok"] == 2 and v.counts["issues failed"] == 1 and v.counts["certificates listed"] == 3


def test_pki_duplicate_serials_also_against_the_ca() -> None:
    v = check_pki(pki_history({dc: ["01:aa", "ff:00"] for dc in DCS}, issued=("01:aa", "01:aa", "ff:00")).events)
    assert only(v) == {
        "duplicate serials": [
            "01:aa issued 2 times (through a at 0.000s; through b at 0.100s)",
            "ff:00 issued 1 times (through a at 0.200s; and the CA's own certificate)",
        ]
    }


def test_pki_lost_issue() -> None:
    v = check_pki(pki_history({"a": ["01:aa", "02:bb"], "b": ["01:aa"]}).events)
    assert only(v) == {"lost issues": ["02:bb (issued through b at 0.100s): not listed through b"]}


def test_pki_unaccounted_certificates_only_beyond_the_unknown_issues() -> None:
    h = pki_history({"a": ["01:aa", "02:bb", "0c:cc"], "b": ["01:aa", "02:bb"]})
    assert only(check_pki(h.events)) == {
        "unaccounted certificates": [
            "0c:cc listed through a, issued by no acknowledged request (1 such, 0 issues with an unknown outcome)"
        ]
    }
    h.open(6, "issue", "b", "y.test", 0.7)  # one issue of unknown outcome explains one extra certificate
    assert check_pki(h.events).valid


def test_pki_unobserved_and_empty() -> None:
    assert only(check_pki(pki_history({}).events)) == {
        "unobserved": ["no final list through a", "no final list through b"]
    }
    v = check_pki([])
    assert v.valid and v.to_dict() == {
        "workload": "pki",
        "valid": True,
        "counts": {
            "issues": 0,
            "issues ok": 0,
            "issues failed": 0,
            "issues unknown": 0,
            "final lists": 0,
            "certificates listed": 0,
        },
        "anomalies": {"duplicate serials": [], "lost issues": [], "unaccounted certificates": [], "unobserved": []},
    }


def test_summary_quotes_a_few_anomalies() -> None:
    v = check_set(set_history({"a": [], "b": []}).events)
    assert v.summary().startswith("set: NOT valid: 2 lost adds (1 (acknowledged")
    many = InvariantVerdict("x", False, {"n": 1}, {"lost": [str(i) for i in range(5)]})
    assert many.summary() == "x: NOT valid: 5 lost (0; 1; 2; ... 2 more) (1 n)"
