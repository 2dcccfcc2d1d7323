"""Deduplication keys and the compact hash index."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune.dedup import HashSet, digest, normalised_key
from finetune.readers import read_openai


def conv(text: str) -> bytes:
    """A one-turn conversation line whose answer is ``text``."""
    return msgspec.json.encode(
        {"messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": text}]}
    )


def test_normalised_key_folds_whitespace_and_case_only() -> None:
    """Whitespace runs and letter case do not matter; full-width punctuation does."""
    a, b = read_openai(conv("Hello   World，你好！")), read_openai(conv("hello world，你好！"))
    c = read_openai(conv("hello world,你好!"))
    assert normalised_key(a) == normalised_key(b) != normalised_key(c)


def test_digest_is_stable() -> None:
    """The persisted hash is the same in every process (used for the validation split)."""
    assert digest(b"abc") == digest(bytearray(b"abc")) == 0x5995D533D814BBD8


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 2**64 - 1), max_size=300))
def test_hashset_behaves_like_a_set(values: list[int]) -> None:
    """HashSet.add reports first sightings exactly like a Python set, across growth."""
    hs, ref = HashSet(capacity=4), set()
    for v in values:
        assert hs.add(v) == (v not in ref)
        ref.add(v)
    assert hs.size == len(ref) and hs.nbytes >= 16 * len(ref) // 2
