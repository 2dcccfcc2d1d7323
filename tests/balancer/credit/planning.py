"""Shared helpers for the planner and strategy tests: a small credit config and a ledger with history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from balancer import config as config_mod
from balancer import router
from balancer.credit.ledger import Charge, Ledger, MemoryLedger, Snapshot, books_from_config
from balancer.credit.plan import Plan
from balancer.credit.planner import make_plan
from balancer.routes import CompiledRoute, compile_routes

T = TypeVar("T")
T0 = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()  # midnight UTC


def credit_config(**over: Any) -> dict[str, Any]:
    """glm: a 20M glm-4-air pack for 10 days (tight at 2,000 TPM? no: 120k/h); deepseek: paid; spark: free lite."""
    raw: dict[str, Any] = {
        "server": {"insecure_no_auth": True},
        "providers": {
            "glm": {
                "vendor": "glm",
                "limits": {"tpm": 2_000},
                "account": {
                    "grants": [{"name": "air", "tokens": 20_000_000, "models": ["glm-4-air"], "expires": "2026-11-19"}]
                },
            },
            "ds": {"vendor": "deepseek", "account": {"paid_balance": 100.0, "daily_cap": 50.0}},
            "qwen": {"vendor": "qwen"},
        },
        "routes": {
            "chat": {
                "candidates": [
                    {"provider": "ds", "model": "deepseek-chat"},
                    {"provider": "qwen", "model": "qwen-plus"},
                    {"provider": "glm", "model": "glm-4-air"},
                ]
            }
        },
    }
    for k, v in over.items():
        raw[k] = v
    return raw


def spark_voucher_and_pack(
    voucher: float,
    pack: int,
    pack_expires: str | dt.date,
    voucher_expires: str | dt.date = "2026-11-12",
    prices: tuple[float, float] = (21.0, 1.0),
) -> dict[str, Any]:
    """Spark (3,000 TPM): a ``voucher`` (CNY) on every model until ``voucher_expires`` and a ``pack``-token pack on
    spark-max until ``pack_expires``, spark-max and spark-lite at ``prices`` (CNY/Mtok, input and output alike);
    route ``chat`` on spark-max, ``lite`` on spark-lite, DeepSeek (¥2/M) behind both."""
    raw = credit_config()
    grants = [
        {"name": "voucher", "amount": voucher, "expires": voucher_expires},
        {"name": "max", "tokens": pack, "models": ["spark-max"], "expires": pack_expires},
    ]
    ds = {"provider": "ds", "model": "deepseek-chat"}
    raw["providers"] = {
        "spark": {
            "vendor": "spark",
            "limits": {"tpm": 3000},
            "prices": {m: {"input": p, "output": p} for m, p in zip(("spark-max", "spark-lite"), prices, strict=True)},
            "account": {"grants": grants},
        },
        "ds": {"vendor": "deepseek", "prices": {"deepseek-chat": {"input": 2.0, "output": 2.0}}},
    }
    raw["routes"] = {
        "chat": {"candidates": [{"provider": "spark", "model": "spark-max"}, ds]},
        "lite": {"candidates": [{"provider": "spark", "model": "spark-lite"}, ds]},
    }
    return raw


def setup(raw: dict[str, Any] | None = None) -> tuple[config_mod.Config, dict[str, CompiledRoute], MemoryLedger]:
    cfg = config_mod.parse(raw or credit_config(), "test")
    return cfg, compile_routes(cfg, router.STRATEGIES), MemoryLedger(books_from_config(cfg))


def with_traffic(ledger: MemoryLedger, route: str, per_hour: int, hours: int, now: float) -> None:
    """Record ``hours`` of history ending at ``now`` (booked to a provider without grants)."""
    for h in range(hours, 0, -1):
        ledger._traffic.setdefault(route, {})[int((now - h * 3600) // 3600)] = per_hour


def plan_now(
    raw: dict[str, Any] | None = None, per_hour: int = 200_000, now: float = T0, hours: int = 48
) -> tuple[Plan, Snapshot]:
    """The plan at ``now`` after ``hours`` of flat traffic on every route (flat: the least drift)."""
    cfg, routes, ledger = setup(raw)
    for name in routes:
        with_traffic(ledger, name, per_hour, hours, now)
    snap = done(ledger.snapshot(now))
    return make_plan(cfg, books_from_config(cfg), snap, now), snap


def done(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (the memory ledger's), in sync or async tests alike."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine waited")


def charge(provider: str, model: str, tokens: int) -> Charge:
    return Charge(provider, model, "chat", tokens, 0)


def ds_b_pack(tokens: int) -> Callable[[dict[str, Any]], None]:
    """A gateway config edit: the chat route on credit-burn, and a ``tokens`` DeepSeek pack expiring in 3 days on
    ds-b (its TPM 100k: 6M tokens an hour)."""
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)).isoformat()

    def edit(c: dict[str, Any]) -> None:
        c["routes"]["chat"]["strategy"] = "credit-burn"
        c["providers"]["ds-b"]["limits"] = {"tpm": 100_000}
        c["providers"]["ds-b"]["account"] = {
            "grants": [{"name": "pack", "tokens": tokens, "models": ["deepseek-chat"], "expires": expires}]
        }

    return edit


def book_chat_forecast(ledger: Ledger, now: float, per_hour: int = 10_000_000) -> None:
    """Two days of chat traffic at ``per_hour`` and this hour's so far, booked where no grant applies (qwen)."""
    for h in range(1, 49):
        ledger.book(charge("qwen", "qwen-plus", per_hour), now - 3600 * h)
    ledger.book(charge("qwen", "qwen-plus", round(per_hour * (now / 3600 % 1.0))), now)
