"""``finetune push`` and ``finetune jobs``: start a fine-tuning job on a vendor account of the gateway's config,
and follow it.

The account is a provider of the gateway's config (``--config qiao.yaml --provider NAME``), its key read the
way the gateway reads it (:mod:`balancer.config`, :mod:`balancer.secrets`: ``${VAR}`` or ``file:``) and never
printed; its vendor picks the fine-tuning API (:mod:`finetune.push`) and the format the file must be in. Before
anything is uploaded the file is judged by that format's rules (``finetune validate``'s); a file with problems
is not uploaded (exit 1). A vendor that refuses the upload or the job is quoted (exit 1). ``jobs`` lists an
account's jobs, or shows one (``--follow``: until it ends, a line per change) with its status in one set —
queued, running, succeeded, failed, cancelled — trained tokens and error; exit 0 unless it failed or was
cancelled (1).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from balancer import config as config_mod
from balancer.vendors import REGISTRY
from finetune.commands import UsageError, resolve_target, validate_file
from finetune.io import check_input
from finetune.push import BY_VENDOR
from finetune.push.base import TERMINAL, FineTuneApi, OverrideError, with_overrides
from finetune.push.client import JobView, Session, VendorError
from finetune.report import EXIT_OK, EXIT_REJECTS, Report


def account(args: argparse.Namespace) -> tuple[FineTuneApi, str, dict[str, str], str]:
    """(API, base URL, auth headers, key) for ``--provider`` of ``--config``; UsageError if it cannot be used."""
    cfg = config_mod.load(args.config)
    prov = cfg.providers.get(args.provider)
    if prov is None:
        raise UsageError(f"{args.config}: no provider named {args.provider!r} ({', '.join(sorted(cfg.providers))})")
    api = BY_VENDOR.get(prov.vendor)
    if api is None:
        known = ", ".join(sorted(BY_VENDOR))
        raise UsageError(f"{args.provider}: vendor {prov.vendor!r} has no fine-tuning API here (known: {known})")
    if api.shape == "unsupported":
        raise UsageError(f"{args.provider} ({prov.vendor}): {api.unsupported} ({api.source})")
    settings = {k.removeprefix("finetune."): v for k, v in prov.extra.items() if k.startswith("finetune.")}
    for item in args.set:
        k, sep, v = item.partition("=")
        if not sep:
            raise UsageError(f"--set takes KEY=VALUE, not {item!r}")
        settings[k] = v
    try:
        api = with_overrides(api, settings)
    except OverrideError as exc:
        raise UsageError(str(exc)) from None
    key = prov.api_key.reveal() if prov.api_key else ""
    headers = REGISTRY[prov.vendor].headers(key, b"", prov.extra, time.time())
    base = settings.get("base_url") or api.base_for(prov.base_url)
    return api, base, headers, key


def _show(job: JobView) -> str:
    tokens = f", {job.trained_tokens} tokens trained" if job.trained_tokens is not None else ""
    model = f", model {job.fine_tuned_model}" if job.fine_tuned_model else ""
    error = f", error: {job.error}" if job.error else ""
    return f"{job.id}: {job.state} ({job.status}){tokens}{model}{error}"


def cmd_push(args: argparse.Namespace) -> int:
    """``finetune push``."""
    api, base, headers, key = account(args)
    check_input(args.file)
    target = resolve_target(api.name)
    report = Report(max_printed=20)
    lines = validate_file(target, args.file, report)
    if report.rejected:
        print(f"{args.file}: {report.rejected} problems for {api.name}; nothing uploaded "
              f"(finetune validate --for {api.name} {args.file})\n{report.summary()}", file=sys.stderr)  # fmt: skip
        return EXIT_REJECTS
    print(f"{args.file}: {lines} lines valid for {api.name}", file=sys.stderr)
    return asyncio.run(_push(args, api, base, headers, key))


async def _push(args: argparse.Namespace, api: FineTuneApi, base: str, headers: dict[str, str], key: str) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as http:
        s = Session(api, base, headers, key, http)
        try:
            file_id = await s.upload(args.file.name, args.file.read_bytes())
            print(f"uploaded {args.file.name} to {args.provider} as {file_id}", file=sys.stderr)
            job = await s.create(args.model, file_id, args.epochs, args.suffix)
        except VendorError as exc:
            print(f"finetune: {exc}", file=sys.stderr)
            return EXIT_REJECTS
        print(_show(job))
        return await _follow(s, job, args.interval) if args.follow else EXIT_OK


async def _follow(s: Session, job: JobView, interval: float) -> int:
    last = job.status
    while job.state not in TERMINAL:
        await asyncio.sleep(interval)
        job = await s.get(job.id)
        if job.status != last:
            print(_show(job), flush=True)
            last = job.status
    return EXIT_OK if job.state == "succeeded" else EXIT_REJECTS


def cmd_jobs(args: argparse.Namespace) -> int:
    """``finetune jobs``."""
    api, base, headers, key = account(args)
    return asyncio.run(_jobs(args, api, base, headers, key))


async def _jobs(args: argparse.Namespace, api: FineTuneApi, base: str, headers: dict[str, str], key: str) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.timeout)) as http:
        s = Session(api, base, headers, key, http)
        try:
            if args.job is None:
                for job in await s.list():
                    print(_show(job))
                return EXIT_OK
            job = await s.get(args.job)
            print(_show(job), flush=True)
            if args.follow:
                return await _follow(s, job, args.interval)
        except VendorError as exc:
            print(f"finetune: {exc}", file=sys.stderr)
            return EXIT_REJECTS
        return EXIT_REJECTS if job.state in ("failed", "cancelled") else EXIT_OK


def _account_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="the gateway's config (qiao.yaml)")
    p.add_argument("--provider", required=True, help="a provider of the config: the account to use")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an unconfirmed fact: base_url, files_path, jobs_path, status.<WORD>=<state>",
    )
    p.add_argument("--interval", type=float, default=30.0, help="--follow: seconds between polls (default 30)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per call (default 600)")
    p.add_argument("--follow", action="store_true", help="poll until the job ends, a line per status change")


def add_parsers(sub: Any) -> None:
    """The ``push`` and ``jobs`` sub-commands."""
    p = sub.add_parser("push", help="validate, upload a converted file and start a fine-tuning job")
    p.add_argument("file", type=Path, help="a file in the vendor's format (finetune convert --to ...)")
    p.add_argument("--model", required=True, help="the base model to fine-tune")
    p.add_argument("--epochs", type=int, help="training epochs (default: the vendor's)")
    p.add_argument("--suffix", help="a suffix for the fine-tuned model's name")
    _account_args(p)
    p.set_defaults(func=cmd_push)
    j = sub.add_parser("jobs", help="list an account's fine-tuning jobs, or show and follow one")
    j.add_argument("job", nargs="?", help="a job id (default: list them all)")
    _account_args(j)
    j.set_defaults(func=cmd_jobs)
