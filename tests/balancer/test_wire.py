"""The request view: what routing reads from a body decoded once."""

from __future__ import annotations

import orjson
import pytest

from balancer import wire
from balancer.errors import GatewayError

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}


def view(messages: object) -> wire.RequestView:
    data = orjson.dumps({"model": "m", "messages": messages})
    return wire.chat_view(wire.decode_body(data), len(data))


AUDIO = {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}


@pytest.mark.parametrize(
    ("messages", "media"),
    [
        ([{"role": "user", "content": "看这张图 image_url"}], ""),
        ([{"role": "user", "content": [{"type": "text", "text": '{"type": "image_url"}'}]}], ""),
        ([{"role": "user", "content": [{"type": "text", "text": "看"}, IMAGE]}], "image_url"),
        (
            [
                {"role": "user", "content": [IMAGE]},
                {"role": "assistant", "content": "猫"},
                {"role": "user", "content": "?"},
            ],
            "image_url",
        ),
        ([{"role": "tool", "tool_call_id": "t", "content": [IMAGE]}], "image_url"),
        ([{"role": "user"}, {"role": "assistant", "content": None}], ""),
        ([{"role": "user", "content": [1, "image_url", None]}], ""),
        ([{"role": "user", "content": [{"type": 3}, {"type": ["image_url"]}, {"image_url": {}}]}], ""),
        ([{"role": "user", "content": {"type": "image_url"}}], ""),
        ([{"role": "user", "content": [{"type": "text", "text": "听"}, AUDIO, IMAGE]}], "input_audio"),
        ([{"role": "assistant", "content": [{"type": "refusal", "refusal": "不"}]}], "refusal"),
    ],
)
def test_media_is_the_first_part_that_is_not_text(messages: object, media: str) -> None:
    """``media`` names the first part of any message's content array (history and tool results too) that is not
    text, never text that names one; content of any other shape is left for the vendor to judge, never a 400 here."""
    assert view(messages).media == media


@pytest.mark.parametrize(
    ("fmt", "json_mode", "json_schema"),
    [
        (None, False, False),
        ({"type": "text"}, False, False),
        ({"type": "json_object"}, True, False),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, True, True),
    ],
)
def test_json_schema_is_structured_output(fmt: object, json_mode: bool, json_schema: bool) -> None:
    """``json_mode`` is either JSON response_format, ``json_schema`` the structured one alone."""
    data = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": fmt})
    v = wire.chat_view(wire.decode_body(data), len(data))
    assert (v.json_mode, v.json_schema) == (json_mode, json_schema)


@pytest.mark.parametrize(
    ("roles", "systems", "later"),
    [
        (["user"], 0, False),
        (["system", "user"], 1, False),
        (["system", "developer", "system", "user", "assistant", "user"], 3, False),
        (["system", "user", "system", "user"], 1, True),
        (["user", "assistant", "developer", "user"], 0, True),
        (["system"], 1, False),
    ],
)
def test_system_messages_are_counted_before_the_first_turn_and_seen_after(
    roles: list[str], systems: int, later: bool
) -> None:
    """``systems`` counts the system and developer messages a request starts with; ``system_later`` says one
    comes after another role's message."""
    data = orjson.dumps({"model": "m", "messages": [{"role": r, "content": "x"} for r in roles]})
    v = wire.chat_view(wire.decode_body(data), len(data))
    assert (v.systems, v.system_later) == (systems, later)


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("assistant", "answer", "unreasoned"),
    [
        ({"content": None, "tool_calls": [CALL]}, {"reasoning_content": "想"}, True),
        ({"content": None, "tool_calls": [CALL], "reasoning_content": None}, {"reasoning_content": "想"}, True),
        ({"content": None, "tool_calls": [CALL], "reasoning_content": ""}, {"reasoning_content": "想"}, True),
        ({"content": None, "tool_calls": [CALL], "reasoning_content": "想"}, {"reasoning_content": "想"}, False),
        ({"content": None, "tool_calls": [CALL], "reasoning_content": "想"}, {}, True),  # the turn's answer lacks it
        ({"content": "好", "tool_calls": []}, {}, False),  # no tool called: nothing needed
        ({"content": "好"}, {}, False),
    ],
)
def test_a_turn_that_called_a_tool_without_its_reasoning_is_seen(
    assistant: dict[str, object], answer: dict[str, object], unreasoned: bool
) -> None:
    """``unreasoned``: an assistant message of a turn that called a tool (user to user) has no reasoning_content
    (absent, null, ""): the call, or the turn's answer after the tool's result."""
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", **assistant},
        {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
        {"role": "assistant", "content": "好", **answer},
        {"role": "user", "content": "y"},
        {"role": "assistant", "content": "再见"},  # a later turn without tool calls needs nothing
        {"role": "user", "content": "z"},
    ]
    assert view(messages).unreasoned is unreasoned


@pytest.mark.parametrize(
    ("thinking", "seen"),
    [({"type": "enabled"}, "enabled"), ({"type": "disabled", "budget_tokens": 5}, "disabled"), ({"type": 1}, "")],
)
def test_thinking_is_the_requests_switch(thinking: object, seen: str) -> None:
    """``thinking`` is the request's thinking.type when a string; any other shape is "" and not refused here (not an
    OpenAI field: the vendor judges it), and so is a thinking that is not an object."""
    for value, expected in ((thinking, seen), ("on", ""), (None, "")):
        data = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "thinking": value})
        assert wire.chat_view(wire.decode_body(data), len(data)).thinking == expected


@pytest.mark.parametrize(
    ("choice", "seen"),
    [
        (None, ""),
        ("auto", "auto"),
        ("required", "required"),
        ({"type": "function", "function": {"name": "get_weather"}}, "function"),
    ],
)
def test_tool_choice_is_its_string_or_its_objects_type(choice: object, seen: str) -> None:
    """``tool_choice`` is read as its string, or a named tool's object as its type ("function")."""
    data = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": choice})
    assert wire.chat_view(wire.decode_body(data), len(data)).tool_choice == seen


def test_a_tool_choice_of_another_type_is_400_naming_it() -> None:
    """A tool_choice that is neither a string nor an object is refused with a 400 naming it, never forwarded."""
    data = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": 5})
    with pytest.raises(GatewayError) as exc:
        wire.chat_view(wire.decode_body(data), len(data))
    assert exc.value.status == 400 and exc.value.param == "tool_choice"


@pytest.mark.parametrize(
    ("roles", "alternating"),
    [
        (["user"], True),
        (["system", "developer", "user"], True),
        (["user", "assistant", "user"], True),
        (["user", "assistant", "tool", "tool"], True),
        (["system"], False),
        (["user", "assistant"], False),
        (["user", "user"], False),
        (["assistant", "user"], False),
        (["user", "assistant", "assistant", "user"], False),
        (["user", "assistant", "tool", "user"], False),
    ],
)
def test_alternating_turns(roles: list[str], alternating: bool) -> None:
    """Turns alternate when, system and developer messages aside, they start with user, end with user or tool, and
    user/tool and assistant take turns (tool results may follow each other)."""
    assert view([{"role": r, "content": "x"} for r in roles]).alternating is alternating
