"""Duplicate detection with a compact index: 8-byte hashes in an open-addressing ``array('Q')``.

``exact`` compares the written line byte for byte (via its 64-bit hash); ``normalised`` compares roles and
texts after whitespace collapsing and case folding — for the comparison only, the written text is
never changed (and never NFKC-normalised). Memory: 8 bytes per slot at ≤ 50% load, i.e. about 16 bytes
per unique sample.
"""

from __future__ import annotations

import hashlib
from array import array
from typing import Literal

from finetune.model import Conversation, text_of

DedupMode = Literal["exact", "normalised", "none"]


def digest(data: bytes | bytearray | memoryview) -> int:
    """A stable, non-zero 64-bit hash of some bytes (BLAKE2b): the same in every run and process."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") or 1


def fast_digest(data: bytes | bytearray) -> int:
    """A non-zero 64-bit hash for this process only (SipHash via ``hash``; several times faster).

    Dedup keys never leave the process, so a per-process seed is fine; anything persisted or meant
    to be reproducible (the validation split) uses :func:`digest`.
    """
    return (hash(bytes(data)) & 0xFFFF_FFFF_FFFF_FFFF) or 1


def normalised_key(conv: Conversation) -> bytes:
    """Roles and texts with runs of whitespace collapsed and case folded (comparison only)."""
    parts = [f"{m.role}\x00{' '.join(text_of(m.content).split()).casefold()}" for m in conv.messages]
    for out in (conv.preferred_output, conv.non_preferred_output):
        if isinstance(out, list):
            parts += [" ".join(text_of(m.content).split()).casefold() for m in out]
        else:
            parts.append("\x02")  # a KTO sample's missing side: "good" and "bad" labels differ
    if isinstance(conv.ranked_outputs, list):
        parts += [f"{r.score}\x00{' '.join(r.content.split()).casefold()}" for r in conv.ranked_outputs]
    return "\x01".join(parts).encode()


class HashSet:
    """A set of non-zero 64-bit ints stored in one ``array('Q')`` (linear probing, doubling at 50%)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._slots = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self.size = 0

    def add(self, h: int) -> bool:
        """Insert ``h``; return False if it was already present."""
        slots, mask = self._slots, self._mask
        i = h & mask
        while True:
            cur = slots[i]
            if cur == 0:
                break
            if cur == h:
                return False
            i = (i + 1) & mask
        slots[i] = h
        self.size += 1
        if self.size * 2 > mask:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._mask = 2 * len(old) - 1
        self.size = 0
        for h in old:
            if h:
                self.add(h)

    @property
    def nbytes(self) -> int:
        """Memory held by the index."""
        return len(self._slots) * 8
