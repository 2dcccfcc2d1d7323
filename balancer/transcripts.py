"""Transcript capture: the gateway's conversations as rotating gzip JSONL, for ``finetune convert``.

The format is documented in ``finetune/TRANSCRIPTS.md``. The hot path only calls
:meth:`TranscriptWriter.submit`, which never blocks and never raises: it samples, checks a bounded
queue and appends (or counts a drop). A background task drains the queue in batches; each batch is
scrubbed, encoded, compressed and written in a worker thread (``asyncio.to_thread``), so the event
loop never waits on zlib or the disk. Every batch ends with a gzip sync flush: a crash loses at most
the batch being written, and files are readable while they grow.

Secrets are always removed (the value of any key named like ``api_key``/``authorization``/``secret``/
``password``, at any depth, inside a tool call's JSON arguments too; a tool's JSON Schema keeps its property
names: :mod:`balancer.redact`); PII scrubbing
(``balancer.pii``) is optional. Either way JSON held in a string stays JSON. A record that cannot be made or
written is counted (``errors``) and logged (``transcript_record_failed``, naming its request id, never its content).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
import zlib
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import structlog

from balancer.pii import Scrubber
from balancer.redact import may_name_secret, scrub_request, strip_request, strip_secrets

log = structlog.get_logger("balancer.transcripts")

SCHEMA_VERSION = 1

_LINE_END = re.compile(rb"[\r\n]")


class TranscriptRecord(msgspec.Struct, kw_only=True):
    """One logged chat completion (schema version ``v``; see finetune/TRANSCRIPTS.md)."""

    v: int = SCHEMA_VERSION
    ts: str
    request_id: str
    route: str
    provider: str
    vendor: str
    model: str
    request: msgspec.Raw | dict[str, Any]
    response: dict[str, Any]
    usage: dict[str, Any] | None = None
    latency_ms: float = 0.0
    stream: bool = False


def utc_now() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. ``2026-11-24T18:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TranscriptWriter:
    """Writes submitted records to ``transcripts-YYYYmmddTHHMMSS-<n>.jsonl.gz`` files in ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 64 << 20,
        queue_size: int = 10000,
        sample_rate: float = 1.0,
        scrub_pii: bool = False,
        rng: random.Random | None = None,
        batch_size: int = 512,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.queue_size = queue_size
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.dropped = 0
        self.written = 0
        self.errors = 0
        self.files: list[Path] = []
        self._rng = rng or random.Random()
        self._scrubber = Scrubber() if scrub_pii else None
        self._queue: deque[TranscriptRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._encoder = msgspec.json.Encoder()
        self._fd: int | None = None
        self._comp: Any = None  # the open file's zlib compressor (gzip framing)
        self._size = 0  # bytes of the open file up to its last whole batch
        self._failing = False  # a write failed and the log said so; cleared by the next good write

    def submit(self, record: TranscriptRecord) -> bool:
        """Queue a record without blocking; False (and ``dropped`` + 1) if closed, full or not sampled."""
        try:
            if (
                self._closed
                or len(self._queue) >= self.queue_size
                or (self.sample_rate < 1.0 and self._rng.random() >= self.sample_rate)
            ):
                self.dropped += 1
                return False
            self._queue.append(record)
            self._wake.set()
            return True
        except Exception:  # never let capture break a request
            self.dropped += 1
            return False

    def failed(self, request_id: str, error: BaseException) -> None:
        """One record that could not be made or encoded: ``errors`` + 1 and a ``transcript_record_failed`` log line
        naming the request and the error's type (never its text, which may quote the conversation)."""
        self.errors += 1
        log.error("transcript_record_failed", request_id=request_id, error=type(error).__name__)

    async def start(self) -> None:
        """Create the directory and start the background drain task. A directory that cannot be created is
        logged (``transcripts_write_failed``), not raised: the writes try again, and count their errors."""
        try:
            await asyncio.to_thread(self.directory.mkdir, 0o700, parents=True, exist_ok=True)  # users' data
        except OSError as e:
            log.warning("transcripts_write_failed", directory=str(self.directory), error=repr(e))
            self._failing = True
        self._task = asyncio.create_task(self._drain(), name="transcript-writer")

    async def close(self) -> None:
        """Stop accepting records, write everything queued, close the file."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        elif self._queue:
            await self._drain()  # never started: write what was queued now
        await asyncio.to_thread(self._close_file)

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                n = min(self.batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(n)]
                try:
                    await asyncio.to_thread(self._write_batch, batch)
                except Exception as e:  # disk full, permissions: count, say so once, keep serving
                    self.errors += 1
                    if not self._failing:
                        log.warning("transcripts_write_failed", directory=str(self.directory), error=repr(e))
                    self._failing = True
                else:
                    if self._failing:
                        log.info("transcripts_write_resumed", directory=str(self.directory))
                    self._failing = False
            if self._closed and not self._queue:
                return

    def _encode(self, record: TranscriptRecord, buf: bytearray) -> None:
        request: Any = record.request
        response: Any = record.response
        if isinstance(request, msgspec.Raw) and (may_name_secret(request) or self._scrubber):
            request = msgspec.json.decode(request)
        elif isinstance(request, msgspec.Raw) and _LINE_END.search(request):
            # line ends in valid JSON are whitespace between tokens (strings hold them escaped): keep one line
            request = msgspec.Raw(_LINE_END.sub(b" ", request))
        if not isinstance(request, msgspec.Raw):
            request = strip_request(request)
        response = strip_secrets(response)
        if (scrubber := self._scrubber) is not None:
            request = scrub_request(request, lambda v, numbers: scrubber.scrub_obj(v, numbers)[0])
            response = scrubber.scrub_obj(response)[0]
        clean = msgspec.structs.replace(record, request=request, response=response)
        self._encoder.encode_into(clean, buf, len(buf))
        buf.extend(b"\n")

    def _write_batch(self, batch: list[TranscriptRecord]) -> None:
        buf = bytearray()
        for record in batch:
            end = len(buf)
            try:
                self._encode(record, buf)
            except Exception as e:  # one record that cannot be encoded costs that record, not its batch
                del buf[end:]
                self.failed(record.request_id, e)
                batch = [r for r in batch if r is not record]
        if not buf:
            return
        if self._fd is not None and os.fstat(self._fd).st_nlink == 0:  # the file (or directory) was deleted
            self._close_file()
        if self._fd is None:
            self._open()
        assert self._fd is not None and self._comp is not None
        before = self._comp.copy()
        try:
            _write_all(self._fd, self._comp.compress(buf) + self._comp.flush(zlib.Z_SYNC_FLUSH))
        except OSError:  # disk full: cut the file back to its last whole batch, which stays readable
            self._comp = before
            self._truncate()
            raise
        self._size = os.fstat(self._fd).st_size
        self.written += len(batch)
        if self._size >= self.max_bytes:
            self._close_file()

    def _open(self) -> None:
        self.directory.mkdir(0o700, parents=True, exist_ok=True)  # again, should it have been deleted
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        n = len(self.files) + 1
        path = self.directory / f"transcripts-{stamp}-{n}.jsonl.gz"
        while path.exists():
            n += 1
            path = self.directory / f"transcripts-{stamp}-{n}.jsonl.gz"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing, mtime 0
        self._size = 0
        self.files.append(path)

    def _truncate(self) -> None:
        """Back to the last whole batch; a file with none is removed."""
        assert self._fd is not None
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._size)
            if self._size == 0:
                os.unlink(self.files.pop())
                os.close(self._fd)
                self._fd = self._comp = None

    def _close_file(self) -> None:
        """Write the gzip trailer and close; on a full disk the file ends at its last whole batch."""
        if self._fd is None or self._comp is None:
            return
        try:
            _write_all(self._fd, self._comp.flush(zlib.Z_FINISH))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
        finally:
            os.close(self._fd)
            self._fd = self._comp = None


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write can be short), or its OSError."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
