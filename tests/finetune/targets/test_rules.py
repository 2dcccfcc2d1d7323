"""Every validation rule, each with a line that breaks it."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from finetune.judge import check
from finetune.readers import read_openai
from finetune.targets import TARGETS

U = {"role": "user", "content": "问题？"}
A = {"role": "assistant", "content": "回答。"}
S = {"role": "system", "content": "系统提示。"}
CALL = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}]}

#: rule id -> (target, a line that breaks it)
BREAKERS: dict[str, tuple[str, dict[str, Any]]] = {
    "messages.nonempty": ("openai", {"messages": []}),
    "role.known": ("openai", {"messages": [U, {"role": "robot", "content": "x"}, A]}),
    "turns.has_assistant": ("openai", {"messages": [U]}),
    "content.empty": ("openai", {"messages": [U, {"role": "assistant", "content": ""}]}),
    "content.missing": ("openai", {"messages": [{"role": "user"}, A]}),
    "weights.values": ("openai", {"messages": [U, {**A, "weight": 0.5}]}),
    "preference.shape": (
        "tencent",
        {"input": {"messages": [U]}, "preferred_output": [A], "non_preferred_output": [A]},
    ),
    "content.text": (
        "bailian",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}, A]},
    ),
    "system.position": ("siliconflow", {"messages": [U, A, S, U, A]}),
    "turns.first_user": ("siliconflow", {"messages": [S, A, U, A]}),
    "turns.alternation": ("siliconflow", {"messages": [U, U, A]}),
    "turns.last": ("tencent", {"messages": [U, A, U]}),
    "tools.pairing": (
        "openai",
        {"messages": [U, CALL, {"role": "tool", "tool_call_id": "zz", "content": "1"}, A]},
    ),
    "tools.unsupported": (
        "zhipu",
        {"messages": [U, CALL, {"role": "tool", "tool_call_id": "c1", "content": "1"}, A]},
    ),
    "limits.turns": ("qianfan", {"messages": [U, A] * 151}),
    "tools.arguments": (
        "openai",
        {
            "messages": [
                U,
                {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{1:2}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "1"},
                A,
            ]
        },
    ),
    "content.parts": ("openai", {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}, A]}),
}


def rule_ids(target: str, line: dict[str, Any]) -> set[str]:
    """The ids of the rules a line breaks for a target."""
    return {rule for rule, _, _ in check(TARGETS[target], read_openai(msgspec.json.encode(line)))}


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_breaking_line_is_caught(rule: str) -> None:
    """A line built to break a rule is reported under that rule's id."""
    target, line = BREAKERS[rule]
    assert rule in rule_ids(target, line)


def test_single_turn_rule() -> None:
    """A target limited to one user turn rejects a multi-turn line under turns.single."""
    single = dataclasses.replace(
        TARGETS["bailian"], caps=dataclasses.replace(TARGETS["bailian"].caps, multi_turn=False)
    )
    conv = read_openai(msgspec.json.encode({"messages": [U, A, U, A]}))
    assert "turns.single" in {r for r, _, _ in check(single, conv)}


def test_every_rule_has_a_breaking_line() -> None:
    """Every rule any target enforces appears in the breaker table (or has its own test)."""
    ids = {rule.id for t in TARGETS.values() for rule in t.rules}
    assert ids - set(BREAKERS) <= {"turns.single"}


@pytest.mark.parametrize("name", list(TARGETS))
def test_plain_conversation_passes_every_target(name: str) -> None:
    """A plain system/user/assistant conversation breaks no rule of any target."""
    assert rule_ids(name, {"messages": [S, U, A, U, A]}) == set()


def test_paths_point_at_the_offending_message() -> None:
    """A violation carries the JSON path of the message that broke the rule."""
    conv = read_openai(msgspec.json.encode({"messages": [U, U, A]}))
    found = check(TARGETS["siliconflow"], conv)
    assert ("turns.alternation", "$.messages[1].role", "two 'user' turns in a row") in found


def test_volcengine_loss_weights_read_back_as_openai_integers() -> None:
    """loss_weight 1.0/0.0 reads back as OpenAI's integer weights 1/0."""
    line = msgspec.json.encode({"messages": [U, {**A, "loss_weight": 0.0}]})
    back = TARGETS["openai"].write(TARGETS["volcengine"].read(line), {})
    assert b'"weight":0}' in msgspec.json.encode(back)
