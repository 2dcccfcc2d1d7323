"""The conversion pipeline: read → filter → transform → validate → write, one line at a time.

Only the dedup index grows with the input; everything else is per line. Decoders, encoders and the
output buffer are built once per run.
"""

from __future__ import annotations

import fnmatch
import gc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import msgspec
from msgspec import UNSET, Struct

from balancer.pii import Scrubber
from finetune.dedup import DedupMode, HashSet, digest, fast_digest, normalised_key
from finetune.io import incomplete_tail, input_position, open_input
from finetune.judge import Judge
from finetune.model import Conversation
from finetune.output import JsonlSink, Outputs, sibling, stale_parts
from finetune.readers import InputError, Reader, close_reader
from finetune.report import Action, Issue, Report
from finetune.scan import scan
from finetune.targets.base import Target
from finetune.transforms import Settings, prepare

#: Errors a reader or writer raises for a malformed line (beyond msgspec's own).
LINE_ERRORS = (msgspec.DecodeError, InputError, ValueError, KeyError, TypeError, IndexError)


class ConvertOptions(Struct, frozen=True, kw_only=True):
    """Everything the user chose for one conversion."""

    settings: Settings = Settings()
    dedup: DedupMode = "exact"
    val_fraction: float = 0.0
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    exclude_models: tuple[str, ...] = ()
    max_tokens: int | None = None


class Summary(Struct, kw_only=True):
    """What a run did, for the closing report."""

    lines: int = 0
    samples: int = 0
    validation: int = 0
    tokens: int = 0
    tokenizer: str = ""
    #: Lines with at least one rejected sample (for ``--max-reject``).
    rejected_lines: int = 0
    files: list[str] = []


class Source(Struct, frozen=True):
    """One input file and the reader for its format."""

    path: Path
    reader: Reader


def _ticker(progress: Callable[[int], None], done: int, stream: IO[bytes]) -> Callable[[int], None]:
    return lambda _: progress(done + input_position(stream))


