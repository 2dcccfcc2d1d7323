"""The emulator's own reading of a request's messages (``balancer.emulator.replies``), apart from the gateway's."""

from __future__ import annotations

from typing import Any

import pytest

from balancer.emulator import replies

CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
LOOP: list[Any] = [
    {"role": "user", "content": "x"},
    {"role": "assistant", "content": None, "tool_calls": [CALL], "reasoning_content": ""},
    {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
    {"role": "assistant", "content": "好"},
    {"role": "user", "content": "y"},
    {"role": "assistant", "content": "再见"},
]


@pytest.mark.parametrize(
    ("empty_counts", "whole_turn", "at"),
    [(True, False, 1), (False, False, None), (False, True, 3), (True, True, 1)],
)
def test_the_first_message_missing_its_reasoning(empty_counts: bool, whole_turn: bool, at: int | None) -> None:
    """A tool call with "" counts as without reasoning only where "" is refused; with the whole turn needed, the
    turn's answer after the tool's result is named too; a later turn without a tool call never is."""
    assert replies.unreasoned_at(LOOP, empty_counts, whole_turn) == at


def test_thinking_is_the_requests_switch_else_the_models_default() -> None:
    """thinking.type "enabled" or "disabled" decides; anything else leaves the model's default."""
    assert replies.thinks({"thinking": {"type": "disabled"}}, True) is False
    assert replies.thinks({"thinking": {"type": "enabled"}}, False) is True
    assert replies.thinks({"thinking": "on"}, True) is True and replies.thinks({}, False) is False
