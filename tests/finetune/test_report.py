"""Issues, counts by rule, strict mode and the JSONL report."""

from __future__ import annotations

import io

import msgspec
import pytest

from finetune.report import Issue, Report, StrictFailure


def test_counts_by_action_and_rule() -> None:
    """The summary counts issues per action and rule, most frequent first."""
    report = Report(out=io.StringIO())
    for rule in ("a", "b", "b"):
        report.add(Issue(line=1, rule=rule, reason="r"))
    report.add(Issue(line=2, rule="t", reason="r", action="altered"))
    assert report.rejected == 3
    assert report.summary().splitlines()[0].split() == ["2", "rejected:b"]


def test_strict_raises_on_rejections_only() -> None:
    """Strict mode stops at a rejection, not at alterations, warnings or skips."""
    report = Report(strict=True, out=io.StringIO())
    for action in ("altered", "warning", "skipped"):
        report.add(Issue(line=1, rule="x", reason="r", action=action))
    with pytest.raises(StrictFailure, match=r"f.jsonl:7: rejected \[turns.last\] \$.messages: why"):
        report.add(Issue(line=7, rule="turns.last", reason="why", path="$.messages", file="f.jsonl"))


def test_jsonl_report_and_print_limit() -> None:
    """Every issue goes to the JSONL report; printing stops at max_printed and says so."""
    out, log = io.StringIO(), io.BytesIO()
    report = Report(out=out, jsonl=log, max_printed=1)
    report.add(Issue(line=1, rule="a", reason="一"))
    report.add(Issue(line=2, rule="a", reason="二"))
    rows = [msgspec.json.decode(x) for x in log.getvalue().splitlines()]
    assert [r["reason"] for r in rows] == ["一", "二"]
    assert len(out.getvalue().splitlines()) == 1 and "1 further issues" in report.summary()
