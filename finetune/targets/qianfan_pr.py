"""Baidu Qianfan Prompt+Response template (one JSON array of turns per line) and its DPO template.

Sources: https://ai.baidu.com/ai-doc/WENXINWORKSHOP/yliu6bqzw (SFT),
https://ai.baidu.com/ai-doc/WENXINWORKSHOP/ulus64y89 (Prompt+Chosen+Rejected), SDK validator
https://github.com/baidubce/bce-qianfan-sdk/blob/main/python/qianfan/dataset/schema.py.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from finetune.model import Conversation, Message, chosen, rejected, text_of
from finetune.targets.base import Caps, Options, Target


class Turn(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One element of a line: a prompt and its response (history turns of DPO use user/assistant)."""

    system: str | UnsetType = UNSET
    prompt: str | UnsetType = UNSET
    response: list[list[str]] | str | UnsetType = UNSET
    weight: int | UnsetType = UNSET
    user: str | UnsetType = UNSET
    assistant: str | UnsetType = UNSET
    chosen: str | UnsetType = UNSET
    rejected: str | UnsetType = UNSET


_turns = msgspec.json.Decoder(list[Turn])


def _pairs(messages: list[Message]) -> tuple[str | UnsetType, list[tuple[str, Message | None]]]:
    system: str | UnsetType = UNSET
    pairs: list[tuple[str, Message | None]] = []
    for m in messages:
        if m.role == "system":
            system = text_of(m.content)
        elif m.role == "user":
            pairs.append((text_of(m.content), None))
        elif pairs:
            pairs[-1] = (pairs[-1][0], m)
    return system, pairs


def write(conv: Conversation, options: Options) -> Any:
    """An array of turns; ``response`` as ``[["text"]]`` (SDK) unless ``response=string``."""
    system, pairs = _pairs(conv.messages)
    good, bad = chosen(conv), rejected(conv)
    if good is not None and bad is not None:
        turns = [Turn(user=u, assistant=text_of(a.content) if a else "") for u, a in pairs]
        turns[-1] = Turn(user=pairs[-1][0], chosen=text_of(good.content), rejected=text_of(bad.content))
    else:
        nested = options.get("response") != "string"
        turns = [
            Turn(
                prompt=u,
                response=[[text_of(a.content if a else "")]] if nested else text_of(a.content if a else ""),
                weight=int(a.weight) if a is not None and a.weight is not UNSET else UNSET,
            )
            for u, a in pairs
        ]
    if system is not UNSET and turns:
        turns[0] = msgspec.structs.replace(turns[0], system=system)
    return turns


def _answer(turn: Turn) -> str:
    r = turn.response
    if isinstance(r, list):
        return r[0][0] if r and r[0] else ""
    return r if isinstance(r, str) else (turn.assistant if isinstance(turn.assistant, str) else "")


def read(line: bytes) -> Conversation:
    """An array of turns back to a canonical conversation (or preference pair)."""
    turns = _turns.decode(line)
    msgs: list[Message] = []
    if turns and turns[0].system is not UNSET:
        msgs.append(Message(role="system", content=turns[0].system))
    for t in turns:
        user = t.prompt if t.prompt is not UNSET else t.user
        msgs.append(Message(role="user", content=user if isinstance(user, str) else ""))
        if t.chosen is not UNSET and t.rejected is not UNSET:
            good, bad = (
                Message(role="assistant", content=t.chosen),
                Message(role="assistant", content=t.rejected),
            )
            return Conversation(messages=msgs, preferred_output=[good], non_preferred_output=[bad])
        msgs.append(Message(role="assistant", content=_answer(t), weight=t.weight))
    return Conversation(messages=msgs)


TARGET = Target(
    name="qianfan-pr",
    title="Baidu Qianfan Prompt+Response array (SFT) and Prompt+Chosen+Rejected (DPO)",
    source="https://ai.baidu.com/ai-doc/WENXINWORKSHOP/yliu6bqzw",
    caps=Caps(weights="binary", preference=True, max_turns=150, max_file_bytes=512 << 20),
    write=write,
    read=read,
    options={"response": "nested"},
    notes=(
        'response shape: the SDK validator wants [["text"]], current docs show a string '
        "(--set qianfan-pr.response=string)",
        "per-turn weight only works on some ERNIE models (Tiny, Character, Lite, Speed)",
        "the chain-of-thought data shape was not captured: reasoning is dropped (reported)",
    ),
)
