"""Routes: what a client's ``model`` names. Each route's candidates are resolved once, at config load, into
:class:`Choice` s — provider account, vendor, model, list price and the upstream endpoint with its headers."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from balancer.config import Config, ConfigError, Provider
from balancer.config_failover import Failover
from balancer.credit.pricing import FREE, INPUT_SHARE, Tariff, account_tariffs
from balancer.http import Endpoint
from balancer.vendors import REGISTRY
from balancer.vendors.base import ModelInfo, Vendor


@dataclass(frozen=True, slots=True)
class Choice:
    """One candidate of a route, resolved against its provider account and vendor."""

    index: int
    provider_name: str
    provider: Provider
    vendor: Vendor
    model: str
    info: ModelInfo | None
    weight: float
    list_price: float  # µ¥ per token at list price (configured ``prices``, else the catalogue) for the default mix
    context_window: int | None
    url: str  # the upstream URL and headers are fixed per candidate: built once, at config load
    headers: Mapping[str, str]
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    kind: str
    strategy: str
    failover: Failover
    choices: tuple[Choice, ...]
    transcripts: bool = False


def compile_routes(cfg: Config, strategies: Collection[str]) -> dict[str, CompiledRoute]:
    """Every route of ``cfg`` resolved; ConfigError names a route whose strategy is not in ``strategies``."""
    routes: dict[str, CompiledRoute] = {}
    tariffs: dict[str, dict[str, Tariff]] = {}  # provider -> model -> tariff (as the ledger prices them)
    for name, route in cfg.routes.items():
        if route.strategy not in strategies:
            raise ConfigError(
                f"routes.{name}.strategy: unknown strategy {route.strategy!r} ({', '.join(sorted(strategies))})"
            )
        choices = []
        for i, cand in enumerate(route.candidates):
            prov = cfg.providers[cand.provider]
            vendor = REGISTRY[prov.vendor].configured(prov.extra)
            info = vendor.models.get(cand.model)
            window = cand.context_window or (info.context_window if info else None)
            url = vendor.request_url(prov.base_url, route.kind, cand.model, prov.extra)
            key = prov.api_key.reveal() if prov.api_key else ""
            # Vendors that sign each request send all their headers per request (attempt.Caller._signed).
            headers = {"Content-Type": "application/json", **vendor.auth(key)} if vendor.sign is None else {}
            endpoint = Endpoint.post(url, headers)
            if cand.provider not in tariffs:
                tariffs[cand.provider] = account_tariffs(vendor.models, prov.prices, cfg.money)
            price = tariffs[cand.provider].get(cand.model, FREE).blended(INPUT_SHARE)
            choices.append(
                Choice(
                    i, cand.provider, prov, vendor, cand.model, info, cand.weight, price, window, url, headers, endpoint
                )
            )
        routes[name] = CompiledRoute(
            name, route.kind, route.strategy, cfg.route_failover(route), tuple(choices), route.transcripts
        )
    return routes
