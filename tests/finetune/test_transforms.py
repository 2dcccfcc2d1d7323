"""Transforms: each change is made only when needed, and reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from finetune.model import Conversation, Message
from finetune.readers import read_openai
from finetune.report import Action
from finetune.scan import scan
from finetune.targets import TARGETS
from finetune.transforms import Settings, prepare

U = {"role": "user", "content": "问？"}
A = {"role": "assistant", "content": "答。"}


class Notes(list[tuple[str, str]]):
    """Collects (rule, action) pairs from the transforms."""

    def __call__(self, rule: str, reason: str, action: Action = "rejected") -> None:
        self.append((rule, action))


def run(target: str, line: dict[str, Any], **settings: Any) -> tuple[list[Conversation], Notes]:
    """Apply a target's transforms to one line."""
    conv = read_openai(msgspec.json.encode(line))
    notes = Notes()
    out = prepare(conv, scan(conv), TARGETS[target].caps, settings=Settings(**settings), note=notes)
    return out, notes


def test_untouched_sample_is_the_same_object() -> None:
    """A sample that needs nothing is passed through as is, with no notes."""
    conv = read_openai(msgspec.json.encode({"messages": [U, A]}))
    assert prepare(conv, scan(conv), TARGETS["bailian"].caps, settings=Settings(), note=Notes())[0] is conv


def test_consecutive_users_are_merged_or_rejected() -> None:
    """Two user turns in a row are joined with a blank line, or rejected with --same-role reject."""
    merged, notes = run("siliconflow", {"messages": [U, {"role": "user", "content": "再问！"}, A]})
    assert merged[0].messages[0].content == "问？\n\n再问！" and notes == [("transform.merge", "altered")]
    rejected, notes = run("siliconflow", {"messages": [U, U, A]}, same_role="reject")
    assert rejected == [] and notes == [("turns.alternation", "rejected")]


def test_late_system_moves_into_next_user_turn() -> None:
    """A system message mid-conversation is folded into the next user turn for strict targets."""
    line = {"messages": [U, A, {"role": "system", "content": "改用英文。"}, U, A]}
    out, notes = run("siliconflow", line)
    assert out[0].messages[2] == Message(role="user", content="改用英文。\n\n问？")
    assert notes == [("transform.system", "altered")]


def test_openai_keeps_system_where_it_is() -> None:
    """OpenAI accepts system messages anywhere, so nothing moves."""
    out, notes = run("openai", {"messages": [U, A, {"role": "system", "content": "s"}, U, A]})
    assert out[0].messages[2].role == "system" and notes == []


def test_system_fold_override() -> None:
    """With system=fold the system prompt is prefixed to the first user turn."""
    import dataclasses

    caps = dataclasses.replace(TARGETS["siliconflow"].caps, system="fold")
    conv = read_openai(msgspec.json.encode({"messages": [{"role": "system", "content": "简洁。"}, U, A]}))
    out = prepare(conv, scan(conv), caps, settings=Settings(), note=Notes())
    assert out[0].messages[0] == Message(role="user", content="简洁。\n\n问？")


def test_weights_modes() -> None:
    """Weight-0 answers on a target without a loss field: train-all warns, drop rejects, split cuts."""
    line = {"messages": [U, {**A, "weight": 0}, U, {**A, "weight": 1}]}
    kept, notes = run("bailian", line)
    assert len(kept) == 1 and notes == [("weights.unsupported", "warning")]
    dropped, notes = run("bailian", line, weights="drop")
    assert dropped == [] and notes == [("weights.unsupported", "rejected")]
    split, notes = run("bailian", line, weights="split")
    assert [len(s.messages) for s in split] == [4] and notes == [("transform.weights", "altered")]


def test_weights_kept_where_target_has_a_loss_field() -> None:
    """Targets with a loss field keep weights and report nothing."""
    out, notes = run("volcengine", {"messages": [U, {**A, "weight": 0}, U, A]})
    assert out[0].messages[1].weight == 0 and notes == []


