"""One judgement: ``validate`` and ``convert`` report the same rules with the same severities."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from finetune.targets import TARGETS
from tests.finetune.conftest import finetune, jsonl, no_traceback, read_jsonl

Run = Callable[..., tuple[int, str, str]]
U = {"role": "user", "content": "查一下北京天气。"}
A = {"role": "assistant", "content": "北京晴。"}


def with_arguments(arguments: str) -> dict[str, Any]:
    """A tool-using conversation whose one call carries ``arguments``."""
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    return {
        "messages": [
            U,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"天气":"晴"}'},
            A,
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
    }


def judged(report: Path) -> set[tuple[int, str, str]]:
    """(line, rule, action) of every rejection and warning in a --report file (action omitted = rejected)."""
    issues = [(i["line"], i["rule"], i.get("action", "rejected")) for i in read_jsonl(report)]
    return {i for i in issues if i[2] in {"rejected", "warning"}}


def test_validate_and_convert_report_the_same_findings(tmp_path: Path) -> None:
    """The same OpenAI file gives the same (line, rule, severity) set from validate and convert,
    file-level warnings (limits.min_samples) included."""
    rows = [
        {"messages": [U, A]},
        {"messages": [U]},
        {"messages": [U, {**A, "weight": 0.5}]},
        with_arguments("{1:2}"),
    ]
    src = jsonl(tmp_path / "in.jsonl", rows)
    v = finetune("validate", "--for", "openai", src, "--report", tmp_path / "v.jsonl")
    c = finetune("convert", "--to", "openai", src, "-o", tmp_path / "o.jsonl", "--report", tmp_path / "c.jsonl")
    assert v.returncode == 1 and c.returncode == 1, (v.stderr, c.stderr)
    assert (
        judged(tmp_path / "v.jsonl")
        == judged(tmp_path / "c.jsonl")
        == {
            (2, "turns.has_assistant", "rejected"),
            (2, "turns.last", "rejected"),
            (3, "weights.values", "rejected"),
            (4, "tools.arguments", "rejected"),
            (0, "limits.min_samples", "warning"),
        }
    )


def test_one_sample_file_draws_the_minimum_warning_from_validate(tmp_path: Path) -> None:
    """validate --for openai on a one-sample file warns about OpenAI's 10-sample minimum (exit 0)."""
    src = jsonl(tmp_path / "one.jsonl", [{"messages": [U, A]}])
    done = finetune("validate", "--for", "openai", src)
    assert done.returncode == 0 and "warning [limits.min_samples]: 1 samples; openai wants at least 10" in done.stderr


@pytest.mark.parametrize("name", [n for n, t in TARGETS.items() if t.caps.tools])
@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ("{1:2}", "'{1:2}' is not valid JSON"),
        ("[1, 2]", "not a JSON array"),
        ('"北京"', "not a JSON string"),
        ("", 'takes "{}"'),
    ],
)
def test_tool_arguments_are_checked_alike_by_every_tool_target(
    tmp_path: Path, cli: Run, name: str, arguments: str, says: str
) -> None:
    """Every target that accepts tools rejects bad arguments under tools.arguments, with the JSON
    path and a message saying what is wrong (not msgspec's "object keys must be strings")."""
    src = jsonl(tmp_path / "in.jsonl", [with_arguments(arguments), {"messages": [U, A]}])
    code, _, err = cli("convert", "--to", name, src, "-o", tmp_path / "o.jsonl", "--max-reject", "1")
    assert code == 0, err
    assert "in.jsonl:1: rejected [tools.arguments] $.messages[1].tool_calls[0].function.arguments:" in err
    assert "must be a JSON object in a string" in err or "takes" in err
    assert says in err and "object keys must be strings" not in err
    assert len(read_jsonl(tmp_path / "o.jsonl")) == 1


def test_validate_checks_tool_arguments_too(tmp_path: Path) -> None:
    """validate --for a tool target reports bad arguments with the same rule, exit 1, no traceback."""
    src = jsonl(tmp_path / "in.jsonl", [with_arguments("not json")])
    done = finetune("validate", "--for", "openai", src)
    assert done.returncode == 1 and no_traceback(done.stderr)
    assert "rejected [tools.arguments] $.messages[1].tool_calls[0].function.arguments" in done.stderr


@pytest.mark.parametrize(
    ("role", "target"),
    [(role, t) for role in ("system", "user") for t in ("openai", "bailian", "zhipu")]
    + [("tool", "openai"), ("tool", "bailian")],
)
def test_message_without_content_is_rejected(tmp_path: Path, role: str, target: str) -> None:
    """A system, user or tool message whose content is missing or null (OpenAI's schema requires it) is
    rejected by validate and by convert, which would otherwise write ``{"role": "user"}`` to the file."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool_turns = [{"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "tool_call_id": "c1"}]
    messages = {
        "system": [{"role": "system", "content": None}, U, A],
        "user": [{"role": "user"}, A],
        "tool": [U, *tool_turns, A],
    }[role]
    line: dict[str, Any] = {"messages": messages}
    if role == "tool":
        line["tools"] = [{"type": "function", "function": {"name": "f"}}]
    src = jsonl(tmp_path / "in.jsonl", [line])
    checked = finetune("validate", "--for", target, src, "--from", "openai")
    assert checked.returncode == 1 and no_traceback(checked.stderr), checked.stderr
    assert "in.jsonl:1: rejected [content.missing]" in checked.stderr
    out = tmp_path / "out.jsonl"
    done = finetune("convert", src, "--to", target, "-o", out)
    assert done.returncode == 1 and no_traceback(done.stderr), done.stderr
    assert "in.jsonl:1: rejected [content.missing]" in done.stderr
    assert read_jsonl(out) == []
