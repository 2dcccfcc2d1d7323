"""The sub-commands behind ``finetune``: convert, validate, stats, targets."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from finetune.io import check_input, incomplete_tail, numbered_lines, open_input, starts_with_bom
from finetune.judge import Judge, KeyCheck, findings
from finetune.model import Conversation
from finetune.output import Outputs, WriteFailed, sibling
from finetune.pipeline import LINE_ERRORS, Converter, ConvertOptions, Source, Summary
from finetune.readers import BatchReader, Reader, detect, guarded, read_openai, read_pair, read_transcript
from finetune.report import EXIT_OK, EXIT_REJECTS, Issue, Report
from finetune.stats import collect, render
from finetune.targets import NO_FINETUNE, TARGETS, Target, unsupported_message
from finetune.targets.base import OverrideError, with_overrides
from finetune.tokens import counter_for
from finetune.transforms import Settings

SOURCES = ("openai", "transcript", "pair", "batch")


class UsageError(Exception):
    """A problem with the command line; exits 2 with the message."""


def resolve_target(name: str, settings: Sequence[str] = ()) -> Target:
    """The target called ``name`` with ``--set`` overrides applied, or a :class:`UsageError`."""
    key = name.lower()
    if key in NO_FINETUNE:
        raise UsageError(unsupported_message(key))
    if key not in TARGETS:
        raise UsageError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
    pairs: dict[str, str] = {}
    for item in settings:
        k, sep, value = item.partition("=")
        prefix, dot, rest = k.partition(".")
        if not sep or (dot and prefix != key):
            raise UsageError(f"--set takes {key}.KEY=VALUE, not {item!r}")
        pairs[rest if dot else k] = value
    try:
        return with_overrides(TARGETS[key], pairs)
    except OverrideError as exc:
        raise UsageError(str(exc)) from None


def reader_for(path: Path, source: str | None, requests: Path | None) -> Reader:
    """The reader for a file: named by ``--from`` or detected from its first line; a line too deep or otherwise
    hostile to decoders is an invalid line (:class:`~finetune.readers.Guarded`)."""
    check_input(path)
    if requests is not None:
        check_input(requests, "--requests")
    name = (source or detect(path)).lower()
    readers: dict[str, Callable[[], Reader]] = {
        "openai": lambda: read_openai,
        "transcript": lambda: read_transcript,
        "pair": lambda: read_pair,
        "batch": lambda: BatchReader(requests),
    }
    if name in readers:
        return guarded(readers[name]())
    if name in TARGETS:
        return guarded(TARGETS[name].read)
    raise UsageError(f"unknown input format {name!r}; known: {', '.join([*SOURCES, *TARGETS])}")


def _inputs(args: argparse.Namespace, files: Sequence[Path]) -> list[Path]:
    return [*files, *([args.requests] if args.requests else [])]


@contextlib.contextmanager
def _reporting(
    args: argparse.Namespace, inputs: Sequence[Path], outputs: Sequence[Path] = (), run: Outputs | None = None
) -> Iterator[Report]:
    """The run's :class:`Report`; with ``--report FILE`` its lines go to a temporary file renamed into place
    when the command ends, also when it fails (the report explains the failure) — unless writing the report
    itself failed: then the previous report is left as it was. ``run``'s commit syncs the report first, so a
    full disk stops the run before its outputs are renamed into place."""
    printed = 0 if args.quiet else 200
    if not args.report:
        yield Report(strict=args.strict, max_printed=printed)
        return
    files = Outputs(inputs)
    files.check(args.report)
    if args.report.resolve() in {p.resolve() for p in outputs}:  # not there yet: no inode to compare
        raise UsageError(f"--report {args.report} is also an output of this run; give it another name")
    report = Report(strict=args.strict, jsonl=files.create(args.report), max_printed=printed)
    if run is not None:
        run.before_commit.append(files.sync)
    try:
        yield report
    except BaseException as exc:
        if isinstance(exc, WriteFailed) and files.owns(exc.path):
            files.abort()
        else:
            _keep(files)
        raise
    files.commit()


def _keep(files: Outputs) -> None:
    """Rename the report of a failed run into place; if that fails too, it is dropped (the first error is
    the one to report)."""
    with contextlib.suppress(OSError):
        files.commit()


def _options(args: argparse.Namespace) -> ConvertOptions:
    if not 0 <= args.val_fraction < 1:
        raise UsageError("--val-fraction must be within [0, 1)")
    settings = Settings(
        same_role=args.same_role,
        weights=args.weights,
        split_turns=args.split_turns,
        scrub_pii=args.scrub_pii,
        drop_tools=args.drop_tools,
    )
    return ConvertOptions(
        settings=settings,
        dedup=args.dedup,
        val_fraction=args.val_fraction,
        providers=tuple(args.provider),
        models=tuple(args.model),
        exclude_models=tuple(args.exclude_model),
        max_tokens=args.max_tokens,
    )


def cmd_convert(args: argparse.Namespace) -> int:
    """``finetune convert``: nothing is written unless the run succeeds (see finetune.output)."""
    target = resolve_target(args.to, args.set)
    options = _options(args)
    inputs = _inputs(args, args.inputs)
    outputs = Outputs(inputs)
    outputs.check(args.output)
    sources = [Source(p, reader_for(p, args.source, args.requests)) for p in args.inputs]
    with _reporting(args, inputs, [args.output, sibling(args.output, "val")], outputs) as report:
        bar = ProgressBar(sum(p.stat().st_size for p in args.inputs))
        try:
            progress = bar.update if bar.on else None
            summary = Converter(target, options, report).run(sources, args.output, progress, outputs)
        finally:
            bar.close()
    tok = f", tokens {summary.tokens} ({summary.tokenizer})" if summary.tokenizer else ""
    print(
        f"{target.name}: {summary.lines} lines read, {summary.samples} samples written "
        f"({summary.validation} validation){tok}\n  files: {', '.join(summary.files)}\n{report.summary()}",
        file=sys.stderr,
    )
    return _verdict(summary, report, args.max_reject)


def _verdict(summary: Summary, report: Report, max_reject: float) -> int:
    """Exit 1 when more than ``max_reject`` of the lines read had a rejected sample."""
    share = summary.rejected_lines / summary.lines if summary.lines else 0.0
    if share <= max_reject:
        return EXIT_OK
    hint = ""
    if report.by_rule["rejected:tools.unsupported"]:
        hint = " --drop-tools keeps conversations with tool calls, minus their tool turns."
    print(
        f"finetune: {summary.rejected_lines} of {summary.lines} lines rejected ({share:.1%}), "
        f"more than --max-reject {max_reject:g}; the output was written, but check the reasons above.{hint}",
        file=sys.stderr,
    )
    return EXIT_REJECTS


def cmd_validate(args: argparse.Namespace) -> int:
    """``finetune validate``: the rules ``convert`` applies, on a file as it is (no transforms)."""
    target = resolve_target(args.target, args.set)
    with _reporting(args, _inputs(args, [args.file])) as report:
        lines = validate_file(target, args.file, report, args.max_tokens, args.source, args.requests)
    print(f"{target.name}: {lines} lines checked, {report.rejected} problems\n{report.summary()}", file=sys.stderr)
    return EXIT_REJECTS if report.rejected else EXIT_OK


def validate_file(
    target: Target,
    path: Path,
    report: Report,
    max_tokens: int | None = None,
    source: str | None = None,
    requests: Path | None = None,
) -> int:
    """Judge a file already in ``target``'s format into ``report`` (``validate``, and ``push`` before an
    upload); the number of lines read."""
    if source is None and target.validate_read is not None:
        check_input(path)
        reader: Reader = guarded(target.validate_read)
    else:
        reader = reader_for(path, source or target.name, requests)
    judge, keys, name = Judge(target, max_tokens), KeyCheck(target), path.name
    lines = 0
    for number, conv in _read_all(path, reader, report, keys):
        lines += 1
        found = judge.sample(conv)
        for rule, where, reason in found:
            report.add(Issue(line=number, rule=rule, reason=reason, path=where, file=name))
        if not found:
            judge.accept(conv)
    for number, (rule, reason, action) in [*findings(judge, keys), *((0, f) for f in judge.size(path))]:
        report.add(Issue(line=number, rule=rule, reason=reason, action=action, file=name))
    return lines


#: Why ``validate`` rejects a file that starts with a UTF-8 byte order mark.
BOM_REASON = (
    "the file starts with a UTF-8 byte order mark (BOM); loaders that read text as plain UTF-8 fail "
    "on its first line. Save it without a BOM, or `finetune convert` it (outputs never have one)"
)


def _read_all(path: Path, reader: Reader, report: Report, keys: KeyCheck) -> Iterator[tuple[int, Conversation]]:
    if starts_with_bom(path):
        report.add(Issue(line=1, rule="file.bom", reason=BOM_REASON, file=path.name))
    with open_input(path) as stream:
        for number, line in numbered_lines(stream):
            keys.line(number, line)
            try:
                yield number, reader(line)
            except msgspec.ValidationError as exc:
                reason, _, where = str(exc).partition(" - at `")
                issue = Issue(line=number, rule="input.schema", reason=reason, path=where.rstrip("`"), file=path.name)
                report.add(issue)
            except LINE_ERRORS as exc:
                rule = getattr(exc, "rule", "input.json")
                report.add(Issue(line=number, rule=rule, reason=str(exc), file=path.name))
        left = incomplete_tail(stream)
    if left is not None:
        reason = f"the gzip stream has no end marker: read up to the last complete line; {left} bytes left"
        report.add(Issue(line=0, rule="input.incomplete", reason=reason, action="warning", file=path.name))


def cmd_stats(args: argparse.Namespace) -> int:
    """``finetune stats``."""
    counter = counter_for(args.tokenizer)
    for path in args.files:
        st = collect(path, reader_for(path, args.source, args.requests), counter)
        print(render(path, st, counter, args.epochs))
    return EXIT_OK


def cmd_targets(args: argparse.Namespace) -> int:
    """``finetune targets``: each target, its rules, options, limits and unconfirmed defaults."""
    for t in TARGETS.values():
        print(f"{t.name:<14} {t.title}\n{'':<14} {t.source}")
        for rule in t.rules:
            print(f"{'':<16}[{rule.id}] {rule.text}")
        if t.caps.max_file_bytes is not None:
            where = t.limits_source or t.source
            print(
                f"{'':<16}limit: files of at most {t.caps.max_file_bytes / 1e6:g} MB, larger output is split ({where})"
            )
        for key, value in t.options.items():
            print(f"{'':<16}option: {key}={value} (default; --set {t.name}.{key}=...)")
        for note in t.notes:
            print(f"{'':<16}default: {note}")
    print("\nno hosted fine-tuning: " + ", ".join(NO_FINETUNE) + " (convert --to one of them for advice)")
    return EXIT_OK


class ProgressBar:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = max(total, 1)
        self.on = self.stream.isatty()
        self.start = time.monotonic()

    def update(self, done: int) -> None:
        """Redraw with ``done`` bytes processed."""
        frac = min(done / self.total, 1.0)
        rate = done / max(time.monotonic() - self.start, 1e-9) / 1e6
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} {rate:7.1f} MB/s")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.on:
            self.stream.write("\n")
