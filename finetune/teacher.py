"""One teacher call through an OpenAI-compatible gateway, with retries, and what ``distill`` shows as it goes.

:func:`ask` sends one chat request (with ``Idempotency-Key: <prompt key>``: Qiao answers a repeat of a request
it already sent upstream from its memory, so a prompt in flight when ``distill`` died is not paid twice; other
servers ignore the header) and returns the answer when the reply holds a usable one (:mod:`finetune.answer`: the
definition ``--batch`` applies too), else raises :class:`Failed` — ``retry`` for what may pass (connection errors,
timeouts, 408, 409, 429, 5xx, a reply that holds no usable answer; ``wait`` is the server's ``Retry-After``),
``fatal`` for what no prompt can get past (401, 403, 404: a wrong key or route). :class:`Spend` prices usage with the
vendor catalogue (:mod:`balancer.credit.pricing`), by the ``x-qiao-provider``/``x-qiao-model`` the gateway
names (with ``--config``, the provider's own prices), else by the model alone — list prices, so the figure is
what the answers are worth, grants included, and says so. :class:`Progress` is one line on stderr.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import aiohttp

from balancer.config import Config, Money
from balancer.credit.pricing import MICRO, Tariff, account_tariffs, tariff
from balancer.vendors import REGISTRY
from finetune.answer import ERROR_CHARS, Answer, Unusable, from_completion, short, vendor_error
from finetune.checkpoint import prompt_key

RETRY_STATUS = frozenset({408, 409, 429})
FATAL_STATUS = frozenset({401, 403, 404})


class Failed(Exception):
    """A call that got no usable answer: ``kind`` is ``retry`` (may pass), ``bad`` (this prompt is refused, e.g.
    400), ``fatal`` (no prompt can pass) or ``rejected`` (answered and paid, but not training data)."""

    def __init__(self, kind: str, reason: str, wait: float | None = None, answer: Answer | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.wait = wait
        self.answer = answer


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _reason(status: int, data: bytes) -> str:
    text = vendor_error(data)
    if text is None:
        text = short(data[:ERROR_CHARS].decode("utf-8", "replace"))
    return f"HTTP {status} {text}".strip()


async def ask(session: aiohttp.ClientSession, url: str, key: str, request: dict[str, Any], timeout_s: float) -> Answer:
    """One attempt at one prompt (see the module docstring for what is raised)."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": prompt_key(request)}
    try:
        async with session.post(
            url, json=request, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as r:
            data = await r.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Failed("retry", f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    if r.status != 200:
        kind = (
            "fatal" if r.status in FATAL_STATUS else "retry" if r.status in RETRY_STATUS or r.status >= 500 else "bad"
        )
        raise Failed(kind, _reason(r.status, data), _retry_after(r.headers))
    try:
        answer, cut = from_completion(data, r.headers.get("x-qiao-provider", ""), r.headers.get("x-qiao-model", ""))
    except Unusable as exc:
        raise Failed("retry", str(exc)) from None
    if cut is not None:
        raise Failed("rejected", f"finish_reason={cut}: not kept as training data", None, answer)
    return answer


def backoff(attempt: int, wait: float | None, cap_s: float = 60.0) -> float:
    """Seconds before retry number ``attempt`` (1, 2, …): the server's Retry-After, else 0.5 × 2^(n-1), ≤ cap."""
    return min(cap_s, wait if wait is not None else 0.5 * 2 ** (attempt - 1))


class Spend:
    """List value of the answers, in CNY, from the vendor catalogue (see the module docstring)."""

    def __init__(self, cfg: Config | None = None) -> None:
        self.micro = 0
        self.unpriced = 0  # answers whose model no catalogue knows
        self.unknown = 0  # answers whose usage is no token counts (their cost unknown)
        self._money = cfg.money if cfg else Money()
        self._accounts: dict[str, dict[str, Tariff]] = {}
        if cfg is not None:
            for name, prov in cfg.providers.items():
                self._accounts[name] = account_tariffs(REGISTRY[prov.vendor].models, prov.prices, cfg.money)

    def _tariff(self, provider: str, model: str) -> Tariff | None:
        if provider in self._accounts:
            return self._accounts[provider].get(model)
        for vendor in REGISTRY.values():
            info = vendor.models.get(model)
            if info is not None:
                return tariff(info, self._money)
        return None

    def add(self, provider: str, model: str, usage: dict[str, Any], factor: float = 1.0) -> None:
        t = self._tariff(provider, model)
        if t is None:
            self.unpriced += 1
            return
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        cost = t.cost(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), int(cached))
        self.micro += round(cost * factor)

    def __str__(self) -> str:
        unpriced = f", {self.unpriced} unpriced" if self.unpriced else ""
        unknown = f", {self.unknown} of unknown usage not counted" if self.unknown else ""
        return f"¥{self.micro / MICRO:.4f} at list price (estimate{unpriced}{unknown})"


class Progress:
    """done / failed / tokens / spend on stderr: a redrawn line on a terminal, else a line every ``every_s``."""

    def __init__(self, total: int, spend: Spend, every_s: float = 10.0, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.spend, self.every_s = total, spend, every_s
        self.done = self.failed = self.tokens = 0
        self.tty = self.stream.isatty()
        self._last = time.monotonic()

    def answered(self, usage: dict[str, Any]) -> None:
        self.done += 1
        self.tokens += int(usage.get("total_tokens") or 0) or int(usage.get("prompt_tokens") or 0) + int(
            usage.get("completion_tokens") or 0
        )
        self.show()

    def line(self) -> str:
        return f"distill: {self.done}/{self.total} done, {self.failed} failed, {self.tokens} tokens, {self.spend}"

    def show(self, force: bool = False) -> None:
        if self.tty:
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif force or time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
        else:
            self.show(force=True)
