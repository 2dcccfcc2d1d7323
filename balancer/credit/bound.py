"""The offline optimum: with the whole trace known, the cheapest way to serve it, as one linear program
(mixed-integer where the vendor's debit order needs it).

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

    minimise   sum price[h] * p + sum unserved_price * (1 + TIE) * z - BURN * sum k * u

Prices come from the config's books, changed from their hour on by ``trace.price_changes`` (the bound
knows them all along). Unserved tokens cost the route's :func:`unserved_price`, a hair more in the
objective so serving wins a tie, and are reported at the price. A grant unit spent earns a hair
(``BURN``): among the cheapest schedules the bound is the one that burns the most, so "the optimum's
burn" is a number, not whichever vertex the solver lands on (a voucher beside a free model with room).
The vendor's debit order holds too: while a grant has something left, a model it covers is neither paid
nor debited to a grant after it (:mod:`~balancer.credit.debits`). Where the LP's schedule breaks the order
it is relabelled as the vendor would debit it (the tokens per model and hour kept); where that costs more,
a mixed-integer program is solved, and past ``MIP_SECONDS`` it gives way to the LP (``Optimum.debit_order``
says so). ``solve(..., debit_order=False)`` is the LP alone: a looser bound, which may pay for a model while its
grant waits for a dearer hour, something the ledger never books.

:func:`hourly` gives the optimum's schedule hour by hour per model and bucket (``bench/credit_where.py``);
:func:`robust` holds several traces' schedules in one program, equal in the hours before the traces part: what
a planner that cannot tell them apart until then could reach at best (``bench/credit_twins.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from balancer.config import Config
from balancer.credit import debits, horizon
from balancer.credit.debits import units
from balancer.credit.highs import MIP_GAP, Program
from balancer.credit.horizon import blended
from balancer.credit.ledger import AccountBook, books_from_config
from balancer.credit.pricing import INPUT_SHARE, Grant, Tariff
from balancer.credit.trace import Trace

M = 1e6  # the LP counts Mtok and CNY (tokens and µ¥ / 1e6): its numbers stay near 1
TIE = 1e-4  # unserved costs this much more (relative, plus as much absolute) in the objective than reported
BURN = 1e-5  # CNY per grant unit (Mtok, or CNY for money) spent: a tie-break, never worth a paid token
MIP_SECONDS = 300.0  # past this the debit order's MIP gives way to the LP alone (``Optimum.debit_order`` False)
H = 3600.0


@dataclass(frozen=True, slots=True)
class Optimum:
    paid_cny: float
    unserved_tokens: float
    unserved_cny: float
    burned: dict[str, float]  # grant key -> units burned (tokens, or µ¥ for money grants)
    status: str
    seconds: float = 0.0
    unserved_by_route: dict[str, float] = field(default_factory=dict)  # route -> tokens
    debit_order: bool = True  # False: the LP alone (asked for, or the MIP ran out of time): a looser bound


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


@dataclass(frozen=True, slots=True)
class _Columns:
    """One trace's schedule in a program: per pair n hourly paid columns from ``first``, per route n unserved
    columns from ``z0``, and the grant columns ((grant, pair index, first column) each)."""

    books: dict[str, AccountBook]
    routes: list[str]
    pairs: list[_Pair]
    first: int
    z0: int
    unserved: dict[str, np.ndarray]
    uses: list[tuple[Grant, int, int]]
    n: int

    def paid_cols(self, k: int) -> np.ndarray:
        """Pair ``k``'s paid columns, one per hour."""
        return self.first + k * self.n + np.arange(self.n)

    def unserved_cols(self, i: int) -> np.ndarray:
        """Route ``i``'s unserved columns, one per hour."""
        return self.z0 + i * self.n + np.arange(self.n)

    def paid(self, x: np.ndarray) -> float:
        return sum(float(p.price @ x[self.paid_cols(k)]) for k, p in enumerate(self.pairs))

    def unserved_tokens(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {r: x[self.unserved_cols(i)] for i, r in enumerate(self.routes)}

    def flows(self) -> list[int]:
        """The first column of every block of n hourly columns (paid, unserved, grant)."""
        return [
            *(int(self.paid_cols(k)[0]) for k in range(len(self.pairs))),
            *(int(self.unserved_cols(i)[0]) for i in range(len(self.routes))),
            *(first for _, _, first in self.uses),
        ]


def _columns(cfg: Config, trace: Trace, lp: Program, scale: float = 1.0) -> _Columns:
    """Add ``trace``'s rows and columns to ``lp`` (costs times ``scale``)."""
    books, routes, n = books_from_config(cfg), [r for r in trace.demand if r in cfg.routes], trace.hours
    hours = np.arange(n)
    demand_row = {r: lp.rows(trace.demand[r] / M, trace.demand[r] / M) for r in routes}
    pairs = _pairs(cfg, trace, books, routes, lp, demand_row)
    first = lp.n
    for p in pairs:
        lp.block(p.price * scale, p.up, p.rows)
    z0, unserved = lp.n, {r: _unserved_prices(cfg, books, trace, r) for r in routes}
    for r in routes:
        cost = (unserved[r] * (1 + TIE) + TIE) * scale
        lp.block(cost, np.full(n, np.inf), [(demand_row[r] + hours, np.ones(n))])
    return _Columns(books, routes, pairs, first, z0, unserved, _grant_columns(books, trace, pairs, lp, scale), n)


def _schedule(
    cfg: Config, trace: Trace, debit_order: bool, seconds: float = MIP_SECONDS
) -> tuple[_Columns, np.ndarray, str, bool]:
    """The optimum's columns, values, status and whether it keeps the vendor's debit order. With
    ``debit_order``: the LP's schedule when it keeps the order already, or relabelled in debit order when that
    costs no more (the LP is a lower bound, so either is the optimum), else the mixed-integer program with
    :mod:`~balancer.credit.debits` rows; when that takes longer than ``seconds``, the LP's schedule."""
    lp = Program()
    cols = _columns(cfg, trace, lp)
    x, _, status = lp.solve()
    if not debit_order or status != "optimal":
        return cols, x, status, False
    upper, cost = lp.uppers(), lp.costs()
    rules = debits.rules(trace, cols, upper, M)
    if debits.kept(rules, x, cols.n):
        return cols, x, status, True
    y = debits.in_order(x, cols, upper, M)
    if cost @ y <= cost @ x + MIP_GAP:  # as cheap as the LP, which no order-keeping schedule beats
        return cols, y, status, True
    debits.add(lp, rules, cols.n)
    y, _, mip = lp.solve(seconds=seconds)
    return (cols, y, mip, True) if mip == "optimal" else (cols, x, status, False)


def solve(cfg: Config, trace: Trace, debit_order: bool = True, seconds: float = MIP_SECONDS) -> Optimum:
    """The cheapest way to serve ``trace`` with ``cfg``'s accounts (module docstring), and what it costs;
    ``debit_order=False``, or a debit order that takes the MIP more than ``seconds``: the LP without the
    vendor's debit order (a lower, looser bound; ``Optimum.debit_order`` says which)."""
    clock = time.perf_counter()
    cols, x, status, kept = _schedule(cfg, trace, debit_order, seconds)
    z = cols.unserved_tokens(x)
    burned: dict[str, float] = {g.key: 0.0 for b in cols.books.values() for g in b.grants}
    for g, k, first in cols.uses:
        burned[g.key] += float(units(g, cols.pairs[k].price) @ x[first : first + cols.n]) * M
    return Optimum(
        paid_cny=cols.paid(x),
        unserved_tokens=float(sum(v.sum() for v in z.values())) * M,
        unserved_cny=float(sum(cols.unserved[r] @ z[r] for r in cols.routes)),
        unserved_by_route={r: float(z[r].sum()) * M for r in cols.routes},
        burned=burned,
        status=status,
        seconds=time.perf_counter() - clock,
        debit_order=kept,
    )


Flows = dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, slots=True)
class Hourly:
    """:func:`hourly`'s answer: the optimum's flows, and whether they keep the vendor's debit order."""

    flows: Flows  # (provider, model, bucket) -> (tokens, CNY paid) in every hour
    debit_order: bool  # False: the MIP ran out of time and these are the LP's (as Optimum.debit_order)


