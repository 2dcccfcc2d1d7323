"""``finetune``: convert, validate, stats, targets.

Exit codes: 0 success; 1 a rejected line in ``--strict`` mode, or ``validate`` found problems;
2 usage error (bad arguments, unknown target, a vendor without fine-tuning, unreadable input).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from finetune.io import numbered_lines, open_input
from finetune.model import Conversation
from finetune.pipeline import LINE_ERRORS, Converter, ConvertOptions, Source, check
from finetune.readers import BatchReader, Reader, detect, read_openai, read_pair, read_transcript
from finetune.report import EXIT_OK, EXIT_REJECTS, EXIT_USAGE, Issue, Report, StrictFailure
from finetune.stats import collect, render
from finetune.targets import NO_FINETUNE, TARGETS, Target, unsupported_message
from finetune.targets.base import OverrideError, with_overrides
from finetune.tokens import Estimate, TokenCounter, counter_for
from finetune.transforms import Settings

SOURCES = ("openai", "transcript", "pair", "batch")


class UsageError(Exception):
    """A problem with the command line; exits 2 with the message."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``finetune`` console script."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except UsageError as exc:
        print(f"finetune: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StrictFailure as exc:
        print(f"finetune: strict: {exc}", file=sys.stderr)
        return EXIT_REJECTS
    except BrokenPipeError:  # `finetune targets | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finetune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    c = sub.add_parser("convert", help="convert transcripts/datasets into a target's format")
    c.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    c.add_argument("--to", required=True, metavar="TARGET")
    c.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    _common(c)
    _transform_flags(c)
    c.set_defaults(func=cmd_convert)
    v = sub.add_parser("validate", help="check a file already in a target's format")
    v.add_argument("file", type=Path)
    v.add_argument("--for", dest="target", required=True, metavar="TARGET")
    _common(v)
    v.set_defaults(func=cmd_validate)
    s = sub.add_parser("stats", help="samples, turns, tokens, rejects and costs of a file")
    s.add_argument("files", nargs="+", type=Path)
    s.add_argument("--from", dest="source", metavar="FORMAT")
    s.add_argument("--requests", type=Path)
    s.add_argument("--tokenizer", choices=("estimate", "qwen"), default="estimate")
    s.add_argument("--epochs", type=int, default=3)
    s.set_defaults(func=cmd_stats)
    t = sub.add_parser("targets", help="list targets, their rules and unconfirmed defaults")
    t.set_defaults(func=cmd_targets)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from", dest="source", metavar="FORMAT", help=f"input format: {', '.join(SOURCES)} or a target"
    )
    p.add_argument("--requests", type=Path, help="batch input file to join with batch output lines")
    p.add_argument("--strict", action="store_true", help="stop at the first rejected line (exit 1)")
    p.add_argument("--report", type=Path, help="also write every issue as JSONL here")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a target default"
    )
    p.add_argument("--max-tokens", type=int, help="reject samples above this many tokens")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")


