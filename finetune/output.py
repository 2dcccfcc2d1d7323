"""Writing output safely: never over an input, never half-written, size-capped JSONL parts.

:class:`Outputs` is one run's set of output files. Each is written to a hidden temporary file in
its final directory (created if missing) and renamed into place by :meth:`Outputs.commit` after
everything succeeded; :meth:`Outputs.abort` (an error, ``--strict``, Ctrl-C, SIGTERM) deletes the
temporary files and leaves whatever was at the final paths untouched. A rename within a directory
is atomic, so a reader sees the old file or the complete new one, never a partial one. Only a
``kill -9`` or a power cut can leave a temporary ``.NAME.*.tmp`` behind — never a partial ``NAME``.

An output path that is an input — the same file by name, symlink or hard link (same device and
inode) — is refused before anything is written (:class:`OutputClash`), and so is one that is a
device, FIFO or socket (the rename would replace the device node with a regular file).

A write that fails (disk full, quota, read-only file system, no permission) raises
:class:`WriteFailed`, whose message names the file being written.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import os
import re
import signal
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from finetune.io import kind_of


class OutputClash(Exception):
    """An output path that would overwrite an input, or that is a directory or a device."""


#: What :meth:`Outputs.abort` guarantees, said after a failed write.
UNTOUCHED = "any previous output is untouched and no partial file was left"


class WriteFailed(OSError):
    """Writing ``path`` failed (disk full, quota, read-only file system, no permission)."""

    def __init__(self, path: Path, exc: OSError, after: str = UNTOUCHED) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.path = path
        code = errno.errorcode.get(exc.errno or 0, "")
        reason = (exc.strerror or str(exc)).lower() + (f" ({code})" if code else "")
        self.message = f"cannot write {path}: {reason}; {after}"

    def __str__(self) -> str:
        return self.message


class _RawFile(io.FileIO):
    """A file whose failed writes name it: the buffered writer on top writes through this."""

    def __init__(self, fd: int, path: Path) -> None:
        super().__init__(fd, "wb")
        self.path = path

    def write(self, data: Any, /) -> int:
        """Write ``data``; an OSError becomes :class:`WriteFailed` naming the file."""
        try:
            return super().write(data)
        except WriteFailed:
            raise
        except OSError as exc:
            raise WriteFailed(self.path, exc) from None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()  # follows symlinks: a link to an input is that input
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class Outputs:
    """The output files of one run: written aside, renamed into place together on :meth:`commit`."""

    def __init__(self, inputs: Iterable[Path] = ()) -> None:
        self._inputs = {ident: p for p in inputs if (ident := _identity(p)) is not None}
        self._pending: list[tuple[Path, Path, IO[bytes], Path]] = []  # (temporary, final, handle, as given)
        self._mode = 0o666 & ~_umask()
        self.committed: list[Path] = []
        #: Called before anything is renamed, e.g. another set's :meth:`sync`: its write errors stop the commit.
        self.before_commit: list[Callable[[], None]] = []

    def check(self, path: Path) -> None:
        """Raise :class:`OutputClash` if writing ``path`` would overwrite an input or a directory."""
        if path.is_dir():
            raise OutputClash(f"{path} is a directory; give a file name for the output")
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(mode := path.stat().st_mode):
                raise OutputClash(
                    f"{path} is {kind_of(mode)}, not a regular file: the output is written beside it and "
                    "renamed over it, which would replace it; give a file name for the output"
                )
        source = self._inputs.get(_identity(path) or (-1, -1))
        if source is not None:
            same = "" if source == path else f" (the input {source})"
            raise OutputClash(
                f"refusing to write {path}: it is the same file as an input{same}; "
                "the input would be destroyed. Write the output somewhere else."
            )

    def create(self, path: Path) -> IO[bytes]:
        """A new binary file that will become ``path`` on :meth:`commit` (parents are created).

        When ``path`` is a symlink, the file it points to is replaced and the link is kept.
        """
        self.check(path)
        real = path.resolve() if path.is_symlink() else path
        with _signals_held():  # a signal between creating and recording it would orphan the file
            try:
                real.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
            except OSError as exc:
                raise WriteFailed(path, exc) from None
            handle = io.BufferedWriter(_RawFile(fd, path), buffer_size=1 << 20)
            self._pending.append((Path(tmp), real, handle, path))
        return handle

    def owns(self, path: Path) -> bool:
        """True when ``path`` is one of the files this run is writing (as given to :meth:`create`)."""
        return any(given == path for *_, given in self._pending)

    def write_bytes(self, path: Path, data: bytes) -> None:
        """Write a whole small file (e.g. ``dataset_info.json``) the same way."""
        with self.create(path) as f:
            f.write(data)

    def commit(self) -> list[Path]:
        """Flush every file to disk and rename them all into place; return the final paths.

        Ctrl-C and SIGTERM wait until the renames are done, so they cannot leave a run's files half
        renamed (the train file new, its validation file old). A failure (a full disk shows up here at
        the latest, when the buffers are flushed) deletes the temporary files (:meth:`abort`).
        """
        with _signals_held():
            try:
                return self._commit()
            except BaseException:
                self.abort()
                raise

    def sync(self) -> None:
        """Flush every open file and make it durable, renaming nothing; a full disk shows up here."""
        for _, _, handle, given in self._pending:
            if not handle.closed:
                try:
                    handle.flush()
                    os.fsync(handle.fileno())
                except OSError as exc:
                    raise exc if isinstance(exc, WriteFailed) else WriteFailed(given, exc) from None

    def _commit(self) -> list[Path]:
        for hook in self.before_commit:
            hook()
        for tmp, _, handle, given in self._pending:  # every file on disk before any is renamed
            try:
                _sync(tmp, handle)
            except OSError as exc:
                raise exc if isinstance(exc, WriteFailed) else WriteFailed(given, exc) from None
        for tmp, final, _, given in self._pending:
            try:
                os.chmod(tmp, _mode_of(final, self._mode))
                os.replace(tmp, final)
            except OSError as exc:
                done = ", ".join(map(str, self.committed)) or "none"
                raise WriteFailed(given, exc, f"files already renamed into place: {done}") from None
            self.committed.append(final)
        for directory in {final.parent for _, final, _, _ in self._pending}:
            _fsync_dir(directory)
        self._pending = []
        return self.committed

    def abort(self) -> None:
        """Delete every temporary file; the final paths keep what they had before the run.

        A second Ctrl-C waits until this is done."""
        with _signals_held():
            for tmp, _, handle, _ in self._pending:
                with contextlib.suppress(OSError):
                    handle.close()
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            self._pending = []


def _sync(tmp: Path, handle: IO[bytes]) -> None:
    """Flush a temporary file's buffer and make it durable (a full disk shows up here at the latest)."""
    if not handle.closed:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
    else:
        with tmp.open("rb") as f:
            os.fsync(f.fileno())


