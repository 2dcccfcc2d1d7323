"""MiniMax (historic abab ChatCompletion Pro): ``bot_setting`` + ``sender_type`` messages.

Source: a mirror of MiniMax's platform docs, https://5cetebcrn8.apifox.cn/apidoc/project-3851255/doc-3518024.
Whether MiniMax still offers fine-tuning is unconfirmed; the format is kept for existing users.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from finetune.model import Conversation, Message, text_of
from finetune.targets.base import Caps, Options, Target


class BotSetting(Struct, frozen=True, kw_only=True):
    bot_name: str
    content: str


class Turn(Struct, frozen=True, kw_only=True):
    sender_type: str
    sender_name: str
    text: str


class Line(Struct, frozen=True, kw_only=True):
    bot_setting: list[BotSetting]
    messages: list[Turn]


_line = msgspec.json.Decoder(Line)


def write(conv: Conversation, options: Options) -> Any:
    """The system prompt as ``bot_setting``; user/assistant as USER/BOT turns."""
    bot, user = options["bot_name"], options["user_name"]
    system = "".join(text_of(m.content) for m in conv.messages if m.role == "system")
    turns = [
        Turn(sender_type="USER", sender_name=user, text=text_of(m.content))
        if m.role == "user"
        else Turn(sender_type="BOT", sender_name=bot, text=text_of(m.content))
        for m in conv.messages
        if m.role in {"user", "assistant"}
    ]
    return Line(bot_setting=[BotSetting(bot_name=bot, content=system or options["system"])], messages=turns)


def read(raw: bytes) -> Conversation:
    """Back to canonical messages (the bot setting becomes the system prompt)."""
    line = _line.decode(raw)
    system = line.bot_setting[0].content if line.bot_setting else ""
    msgs = [Message(role="system", content=system)] if system else []
    msgs += [
        Message(role="user" if t.sender_type == "USER" else "assistant", content=t.text)
        for t in line.messages
    ]
    return Conversation(messages=msgs)


TARGET = Target(
    name="minimax",
    title="MiniMax abab ChatCompletion Pro (historic; availability unconfirmed)",
    source="https://5cetebcrn8.apifox.cn/apidoc/project-3851255/doc-3518024",
    caps=Caps(system="field"),
    write=write,
    read=read,
    options={"bot_name": "MM智能助理", "user_name": "用户", "system": ""},
    notes=(
        "whether MiniMax still offers fine-tuning on today's platform is unconfirmed",
        "bot_name/user_name are free labels (--set minimax.bot_name=...)",
    ),
)
