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


def _tool(parameters: Any) -> list[Any]:
    return [{"type": "function", "function": {"name": "web_search", "parameters": parameters}}]


SPEC_EXAMPLE = {  # MFJS's own example (github:MoonshotAI/walle docs/mfjs-spec.md): anyOf, an enum without type
    "type": "object",
    "properties": {
        "qs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "description": "q"},
        "limit": {"type": "integer", "default": 10},
        "lang": {"enum": ["Chinese", "English"]},
        "next": {"$ref": "#/$defs/node"},
    },
    "additionalProperties": False,
    "required": ["qs"],
}


@pytest.mark.parametrize(
    ("parameters", "broken"),
    [
        ({}, None),  # "starting from zero": anything
        (SPEC_EXAMPLE, None),
        ({"type": "object", "properties": {"source": {"description": "来源"}}}, "'properties.source': type is not"),
        (
            {"type": "object", "properties": {"tasks": {"type": "array", "items": {"type": "object", "properties": {
                "outputSchema": True}}}}},
            "'properties.tasks.items.properties': property schema for 'outputSchema' must be an object",
        ),
        ({"type": "object", "anyOf": [{"properties": {}}]}, "'root': when using anyOf, type should be defined"),
        ({"type": "object", "properties": {"q": {"anyOf": [{"description": "x"}]}}}, "'properties.q.anyOf.0': type"),
    ],
)  # fmt: skip
def test_tool_schemas_outside_moonshots_subset(parameters: Any, broken: str | None) -> None:
    """The emulator's Kimi refuses a property naming no type, a property schema that is not an object and anyOf
    beside type, each where the reported 400s put it (github:earendil-works/pi#4138, github:can1357/oh-my-pi#5952,
    github:abhigyanpatwari/GitNexus#2703); the spec's own examples pass."""
    got = replies.schema_break(_tool(parameters))
    assert (got is None) if broken is None else (got is not None and broken in got), got


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({"type": "object", "properties": {"q": {"type": "string"}}}, False),
        (SPEC_EXAMPLE, False),
        ({"properties": {"q": {"type": "string"}}}, True),  # the root's type left out
        ({}, True),
        ({"type": "array", "items": {"type": "string"}}, True),
    ],
)
def test_a_tool_schema_whose_root_is_not_an_object_is_refused(parameters: Any, refused: bool) -> None:
    """The emulator's Kimi refuses parameters whose root is not typed "object" before any other rule (what
    api.moonshot.cn answered k3 and k2.6 in github:14790897/MiqroForge-Desktop#1165); a tool without parameters,
    or another tool beside a good one, is not it."""
    assert replies.untyped_root(_tool(parameters)) is refused
    assert replies.untyped_root([*_tool(SPEC_EXAMPLE), {"type": "function", "function": {"name": "now"}}]) is False
