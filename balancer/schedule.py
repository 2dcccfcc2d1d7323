"""The credit-burn schedule: a linear program over the coming days, solved with HiGHS every re-plan.

Over the slots of :mod:`balancer.horizon` (the current hour, then hour-of-day slots with a multiplicity),
in Mtok per hour, per slot s, route r and candidate c:

    p[r,c,s] >= 0     paid at list price (free models: price 0)
    u[g,r,c,s] >= 0   paid for by grant g (g covers c; s inside g's window)
    z[r,s] >= 0       unserved (priced far above any token)

    demand     sum_c (p + sum_g u) + z = D[r,s]                      (the forecast)
    capacity   sum_{c on provider} (p + sum_g u) <= C[provider,s]    (rate limits; 0 while unhealthy)
    grant      sum_s weight_s * sum k * u[g,...] <= left_g           (k = 1 for tokens, the price for money)

    minimise   sum_s weight_s * (sum price * p - bonus * u + PENALTY * z)

The bonus is a small reward (well under any price gap that matters) for spending a grant: larger the
earlier the slot, smaller past the grant's planned end (inside the safety margin). Among equally cheap
schedules it picks the one that finishes grants early, which is what survives a forecast that runs high,
and a grant that cannot finish before its planned end spills into the margin rather than being wasted.
A grant that cannot be spent in time even at full capacity simply ends the horizon with something left:
that is its projected waste, and no other grant pays for chasing it.

Besides the flows of every slot, the solution's duals price the current hour: what one more token of a
provider's capacity would save (``mu``) and what one more unit of a grant is worth (``lam``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from highspy import HighsLp, HighsModelStatus, MatrixFormat
from highspy import _Highs as Solver  # type: ignore[attr-defined]  # the bare solver: Highs() prints a banner

from balancer.horizon import INF, Grant, Slot
from balancer.state import candidate_key

M = 1e6  # the LP counts Mtok and CNY (tokens and µ¥ / 1e6), so its numbers stay near 1
PENALTY = 1000.0  # CNY per unserved Mtok
BONUS = 1e-3  # CNY per grant Mtok, times 1..2 by how early; a tenth of it inside the safety margin


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    provider: str
    model: str
    price: float  # µ¥/token at list price for this route's mix
    paid_ok: bool = True  # False: over a spend cap now, no paid use in the current hour


@dataclass(frozen=True, slots=True)
class Problem:
    slots: Sequence[Slot]
    bounds: Sequence[float]
    routes: Mapping[str, Sequence[Candidate]]
    demand: Mapping[str, Sequence[float]]  # route -> tokens/hour per slot
    cap: Mapping[str, float]  # provider -> tokens/hour (inf: unlimited)
    grants: Sequence[Grant]
    down: frozenset[str] = frozenset()  # candidates ("provider/model") unavailable in the current hour


@dataclass(slots=True)
class Schedule:
    now: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)  # (route, idx) -> paid, grant tok/h
    grant_now: dict[tuple[str, str, int], float] = field(default_factory=dict)  # (grant key, route, idx) -> tok/h
    burn: dict[str, list[float]] = field(default_factory=dict)  # grant key -> units spent per segment
    paid: list[dict[str, float]] = field(default_factory=list)  # per segment: provider -> µ¥ spent
    mu: dict[str, float] = field(default_factory=dict)  # provider -> µ¥/token its capacity is worth now
    lam: dict[str, float] = field(default_factory=dict)  # grant key -> µ¥ one more unit of it would save
    unserved: float = 0.0  # tokens over the horizon
    status: str = ""


@dataclass(slots=True)
class Warm:
    """The last solution's basis: the next solve of the same shape starts from it (~30x faster)."""

    shape: tuple[int, int] = (0, 0)
    basis: object = None


@dataclass(slots=True)
class _Builder:
    cost: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    start: list[int] = field(default_factory=lambda: [0])
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def column(self, cost: float, upper: float, entries: Sequence[tuple[int, float]]) -> int:
        self.cost.append(cost)
        self.upper.append(upper)
        for row, v in entries:
            self.index.append(row)
            self.value.append(v)
        self.start.append(len(self.index))
        return len(self.cost) - 1


