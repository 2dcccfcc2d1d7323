"""Bytes in and out: gzip-transparent line reading and size-capped JSONL writing.

Reading is line by line (constant memory). Writing encodes with one reused buffer and rolls over to
``name.part2.jsonl`` and so on when a vendor caps the file size.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

GZIP_MAGIC = b"\x1f\x8b"


def open_input(path: Path) -> IO[bytes]:
    """Open a file for binary reading, decompressing it if it starts with the gzip magic bytes."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line)`` for every non-blank line; numbers count blank lines too."""
    for number, line in enumerate(stream, 1):
        if not line.isspace():
            yield number, line


class JsonlSink:
    """Writes JSONL to ``path`` (created at once), rolling over to ``name.part2.jsonl`` at a size cap."""

    def __init__(self, path: Path, *, max_bytes: int | None = None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.paths: list[Path] = []
        self.lines = 0
        self._limit = max_bytes if max_bytes is not None else 1 << 62
        self._encoder = msgspec.json.Encoder()
        self._buf = bytearray()
        self._file = self._open_part()
        self._written = 0

    def write(self, obj: Any) -> int:
        """Encode and write one line; return its size in bytes (newline included)."""
        buf = self._buf
        self._encoder.encode_into(obj, buf)
        buf.extend(b"\n")
        self.write_raw(buf)
        return len(buf)

    def write_raw(self, line: bytes | bytearray) -> None:
        """Write an already encoded line (with its trailing newline); a line is never split."""
        size = len(line)
        if self._written + size > self._limit and self._written:
            self._file.close()
            self._file = self._open_part()
            self._written = 0
        self._file.write(line)
        self._written += size
        self.lines += 1

    def _open_part(self) -> IO[bytes]:
        n = len(self.paths) + 1
        path = self.path if n == 1 else self.path.with_name(f"{_stem(self.path)}.part{n}{_suffix(self.path)}")
        self.paths.append(path)
        return path.open("wb", buffering=1 << 20)

    def close(self) -> None:
        """Close the current part."""
        self._file.close()


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(_suffix(path))] if _suffix(path) else name


def _suffix(path: Path) -> str:
    return ".jsonl" if path.name.endswith(".jsonl") else path.suffix


def sibling(path: Path, tag: str) -> Path:
    """``out.jsonl`` -> ``out.<tag>.jsonl`` (for the validation split)."""
    return path.with_name(f"{_stem(path)}.{tag}{_suffix(path)}")
