"""What a chat request's messages say about their shape, read from raw slices (``balancer.turns``)."""

from __future__ import annotations

import msgspec
import pytest

from balancer import turns

CALLS = b'[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]'


@pytest.mark.parametrize(
    ("content", "tool_calls", "nothing"),
    [
        (b"", b"", True),  # no content, no tool calls
        (b"null", b"", True),
        (b'""', b"", True),
        (b"[]", b"", True),
        (b'[{"type":"text","text":""}]', b"null", True),
        (b'"\xe5\xa5\xbd"', b"", False),
        (b'[{"type":"text","text":"a"}]', b"", False),
        (b"", CALLS, False),  # a tool call as OpenAI sends it
        (b"null", CALLS, False),
        (b'""', CALLS, True),  # as many clients send it
        (b"[]", CALLS, True),
        (b'[{"type":"text","text":""}]', CALLS, True),
        (b'"\xe6\x9f\xa5\xe4\xb8\x80\xe4\xb8\x8b"', CALLS, False),
        (b'[{"type":"text","text":""},{"type":"image_url","image_url":{}}]', b"", False),
        (b'[1, "x"]', b"", False),  # not parts: forwarded for the vendor to judge
        (b"7", b"", False),
    ],
)
def test_an_assistant_message_that_says_nothing(content: bytes, tool_calls: bytes, nothing: bool) -> None:
    """No text at all (absent, null, "", empty parts) without tool calls; beside tool calls, "" or empty parts
    (absent or null content is how OpenAI sends a tool call, and says nothing wrong)."""
    assert turns.says_nothing(msgspec.Raw(content), msgspec.Raw(tool_calls)) is nothing


def test_tool_calls_held() -> None:
    """Absent, null and [] hold no tool calls; a list with one does."""
    assert [turns.has_calls(msgspec.Raw(v)) for v in (b"", b"null", b"[]", CALLS)] == [False, False, False, True]


def test_a_tool_call_without_its_reasoning() -> None:
    """reasoning_content absent, null or "" holds no reasoning; any text, a single space too, holds some."""
    got = [turns.unreasoned(msgspec.Raw(v)) for v in (b"", b"null", b'""', b'" "', b'"\\u60f3"', '"想"'.encode())]
    assert got == [True, True, True, False, False, False]


def test_the_turns_that_called_a_tool() -> None:
    """Every assistant message of a turn (user to user, or to the end) with a tool call in it is named; a turn's
    messages without one are not, nor those before the first user message's turn closes without a call."""
    roles = ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "user", "assistant", "tool"]
    calls = [False, False, True, False, False, False, False, False, True, False]
    assert turns.in_tool_turns(roles, calls) == [2, 4, 8]
    assert turns.in_tool_turns(["user", "assistant"], [False, False]) == []
    assert turns.in_tool_turns(["assistant", "user"], [True, False]) == [0]


def test_system_messages_up_front() -> None:
    """The system and developer messages a request starts with are counted; one later is not."""
    assert turns.leading_systems(["system", "developer", "user", "system"]) == 2
    assert turns.leading_systems(["user"]) == 0 and turns.leading_systems(["system"]) == 1
