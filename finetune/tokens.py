"""Token counts: Qwen's real tokenizer when a PyPI package ships it, a labelled estimate otherwise.

The ``dashscope`` package ships Qwen's BPE ranks (``dashscope/resources/qwen.tiktoken``); with
``tiktoken`` installed too (``pip install 'qiao[tokens]'``) Qwen-family targets get exact counts.
Nothing is ever downloaded. Everything else uses :class:`Estimate`: one token per CJK character
(UTF-8 multi-byte chars counted as ``(bytes - chars) / 2``) plus one per four other characters,
plus 4 per message and 3 per sample (the OpenAI cookbook's overhead). Output labels it "estimate".
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
from pathlib import Path
from typing import Any, Protocol

from finetune.model import Conversation, text_of

#: Qwen's pre-tokenisation pattern and special-token ids (from dashscope/tokenizers/qwen_tokenizer.py).
QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
QWEN_SPECIAL_START = 151643


class TokenCounter(Protocol):
    """Counts tokens in a text."""

    name: str
    exact: bool

    def count(self, text: str) -> int: ...


class Estimate:
    """CJK characters count one token each, other characters a quarter (labelled as an estimate)."""

    name = "estimate"
    exact = False

    def count(self, text: str) -> int:
        """Estimated tokens in ``text``."""
        chars = len(text)
        wide = (len(text.encode()) - chars) // 2
        return wide + (chars - wide + 3) // 4


class QwenTokenizer:
    """Qwen's tiktoken BPE, built from the file the ``dashscope`` wheel ships."""

    name = "qwen (tiktoken, dashscope vocabulary)"
    exact = True

    def __init__(self, vocab: Path) -> None:
        tiktoken: Any = importlib.import_module("tiktoken")
        ranks = {
            base64.b64decode(tok): int(rank)
            for tok, rank in (line.split() for line in vocab.read_bytes().splitlines() if line)
        }
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *(f"<|extra_{i}|>" for i in range(205))]
        self._enc = tiktoken.Encoding(
            "qwen",
            pat_str=QWEN_PATTERN,
            mergeable_ranks=ranks,
            special_tokens={t: QWEN_SPECIAL_START + i for i, t in enumerate(specials)},
        )

    def count(self, text: str) -> int:
        """Exact Qwen tokens in ``text``."""
        return len(self._enc.encode(text, disallowed_special=()))


def qwen_vocab() -> Path | None:
    """Where the installed ``dashscope`` keeps ``qwen.tiktoken``, without importing dashscope."""
    spec = importlib.util.find_spec("dashscope")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "resources" / "qwen.tiktoken"
        if path.is_file():
            return path
    return None


def counter_for(kind: str) -> TokenCounter:
    """The best offline counter for a target's tokenizer family."""
    if kind == "qwen" and importlib.util.find_spec("tiktoken") is not None:
        vocab = qwen_vocab()
        if vocab is not None:
            return QwenTokenizer(vocab)
    return Estimate()


def conversation_tokens(conv: Conversation, counter: TokenCounter) -> int:
    """Tokens of a whole sample: every text, plus per-message and per-sample overhead."""
    total = 3
    for group in (conv.messages, conv.preferred_output, conv.non_preferred_output):
        if isinstance(group, list):
            for m in group:
                total += 4 + counter.count(text_of(m.content))
                if isinstance(m.reasoning_content, str):
                    total += counter.count(m.reasoning_content)
                if isinstance(m.tool_calls, list):
                    total += sum(counter.count(c.function.name + c.function.arguments) for c in m.tool_calls)
    if isinstance(conv.ranked_outputs, list):
        total += sum(4 + counter.count(r.content) for r in conv.ranked_outputs)
    return total
