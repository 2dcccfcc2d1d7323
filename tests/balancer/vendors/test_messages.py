"""Rewriting a request's messages for a vendor: the role developer as system, the leading system messages merged,
empty assistant messages left out, a placeholder reasoning on tool calls."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from balancer.vendors import messages


def test_developer_as_system_renames_the_role_and_keeps_the_rest() -> None:
    """Every "developer" role (an escaped spelling too) becomes "system"; every other field of every message is
    kept as it came, key order included."""
    raw = (
        b'[{"content": "\\u89c4\\u5219", "role": "\\u0064eveloper"}, {"role":"user","content":[{"type":"text","text":"x"}]},'
        b' {"role": "developer", "name": "r", "content": "y"}]'
    )
    out = bytes(messages.developer_as_system(msgspec.Raw(raw)))
    assert orjson.loads(out) == [
        {"content": "规则", "role": "system"},
        {"role": "user", "content": [{"type": "text", "text": "x"}]},
        {"role": "system", "name": "r", "content": "y"},
    ]
    assert b'"content":"\\u89c4\\u5219"' in out and out.index(b"content") < out.index(b"role")


def test_the_leading_system_messages_become_one() -> None:
    """The system messages a request starts with become one, their texts a blank line apart (text parts a line
    apart), the first one's other fields kept; every later message is kept byte for byte, a later system one too."""
    raw = orjson.dumps(
        [
            {"role": "system", "name": "身份", "content": "你是客服助手。"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "工作区：/srv"}, {"type": "text", "text": "OS: linux"}],
            },
            {"role": "user", "content": "你好\u3000！"},
            {"role": "system", "content": "later"},
        ]
    )
    out, merged = messages.merge_leading_systems(msgspec.Raw(raw))
    assert merged == 2
    assert orjson.loads(bytes(out)) == [
        {"role": "system", "name": "身份", "content": "你是客服助手。\n\n工作区：/srv\nOS: linux"},
        {"role": "user", "content": "你好\u3000！"},
        {"role": "system", "content": "later"},
    ]


@pytest.mark.parametrize(
    "first",
    [
        [{"role": "user", "content": "x"}],
        [{"role": "system", "content": "only one"}, {"role": "user", "content": "x"}],
        [{"role": "system", "content": "a"}, {"role": "system", "content": [{"type": "image_url", "image_url": {}}]}],
        [{"role": "system", "content": "a"}, {"role": "system", "content": 7}],
        [{"role": "system", "content": "a"}, {"role": "system", "content": [{"type": "text", "text": None}]}],
    ],
)
def test_what_cannot_be_merged_is_left_as_it_came(first: list[object]) -> None:
    """Fewer than two leading system messages, or one whose content is not text, is left byte for byte (the
    vendor judges what is not text; merging it would change what was asked)."""
    raw = msgspec.Raw(orjson.dumps(first))
    out, merged = messages.merge_leading_systems(raw)
    assert merged == 0 and bytes(out) == bytes(raw)


def test_assistant_messages_that_say_nothing_are_left_out() -> None:
    """An empty assistant message without tool calls is left out; beside tool calls its empty content is, the tool
    calls and every other message kept byte for byte; an assistant message with text, or a tool call with null
    content (OpenAI's own shape), is kept as it came."""
    call = {"id": "call_1", "type": "function", "function": {"name": "查天气", "arguments": '{"城市":"北京"}'}}
    history = [
        {"role": "user", "content": "北京天气？"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
        {"role": "assistant", "content": [{"type": "text", "text": ""}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
        {"role": "assistant", "content": "晴天。"},
        {"role": "user", "content": "谢谢"},
    ]
    out, contents, dropped = messages.without_empty_assistant(msgspec.Raw(orjson.dumps(history)))
    assert (contents, dropped) == (1, 1)
    assert orjson.loads(bytes(out)) == [
        history[0],
        {"role": "assistant", "tool_calls": [call]},
        *history[2:3],
        *history[4:],
    ]


CALL = {"id": "call_1", "type": "function", "function": {"name": "查天气", "arguments": '{"城市":"北京"}'}}
TOOL_LOOP = [
    {"role": "user", "content": "北京天气？"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},  # OpenAI's shape: no reasoning_content
    {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
    {"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
    {"role": "assistant", "reasoning_content": "先查北京，再查上海。", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "多云"},
    {"role": "assistant", "content": "北京晴，上海多云。"},  # the answer of a turn that called tools
    {"role": "user", "content": "谢谢", "reasoning_content": None},
    {"role": "assistant", "content": "不客气。"},  # a turn without a tool call: nothing to give
    {"role": "user", "content": "再见"},
]


@pytest.mark.parametrize(("text", "given", "empty_kept"), [("", 2, True), (".", 3, False)])
def test_a_turn_that_called_tools_is_given_the_placeholder(text: str, given: int, empty_kept: bool) -> None:
    """Each assistant message of a turn that called a tool without reasoning_content gets the placeholder (the calls
    and the turn's answer), and one with "" too when the placeholder is not empty; one with its own reasoning, a turn
    without tool calls and every other message are kept as they came."""
    out, n = messages.with_reasoning(msgspec.Raw(orjson.dumps(TOOL_LOOP)), text)
    assert n == given
    expected = [dict(m) for m in TOOL_LOOP]
    expected[1]["reasoning_content"] = expected[7]["reasoning_content"] = text
    expected[3]["reasoning_content"] = "" if empty_kept else text
    assert orjson.loads(bytes(out)) == expected


def test_a_history_that_kept_its_reasoning_is_given_nothing() -> None:
    """A turn that came back with its reasoning_content is given nothing (the caller logs no change)."""
    kept = [*TOOL_LOOP[:1], *TOOL_LOOP[5:7], {**TOOL_LOOP[7], "reasoning_content": "答"}, *TOOL_LOOP[8:]]
    _, n = messages.with_reasoning(msgspec.Raw(orjson.dumps(kept)), ".")
    assert n == 0
