"""Volcengine Ark / Doubao: ``messages`` with ``loss_weight`` and ``reasoning_content``.

Source: https://www.volcengine.com/docs/82379/1099461 (EN: https://docs.byteplus.com/docs/ModelArk/1099461).
Preference lines use the scored-candidates shape from the BytePlus mirror (assumed DPO): the last
assistant ``content`` is ``[{"text": chosen, "score": 1.0}, {"text": rejected, "score": 0.0}]``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from finetune.model import Conversation, Message, chosen, rejected
from finetune.targets._messages import MessagesLine, MsgOut, read_messages, write_messages
from finetune.targets.base import Caps, Options, Target


def write(conv: Conversation, options: Options) -> Any:
    """Messages with ``loss_weight``; a preference pair as scored candidates."""
    line = write_messages(msgspec.structs.replace(conv, preferred_output=UNSET), "loss_weight", "field")
    good, bad = chosen(conv), rejected(conv)
    if good is None or bad is None:
        return line
    scored = [{"text": good.content, "score": 1.0}, {"text": bad.content, "score": 0.0}]
    return MessagesLine(messages=[*line.messages, MsgOut(role="assistant", content=scored)])


def read(line: bytes) -> Conversation:
    """Messages back to canonical form; scored candidates back to a preference pair."""
    conv = read_messages(line)
    last = conv.messages[-1] if conv.messages else None
    if last is None or not isinstance(last.content, list) or not all("score" in c for c in last.content):
        return conv
    ranked = sorted(last.content, key=lambda c: -float(c["score"]))
    good, bad = (Message(role="assistant", content=str(c["text"])) for c in (ranked[0], ranked[-1]))
    return Conversation(messages=conv.messages[:-1], preferred_output=[good], non_preferred_output=[bad])


TARGET = Target(
    name="volcengine",
    title="Volcengine Ark / Doubao SFT (+ scored-candidate DPO)",
    source="https://www.volcengine.com/docs/82379/1099461",
    caps=Caps(weights="float", reasoning="field", preference=True),
    write=write,
    read=read,
    notes=(
        "preference format (scored candidates) taken from a mirror whose heading was not captured",
        "function-call line shape and upload limits unconfirmed: tools off (--set volcengine.tools=true)",
    ),
)
