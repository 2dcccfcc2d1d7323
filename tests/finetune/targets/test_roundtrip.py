"""Property: OpenAI → target → OpenAI keeps every feature the target can express."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune.judge import check
from finetune.model import Conversation, chosen, rejected, text_of
from finetune.scan import scan
from finetune.targets import TARGETS
from finetune.targets.base import Caps, Target
from finetune.transforms import Settings, prepare
from tests.finetune.strategies import conversations, kto_samples, preferences, rankings

ENC = msgspec.json.Encoder()


def features(conv: Conversation, caps: Caps) -> Any:
    """What a target with these caps promises to keep: roles, texts, and what else it supports."""
    msgs = []
    for m in conv.messages:
        entry: list[Any] = [m.role, text_of(m.content)]
        if m.role == "assistant" and caps.weights != "none":
            entry.append(1.0 if m.weight is msgspec.UNSET else float(m.weight))
        if m.role == "assistant" and caps.reasoning != "drop":
            entry.append(m.reasoning_content or None)
        if m.tool_calls is not msgspec.UNSET:
            entry.append([(c.function.name, msgspec.json.decode(c.function.arguments)) for c in m.tool_calls])
        msgs.append(entry)
    tools = sorted(t["function"]["name"] for t in conv.tools) if conv.tools else []
    good, bad = chosen(conv), rejected(conv)
    sides = (text_of(good.content) if good else None, text_of(bad.content) if bad else None)
    ranked = sorted((r.content, float(r.score)) for r in conv.ranked_outputs) if conv.ranked_outputs else None
    return msgs, tools, sides, ranked


def round_trip(target: Target, conv: Conversation) -> None:
    """Every sample the target accepts reads back with the same features."""
    samples = prepare(conv, scan(conv), target.caps, settings=Settings(), note=lambda *a: None)
    for sample in samples:
        if check(target, sample):
            continue
        line = ENC.encode(target.write(sample, target.options))
        back = target.read(line)
        assert features(back, target.caps) == features(sample, target.caps), line.decode()


@pytest.mark.parametrize("name", list(TARGETS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_sft_round_trip(name: str, data: st.DataObject) -> None:
    """SFT conversations survive the trip through the target and back."""
    target = TARGETS[name]
    round_trip(target, data.draw(conversations(tools=target.caps.tools)))


@pytest.mark.parametrize("name", [n for n, t in TARGETS.items() if t.caps.preference])
@settings(max_examples=25, deadline=None)
@given(conv=preferences())
def test_preference_round_trip(name: str, conv: Conversation) -> None:
    """Preference pairs survive the trip through every target that supports them."""
    round_trip(TARGETS[name], conv)


@pytest.mark.parametrize("name", [n for n, t in TARGETS.items() if t.caps.kto])
@settings(max_examples=25, deadline=None)
@given(conv=kto_samples())
def test_kto_round_trip(name: str, conv: Conversation) -> None:
    """KTO samples (one answer, labelled good or bad) survive every target that supports them."""
    assert check(TARGETS[name], conv) == []
    round_trip(TARGETS[name], conv)


@pytest.mark.parametrize("name", [n for n, t in TARGETS.items() if t.caps.ranking])
@settings(max_examples=25, deadline=None)
@given(conv=rankings())
def test_ranking_round_trip(name: str, conv: Conversation) -> None:
    """Ranked answers with their scores survive every target that supports ranking."""
    assert check(TARGETS[name], conv) == []
    round_trip(TARGETS[name], conv)
