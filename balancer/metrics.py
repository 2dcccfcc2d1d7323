"""Prometheus metrics at ``/metrics``: what the request path counts, and what the operators' snapshot shows.

Counted per request, from its ``request_done`` record (one call, :meth:`Metrics.observe`): requests by
route/status/client, attempts by provider/model/result, failovers by provider and failure class, tokens and
spend (CNY) by provider/route/client, and latency histograms (time to first token, attempt time) per provider.
The request path only adds the request to a local tally (one dict entry per kind of request) and its timings
to a list; both reach the prometheus_client metrics once a second and at every scrape.

Read at scrape time from :func:`balancer.status.snapshot` (so they agree with the admin API): each provider's
state, models available, cooldown left, quota used and limits, in flight, balance, grants left with their
expiry, projected waste and value to the plan (and each capacity's value), paid spend against caps, the state
store's health, the planner's last solve, and the re-plans that failed (by error class, and how many in a row now).

With ``balancer serve --workers N`` each worker writes its values under ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode, set by the supervisor before a worker starts) and a scrape of any
worker sums them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from balancer.status import Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The request path's metrics, accumulated locally and published to prometheus_client in batches."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()  # ours alone (the default one holds process metrics of the importer)
        r = self.registry
        self.requests = Counter("qiao_requests", "Requests answered", ["route", "status", "client"], registry=r)
        self.attempts = Counter(
            "qiao_attempts", "Upstream attempts (and skipped candidates)", ["provider", "model", "result"], registry=r
        )
        self.failovers = Counter(
            "qiao_failovers", "Failed attempts after which the request moved on", ["provider", "failure"], registry=r
        )
        self.tokens = Counter("qiao_tokens", "Tokens served", ["provider", "route", "client", "kind"], registry=r)
        self.spend = Counter(
            "qiao_spend_cny", "List value of what was served, by who paid it (paid balance or grant)",
            ["provider", "route", "client", "paid_by"], registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "qiao_ttft_seconds", "Time to the first streamed event, per provider", ["provider"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream = Histogram(
            "qiao_attempt_seconds", "Time of a served attempt, start to end, per provider", ["provider"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        # One entry per kind of request (route, status, client, who served it, and how each attempt went):
        # [requests, prompt tokens, completion tokens, paid CNY, granted CNY]. Cut into labels at publish time.
        self._pending: dict[tuple[Any, ...], list[float]] = {}
        self._timings: dict[str, list[tuple[float, float | None]]] = {}  # provider -> (attempt s, ttft s)

    def observe(self, done: dict[str, Any]) -> None:
        """Count one request from its request_done record (the route-less ones — 401s on unknown routes — have none)."""
        attempts = done.get("attempts") or ()
        key = (
            done.get("route", ""), done.get("status", 0), done.get("client") or "", done.get("provider") or "",
            tuple((a["provider"], a["model"], a["result"]) for a in attempts),
        )  # fmt: skip
        row = self._pending.get(key)
        if row is None:
            row = self._pending[key] = [0, 0, 0, 0.0, 0.0]
        row[0] += 1
        tokens, cost = done.get("tokens"), done.get("cost_cny")
        if tokens:
            row[1] += tokens["prompt"]
            row[2] += tokens["completion"]
        if cost:
            row[3] += cost["paid"]
            row[4] += cost["grant"]
        for a in attempts:
            if a["result"] == "ok":
                ttft = a.get("ttft_ms")
                self._timings.setdefault(a["provider"], []).append(
                    (a["ms"] / 1000, None if ttft is None else ttft / 1000)
                )

    def publish(self) -> None:
        """Add what was counted since the last call to the prometheus_client metrics (once a second, and at
        every scrape)."""
        pending, self._pending = self._pending, {}
        timings, self._timings = self._timings, {}
        for (route, status, client, provider, attempts), (n, prompt, completion, paid, granted) in pending.items():
            self.requests.labels(route, str(status), client).inc(n)
            for i, (p, model, result) in enumerate(attempts):
                self.attempts.labels(p, model, result).inc(n)
                if result != "ok" and not result.startswith("skipped") and i + 1 < len(attempts):
                    self.failovers.labels(p, result).inc(n)
            if prompt or completion:
                self.tokens.labels(provider, route, client, "prompt").inc(prompt)
                self.tokens.labels(provider, route, client, "completion").inc(completion)
            if paid or granted:
                self.spend.labels(provider, route, client, "paid").inc(paid)
                self.spend.labels(provider, route, client, "grant").inc(granted)
        for provider, samples in timings.items():
            upstream, ttft = self.upstream.labels(provider), self.ttft.labels(provider)
            for total_s, first_s in samples:
                upstream.observe(total_s)
                if first_s is not None:
                    ttft.observe(first_s)

    def render(self, status: Status) -> bytes:
        """The text exposition: this process's (or, with workers, every worker's) counters and histograms, and
        the snapshot's gauges."""
        self.publish()
        registry = CollectorRegistry()
        if self.multiprocess:
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Registry(self.registry))
        registry.register(_State(status))
        return generate_latest(registry)


