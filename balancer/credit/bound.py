"""The offline optimum: with the whole trace known, the cheapest way to serve it, as one linear program.

Not on the request path (nor in the planner): the credit simulation and a replay of a gateway's own logs
(``cli``) load it to price what a strategy did against the best it could have done.

Over every hour h of a :class:`~balancer.credit.trace.Trace`, in Mtok, per route r and candidate c:

    p[r,c,h] >= 0     paid at the hour's list price
    u[g,r,c,h] >= 0   paid for by grant g (g covers c's model; the hour inside g's window)
    z[r,h] >= 0       unserved

    demand     sum_c (p + sum_g u) + z = D[r,h]
    capacity   sum_{c on provider} (p + sum_g u) <= TPM x 60      (no row when unlimited)
    outage     p = u = 0 while the trace has the provider down
    grant      sum k * u[g,...] <= size_g   (k = 1 for a token grant, the hour's price for a money grant)

    minimise   sum price[h] * p + sum unserved_price * (1 + TIE) * z

Prices come from the config's books, changed from their hour on by ``trace.price_changes`` (the bound
knows them all along). Unserved tokens cost the route's :func:`unserved_price`, a hair more in the
objective so serving wins a tie, and are reported at the price. The vendor's debit order is ignored (a
grant-covered model may be paid while the grant has something left, which the ledger never does): a
lower bound, not always reachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from balancer.config import Config
from balancer.credit import horizon
from balancer.credit.highs import Program
from balancer.credit.horizon import blended
from balancer.credit.ledger import AccountBook, books_from_config
from balancer.credit.pricing import INPUT_SHARE, Grant, Tariff
from balancer.credit.trace import Trace

M = 1e6  # the LP counts Mtok and CNY (tokens and µ¥ / 1e6): its numbers stay near 1
TIE = 1e-4  # unserved costs this much more (relative, plus as much absolute) in the objective than reported
H = 3600.0


@dataclass(frozen=True, slots=True)
class Optimum:
    paid_cny: float
    unserved_tokens: float
    unserved_cny: float
    burned: dict[str, float]  # grant key -> units burned (tokens, or µ¥ for money grants)
    status: str
    seconds: float = 0.0


def unserved_price(
    cfg: Config, books: Mapping[str, AccountBook], route: str, input_share: float = INPUT_SHARE
) -> float:
    """µ¥ per token a token of ``route`` that no candidate serves costs: the route's configured
    ``unserved_price``, never below its dearest candidate's blended list price (at ``input_share``)."""
    r = cfg.routes[route]
    return horizon.unserved_price(r, (blended(books.get(c.provider), c.model, input_share) for c in r.candidates))


def repriced(books: Mapping[str, AccountBook], trace: Trace, hour: int) -> dict[str, AccountBook]:
    """The books as they stand in ``hour``: every price change of the trace up to it applied, in order."""
    out = dict(books)
    for ch in sorted(trace.price_changes, key=lambda c: c.hour):
        if ch.hour > hour or ch.provider not in out:
            continue
        book = out[ch.provider]
        tariffs = {**book.tariffs, ch.model: Tariff(ch.input, ch.output, ch.input)}
        out[ch.provider] = AccountBook(book.grants, tariffs, book.paid_balance)
    return out


@dataclass(frozen=True, slots=True)
class _Pair:
    route: str
    provider: str
    model: str
    price: np.ndarray  # µ¥/token (CNY/Mtok) in every hour
    up: np.ndarray  # column upper bound per hour: 0 while the provider is down
    rows: list[tuple[np.ndarray, np.ndarray]]  # demand (and capacity) entries per hour