def solve(pb: Problem, warm: Warm | None = None) -> Schedule:
    """Build the LP, solve it (from ``warm``'s basis when the shape matches; ``warm`` keeps the new one), and
    read back what the planner and the report need."""
    rows_lo: list[float] = []
    rows_hi: list[float] = []

    def row(lo: float, hi: float) -> int:
        rows_lo.append(lo)
        rows_hi.append(hi)
        return len(rows_lo) - 1

    n = len(pb.slots)
    dem = {(r, s): row(d[s] / M, d[s] / M) for r, d in pb.demand.items() for s in range(n)}
    capped = {p: c for p, c in pb.cap.items() if c < INF}
    cap = {(p, s): row(-INF, c / M) for p, c in capped.items() for s in range(n)}
    grow = {g.key: row(-INF, g.amount / M) for g in pb.grants}
    b = _Builder()
    cols: list[tuple[str, str, int, int, str]] = []  # kind (p|u|z), route, idx, slot, grant key

    def serve(r: str, c: Candidate, s: int) -> list[tuple[int, float]]:
        at = [(dem[r, s], 1.0)]
        if (c.provider, s) in cap:
            at.append((cap[c.provider, s], 1.0))
        return at

    for s, slot in enumerate(pb.slots):
        for r, cands in pb.routes.items():
            for c in cands:
                shut = s == 0 and (candidate_key(c.provider, c.model) in pb.down or not c.paid_ok)
                cols.append(("p", r, c.index, s, ""))
                b.column(slot.weight * c.price, 0.0 if shut else INF, serve(r, c, s))
            cols.append(("z", r, -1, s, ""))
            b.column(slot.weight * PENALTY, INF, [(dem[r, s], 1.0)])
    prices = {(r, c.index): c for r, cands in pb.routes.items() for c in cands}
    for g in pb.grants:
        for s, slot in enumerate(pb.slots):
            t0, t1 = pb.bounds[slot.seg], pb.bounds[slot.seg + 1]
            if t0 < g.start or t1 > g.state.expires:
                continue
            bonus = _bonus(g, t0, t1, pb.bounds[0])
            for r, idx in g.pairs:
                c = prices[r, idx]
                k = 1.0 if g.state.unit == "tokens" else c.price
                up = 0.0 if s == 0 and candidate_key(c.provider, c.model) in pb.down else INF
                cols.append(("u", r, idx, s, g.key))
                b.column(-slot.weight * bonus, up, [*serve(r, c, s), (grow[g.key], slot.weight * k)])
    x, row_dual, status = _run(b, rows_lo, rows_hi, warm or Warm())
    return _read(pb, cols, x, row_dual, cap, grow, prices, status)


def _bonus(g: Grant, t0: float, t1: float, now: float) -> float:
    if t1 > g.end:
        return 0.1 * BONUS
    span = max(g.end - now, 1.0)
    return BONUS * (1.0 + (g.end - 0.5 * (t0 + t1)) / span)


def _run(b: _Builder, lo: list[float], hi: list[float], warm: Warm) -> tuple[list[float], list[float], str]:
    lp = HighsLp()
    lp.num_col_ = len(b.cost)
    lp.num_row_ = len(lo)
    lp.col_cost_ = np.array(b.cost)
    lp.col_lower_ = np.zeros(len(b.cost))
    lp.col_upper_ = np.array(b.upper)
    lp.row_lower_ = np.array(lo)
    lp.row_upper_ = np.array(hi)
    lp.a_matrix_.format_ = MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(b.start, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(b.index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(b.value)
    h = Solver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    shape = (lp.num_col_, lp.num_row_)
    if warm.basis is not None and warm.shape == shape:
        h.setBasis(warm.basis)
    h.run()
    status = h.getModelStatus()
    sol = h.getSolution()
    if status != HighsModelStatus.kOptimal:  # always feasible (z absorbs any demand): a solver failure
        warm.basis = None
        return [0.0] * len(b.cost), [0.0] * len(lo), h.modelStatusToString(status)
    warm.shape, warm.basis = shape, h.getBasis()
    return list(sol.col_value), list(sol.row_dual), "optimal"


def _read(
    pb: Problem,
    cols: Sequence[tuple[str, str, int, int, str]],
    x: Sequence[float],
    dual: Sequence[float],
    cap: Mapping[tuple[str, int], int],
    grow: Mapping[str, int],
    prices: Mapping[tuple[str, int], Candidate],
    status: str,
) -> Schedule:
    segs = len(pb.bounds) - 1
    out = Schedule(status=status)
    out.burn = {g.key: [0.0] * segs for g in pb.grants}
    out.paid = [{} for _ in range(segs)]
    units = {g.key: g.state.unit for g in pb.grants}
    for (kind, r, idx, s, key), v in zip(cols, x, strict=True):
        if v <= 1e-12:
            continue
        slot = pb.slots[s]
        tok = v * M
        if kind == "z":
            out.unserved += tok * slot.weight
            continue
        c = prices[r, idx]
        if kind == "p":
            spend = out.paid[slot.seg]
            spend[c.provider] = spend.get(c.provider, 0.0) + tok * slot.weight * c.price
        else:
            out.burn[key][slot.seg] += tok * slot.weight * (1.0 if units[key] == "tokens" else c.price)
        if s == 0:
            paid, granted = out.now.get((r, idx), (0.0, 0.0))
            out.now[r, idx] = (paid + tok, granted) if kind == "p" else (paid, granted + tok)
            if kind == "u":
                out.grant_now[key, r, idx] = out.grant_now.get((key, r, idx), 0.0) + tok
    w0 = pb.slots[0].weight
    out.mu = {p: max(0.0, -dual[i]) / w0 for (p, s), i in cap.items() if s == 0}
    out.lam = {key: max(0.0, -dual[i]) for key, i in grow.items()}
    return out
