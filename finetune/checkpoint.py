"""``distill``'s checkpoint: one JSON line per teacher answer, appended and fsynced before the answer counts,
so a crash, Ctrl-C or ``kill -9`` loses at most the answers in flight — and a rerun asks only for prompts
not in it. The final output is assembled from it.

A prompt's key is the SHA-256 of the request ``distill`` sends for it (route, messages, tools, options) as
canonical JSON (sorted keys, no spaces): the same prompt asked the same way has one key, in any file and
at any line. Lines are ``{"key", "message", "provider", "model", "usage"}`` for an answer, ``{"key",
"rejected"}`` for an answer that cannot be training data (cut off by ``max_tokens``: asking again would pay
again for the same cut), and ``{"batch", "state"}`` for a batch ``--batch`` created (``open``) and joined
(``done``), so a rerun polls an open batch instead of paying for a new one. A torn last line (a kill
mid-write) is cut off when the file is opened.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO, Any

import msgspec

from finetune.output import WriteFailed

_encode = msgspec.json.Encoder(order="sorted")
_KEPT = "the answers already in it are kept; run the same command again to resume from them"


def prompt_key(request: dict[str, Any]) -> str:
    """The checkpoint key of a request body: SHA-256 of its canonical JSON."""
    return hashlib.sha256(_encode.encode(request)).hexdigest()


def checkpoint_path(output: Path) -> Path:
    """``out.jsonl`` -> ``out.checkpoint.jsonl``."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.checkpoint.jsonl")


class Checkpoint:
    """The answers so far, and the file they are appended to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answers: dict[str, dict[str, Any]] = {}
        self.rejected: dict[str, str] = {}
        self.batches: dict[str, str] = {}  # batch id -> "open" | "done"
        self._file: IO[bytes] | None = None
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):  # a torn last line: a kill while it was written
            with self.path.open("r+b") as f:
                f.truncate(cut)
        for raw in data[:cut].splitlines():
            try:
                entry = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            self._note(entry)

    def _note(self, entry: dict[str, Any]) -> None:
        if "batch" in entry:
            self.batches[str(entry["batch"])] = str(entry.get("state", "open"))
        elif "rejected" in entry:
            self.rejected[str(entry["key"])] = str(entry["rejected"])
        elif "key" in entry and isinstance(entry.get("message"), dict):
            self.answers[str(entry["key"])] = entry

    def forget(self, key: str) -> None:
        """Treat ``key``'s answer as never given (its line stays; a later answer for the key supersedes it)."""
        self.answers.pop(key, None)

    def has(self, key: str) -> bool:
        return key in self.answers or key in self.rejected

    @property
    def open_batch(self) -> str | None:
        return next((b for b, state in self.batches.items() if state == "open"), None)

    def add(self, entry: dict[str, Any]) -> None:
        """Append one entry and make it durable (flush + fsync) before returning."""
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
            self._file.write(msgspec.json.encode(entry) + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:  # a torn last line is cut off when the checkpoint is next opened
            raise WriteFailed(self.path, exc, _KEPT) from None
        self._note(entry)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
