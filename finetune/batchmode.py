"""``distill --batch``: the prompts as one batch through the gateway, at the vendor's batch price.

With the ``openai`` SDK against the gateway (``pip install 'qiao[teacher]'``): the requests are written to a
hidden temporary file beside the output (``custom_id`` = the prompt's checkpoint key), uploaded with
``files.create(purpose="batch")``, the batch created with ``batches.create`` — and its id put in the checkpoint
at once, so a rerun after a crash polls that batch instead of paying for a new one — then polled every
``--poll-s`` until it ends. A completed batch's output file is joined back to the prompts by ``custom_id``;
lines that failed in the batch, or are broken (:mod:`finetune.batchlines` says what each kind of broken line
means), are reported by input line and asked again (in a new batch) by a rerun.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from balancer.vendors import REGISTRY
from finetune.batchlines import Outcome, read_output
from finetune.commands import UsageError
from finetune.distill_run import Run
from finetune.output import WriteFailed
from finetune.prompts import Prompt
from finetune.teacher import Failed

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def _client(run: Run) -> Any:
    try:
        import openai
    except ImportError:
        raise UsageError("--batch needs the openai SDK: pip install 'qiao[teacher]'") from None
    return openai.OpenAI(base_url=run.args.base_url, api_key=run.key, max_retries=run.args.retries)


def run_batch(run: Run, todo: list[Prompt]) -> None:
    """Answer ``todo`` with one batch (or finish the one a killed run left open). A call the gateway refuses or
    does not answer (a wrong key or route, the gateway down) is a :class:`UsageError` saying whether a batch
    was sent and how to go on."""
    import openai

    client = _client(run)
    try:
        _answer(run, client, todo)
    except openai.APIError as exc:
        status = getattr(exc, "status_code", None)
        hint = " (check --api-key and --model)" if status in (401, 403, 404) else ""
        batch = run.checkpoint.open_batch
        then = (
            f"batch {batch} is kept in {run.checkpoint.path}: run the same command again to go on polling it "
            "(it is not paid again)"
            if batch
            else "no batch was sent (nothing paid)"
        )
        raise UsageError(f"{run.args.base_url}: {exc.message.rstrip('.')}{hint}; {then}") from None


def _answer(run: Run, client: Any, todo: list[Prompt]) -> None:
    by_key = {p.key: p for p in todo}
    import openai

    batch_id = run.checkpoint.open_batch or _submit(run, client, todo)
    try:
        batch = _poll(run, client, batch_id)
    except openai.NotFoundError:  # the gateway restarted without shared state: it cannot be polled, ever
        run.checkpoint.add({"batch": batch_id, "state": "lost"})
        for p in todo:
            run.fail(p.where, f"batch {batch_id} is unknown to {run.args.base_url}: a rerun sends a new batch")
        return
    if batch.status != "completed" or not batch.output_file_id:
        run.checkpoint.add({"batch": batch_id, "state": "done"})
        for p in todo:
            run.fail(p.where, f"batch {batch_id} ended {batch.status}")
        return
    output = client.files.content(batch.output_file_id).content
    settled = _join(run, batch_id, output, by_key)
    run.checkpoint.add({"batch": batch_id, "state": "done"})
    for key, p in by_key.items():
        if key not in settled and not run.checkpoint.has(key):
            run.fail(p.where, f"no answer in batch {batch_id}; a rerun asks again")


_NOT_SENT = "no batch was sent (nothing paid); the answers so far are kept in the checkpoint"


def _submit(run: Run, client: Any, todo: list[Prompt]) -> str:
    lines = [{"custom_id": p.key, "method": "POST", "url": "/v1/chat/completions", "body": p.request} for p in todo]
    try:
        fd, tmp = tempfile.mkstemp(dir=run.args.output.parent, prefix=f".{run.args.output.name}.", suffix=".batch.tmp")
    except OSError as exc:
        raise WriteFailed(run.args.output.parent, exc, _NOT_SENT) from None
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
        except OSError as exc:
            raise WriteFailed(Path(tmp), exc, f"it was removed; {_NOT_SENT}") from None
        with open(tmp, "rb") as f:
            uploaded = client.files.create(file=(f"{run.args.output.stem}.batch.jsonl", f.read()), purpose="batch")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    run.checkpoint.add({"batch": batch.id, "state": "open"})  # before waiting: a rerun polls it, never re-pays
    return str(batch.id)


def _poll(run: Run, client: Any, batch_id: str) -> Any:
    while True:
        batch = client.batches.retrieve(batch_id)
        counts = getattr(batch, "request_counts", None)
        done = getattr(counts, "completed", None) if counts is not None else None
        run.progress.stream.write(f"distill: batch {batch_id} {batch.status}" + (f", {done} done\n" if done else "\n"))
        if batch.status in TERMINAL:
            return batch
        time.sleep(run.args.poll_s)


def _join(run: Run, batch_id: str, output: bytes, by_key: dict[str, Prompt]) -> set[str]:
    """Settle each prompt the batch output answers (see :mod:`finetune.batchlines` for what a broken line means):
    its answer kept or rejected in the checkpoint, or its failure reported; the keys settled."""
    best: dict[str, Outcome] = {}
    for outcome in read_output(output):
        where = f"batch {batch_id} output line {outcome.line}"
        if outcome.key is None:
            run.note(where, f"{outcome.reason}; it names no request, so it is skipped")
        elif outcome.key in by_key and (outcome.key not in best or outcome.rank > best[outcome.key].rank):
            best[outcome.key] = outcome
    for key, outcome in best.items():
        prompt = by_key[key]
        if run.checkpoint.has(key):
            continue
        if outcome.answer is None:
            run.fail(prompt.where, f"batch {batch_id} output line {outcome.line}: {outcome.reason}; a rerun asks again")
        elif outcome.reason:
            run.reject(prompt, Failed("rejected", outcome.reason, None, outcome.answer))
        else:
            run.keep(prompt, outcome.answer, _price_factor(outcome.answer.model))
    return set(best)


def _price_factor(model: str) -> float:
    """The batch discount of the vendor whose catalogue has ``model`` (1.0 when none is known)."""
    for vendor in REGISTRY.values():
        if model in vendor.models and vendor.batch is not None:
            return vendor.batch.price_factor
    return 1.0
