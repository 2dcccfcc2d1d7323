"""Token counting: the labelled estimate, and Qwen's real tokenizer when its package is installed."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from finetune import tokens
from finetune.readers import read_openai
from finetune.tokens import Estimate, conversation_tokens, counter_for


def test_estimate_counts_cjk_as_one_token_each() -> None:
    """The estimate counts a CJK character as one token and four other characters as one."""
    est = Estimate()
    assert est.count("你好世界") == 4
    assert est.count("abcdefgh") == 2
    assert est.count("你好，abcd") == 4
    assert not est.exact and est.name == "estimate"


def test_conversation_overhead() -> None:
    """A sample costs its texts plus 4 tokens per message and 3 per sample."""
    line = {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "好"}]}
    assert conversation_tokens(read_openai(msgspec.json.encode(line)), Estimate()) == 3 + 4 + 2 + 4 + 1


def test_falls_back_to_the_estimate_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without dashscope's vocabulary the Qwen counter is the labelled estimate, never a download."""
    monkeypatch.setattr(tokens, "qwen_vocab", lambda: None)
    assert isinstance(counter_for("qwen"), Estimate)
    assert isinstance(counter_for("estimate"), Estimate)


def test_qwen_tokenizer_from_a_vocabulary_file(tmp_path: Path) -> None:
    """QwenTokenizer builds a tiktoken encoding from a qwen.tiktoken-style file (tiktoken extra)."""
    import base64

    vocab = tmp_path / "qwen.tiktoken"
    ranks = [bytes([b]) for b in range(256)] + [b"ab"]
    vocab.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(ranks)))
    tok = tokens.QwenTokenizer(vocab)
    assert tok.exact and tok.count("ab") == 1 and tok.count("abc") == 2


def test_real_qwen_vocabulary_from_dashscope() -> None:
    """With the tokens extra (a dev dependency), Qwen counts come from dashscope's shipped qwen.tiktoken."""
    counter = counter_for("qwen")
    assert not isinstance(counter, Estimate) and counter.exact
    assert counter.count("你好，世界！") >= 2 and counter.count("hello world") == 2
