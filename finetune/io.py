"""Reading input: plain or gzip (told apart by magic bytes), line by line, in constant memory.

A gzip file the gateway is still writing has no end-of-stream marker yet (every batch ends with a
sync flush, so everything up to the last batch is decodable). :class:`GzipTail` reads such a file up
to its last complete line and holds back the incomplete rest, which :func:`incomplete_tail` reports;
Python's ``gzip`` module would raise ``EOFError`` instead. Damaged gzip data raises
:class:`UnreadableInput` with the file name and the offset.
"""

from __future__ import annotations

import gzip
import io
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark
_CHUNK = 1 << 14  # compressed bytes per read: small enough that the inflated chunk stays small


class UnreadableInput(Exception):
    """An input file that cannot be read (damaged gzip data); the message names file and offset."""


#: What a path that is not a regular file is, by ``stat.S_IFMT`` of its mode.
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}

#: Why each kind of path cannot be an input.
_ADVICE = {
    stat.S_IFDIR: "not a file; give the files in it (e.g. DIR/*.jsonl)",
    stat.S_IFIFO: "not a regular file; finetune reads each input more than once (to detect its format, "
    "then to convert it), so save the stream to a file first",
}


def kind_of(mode: int) -> str:
    """``"a directory"``, ``"a FIFO (named pipe)"``, … for a ``st_mode`` that is not a regular file."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_input(path: Path, flag: str = "") -> None:
    """Raise :class:`UnreadableInput` unless ``path`` is a regular file (symlinks followed).

    The message says what the path is: missing, a directory, a FIFO, a device. ``flag`` (e.g.
    ``"--requests"``) names the option the path was given with.
    """
    name = f"{flag} {path}" if flag else str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UnreadableInput(f"no such file: {name}") from None
    except OSError as exc:
        raise UnreadableInput(f"cannot read {name}: {(exc.strerror or str(exc)).lower()}") from None
    if not stat.S_ISREG(mode):
        advice = _ADVICE.get(stat.S_IFMT(mode), "not a regular file")
        raise UnreadableInput(f"{name} is {kind_of(mode)}, {advice}")


class GzipTail(io.RawIOBase):
    """Decompressed bytes of a gzip file (several members allowed), ending at its last complete line
    when the file has no end-of-stream marker yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fileobj: IO[bytes] = path.open("rb")
        #: True when the file ended inside a gzip member (still being written, or cut off).
        self.truncated = False
        #: Bytes of the incomplete last line held back when ``truncated``.
        self.left = 0
        self._inflate: zlib._Decompress | None = None
        self._members = 0
        self._ready = bytearray()
        self._held = b""
        self._done = False

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        """Fill ``buffer`` with decompressed bytes; 0 at the end (or at the last complete line)."""
        while not self._ready and not self._done:
            self._fill()
        n = min(len(buffer), len(self._ready))
        buffer[:n] = self._ready[:n]
        del self._ready[:n]
        return n

    def _fill(self) -> None:
        chunk = self.fileobj.read(_CHUNK)
        if not chunk:
            self._finish()
            return
        data = self._held + self._inflate_all(chunk)
        cut = data.rfind(b"\n") + 1
        self._ready += data[:cut]
        self._held = data[cut:]

    def _inflate_all(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            if self._inflate is None:
                data = data.lstrip(b"\x00")  # zero padding between or after members is allowed
                if not data:
                    break
                self._inflate = zlib.decompressobj(wbits=31)
            try:
                out.append(self._inflate.decompress(data))
            except zlib.error as exc:
                where = self.fileobj.tell() - len(data)
                raise UnreadableInput(f"{self.path}: damaged gzip data near byte {where} ({exc})") from None
            if not self._inflate.eof:
                break
            data = self._inflate.unused_data
            self._inflate = None
            self._members += 1
        return b"".join(out)

    def _finish(self) -> None:
        self._done = True
        if self._inflate is None and self._members:
            self._ready += self._held  # a complete file: its last line may lack a newline
        else:
            data = self._held + (self._inflate.flush() if self._inflate is not None else b"")
            cut = data.rfind(b"\n") + 1
            self._ready += data[:cut]
            self.truncated = True
            self.left = len(data) - cut
        self._held = b""

    def close(self) -> None:
        """Close the underlying file."""
        self.fileobj.close()
        super().close()


def open_input(path: Path) -> IO[bytes]:
    """Open a file for binary line reading, decompressing it if it starts with the gzip magic bytes.

    A UTF-8 byte order mark at the start (Windows Notepad writes one) is skipped, so the first line
    decodes and the format is detected; ``validate`` reports it (:func:`starts_with_bom`).
    """
    stream = _open_raw(path)
    if stream.peek(len(BOM))[: len(BOM)] == BOM:
        stream.read(len(BOM))
    return stream


def starts_with_bom(path: Path) -> bool:
    """True when the (decompressed) file starts with a UTF-8 byte order mark."""
    with _open_raw(path) as stream:
        return stream.peek(len(BOM))[: len(BOM)] == BOM


def _open_raw(path: Path) -> io.BufferedReader:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return io.BufferedReader(GzipTail(path), buffer_size=1 << 16)
    return path.open("rb")


def open_seekable(path: Path) -> IO[bytes]:
    """Like :func:`open_input`, but seekable (gzip via the standard module; a growing file fails)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def incomplete_tail(stream: IO[bytes]) -> int | None:
    """For a gzip file that ended without its end-of-stream marker: bytes of the incomplete last
    line left unread (for a later run); ``None`` for a complete file. Call after reading to the end."""
    raw = getattr(stream, "raw", None)
    return raw.left if isinstance(raw, GzipTail) and raw.truncated else None


def input_position(stream: IO[bytes]) -> int:
    """How far into the file (compressed bytes for gzip) reading has got, for progress reports."""
    raw = getattr(stream, "raw", None)
    return raw.fileobj.tell() if isinstance(raw, GzipTail) else stream.tell()


def numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line)`` for every non-blank line; numbers count blank lines too."""
    for number, line in enumerate(stream, 1):
        if not line.isspace():
            yield number, line
