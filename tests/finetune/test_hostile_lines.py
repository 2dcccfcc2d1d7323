"""Lines no JSON decoder should be trusted with, through the command line: nested 100 to 100000 levels deep, JSON
nested deep inside a string (a tool call's arguments, a target's tool turn), numbers no type holds. Each such line
is reported as invalid by number with a reason a user can act on; every other line is converted; the input is
never modified, and no output is half-written. (Before, a line past about 950 levels stopped the run with a
RecursionError traceback.)

Every test runs ``python -m finetune`` as a child process, as a user would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from finetune.model import MAX_DEPTH
from tests.finetune.conftest import finetune, jsonl, no_traceback, read_jsonl

DEPTHS = [300, 1000, 100000]


def good(i: int) -> dict[str, Any]:
    """A distinct, valid one-turn conversation."""
    return {"messages": [{"role": "user", "content": f"问题{i}"}, {"role": "assistant", "content": f"答{i}。"}]}


def nested(levels: int) -> str:
    """JSON text nesting ``levels`` objects one in another."""
    return '{"a":' * levels + "1" + "}" * levels


def with_extra(i: int, levels: int) -> str:
    """Conversation ``i`` with one more field, nested so that the whole line is ``levels`` deep."""
    return json.dumps(good(i))[:-1] + ', "extra": ' + nested(levels - 1) + "}"


def with_arguments(i: int, arguments: str) -> str:
    """A tool-calling conversation whose call's arguments are the string ``arguments``."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    messages = [
        {"role": "user", "content": f"问题{i}"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "assistant", "content": f"答{i}。"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    return json.dumps({"messages": messages, "tools": tools})


def with_parameters(i: int, parameters: str) -> str:
    """Conversation ``i`` offering a tool whose parameters are the JSON text ``parameters``."""
    tools = '[{"type": "function", "function": {"name": "f", "parameters": ' + parameters + "}}]"
    return json.dumps(good(i))[:-1] + ', "tools": ' + tools + "}"


def hostile_file(path: Path) -> tuple[Path, dict[int, str], list[int]]:
    """A file of good lines with a hostile line after each: (path, {hostile line number: expected rule}, the good
    lines' numbers in order)."""
    rows: list[str] = [json.dumps(good(0)), with_extra(1, MAX_DEPTH)]  # exactly at the limit: converted
    bad: list[tuple[str, str]] = [(with_extra(2, MAX_DEPTH + 1), "input.depth")]
    for n in DEPTHS:
        bad += [(with_extra(10 + n, n), "input.depth"), (with_parameters(20 + n, nested(n)), "input.depth")]
        bad.append((with_arguments(30 + n, nested(n)), "tools.arguments"))
    bad += [
        (json.dumps(good(3))[:-1] + ', "messages_weight": 1}', ""),  # an unknown field: fine
        (with_parameters(4, '{"n": ' + "9" * 5000 + "}"), "input.schema"),
        (with_parameters(5, '{"n": 1e999}'), "input.schema"),
        (
            json.dumps(good(6)).replace('"role": "assistant"', '"role": "assistant", "weight": ' + "9" * 40),
            "weights.values",
        ),
    ]
    expected: dict[int, str] = {}
    goods = [1, 2]
    for k, (row, rule) in enumerate(bad):
        rows += [row, json.dumps(good(100 + k))]
        if rule:
            expected[len(rows) - 1] = rule
        else:
            goods.append(len(rows) - 1)
        goods.append(len(rows))
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return path, expected, goods


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _issues(report: Path) -> dict[int, dict[str, Any]]:
    return {i["line"]: i for i in read_jsonl(report) if i["line"] > 0 and i.get("action", "rejected") == "rejected"}


@pytest.mark.parametrize("target", ["openai", "swift", "sharegpt"])
def test_hostile_lines_are_reported_and_the_rest_converted(tmp_path: Path, target: str) -> None:
    """convert reports each hostile line by number (its depth, or the arguments' depth, or the number out of
    range), converts every other line, leaves the input byte-identical and prints no traceback. swift and sharegpt
    decode a call's arguments when writing: a deep one never reaches them."""
    src, expected, goods = hostile_file(tmp_path / "in.jsonl")
    before = src.read_bytes()
    out, report = tmp_path / "out.jsonl", tmp_path / "report.jsonl"
    t0 = time.monotonic()
    done = finetune("convert", src, "--to", target, "-o", out, "--report", report, "--max-reject", "1")
    assert done.returncode == 0 and no_traceback(done.stderr), done.stderr
    assert time.monotonic() - t0 < 30
    assert src.read_bytes() == before
    issues = _issues(report)
    assert {n: issues[n]["rule"] for n in expected} == expected
    assert set(issues) == set(expected)
    for n, rule in expected.items():
        reason = issues[n]["reason"]
        assert rule != "input.depth" or (f"at most {MAX_DEPTH}" in reason and "levels deep" in reason)
    assert len(_lines(out)) == len(goods)


def test_depth_reasons_name_the_depth(tmp_path: Path) -> None:
    """The reason names the depth found and the limit, for the line and for a call's arguments."""
    src = jsonl(tmp_path / "in.jsonl", [with_extra(1, 100000), with_arguments(2, nested(1000)), good(3)])
    report = tmp_path / "report.jsonl"
    done = finetune("validate", "--for", "openai", src, "--report", report)
    assert no_traceback(done.stderr), done.stderr
    issues = _issues(report)
    assert "100000 levels deep; at most 100" in issues[1]["reason"]
    assert "arguments string nests JSON arrays and objects 1000 levels deep" in issues[2]["reason"]
    assert issues[2]["path"] == "$.messages[1].tool_calls[0].function.arguments"
    assert 3 not in issues


def test_validate_and_stats_read_hostile_lines(tmp_path: Path) -> None:
    """validate reports every hostile line by number and stats counts them unreadable, neither with a traceback;
    the input is not modified."""
    src, expected, _ = hostile_file(tmp_path / "in.jsonl")
    before = src.read_bytes()
    report = tmp_path / "report.jsonl"
    done = finetune("validate", "--for", "openai", src, "--report", report)
    assert done.returncode == 1 and no_traceback(done.stderr), done.stderr
    issues = _issues(report)
    assert {n: issues[n]["rule"] for n in expected} == expected
    others = {n: i for n, i in issues.items() if n not in expected}  # validate refuses the unknown fields too
    assert all(i["reason"].startswith("Object contains unknown field") for i in others.values()), others
    stats = finetune("stats", src)
    assert stats.returncode == 0 and no_traceback(stats.stderr), stats.stderr
    unreadable = sum(rule.startswith("input.") for rule in expected.values())
    assert f"unreadable {unreadable}" in stats.stdout
    assert src.read_bytes() == before


def test_deep_json_in_a_target_files_string_is_reported(tmp_path: Path) -> None:
    """A swift file whose tool_call turn holds JSON text 5000 levels deep (swift's reader decodes it) is reported
    as too deep to read, by line; the other lines convert."""
    call = json.dumps({"name": "f", "arguments": json.loads(nested(50))})
    deep = '{"name": "f", "arguments": ' + nested(5000) + "}"
    turns = [{"role": "tool_response", "content": "ok"}, {"role": "assistant", "content": "a"}]
    rows = [
        {"messages": [{"role": "user", "content": "q"}, {"role": "tool_call", "content": c}, *turns], "tools": "[]"}
        for c in (call, deep)
    ]
    src = jsonl(tmp_path / "in.swift.jsonl", [*rows, {"messages": good(9)["messages"]}])
    out, report = tmp_path / "out.jsonl", tmp_path / "report.jsonl"
    done = finetune("convert", "--from", "swift", src, "--to", "openai", "-o", out, "--report", report,
                    "--max-reject", "1")  # fmt: skip
    assert done.returncode == 0 and no_traceback(done.stderr), done.stderr
    issues = _issues(report)
    assert issues[2]["rule"] == "input.depth" and "too deeply" in issues[2]["reason"]
    assert len(_lines(out)) == 2


def test_strict_stops_at_a_deep_line_and_writes_nothing(tmp_path: Path) -> None:
    """--strict stops at the first hostile line (exit 1, its number on stderr): no output, no temporary file, an
    earlier output at the path untouched."""
    src = jsonl(tmp_path / "in.jsonl", [good(1), with_extra(2, 100000), good(3)])
    out = tmp_path / "out.jsonl"
    out.write_text("earlier\n", encoding="utf-8")
    done = finetune("convert", src, "--to", "bailian", "-o", out, "--strict")
    assert done.returncode == 1 and no_traceback(done.stderr), done.stderr
    assert ":2" in done.stderr or "line 2" in done.stderr
    assert out.read_text(encoding="utf-8") == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]