def _mode_of(path: Path, default: int) -> int:
    """The permissions a replaced file had (a private file stays private), else the umask default."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return default


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows: nothing to hold
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _plain_open(path: Path) -> IO[bytes]:
    return path.open("wb", buffering=1 << 20)


class JsonlSink:
    """Writes JSONL to ``path``, rolling over to ``name.part2.jsonl`` and so on at a size cap.

    ``open_part`` opens each part (``Outputs.create`` for a real run; a plain open by default).
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int | None = None,
        open_part: Callable[[Path], IO[bytes]] = _plain_open,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.paths: list[Path] = []
        self.lines = 0
        self._open = open_part
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
        path = self.path if n == 1 else part_path(self.path, n)
        self.paths.append(path)
        return self._open(path)

    def close(self) -> None:
        """Close the current part."""
        self._file.close()


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(_suffix(path))] if _suffix(path) else name


def _suffix(path: Path) -> str:
    return ".jsonl" if path.name.endswith(".jsonl") else path.suffix


def part_path(path: Path, n: int) -> Path:
    """``out.jsonl`` -> ``out.part<n>.jsonl`` (the n-th part of a size-capped output)."""
    return path.with_name(f"{_stem(path)}.part{n}{_suffix(path)}")


def sibling(path: Path, tag: str) -> Path:
    """``out.jsonl`` -> ``out.<tag>.jsonl`` (for the validation split)."""
    return path.with_name(f"{_stem(path)}.{tag}{_suffix(path)}")


def stale_parts(path: Path, written: Iterable[Path]) -> list[Path]:
    """Part files of ``path`` (``out.partN.jsonl``) that exist but were not written by this run."""
    keep = {p.name for p in written}
    name = re.compile(re.escape(_stem(path)) + r"\.part\d+" + re.escape(_suffix(path)))
    return sorted(
        p
        for p in path.parent.glob(f"{glob.escape(_stem(path))}.part*")
        if name.fullmatch(p.name) and p.name not in keep
    )