class _Registry(Collector):
    """Another registry's metrics, served from a registry built per scrape."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        yield from self.inner.collect()


class _State(Collector):
    """Gauges read off one operators' snapshot."""

    def __init__(self, st: Status) -> None:
        self.st = st

    def collect(self) -> Iterator[Metric]:
        yield from _providers(self.st)
        yield from _money(self.st)
        store = self.st.store
        up = GaugeMetricFamily(
            "qiao_state_store_up", "1 when the state store is reachable (0: degraded)", labels=["backend"]
        )
        up.add_metric([store["backend"]], 1.0 if store["status"] == "ok" else 0.0)
        yield up
        yield GaugeMetricFamily(
            "qiao_state_store_degraded_events", "Times the store lost its backend", value=store["degraded_events"]
        )
        yield from _planner(self.st.plan)


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _counts(name: str, doc: str, label: str, counts: dict[str, int]) -> CounterMetricFamily:
    """A counter with one label, a sample per key of ``counts`` (sorted)."""
    out = CounterMetricFamily(name, doc, labels=[label])
    for key, n in sorted(counts.items()):
        out.add_metric([key], n)
    return out


def _providers(st: Status) -> Iterator[Metric]:
    state = _gauge("qiao_provider_state", "1 for the provider's current state", ["provider", "state"])
    available = _gauge("qiao_model_available", "1 when the model takes traffic on the account", ["provider", "model"])
    cooldown = _gauge(
        "qiao_provider_cooldown_seconds", "Seconds left of a provider-wide cooldown", ["provider", "reason"]
    )
    used = _gauge(
        "qiao_quota_used",
        "Taken this minute against the account's limit (with Redis: reserved from the shared quota in leases, "
        "not all used yet)",
        ["provider", "kind"],
    )
    limit = _gauge("qiao_quota_limit", "The account's per-minute limit (0: none)", ["provider", "kind"])
    flight = _gauge("qiao_in_flight", "Requests in flight on the account", ["provider"])
    for p in st.providers:
        for s in ("up", "partial", "cooling_down", "disabled", "drained"):
            state.add_metric([p.name, s], 1.0 if p.state == s else 0.0)
        for m in p.models:
            available.add_metric([p.name, m.model], 1.0 if m.available else 0.0)
        if p.reason:
            left = -1.0 if p.until is None else max(0.0, p.until - st.at)  # -1: until an operator acts
            cooldown.add_metric([p.name, p.reason], left)
        used.add_metric([p.name, "requests"], p.quota.requests)
        used.add_metric([p.name, "tokens"], p.quota.tokens)
        limit.add_metric([p.name, "requests"], p.limits["rpm"])
        limit.add_metric([p.name, "tokens"], p.limits["tpm"])
        flight.add_metric([p.name], p.quota.in_flight)
    yield from (state, available, cooldown, used, limit, flight)