def solve(cfg: Config, trace: Trace) -> Optimum:
    """The cheapest way to serve ``trace`` with ``cfg``'s accounts (module docstring), and what it costs."""
    clock = time.perf_counter()
    books, routes, n = books_from_config(cfg), [r for r in trace.demand if r in cfg.routes], trace.hours
    hours = np.arange(n)
    lp = Program()
    demand_row = {r: lp.rows(trace.demand[r] / M, trace.demand[r] / M) for r in routes}
    pairs = _pairs(cfg, trace, books, routes, lp, demand_row)
    for p in pairs:
        lp.block(p.price, p.up, p.rows)
    z0, unserved = lp.n, {r: _unserved_prices(cfg, books, trace, r) for r in routes}
    for r in routes:
        lp.block(unserved[r] * (1 + TIE) + TIE, np.full(n, np.inf), [(demand_row[r] + hours, np.ones(n))])
    uses = _grant_columns(books, trace, pairs, lp)
    x, _, status = lp.solve()
    paid = sum(float(p.price @ x[k * n : (k + 1) * n]) for k, p in enumerate(pairs))
    z = {r: x[z0 + i * n : z0 + (i + 1) * n] for i, r in enumerate(routes)}
    burned: dict[str, float] = {g.key: 0.0 for b in books.values() for g in b.grants}
    for g, k, first in uses:
        per = 1.0 if g.unit == "tokens" else pairs[k].price
        burned[g.key] += float(np.sum(per * x[first : first + n])) * M
    return Optimum(
        paid_cny=paid,
        unserved_tokens=float(sum(v.sum() for v in z.values())) * M,
        unserved_cny=float(sum(unserved[r] @ z[r] for r in routes)),
        burned=burned,
        status=status,
        seconds=time.perf_counter() - clock,
    )


def hourly_books(books: Mapping[str, AccountBook], trace: Trace) -> list[tuple[int, dict[str, AccountBook]]]:
    """(first hour, books) for the trace's start and every hour a price changes."""
    marks = sorted({0, *(c.hour for c in trace.price_changes if 0 <= c.hour < trace.hours)})
    return [(h, repriced(books, trace, h)) for h in marks]


def _per_hour(
    books: Mapping[str, AccountBook], trace: Trace, value: Callable[[Mapping[str, AccountBook]], float]
) -> np.ndarray:
    """A value of the books (``value(books)``) in every hour of the trace."""
    out = np.zeros(trace.hours)
    for h, b in hourly_books(books, trace):
        out[h:] = value(b)
    return out


def _unserved_prices(cfg: Config, books: Mapping[str, AccountBook], trace: Trace, route: str) -> np.ndarray:
    share = trace.input_share.get(route, INPUT_SHARE)
    return _per_hour(books, trace, lambda b: unserved_price(cfg, b, route, share))


def _list_price(provider: str, model: str, share: float) -> Callable[[Mapping[str, AccountBook]], float]:
    return lambda books: blended(books.get(provider), model, share)


def _pairs(
    cfg: Config,
    trace: Trace,
    books: Mapping[str, AccountBook],
    routes: Sequence[str],
    lp: Program,
    demand_row: Mapping[str, int],
) -> list[_Pair]:
    """Every (route, candidate) with its hourly price, outage bounds and rows (capacity rows added here)."""
    n, hours = trace.hours, np.arange(trace.hours)
    cap_row: dict[str, int] = {}
    out = []
    for r in routes:
        share = trace.input_share.get(r, INPUT_SHARE)
        for c in cfg.routes[r].candidates:
            tpm = cfg.providers[c.provider].limits.tpm
            if tpm and c.provider not in cap_row:
                cap_row[c.provider] = lp.rows([-np.inf] * n, [tpm * 60.0 / M] * n)
            rows = [(demand_row[r] + hours, np.ones(n))]
            if tpm:
                rows.append((cap_row[c.provider] + hours, np.ones(n)))
            down = np.array([trace.is_down(c.provider, h) for h in range(n)], dtype=bool)
            price = _per_hour(books, trace, _list_price(c.provider, c.model, share))
            out.append(_Pair(r, c.provider, c.model, price, np.where(down, 0.0, np.inf), rows))
    return out


def _grant_columns(
    books: Mapping[str, AccountBook], trace: Trace, pairs: Sequence[_Pair], lp: Program
) -> list[tuple[Grant, int, int]]:
    """One column per hour for each grant and pair it covers (zero outside the grant's window); returns
    (grant, pair index, first column) for each."""
    n = trace.hours
    t = trace.start + np.arange(n) * H
    uses = []
    for book in books.values():
        for g in book.grants:
            row = lp.rows([-np.inf], [g.size / M])
            window = (t >= g.starts) & (t < g.expires)
            for k, p in enumerate(pairs):
                if p.provider != g.provider or (g.models and p.model not in g.models) or not window.any():
                    continue
                per = np.ones(n) if g.unit == "tokens" else p.price
                up = np.where(window, p.up, 0.0)
                entries = [*p.rows, (np.full(n, row), per)]
                uses.append((g, k, lp.block(np.zeros(n), up, entries)))
    return uses
