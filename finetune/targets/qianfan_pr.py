"""Baidu Qianfan array templates (one JSON array of turns per line): Prompt+Response (SFT),
Prompt+Chosen+Rejected (DPO), Prompt+Chosen-or-Rejected (KTO) and Prompt+ranked Responses.

Sources: https://ai.baidu.com/ai-doc/WENXINWORKSHOP/yliu6bqzw (SFT),
https://ai.baidu.com/ai-doc/WENXINWORKSHOP/ulus64y89 (DPO: the last turn has ``chosen`` and ``rejected``),
https://cloud.baidu.com/doc/WENXINWORKSHOP/s/3ly70wuxy (KTO: the last turn has only one of them),
https://cloud.baidu.com/doc/WENXINWORKSHOP/s/5m49d3gby (ranking: several responses with ``score``),
SDK validator https://github.com/baidubce/bce-qianfan-sdk/blob/main/python/qianfan/dataset/schema.py
(``response`` is ``[["text"]]``; a sorted conversation lists ``[["a"], ["b"], …]``).

Same keys on every line: Baidu's SDK loads lines in chunks of ten into pyarrow tables and refuses
the file ("multi-schema has been found between dataset entries") when the keys of one chunk differ
from another's. So the first turn always carries ``system`` (empty when there is none) and every
SFT turn carries ``weight`` (1, the documented default, when the source has none).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from finetune.model import Conversation, Message, Ranked, chosen, rejected, text_of
from finetune.targets.base import Caps, Options, Target

#: The v2 Files API limit (https://cloud.baidu.com/doc/qianfan-api/s/9mi6szj38); console import allows 1 GB.
MAX_FILE_BYTES = 512_000_000
LIMITS_SOURCE = "https://cloud.baidu.com/doc/qianfan-api/s/9mi6szj38"


class Turn(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One element of a line: a prompt and its response (history turns of DPO/KTO use user/assistant)."""

    system: str | UnsetType = UNSET
    prompt: str | UnsetType = UNSET
    response: list[list[str]] | str | UnsetType = UNSET
    score: list[int | float] | UnsetType = UNSET
    weight: int | UnsetType = UNSET
    user: str | UnsetType = UNSET
    assistant: str | UnsetType = UNSET
    chosen: str | UnsetType = UNSET
    rejected: str | UnsetType = UNSET


_turns = msgspec.json.Decoder(list[Turn])


def _pairs(messages: list[Message]) -> tuple[str, list[tuple[str, Message | None]]]:
    system = ""
    pairs: list[tuple[str, Message | None]] = []
    for m in messages:
        if m.role == "system":
            system = text_of(m.content)
        elif m.role == "user":
            pairs.append((text_of(m.content), None))
        elif pairs:
            pairs[-1] = (pairs[-1][0], m)
    return system, pairs


def _answer_text(a: Message | None) -> str:
    return text_of(a.content) if a is not None else ""


def _preference(pairs: list[tuple[str, Message | None]], conv: Conversation) -> list[Turn]:
    """DPO and KTO: history as user/assistant, the last turn with chosen and/or rejected."""
    turns = [Turn(user=u, assistant=_answer_text(a)) for u, a in pairs[:-1]]
    good, bad = chosen(conv), rejected(conv)
    last = Turn(
        user=pairs[-1][0],
        chosen=_answer_text(good) if good else UNSET,
        rejected=_answer_text(bad) if bad else UNSET,
    )
    return [*turns, last]


def _responses(pairs: list[tuple[str, Message | None]], conv: Conversation, nested: bool) -> list[Turn]:
    """SFT (every turn weighted) or ranking (the last turn lists its candidates, best first)."""

    def response(text: str) -> list[list[str]] | str:
        return [[text]] if nested else text

    if conv.ranked_outputs is UNSET:
        return [Turn(prompt=u, response=response(_answer_text(a)), weight=_weight(a)) for u, a in pairs]
    turns = [Turn(prompt=u, response=response(_answer_text(a))) for u, a in pairs[:-1]]
    ranked = sorted(conv.ranked_outputs, key=lambda r: -r.score)
    last = Turn(prompt=pairs[-1][0], response=[[r.content] for r in ranked], score=[r.score for r in ranked])
    return [*turns, last]