def test_tool_use_rejected_unused_tools_stripped() -> None:
    """A tool-using sample is rejected by a target without tools; unused definitions are just removed."""
    call = {"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "f"}}]}
    used = {"messages": [U, call, {"role": "tool", "tool_call_id": "1", "content": "r"}, A]}
    assert run("zhipu", used) == ([], [("tools.unsupported", "rejected")])
    out, notes = run("zhipu", {"messages": [U, A], "tools": [{"type": "function"}]})
    assert out[0].tools is msgspec.UNSET and notes == [("transform.tools", "altered")]


def test_non_text_parts_rejected_text_parts_joined() -> None:
    """Image parts reject the sample on text-only targets; text-only part lists become a string."""
    img = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    assert run("bailian", {"messages": [img, A]}) == ([], [("content.non_text", "rejected")])
    txt = {"role": "user", "content": [{"type": "text", "text": "一"}, {"type": "text", "text": "二"}]}
    out, notes = run("bailian", {"messages": [txt, A]})
    assert out[0].messages[0].content == "一二" and notes == [("transform.content_parts", "altered")]


def test_reasoning_dropped_or_kept_per_target() -> None:
    """Reasoning is dropped (and reported) where a target cannot hold it, kept where it can."""
    line = {"messages": [U, {**A, "reasoning_content": "想"}]}
    out, notes = run("zhipu", line)
    assert out[0].messages[1].reasoning_content is msgspec.UNSET and notes == [("transform.reasoning", "altered")]
    out, notes = run("volcengine", line)
    assert out[0].messages[1].reasoning_content == "想" and notes == []


def test_split_turns_with_and_without_history() -> None:
    """Per-turn split yields one sample per user turn, with its history or only the system prompt."""
    line = {"messages": [{"role": "system", "content": "s"}, U, A, {**U, "content": "二？"}, A]}
    hist, _ = run("bailian", line, split_turns="history")
    single, notes = run("bailian", line, split_turns="single")
    assert [len(s.messages) for s in hist] == [3, 5]
    assert [[m.role for m in s.messages] for s in single] == [["system", "user", "assistant"]] * 2
    assert notes == [("transform.split_turns", "altered")]


def test_pii_scrub_reports_count() -> None:
    """--scrub-pii replaces PII in message text and notes the sample as altered."""
    from balancer.pii import Scrubber

    conv = read_openai(msgspec.json.encode({"messages": [{**U, "content": "电话13812345678。"}, A]}))
    notes = Notes()
    out = prepare(conv, scan(conv), TARGETS["bailian"].caps, settings=Settings(), note=notes, scrubber=Scrubber())
    assert out[0].messages[0].content == "电话[PHONE]。" and notes == [("transform.pii", "altered")]


def test_system_after_the_last_user_turn_is_rejected() -> None:
    """A trailing system message has no user turn to move into, so strict targets reject the sample."""
    out, notes = run("siliconflow", {"messages": [U, A, {"role": "system", "content": "晚了"}]})
    assert out == [] and notes == [("system.position", "rejected")]


def test_legacy_function_calling_is_modernised_and_reported() -> None:
    """functions/function_call lines become tools/tool_calls before any target sees them."""
    line = {
        "functions": [{"name": "f"}],
        "messages": [
            U,
            {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "结果"},
            A,
        ],
    }
    out, notes = run("sharegpt", line)
    assert notes == [("transform.legacy_functions", "altered")]
    assert out[0].messages[2].role == "tool"
    assert out[0].tools == [{"type": "function", "function": {"name": "f"}}]


def test_pii_scrub_reaches_tool_arguments_reasoning_and_parts(tmp_path: Path) -> None:
    """``finetune convert --scrub-pii`` over a gateway transcript replaces PII in every text the sample trains
    on: a tool call's arguments (a phone as a string or a number; the arguments stay JSON a reader parses),
    reasoning, text content parts; before, only string contents were scrubbed and the rest kept the phone."""
    from finetune.cli import main

    args = json.dumps({"phone": 13800138000, "note": "邮箱 a@b.cn", "city": "北京"})
    call = {"id": "c1", "type": "function", "function": {"name": "book", "arguments": args}}
    record = {
        "v": 1,
        "request": {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "我的手机13900139000"}]},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "好"},
                {"role": "user", "content": "谢谢"},
            ],
            "tools": [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}],
        },
        "response": {"role": "assistant", "content": "好的", "reasoning_content": "他的号码是13700137000"},
    }
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps(record) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["convert", "--to", "openai", "--scrub-pii", str(src), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert not any(p in text for p in ("13800138000", "13900139000", "a@b.cn")), text
    (line,) = [json.loads(x) for x in text.splitlines()]
    arguments = line["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"phone": "[PHONE]", "note": "邮箱 [EMAIL]", "city": "北京"}
    kept = tmp_path / "reasoning.jsonl"  # a target that keeps reasoning
    assert main(["convert", "--to", "volcengine", "--drop-tools", "--scrub-pii", str(src), "-o", str(kept)]) == 0
    (line,) = [json.loads(x) for x in kept.read_text(encoding="utf-8").splitlines()]
    assert line["messages"][-1]["reasoning_content"] == "他的号码是[PHONE]"