class Converter:
    """Converts sources into one target's files; issues go to ``report``."""

    def __init__(self, target: Target, options: ConvertOptions, report: Report) -> None:
        self.target = target
        self.options = options
        self.report = report
        self.summary = Summary()
        self.judge = Judge(target, options.max_tokens)
        if self.judge.counter is not None:
            self.summary.tokenizer = self.judge.counter.name
        self.scrubber = Scrubber() if options.settings.scrub_pii else None
        self.seen = HashSet() if options.dedup != "none" else None
        self._exact = options.dedup == "exact"
        self._filtering = bool(options.providers or options.models or options.exclude_models)
        self._settings = options.settings
        self._writer = target.write
        self._writer_options = target.options
        self._encoder = msgspec.json.Encoder()
        self._buf = bytearray()
        self._file = ""
        self._line = 0
        self._last_rejected = ("", 0)

    def note(self, rule: str, reason: str, action: Action = "rejected", path: str = "") -> None:
        """Report an issue about the current line (a rejected line is counted once)."""
        if action == "rejected" and (self._file, self._line) != self._last_rejected:
            self._last_rejected = (self._file, self._line)
            self.summary.rejected_lines += 1
        self.report.add(Issue(line=self._line, rule=rule, reason=reason, action=action, path=path, file=self._file))

    def run(
        self,
        sources: Sequence[Source],
        out: Path,
        progress: Callable[[int], None] | None = None,
        outputs: Outputs | None = None,
    ) -> Summary:
        """Convert every source into ``out`` (plus ``out.val.jsonl`` and parts); return the summary.

        Files appear at their final paths only when the whole run succeeded: an exception (a
        ``--strict`` rejection, Ctrl-C) leaves no output and the previous files untouched.
        """
        outputs = outputs if outputs is not None else Outputs(s.path for s in sources)
        try:
            paths = self._run(sources, out, progress, outputs)
            for stale in stale_parts(out, paths):  # noted before the commit, which syncs the --report too
                self.note("output.stale_part", f"{stale} is not from this run; delete it before uploading", "warning")
            outputs.commit()
        except BaseException:
            outputs.abort()
            raise
        self.summary.files = [str(p) for p in paths]
        return self.summary

    def _run(
        self, sources: Sequence[Source], out: Path, progress: Callable[[int], None] | None, outputs: Outputs
    ) -> list[Path]:
        cap = self.target.caps.max_file_bytes
        train = JsonlSink(out, max_bytes=cap, open_part=outputs.create)
        val = None
        if self.options.val_fraction > 0:
            val = JsonlSink(sibling(out, "val"), max_bytes=cap, open_part=outputs.create)
        done = 0
        gc_was_enabled = gc.isenabled()
        gc.disable()  # per-line objects are acyclic and freed by refcount; see _convert_lines
        try:
            for source in sources:
                self._file = source.path.name
                with open_input(source.path) as stream:
                    tick = None if progress is None else _ticker(progress, done, stream)
                    self._convert_lines(stream, source.reader, train, val, tick)
                    self._incomplete(stream)
                close_reader(source.reader)
                done += source.path.stat().st_size
        finally:
            if gc_was_enabled:
                gc.enable()
            train.close()
            if val is not None:
                val.close()
        self._file_warnings()
        paths = [*train.paths, *(val.paths if val is not None else [])]
        if self.target.finish is not None:
            preference = self.judge.kinds["dpo"] > 0
            for path, data in self.target.finish(out, paths, self.target.options, preference).items():
                outputs.write_bytes(path, data)
                paths.append(path)
        self.summary.validation = val.lines if val is not None else 0
        self.summary.tokens = self.judge.tokens
        return paths

    def _incomplete(self, stream: IO[bytes]) -> None:
        left = incomplete_tail(stream)
        if left is not None:
            self._line = 0
            reason = (
                "the gzip stream has no end marker (still being written?): read up to the last "
                f"complete line; {left} bytes of an incomplete line left for a later run"
            )
            self.note("input.incomplete", reason, "warning")

    def _file_warnings(self) -> None:
        self._line = 0
        self._file = ""
        for rule, reason, action in self.judge.file():
            self.note(rule, reason, action)

    def _convert_lines(
        self,
        stream: IO[bytes],
        reader: Reader,
        train: JsonlSink,
        val: JsonlSink | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        threshold = int(self.options.val_fraction * 10_000)
        sample = self._sample
        count = 0
        for number, line in enumerate(stream, 1):
            self._line = number
            if not number & 0xFFFF:
                gc.collect(0)  # the cycle collector is off during a run; sweep now and then anyway
            if progress is not None and not number & 1023:
                progress(number)
            try:
                conv = reader(line)
            except msgspec.ValidationError as exc:
                count += 1
                message, _, path = str(exc).partition(" - at `")
                self.note("input.schema", message, path=path.rstrip("`"))
                continue
            except LINE_ERRORS as exc:
                if line.isspace():  # blank lines are skipped (and still counted for numbering)
                    continue
                count += 1
                self.note(getattr(exc, "rule", "input.json"), str(exc), path=getattr(exc, "path", ""))
                continue
            count += 1
            if val is not None and digest(line) % 10_000 < threshold:
                sample(conv, val)
            else:
                sample(conv, train)
        self.summary.lines += count

    def _sample(self, conv: Conversation, sink: JsonlSink) -> None:
        if self._filtering and not self._keep(conv):
            return
        s = scan(conv)
        judge = self.judge
        for sample in prepare(
            conv, s, self.target.caps, settings=self._settings, note=self.note, scrubber=self.scrubber
        ):
            problems = judge.sample(sample, s if sample is conv else None)
            for rule, path, reason in problems:
                self.note(rule, reason, path=path)
            if not problems:
                self._write(sample, sink)

    def _write(self, sample: Conversation, sink: JsonlSink) -> None:
        try:
            obj = self._writer(sample, self._writer_options)
        except LINE_ERRORS as exc:
            self.note("write.failed", f"cannot express this sample: {exc}")
            return
        buf = self._buf
        self._encoder.encode_into(obj, buf)
        buf.extend(b"\n")
        if self.seen is not None:
            exact = self._exact
            key = fast_digest(buf) if exact else fast_digest(normalised_key(sample))
            if not self.seen.add(key):
                self.note(
                    "dedup.exact" if exact else "dedup.normalised",
                    "duplicate of an earlier sample",
                    "skipped",
                )
                return
        self.judge.accept(sample)
        sink.write_raw(buf)
        self.summary.samples += 1

    def _keep(self, conv: Conversation) -> bool:
        o = self.options
        provider = conv.provider if conv.provider is not UNSET else ""
        vendor = conv.vendor if conv.vendor is not UNSET else ""
        model = conv.model if conv.model is not UNSET else ""
        if o.providers and not any(fnmatch.fnmatchcase(x, g) for g in o.providers for x in (provider, vendor)):
            self.note("filter.provider", f"provider {provider!r} not selected by --provider", "skipped")
            return False
        if o.models and not any(fnmatch.fnmatchcase(model, p) for p in o.models):
            self.note("filter.model", f"model {model!r} not selected by --model", "skipped")
            return False
        if any(fnmatch.fnmatchcase(model, p) for p in o.exclude_models):
            self.note("filter.model", f"model {model!r} excluded by --exclude-model", "skipped")
            return False
        return True
