"""``finetune distill``: answer prompts with a teacher model through a gateway route, as chat JSONL for ``convert``.

Each prompt (:mod:`finetune.prompts`) not yet in the checkpoint (:mod:`finetune.checkpoint`) is sent to
``BASE_URL/chat/completions`` with ``model: ROUTE`` by ``--concurrency`` workers (:mod:`finetune.teacher`);
``--batch`` sends them as one batch instead (:mod:`finetune.batchmode`). Every answer is in the checkpoint
before it counts, so a rerun after a crash, Ctrl-C or ``kill -9`` asks only for what is missing. A call that
fails is retried ``--retries`` times (Retry-After honoured, else exponential backoff); one that still fails
is reported with its file and line, and a rerun tries it again. When every prompt is settled the output —
prompt + answer per line, in input order, ``reasoning_content`` and ``tool_calls`` included — is written the
safe way (:class:`~finetune.output.Outputs`: a temporary file renamed into place; never over an input) and the
checkpoint is removed; with failures left, the output holds the answered prompts, the checkpoint stays and
the exit code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from balancer import config as config_mod
from finetune.answer import Unusable, assistant_message
from finetune.checkpoint import Checkpoint, checkpoint_path
from finetune.commands import UsageError, reader_for
from finetune.distill_run import Run
from finetune.model import Conversation
from finetune.output import Outputs
from finetune.prompts import Prompt, read_prompts
from finetune.report import EXIT_OK, EXIT_REJECTS
from finetune.teacher import Failed, Progress, Spend, ask, backoff

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"


def api_key(args: argparse.Namespace) -> str:
    key: str | None = args.api_key or os.environ.get("QIAO_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise UsageError("no API key: pass --api-key, or set QIAO_API_KEY (a client key of the gateway)")
    return key


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.max_tokens is not None:
        options["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        options["temperature"] = args.temperature
    return options


def cmd_distill(args: argparse.Namespace) -> int:
    """``finetune distill`` (see the module docstring)."""
    output: Path = args.output
    ckpt_path = checkpoint_path(output)
    outputs = Outputs(args.inputs)
    outputs.check(output)
    outputs.check(ckpt_path)
    key = api_key(args)
    cfg = config_mod.load(args.config) if args.config else None
    sources = [(p, reader_for(p, args.source, None)) for p in args.inputs]
    prompts: list[Prompt] = []
    skipped: list[tuple[str, str]] = []
    for item in read_prompts(sources, args.model, _options(args)):
        (prompts if isinstance(item, Prompt) else skipped).append(item)  # type: ignore[arg-type]
    for where, why in skipped:
        print(f"finetune: {where}: skipped: {why}", file=sys.stderr)
    checkpoint = Checkpoint(ckpt_path)
    unique = {p.key: p for p in prompts}
    _forget_unusable(checkpoint, unique)
    todo = [p for p in unique.values() if not checkpoint.has(p.key)]
    progress = Progress(len(unique), Spend(cfg), args.progress_every)
    progress.done = sum(1 for k in unique if k in checkpoint.answers)
    run = Run(args, key, checkpoint, progress)
    if progress.done:
        print(f"finetune: resuming: {progress.done} answers already in {ckpt_path}", file=sys.stderr)
    try:
        if todo and args.batch:
            from finetune.batchmode import run_batch

            run_batch(run, todo)
        elif todo:
            asyncio.run(_answer_all(run, todo))
    finally:
        progress.close()
        checkpoint.close()
    return _finish(run, prompts, output, outputs)


def _forget_unusable(checkpoint: Checkpoint, prompts: dict[str, Prompt]) -> None:
    """Answers in the checkpoint that are no usable answer (kept by an older version): reported and asked again."""
    for key, prompt in prompts.items():
        entry = checkpoint.answers.get(key)
        if entry is None:
            continue
        try:
            assistant_message(entry["message"])
        except Unusable as exc:
            checkpoint.forget(key)
            print(f"finetune: {prompt.where}: the answer in {checkpoint.path} is no usable answer ({exc}); "
                  "asking again", file=sys.stderr)  # fmt: skip


async def _answer_all(run: Run, todo: list[Prompt]) -> None:
    queue: asyncio.Queue[Prompt] = asyncio.Queue()
    for p in todo:
        queue.put_nowait(p)
    url = run.args.base_url.rstrip("/") + "/chat/completions"
    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(_worker(run, session, url, queue)) for _ in range(run.args.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()


async def _worker(run: Run, session: aiohttp.ClientSession, url: str, queue: asyncio.Queue[Prompt]) -> None:
    while not queue.empty():
        prompt = queue.get_nowait()
        for attempt in range(1, run.args.retries + 2):
            try:
                answer = await ask(session, url, run.key, prompt.request, run.args.timeout)
            except Failed as failure:
                if failure.kind == "fatal":
                    raise UsageError(f"{url} refused {prompt.where}: {failure} (check --api-key and --model)") from None
                if failure.kind == "rejected":
                    run.reject(prompt, failure)
                elif failure.kind == "retry" and attempt <= run.args.retries:
                    await asyncio.sleep(backoff(attempt, failure.wait))
                    continue
                else:
                    run.fail(prompt.where, f"failed after {attempt} tries: {failure}")
                break
            run.keep(prompt, answer)
            break


def _finish(run: Run, prompts: Sequence[Prompt], output: Path, outputs: Outputs) -> int:
    """Write the output from the checkpoint (input order); drop the checkpoint once nothing is left to ask."""
    answers = run.checkpoint.answers
    written: set[str] = set()
    handle = outputs.create(output)
    try:
        for p in prompts:
            entry = answers.get(p.key)
            if entry is None:
                continue
            try:
                conv = _answered(p.conversation, entry["message"])
            except Unusable as exc:  # _forget_unusable let none through; never the output's crash
                run.fail(p.where, f"the answer in {run.checkpoint.path} is no usable answer ({exc})")
                continue
            handle.write(msgspec.json.encode(conv) + b"\n")
            written.add(p.key)
        if written or not output.exists():
            outputs.commit()
        else:  # no answer at all: an earlier run's answers are not replaced by nothing
            outputs.abort()
            print(f"finetune: no answer in this run: {output} left as it was", file=sys.stderr)
    except BaseException:
        outputs.abort()
        raise
    missing = {p.key for p in prompts} - written - set(run.checkpoint.rejected)
    for where, reason in run.failures:
        print(f"finetune: {where}: {reason}", file=sys.stderr)
    print(
        f"distill: {len(written)} answers written to {output}; {run.progress.line().split(', ', 1)[1]}", file=sys.stderr
    )
    if missing:
        print(f"finetune: {len(missing)} prompts unanswered; run the same command again to retry them "
              f"(the answers so far are kept in {run.checkpoint.path})", file=sys.stderr)  # fmt: skip
        return EXIT_REJECTS
    run.checkpoint.path.unlink(missing_ok=True)
    return EXIT_REJECTS if run.checkpoint.rejected else EXIT_OK


def _answered(prompt: Conversation, message: Any) -> Conversation:
    """The prompt followed by the teacher's answer (content, reasoning_content, tool_calls); :class:`Unusable` when
    the checkpointed message is no usable answer."""
    return msgspec.structs.replace(prompt, messages=[*prompt.messages, assistant_message(message)])


def add_parser(sub: Any) -> None:
    """The ``distill`` sub-command's arguments."""
    d = sub.add_parser("distill", help="answer prompts with a teacher model through a gateway route")
    d.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="prompts: chat JSONL or transcripts")
    d.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="chat JSONL; must not be an input")
    d.add_argument("--model", required=True, metavar="ROUTE", help="the gateway route that answers")
    d.add_argument("--base-url", default=os.environ.get("QIAO_BASE_URL", DEFAULT_BASE_URL),
                   help=f"the gateway's OpenAI base URL (env QIAO_BASE_URL; default {DEFAULT_BASE_URL})")  # fmt: skip
    d.add_argument("--api-key", help="a client key (default: env QIAO_API_KEY or OPENAI_API_KEY); never printed")
    d.add_argument("--from", dest="source", metavar="FORMAT", help="input format (default: detected)")
    d.add_argument("--concurrency", type=_positive, default=8, help="requests in flight (default 8)")
    d.add_argument("--retries", type=_not_negative, default=3, help="retries per prompt after a failure (default 3)")
    d.add_argument("--timeout", type=float, default=300.0, help="seconds per request (default 300)")
    d.add_argument("--max-tokens", type=int, help="max_tokens of each request")
    d.add_argument("--temperature", type=float, help="temperature of each request")
    d.add_argument("--config", type=Path, help="the gateway's config: price answers with each provider's prices")
    d.add_argument("--progress-every", type=float, default=10.0, help="seconds between progress lines (not a tty)")
    d.add_argument("--batch", action="store_true", help="one batch through the gateway (the vendor's batch price)")
    d.add_argument("--poll-s", type=float, default=30.0, help="--batch: seconds between polls (default 30)")
    d.set_defaults(func=cmd_distill)


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value
