"""Alpaca ``instruction``/``input``/``output`` with ``history`` (open formats; also iFlytek Spark).

Source: https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md. History answers are
learned by trainers (no per-turn mask); reasoning goes into ``output`` as ``<think>`` tags.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from finetune.model import Conversation, Message, chosen, rejected, text_of
from finetune.targets._messages import split_think, with_think
from finetune.targets.base import Caps, Options, Target


class Line(Struct, frozen=True, kw_only=True, omit_defaults=True):
    instruction: str
    input: str | UnsetType = UNSET
    output: str | UnsetType = UNSET
    system: str | UnsetType = UNSET
    history: list[list[str]] | UnsetType = UNSET
    chosen: str | UnsetType = UNSET
    rejected: str | UnsetType = UNSET


_line = msgspec.json.Decoder(Line)


def write_alpaca(conv: Conversation) -> Line:
    """The last user turn as ``instruction``, earlier exchanges as ``history``.

    ``input`` and ``system`` are on every line (empty strings when unused); ``history`` only when there
    is one, since an empty-list fill breaks columnar loaders (see ``Target.sparse_keys``).
    """
    system = ""
    pairs: list[list[str]] = []
    for m in conv.messages:
        if m.role == "system":
            system = text_of(m.content)
        elif m.role == "user":
            pairs.append([text_of(m.content), ""])
        elif pairs:
            pairs[-1][1] = text_of(with_think(m.content, m.reasoning_content))
    instruction, output = pairs.pop() if pairs else ["", ""]
    good, bad = chosen(conv), rejected(conv)
    return Line(
        instruction=instruction,
        input="",
        output=UNSET if good else output,
        system=system,
        history=[[q, text_of(split_think(a)[0])] for q, a in pairs] or UNSET,
        chosen=text_of(good.content) if good else UNSET,
        rejected=text_of(bad.content) if bad else UNSET,
    )


def read_alpaca(raw: bytes) -> Conversation:
    """An Alpaca line back to a canonical conversation or preference pair."""
    line = _line.decode(raw)
    msgs = [Message(role="system", content=line.system)] if line.system else []
    for q, a in line.history or []:
        msgs += [Message(role="user", content=q), Message(role="assistant", content=a)]
    prompt = f"{line.instruction}\n{line.input}" if line.input else line.instruction
    msgs.append(Message(role="user", content=prompt))
    if line.chosen is not UNSET and line.rejected is not UNSET:
        good, bad = (
            Message(role="assistant", content=line.chosen),
            Message(role="assistant", content=line.rejected),
        )
        return Conversation(messages=msgs, preferred_output=[good], non_preferred_output=[bad])
    answer, reasoning = split_think(line.output or "")
    msgs.append(Message(role="assistant", content=answer, reasoning_content=reasoning))
    return Conversation(messages=msgs)


def write(conv: Conversation, options: Options) -> Any:
    """The Alpaca line."""
    return write_alpaca(conv)


TARGET = Target(
    name="alpaca",
    title="Alpaca instruction/input/output (+history; chosen/rejected strings)",
    source="https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md",
    caps=Caps(preference=True, reasoning="think"),
    write=write,
    read=read_alpaca,
    tokenizer="qwen",
    sparse_keys=("history",),
    notes=("history answers are trained too; weight-0 turns need --weights drop|split to stay untrained",),
)