def hourly(cfg: Config, trace: Trace, seconds: float = MIP_SECONDS) -> Hourly:
    """The optimum's schedule hour by hour: (provider, model, bucket) -> (tokens, CNY paid) in every hour, the
    bucket a grant's name or "paid" (as the ledger's rows name them; CNY only for "paid"); the schedule
    :func:`solve` reports, with its ``debit_order`` (the same time limit, ``seconds``, on the MIP). Raises
    ValueError when the LP ends other than optimal (its flows would be no schedule)."""
    cols, x, status, kept = _schedule(cfg, trace, debit_order=True, seconds=seconds)
    if status != "optimal":
        raise ValueError(f"the optimum's LP ended {status!r}: no hourly schedule")
    out: Flows = {}

    def add(key: tuple[str, str, str], tokens: np.ndarray, cny: np.ndarray) -> None:
        a, b = out.get(key, (np.zeros(cols.n), np.zeros(cols.n)))
        out[key] = (a + tokens, b + cny)

    for k, p in enumerate(cols.pairs):
        v = x[cols.paid_cols(k)]
        add((p.provider, p.model, "paid"), v * M, v * p.price)
    for g, k, first in cols.uses:
        p = cols.pairs[k]
        add((p.provider, p.model, g.name), x[first : first + cols.n] * M, np.zeros(cols.n))
    return Hourly(out, kept)