def _transform_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--same-role", choices=("merge", "reject"), default="merge")
    p.add_argument("--weights", choices=("train-all", "drop", "split"), default="train-all")
    p.add_argument("--split-turns", choices=("off", "history", "single"), default="off")
    p.add_argument("--scrub-pii", action="store_true")
    p.add_argument("--dedup", choices=("exact", "normalised", "none"), default="exact")
    p.add_argument("--val-fraction", type=float, default=0.0)
    p.add_argument("--provider", action="append", default=[], metavar="GLOB")
    p.add_argument("--model", action="append", default=[], metavar="GLOB")
    p.add_argument("--exclude-model", action="append", default=[], metavar="GLOB")


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
    """The reader for a file: named by ``--from`` or detected from its first line."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    name = (source or detect(path)).lower()
    readers: dict[str, Callable[[], Reader]] = {
        "openai": lambda: read_openai,
        "transcript": lambda: read_transcript,
        "pair": lambda: read_pair,
        "batch": lambda: BatchReader(requests),
    }
    if name in readers:
        return readers[name]()
    if name in TARGETS:
        return TARGETS[name].read
    raise UsageError(f"unknown input format {name!r}; known: {', '.join([*SOURCES, *TARGETS])}")


def _report(args: argparse.Namespace) -> tuple[Report, IO[bytes] | None]:
    jsonl = args.report.open("wb") if args.report else None
    return Report(strict=args.strict, jsonl=jsonl, max_printed=0 if args.quiet else 200), jsonl


def cmd_convert(args: argparse.Namespace) -> int:
    """``finetune convert``."""
    target = resolve_target(args.to, args.set)
    sources = [Source(p, reader_for(p, args.source, args.requests)) for p in args.inputs]
    if not 0 <= args.val_fraction < 1:
        raise UsageError("--val-fraction must be within [0, 1)")
    options = ConvertOptions(
        settings=Settings(
            same_role=args.same_role,
            weights=args.weights,
            split_turns=args.split_turns,
            scrub_pii=args.scrub_pii,
        ),
        dedup=args.dedup,
        val_fraction=args.val_fraction,
        providers=tuple(args.provider),
        models=tuple(args.model),
        exclude_models=tuple(args.exclude_model),
        max_tokens=args.max_tokens,
    )
    report, jsonl = _report(args)
    bar = ProgressBar(sum(p.stat().st_size for p in args.inputs))
    try:
        summary = Converter(target, options, report).run(sources, args.output, bar.update if bar.on else None)
    finally:
        bar.close()
        if jsonl is not None:
            jsonl.close()
    tok = f", tokens {summary.tokens} ({summary.tokenizer})" if summary.tokenizer else ""
    print(
        f"{target.name}: {summary.lines} lines read, {summary.samples} samples written "
        f"({summary.validation} validation){tok}\n  files: {', '.join(summary.files)}\n{report.summary()}",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """``finetune validate``: every rule of the target against every line, no transforms."""
    target = resolve_target(args.target, args.set)
    if args.source is None and target.validate_read is not None:
        if not args.file.is_file():
            raise UsageError(f"no such file: {args.file}")
        reader = target.validate_read
    else:
        reader = reader_for(args.file, args.source or target.name, args.requests)
    report, jsonl = _report(args)
    limit = args.max_tokens or target.caps.max_tokens
    counter: TokenCounter = counter_for(target.tokenizer) if limit else Estimate()
    lines = 0
    try:
        for number, conv in _read_all(args.file, reader, report):
            lines += 1
            problems = check(target, conv)
            problems += _token_problem(conv, counter, limit)
            for rule, path, reason in problems:
                report.add(Issue(line=number, rule=rule, reason=reason, path=path, file=args.file.name))
    finally:
        if jsonl is not None:
            jsonl.close()
    print(
        f"{target.name}: {lines} lines checked, {report.rejected} problems\n{report.summary()}",
        file=sys.stderr,
    )
    return EXIT_REJECTS if report.rejected else EXIT_OK


def _token_problem(
    conv: Conversation, counter: TokenCounter, limit: int | None
) -> list[tuple[str, str, str]]:
    from finetune.tokens import conversation_tokens

    if limit is None:
        return []
    n = conversation_tokens(conv, counter)
    label = "" if counter.exact else " (estimate)"
    return [("limits.tokens", "$", f"{n} tokens{label}, the limit is {limit}")] if n > limit else []


def _read_all(path: Path, reader: Reader, report: Report) -> Iterator[tuple[int, Conversation]]:
    with open_input(path) as stream:
        for number, line in numbered_lines(stream):
            try:
                yield number, reader(line)
            except msgspec.ValidationError as exc:
                reason, _, where = str(exc).partition(" - at `")
                report.add(
                    Issue(
                        line=number,
                        rule="input.schema",
                        reason=reason,
                        path=where.rstrip("`"),
                        file=path.name,
                    )
                )
            except LINE_ERRORS as exc:
                rule = getattr(exc, "rule", "input.json")
                report.add(Issue(line=number, rule=rule, reason=str(exc), file=path.name))


def cmd_stats(args: argparse.Namespace) -> int:
    """``finetune stats``."""
    counter = counter_for(args.tokenizer)
    for path in args.files:
        st = collect(path, reader_for(path, args.source, args.requests), counter)
        print(render(path, st, counter, args.epochs))
    return EXIT_OK


def cmd_targets(args: argparse.Namespace) -> int:
    """``finetune targets``: each target, its rules and its unconfirmed defaults."""
    for t in TARGETS.values():
        print(f"{t.name:<14} {t.title}\n{'':<14} {t.source}")
        for rule in t.rules:
            print(f"{'':<16}[{rule.id}] {rule.text}")
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
