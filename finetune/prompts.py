"""What ``distill`` asks: each input line's conversation up to the turn to answer, as a chat request.

An input is OpenAI chat JSONL or a gateway transcript (``.jsonl.gz``, possibly still being written: read up
to its last complete line) — anything ``convert`` reads. A line's trailing assistant turns are dropped (a
finished conversation is asked again, the teacher's answer replacing the old one), so a prompt ends with a
user or tool turn; a line with nothing to answer, or a preference sample, is skipped and reported.
``weight`` and ``reasoning_content`` are not sent (vendors refuse earlier reasoning in a request); the
output keeps the prompt as it was read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from finetune.checkpoint import prompt_key
from finetune.io import incomplete_tail, numbered_lines, open_input
from finetune.model import Conversation, Message
from finetune.pipeline import LINE_ERRORS
from finetune.readers import Reader


@dataclass(frozen=True, slots=True)
class Prompt:
    """One line to answer: where it is, the prompt as read, the request sent and its checkpoint key."""

    file: str
    line: int
    conversation: Conversation  # the prompt (trailing answers dropped)
    request: dict[str, Any]
    key: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def prompt_of(conv: Conversation) -> Conversation | str:
    """The conversation up to the turn to answer, or why there is none."""
    if conv.is_preference:
        return "a preference sample has its answers already"
    messages = list(conv.messages)
    while messages and messages[-1].role == "assistant":
        messages.pop()
    if not messages or messages[-1].role not in ("user", "tool"):
        return "no user or tool turn to answer"
    return msgspec.structs.replace(conv, messages=messages, provider=UNSET, vendor=UNSET, model=UNSET)


def _sent(m: Message) -> Any:
    return msgspec.to_builtins(msgspec.structs.replace(m, weight=UNSET, reasoning_content=UNSET))


def request_for(conv: Conversation, route: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The chat request for a prompt: the route as ``model``, its messages and tools, and ``options``."""
    body: dict[str, Any] = {"model": route, "messages": [_sent(m) for m in conv.messages]}
    if conv.tools is not UNSET and conv.tools:
        body["tools"] = conv.tools
        if conv.parallel_tool_calls is not UNSET:
            body["parallel_tool_calls"] = conv.parallel_tool_calls
    body.update(options)
    return body


def read_prompts(
    sources: Sequence[tuple[Path, Reader]], route: str, options: Mapping[str, Any]
) -> Iterator[Prompt | tuple[str, str]]:
    """Every prompt of the inputs in order, or ``(where, why)`` for a line that is not one."""
    for path, reader in sources:
        with open_input(path) as stream:
            for number, line in numbered_lines(stream):
                where = f"{path.name}:{number}"
                try:
                    got = prompt_of(reader(line))
                except (msgspec.ValidationError, *LINE_ERRORS) as exc:
                    yield where, f"not a prompt: {exc}"
                    continue
                if isinstance(got, str):
                    yield where, got
                    continue
                request = request_for(got, route, options)
                yield Prompt(path.name, number, got, request, prompt_key(request))
            left = incomplete_tail(stream)
        if left:
            yield f"{path.name}", f"still being written: {left} bytes of an incomplete last line left for a later run"