@dataclass(frozen=True, slots=True)
class Robust:
    """:func:`robust`'s answer: the least paid ÷ optimum a schedule reaches on every trace at once."""

    ratio: float
    paid: tuple[float, ...]  # CNY per trace
    unserved_tokens: tuple[float, ...]
    status: str


def robust(cfg: Config, traces: Sequence[Trace], shared: int | Sequence[int], optima: Sequence[Optimum]) -> Robust:
    """The best any planner that does not see the future could do on ``traces``, which are equal for their first
    ``shared`` hours and differ after: the least t such that one schedule, the same in every trace up to that
    hour and free after it, pays at most t × each trace's optimum (``optima``) and leaves no more than that
    optimum unserved. It knows every hour of each trace in advance (no planner does), so t is a lower bound:
    what the worst of the traces costs a planner that cannot tell them apart until hour ``shared``. A sequence
    ``shared`` makes a tree: trace i + 1 is the first's for its first ``shared[i]`` hours (twins that part
    from one month on different days; two that part from it later are one decision until the sooner).
    Raises ValueError when a trace differs from the first before it parts (demand, outages, prices) or in
    length; ``status`` other than "optimal": no answer (ratio 0). The program is the LP alone, without the
    debit order: pass optima solved the same way (``solve(..., debit_order=False)``)."""
    parts = [shared] * (len(traces) - 1) if isinstance(shared, int) else list(shared)
    if len(parts) != len(traces) - 1:
        raise ValueError(f"{len(traces)} traces need {len(traces) - 1} parting hours, got {len(parts)}")
    for tr, hours in zip(traces[1:], parts, strict=True):
        _check_twins([traces[0], tr], hours)
    lp = Program()
    copies = [_columns(cfg, tr, lp, scale=1e-6) for tr in traces]  # costs only break ties: t is the objective
    t = lp.block(np.ones(1), np.full(1, np.inf), [])
    for cols, opt in zip(copies, optima, strict=True):
        row = lp.rows([-np.inf], [0.0])  # paid - t * optimum <= 0
        for k, p in enumerate(cols.pairs):
            lp.entries(np.full(cols.n, row), cols.paid_cols(k), p.price)
        lp.entries(np.array([row]), np.array([t]), np.array([-opt.paid_cny]))
        row = lp.rows([-np.inf], [opt.unserved_tokens / M])
        for i in range(len(cols.routes)):
            lp.entries(np.full(cols.n, row), cols.unserved_cols(i), np.ones(cols.n))
    for b, hours in zip(copies[1:], parts, strict=True):  # non-anticipative: hours before parting are one decision
        for ca, cb in zip(copies[0].flows(), b.flows(), strict=True):
            row = lp.rows(np.zeros(hours), np.zeros(hours))
            lp.entries(row + np.arange(hours), ca + np.arange(hours), np.ones(hours))
            lp.entries(row + np.arange(hours), cb + np.arange(hours), -np.ones(hours))
    x, _, status = lp.solve()
    return Robust(
        ratio=float(x[t]),
        paid=tuple(c.paid(x) for c in copies),
        unserved_tokens=tuple(float(sum(v.sum() for v in c.unserved_tokens(x).values())) * M for c in copies),
        status=status,
    )


def _check_twins(traces: Sequence[Trace], shared: int) -> None:
    """Traces that :func:`robust` can hold: as long as each other, and the same in their first ``shared`` hours."""
    first = traces[0]
    for tr in traces[1:]:
        if tr.hours != first.hours or tr.demand.keys() != first.demand.keys():
            raise ValueError("the traces differ in length or routes")
        for r, d in tr.demand.items():
            if not np.array_equal(d[:shared], first.demand[r][:shared]):
                raise ValueError(f"the traces differ before hour {shared} on route {r!r}")
        for p in tr.down.keys() | first.down.keys():
            if any(tr.is_down(p, h) != first.is_down(p, h) for h in range(shared)):
                raise ValueError(f"the traces differ before hour {shared} in {p!r}'s outages")
        if {c for c in tr.price_changes if c.hour < shared} != {c for c in first.price_changes if c.hour < shared}:
            raise ValueError(f"the traces differ before hour {shared} in their prices")


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
    books: Mapping[str, AccountBook], trace: Trace, pairs: Sequence[_Pair], lp: Program, scale: float
) -> list[tuple[Grant, int, int]]:
    """One column per hour for each grant and pair it covers (zero outside the grant's window), each unit
    spent earning BURN (times ``scale``, as every cost); returns (grant, pair index, first column) for each."""
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
                per = units(g, p.price)
                up = np.where(window, p.up, 0.0)
                entries = [*p.rows, (np.full(n, row), per)]
                uses.append((g, k, lp.block(-BURN * scale * per, up, entries)))
    return uses