def _weight(a: Message | None) -> int:
    return int(a.weight) if a is not None and a.weight is not UNSET else 1


def write(conv: Conversation, options: Options) -> Any:
    """An array of turns; ``response`` as ``[["text"]]`` (SDK) unless ``response=string``."""
    system, pairs = _pairs(conv.messages)
    if not pairs:
        pairs = [("", None)]
    if conv.kind in {"dpo", "kto"}:
        turns = _preference(pairs, conv)
    else:
        turns = _responses(pairs, conv, options.get("response") != "string")
    turns[0] = msgspec.structs.replace(turns[0], system=system)
    return turns


def _answer(turn: Turn) -> str:
    r = turn.response
    if isinstance(r, list):
        return r[0][0] if r and r[0] else ""
    return r if isinstance(r, str) else (turn.assistant if isinstance(turn.assistant, str) else "")


def _last(t: Turn, msgs: list[Message]) -> Conversation | None:
    """The conversation when ``t`` ends it as a DPO, KTO or ranking turn; None for an SFT turn."""
    good = Message(role="assistant", content=t.chosen) if isinstance(t.chosen, str) else None
    bad = Message(role="assistant", content=t.rejected) if isinstance(t.rejected, str) else None
    if good or bad:
        return Conversation(
            messages=msgs,
            preferred_output=[good] if good else UNSET,
            non_preferred_output=[bad] if bad else UNSET,
        )
    if isinstance(t.response, list) and (len(t.response) > 1 or t.score is not UNSET):
        texts = [r[0] if r else "" for r in t.response]
        scores = t.score if t.score is not UNSET else list(range(len(texts) - 1, -1, -1))
        return Conversation(
            messages=msgs, ranked_outputs=[Ranked(content=c, score=s) for c, s in zip(texts, scores, strict=False)]
        )
    return None


def read(line: bytes) -> Conversation:
    """An array of turns back to a canonical conversation (or DPO, KTO or ranking sample)."""
    turns = _turns.decode(line)
    msgs: list[Message] = []
    if turns and turns[0].system:
        msgs.append(Message(role="system", content=turns[0].system))
    for t in turns:
        user = t.prompt if t.prompt is not UNSET else t.user
        msgs.append(Message(role="user", content=user if isinstance(user, str) else ""))
        special = _last(t, msgs)
        if special is not None:
            return special
        msgs.append(Message(role="assistant", content=_answer(t), weight=t.weight))
    return Conversation(messages=msgs)


TARGET = Target(
    name="qianfan-pr",
    title="Baidu Qianfan Prompt+Response array (SFT), Chosen+Rejected (DPO), KTO, ranked responses",
    source="https://ai.baidu.com/ai-doc/WENXINWORKSHOP/yliu6bqzw",
    caps=Caps(
        weights="binary",
        preference=True,
        kto=True,
        ranking=True,
        max_turns=150,
        max_file_bytes=MAX_FILE_BYTES,
    ),
    write=write,
    read=read,
    limits_source=LIMITS_SOURCE,
    # DPO/KTO history turns carry user/assistant, and a KTO line only one of chosen/rejected: the
    # templates tie these keys to a line's shape (SFT and ranking lines have fixed keys).
    sparse_keys=("assistant", "chosen", "rejected"),
    options={"response": "nested"},
    notes=(
        'response=nested writes [["text"]], the shape Baidu\'s SDK validator accepts; the current doc '
        "pages show a plain string (--set qianfan-pr.response=string); ranked responses are always nested",
        "every line has the same keys: system on the first turn (empty if none), weight on every SFT "
        "turn (1 if none) — the SDK refuses files whose lines differ",
        "per-turn weight only takes effect on some ERNIE models (Tiny, Character, Lite, Speed)",
        "the chain-of-thought data shape was not captured: reasoning is dropped (reported)",
    ),
)