def _money(st: Status) -> Iterator[Metric]:
    balance = _gauge("qiao_balance", "The vendor's reported balance", ["provider", "kind", "currency"])
    left = _gauge("qiao_grant_remaining", "What a grant still holds (tokens, or CNY)", ["provider", "grant", "unit"])
    expiry = _gauge("qiao_grant_expiry_timestamp_seconds", "When a grant expires", ["provider", "grant"])
    for p in st.providers:
        b = p.balance
        if b is not None and "error" not in b:
            for kind in ("total", "granted", "paid"):
                if b.get(kind) is not None:
                    balance.add_metric([p.name, kind, b["currency"]], float(b[kind]))
        for g in p.grants:
            unit = "tokens" if g["unit"] == "tokens" else "cny"
            left.add_metric([p.name, g["name"], unit], g["remaining"] if unit == "tokens" else g["remaining"] / 1e6)
            if g["expires"] is not None:
                expiry.add_metric([p.name, g["name"]], g["expires"])
    spent = _gauge("qiao_paid_spend_cny", "Paid (not granted) spend so far", ["provider", "period"])
    caps = _gauge("qiao_spend_cap_cny", "The account's paid spend cap", ["provider", "period"])
    for p in st.providers:
        spent.add_metric([p.name, "today"], p.spend["today"] or 0.0)
        spent.add_metric([p.name, "month"], p.spend["month"] or 0.0)
        for period, cap in (("today", p.spend["daily_cap"]), ("month", p.spend["monthly_cap"])):
            if cap is not None:
                caps.add_metric([p.name, period], cap)
    yield from (spent, caps)
    waste = _gauge(
        "qiao_grant_projected_waste", "What the plan projects a grant leaves unspent at expiry", ["provider", "grant"]
    )
    for g in st.plan.get("grants_at_risk", ()):
        waste.add_metric([g["provider"], g["grant"]], g["waste"])
    yield from (balance, left, expiry, waste, *_values(st.plan))


def _values(plan: dict[str, Any]) -> Iterator[Metric]:
    """The plan's prices: what one more unit of each grant (in its ``pricing.value_unit``), and one more token of
    each limited provider's capacity (¥ per Mtok), would save."""
    help_ = "What one more unit of a grant would save, as the plan prices it"
    grant = _gauge("qiao_grant_value", help_, ["provider", "grant", "unit"])
    for g in plan.get("grant_values", ()):
        grant.add_metric([g["provider"], g["grant"], g["unit"]], g["value"])
    capacity = _gauge(
        "qiao_capacity_value_cny_per_mtok", "What one more token of a provider's capacity would save now", ["provider"]
    )
    for provider, v in plan.get("capacity_values", {}).items():
        capacity.add_metric([provider], v)
    yield from (grant, capacity)


def _planner(plan: dict[str, Any]) -> Iterator[Metric]:
    ok = _gauge("qiao_planner_optimal", "1 when the last re-plan solved to optimality", [])
    ok.add_metric([], 1.0 if plan.get("status") == "optimal" else 0.0)
    yield ok
    if plan.get("solve_s") is not None:
        yield GaugeMetricFamily("qiao_planner_solve_seconds", "Time of the last re-plan", value=plan["solve_s"])
    if plan.get("made_at") is not None:
        yield GaugeMetricFamily(
            "qiao_planner_last_run_timestamp_seconds", "When the plan was made", value=plan["made_at"]
        )
    yield _counts(
        "qiao_planner_replan_failures", "Re-plans that failed (the plan in force stayed), by error class",
        "error", plan.get("failures_total", {}),
    )  # fmt: skip
    yield _counts(
        "qiao_planner_stale", "Plans found out of date between periodic re-plans and re-made at once, by reason",
        "reason", plan.get("stale_total", {}),
    )  # fmt: skip
    yield GaugeMetricFamily(
        "qiao_planner_consecutive_failures",
        "Re-plans failed in a row up to now (0: the last one worked)",
        value=plan.get("consecutive_failures", 0),
    )
