"""``finetune``: convert, validate, stats, targets, distill, push, jobs.

Exit codes: 0 success; 1 a rejected line in --strict mode, more rejected lines than --max-reject
allows, or validate found problems; 2 usage error (bad arguments, unknown target, a vendor without
fine-tuning, an output that is an input, unreadable input, unwritable output); 130 or 143
interrupted by Ctrl-C or SIGTERM (no output is left behind).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from balancer.config import ConfigError
from finetune import __version__, distill, pushcmd
from finetune.commands import SOURCES, UsageError, cmd_convert, cmd_stats, cmd_targets, cmd_validate
from finetune.io import UnreadableInput
from finetune.output import OutputClash
from finetune.report import EXIT_OK, EXIT_REJECTS, EXIT_USAGE, StrictFailure

__all__ = ["main"]


class Interrupted(BaseException):
    """SIGTERM or SIGHUP, raised like KeyboardInterrupt so that output is cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``finetune`` console script."""
    args = _parser().parse_args(argv)
    with _quiet_stderr(), _signals():
        try:
            result: int = args.func(args)
        except (UsageError, OutputClash, UnreadableInput, ConfigError) as exc:
            print(f"finetune: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except StrictFailure as exc:
            print(f"finetune: strict: {exc}; no output written", file=sys.stderr)
            return EXIT_REJECTS
        except (KeyboardInterrupt, Interrupted) as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            name = signal.Signals(signum).name
            print(f"finetune: interrupted ({name}); no partial output left behind", file=sys.stderr)
            return 128 + signum
        except BrokenPipeError:  # `finetune targets | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        except OSError as exc:  # a file vanished, a disk is full, a directory is read-only
            print(f"finetune: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return result


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_DFL:
            continue  # ignored on purpose (nohup) or handled by an embedding program: leave it
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class _QuietStream:
    """Stderr that goes silent when its reader has gone (``finetune … 2>&1 | head``): the run
    carries on and keeps its exit code instead of dying of a BrokenPipeError."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone = True
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone = True

    def isatty(self) -> bool:
        return not self._gone and self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    original = sys.stderr
    sys.stderr = _QuietStream(original)
    try:
        yield
    finally:
        sys.stderr = original


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finetune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"finetune (qiao) {__version__}")
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    c = sub.add_parser("convert", help="convert transcripts/datasets into a target's format")
    c.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="input files (plain or gzip)")
    c.add_argument("--to", required=True, metavar="TARGET", help="the target format (see: finetune targets)")
    c.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT",
        help="output file (parts, OUT.val.jsonl and side files go next to it); must not be an input",
    )
    c.add_argument(
        "--max-reject",
        type=_share,
        default=0.1,
        metavar="SHARE",
        help="exit 1 when more than this share of lines is rejected (default 0.1; 1 never fails)",
    )
    _common(c)
    _transform_flags(c)
    c.set_defaults(func=cmd_convert)
    v = sub.add_parser("validate", help="check a file already in a target's format")
    v.add_argument("file", type=Path, help="the file to check")
    v.add_argument("--for", dest="target", required=True, metavar="TARGET", help="the format the file is in")
    _common(v)
    v.set_defaults(func=cmd_validate)
    s = sub.add_parser("stats", help="samples, turns, tokens, rejects and costs of a file")
    s.add_argument("files", nargs="+", type=Path, help="files to count (plain or gzip)")
    s.add_argument("--from", dest="source", metavar="FORMAT", help=_FROM_HELP)
    s.add_argument("--requests", type=Path, help="batch input file to join with batch output lines")
    s.add_argument("--tokenizer", choices=("estimate", "qwen"), default="estimate", help="how to count tokens")
    s.add_argument("--epochs", type=int, default=3, help="training epochs for the cost estimate (default 3)")
    s.set_defaults(func=cmd_stats)
    t = sub.add_parser("targets", help="list targets, their rules, limits and unconfirmed defaults")
    t.set_defaults(func=cmd_targets)
    distill.add_parser(sub)
    pushcmd.add_parsers(sub)
    return p


_FROM_HELP = f"input format: {', '.join(SOURCES)} or a target name (default: detected from the first line)"


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", metavar="FORMAT", help=_FROM_HELP)
    p.add_argument("--requests", type=Path, help="batch input file to join with batch output lines")
    p.add_argument("--strict", action="store_true", help="stop at the first rejected line (exit 1, no output)")
    p.add_argument("--report", type=Path, metavar="FILE", help="also write every issue as JSONL here")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TARGET.KEY=VALUE",
        help="override a target default, e.g. bailian.content=parts (see: finetune targets)",
    )
    p.add_argument("--max-tokens", type=int, metavar="N", help="reject samples above N tokens")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary, not each issue")


def _transform_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--same-role",
        choices=("merge", "reject"),
        default="merge",
        help="consecutive same-role turns: join them (default) or reject the sample",
    )
    p.add_argument(
        "--weights",
        choices=("train-all", "drop", "split"),
        default="train-all",
        help="weight-0 answers on targets without a loss field: train them (default, warns), "
        "drop the sample, or split it into one sample per trained answer",
    )
    p.add_argument(
        "--split-turns",
        choices=("off", "history", "single"),
        default="off",
        help="one sample per answered turn, with its history or alone (default off)",
    )
    p.add_argument(
        "--drop-tools",
        action="store_true",
        help="remove tool calls, tool results and tool definitions instead of rejecting the sample "
        "(answers that used a tool's result are kept as they are)",
    )
    p.add_argument("--scrub-pii", action="store_true", help="replace phone, ID, card numbers and emails")
    p.add_argument(
        "--dedup",
        choices=("exact", "normalised", "none"),
        default="exact",
        help="drop duplicates by output bytes (default), by case/space-folded text, or not at all",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="send this share of lines to OUT.val.jsonl (stable: a hash of the line decides)",
    )
    p.add_argument(
        "--provider", action="append", default=[], metavar="GLOB", help="keep transcripts of these providers/vendors"
    )
    p.add_argument("--model", action="append", default=[], metavar="GLOB", help="keep transcripts of these models")
    p.add_argument("--exclude-model", action="append", default=[], metavar="GLOB", help="leave out these models")
