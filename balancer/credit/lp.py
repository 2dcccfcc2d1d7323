"""The credit-burn schedule as a linear program over the coming days, solved with HiGHS at every re-plan.

Loaded only by the planner's worker (``planner.make_plan``): the request path never imports numpy or HiGHS.

Over the slots of :mod:`balancer.credit.horizon` — the current hour, then per segment and block of hours of
day one slot per demand path and band (:func:`~balancer.credit.horizon.banded`), each with its hours and its
path's probability — in Mtok per hour, per slot s, route r and candidate c:

    p[r,c,s] >= 0     paid at list price (free models: price 0)
    u[g,r,c,s] >= 0   paid for by grant g (g covers c; s inside g's window)
    z[r,s] >= 0       unserved (at the route's unserved price, a hair above it: serving wins a tie)

    demand     sum_c (p + sum_g u) + z = D[r,s]                      (the forecast of s's path and band)
    capacity   sum_{c on provider} (p + sum_g u) <= C[provider,s]    (rate limits; 0 while unhealthy)
    grant      per path k: sum_{s on k or shared} hours_s * sum k * u[g,...] <= left_g
                                                                     (k = 1 for tokens, the price for money)
    debit      in the current hour u[g,r,c] = 0 unless g is the first open grant covering c in the vendor's
               debit order (``Problem.grants`` keeps it), or comes next after grants the rest of the hour
               could use up (``Problem.payers``): the vendor debits the first whatever the plan says. Later
               hours are left free (the first may be gone by then, and the next re-plan will know), but a
               grant waiting behind another (``Problem.behind``) is spent there only in a schedule that
               spends the one before it whole (:func:`solve`)

    minimise   sum_s hours_s * prob_s * (sum price * p - (BURN * k + bonus) * u + unserved_r * z)

A two-stage program: the current hour is shared by every path (it is decided now), the rest is decided per
path, so what a grant spends now is weighed against what it would save on each path later — kept for a
high path's peaks, or spent before a low path leaves it unspent, and on the noise futures, where the past's
busy weeks come again at random, kept for the peaks that cheap capacity will not cover.

Two small rewards (well under any price gap that matters) break the ties among equally cheap schedules.
``BURN`` per grant unit spent (an Mtok, or a CNY of a money grant, as the offline optimum counts burn) picks the
one that burns the most: capacity goes where it spends a grant that would otherwise be left, or a voucher on
the dearer model that finishes it. The bonus per grant token (at most a fifth of what a token of a token grant
earns from ``BURN``) picks among those the one that spends grants early: larger the earlier the slot, smaller past the
grant's planned end (inside the safety margin), so a grant that cannot finish before its planned end spills
into the margin rather than being wasted. Measured on the bench's bursty scenario, dropping the bonus (and
the strategies' over-draw) cost 2 points of paid spend; with the bonus alone (no ``BURN``) a short-lived pack
beside a voucher on its provider was left to waste (its early bonus shrinks faster). A grant that cannot be
spent in time even at full capacity simply ends the horizon with something left: that is its projected waste.

Besides the flows of every slot, the solution's duals price the current hour: what one more token of a
provider's capacity would save (``mu``) and what one more unit of a grant is worth (``lam``, over the paths).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from balancer.credit.highs import Program
from balancer.credit.horizon import INF, H, PlannedGrant
from balancer.credit.schedule import Offer, Problem, Schedule, Warm
from balancer.state import candidate_key

M = 1e6  # the LP counts Mtok and CNY (tokens and µ¥ / 1e6), so its numbers stay near 1
PENALTY = 1000.0  # CNY per unserved Mtok, for a route the problem gives no price
OVER = 1.001  # unserved demand is priced this much above its price, so serving it wins a tie
BURN = 1e-3  # CNY per grant unit spent (an Mtok, or a CNY of a money grant), whenever it is spent
BONUS = 1e-4  # CNY per grant Mtok, times 1..2 by how early; a tenth of it inside the safety margin
Waits = tuple[int, int, frozenset[tuple[str, int]]]  # (earlier grant, later grant, shared pairs): Problem.behind
SPENT = 1e-7  # M units (0.1 token, or µ¥): less than this spent (or left) is none, within HiGHS's tolerance


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where things are in the LP: rows are demand per (route, slot), then capacity per (limited provider,
    slot), then one per grant and demand path; slots carry their hours, expected hours (times their path's
    probability), segment and path (-1: every path's, the current hour)."""

    n: int
    w: np.ndarray  # expected hours: what the objective and the outlook count
    hours: np.ndarray  # hours: what a grant pays for in its path
    seg: np.ndarray
    path: np.ndarray
    paths: int
    routes: list[str]
    finite: list[str]  # providers with a limit (a capacity row each slot)

    @classmethod
    def of(cls, pb: Problem) -> _Layout:
        return cls(
            len(pb.slots),
            np.array([s.weight * s.prob for s in pb.slots]),
            np.array([s.weight for s in pb.slots]),
            np.array([s.seg for s in pb.slots]),
            np.array([s.path for s in pb.slots]),
            pb.paths,
            list(pb.routes),
            [p for p, c in pb.cap.items() if c < INF],
        )

    def grant_rows(self, gi: int, slots: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Grant ``gi``'s budget entries for ``slots`` (which all share a path, or are all the shared hour):
        one per path row for a shared slot, the slot's own path's row otherwise."""
        base = self.grant_base + gi * self.paths
        if self.path[slots[0]] < 0:
            return [(np.full(len(slots), base + k), self.hours[slots]) for k in range(self.paths)]
        return [(base + self.path[slots], self.hours[slots])]

    @property
    def cap_base(self) -> int:
        return len(self.routes) * self.n

    @property
    def grant_base(self) -> int:
        return self.cap_base + len(self.finite) * self.n

    def serve(self, route: str, provider: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The entries one token of ``route`` served by ``provider`` puts in every slot: its demand row, and
        the provider's capacity row when that is limited."""
        s, ones = np.arange(self.n), np.ones(self.n)
        out = [(self.routes.index(route) * self.n + s, ones)]
        if provider in self.finite:
            out.append((self.cap_base + self.finite.index(provider) * self.n + s, ones))
        return out


def solve(pb: Problem, warm: Warm | None = None) -> Schedule:
    """Build the LP, solve it (from ``warm``'s basis when the shape matches; ``warm`` keeps the new one), and
    read back what the planner and the report need.

    Where a grant waits behind another in the vendor's debit order (:meth:`Problem.behind`), a schedule that
    spends the later one there while the earlier is left over cannot happen: the vendor would debit the
    earlier. Such a schedule is solved again twice, once with the earlier grant spent whole on every path
    and once with the later one kept off those pairs inside the earlier one's window, and the cheaper kept;
    one waiting pair at a time, until none is left over. The hour's first re-plan settles them; the rest of the
    hour starts from its choices (``Warm.waits``) and solves once, unless a choice no longer holds."""
    at, ties = _Layout.of(pb), pb.behind()
    warm = warm if warm is not None else Warm()
    hour = int(pb.bounds[0] // H)
    keys = [(pb.grants[a].key, pb.grants[b].key) for a, b, _ in ties]
    fixed = {t: w[1] for t, k in enumerate(keys) if (w := warm.waits.get(k)) is not None and w[0] == hour}
    run = _Attempt.of(pb, at, ties, fixed, warm)
    if fixed and run.status != "optimal":
        fixed, run = {}, _Attempt.of(pb, at, ties, {}, warm)
    for _ in ties:
        t = run.waiting(pb, at, ties, fixed)
        if t is None:
            break
        tries = [_Attempt.of(pb, at, ties, {**fixed, t: v}, Warm(warm.shape, warm.basis)) for v in (True, False)]
        pick = min((a for a in tries if a.status == "optimal"), key=lambda a: a.objective, default=None)
        if pick is None:
            break
        fixed[t] = pick is tries[0]
        run = pick
        warm.shape, warm.basis = pick.warm.shape, pick.warm.basis
    warm.waits = {keys[t]: (hour, v) for t, v in fixed.items()}
    return _read(pb, at, run.pairs, run.uses, run.z0, run.x, run.dual, run.status)


@dataclass(slots=True)
class _Attempt:
    """One solve of the LP, with some waiting grants decided (``fixed``, as in :func:`solve`)."""

    pairs: list[tuple[str, Offer]]
    uses: list[tuple[int, int, np.ndarray, int]]  # (grant index, pair index, slots it may spend in, first column)
    z0: int
    x: np.ndarray
    dual: np.ndarray
    status: str
    objective: float
    warm: Warm

    @classmethod
    def of(
        cls,
        pb: Problem,
        at: _Layout,
        ties: Sequence[Waits],
        fixed: dict[int, bool],
        warm: Warm,
    ) -> _Attempt:
        whole = [ties[t][0] for t, v in fixed.items() if v]
        off = {
            (ties[t][1], pair): (pb.grants[ties[t][0]].start, pb.grants[ties[t][0]].until)
            for t, v in fixed.items()
            if not v
            for pair in ties[t][2]
        }
        cols, pairs, uses, z0 = _program(pb, at, whole, off)
        x, dual, status = cols.solve(warm)
        return cls(pairs, uses, z0, x, dual, status, float(cols.costs() @ x), warm)

    def waiting(
        self,
        pb: Problem,
        at: _Layout,
        ties: Sequence[Waits],
        fixed: dict[int, bool],
    ) -> int | None:
        """The first undecided waiting pair whose later grant this schedule spends on the shared pairs inside
        the earlier one's window while the earlier is left over on some path; None when there is none."""
        t0 = np.array(pb.bounds)[at.seg]
        for t, (a, b, shared) in enumerate(ties):
            if t in fixed:
                continue
            later = sum(
                float(self.x[first : first + len(act)] @ (at.hours[act] * _inside(t0[act], pb.grants[a])))
                for gi, k, act, first in self.uses
                if gi == b and (self.pairs[k][0], self.pairs[k][1].index) in shared
            )
            if later > SPENT and min(self._spent(pb, at, a)) < pb.grants[a].amount / M * (1 - 1e-6) - SPENT:
                return t
        return None

    def _spent(self, pb: Problem, at: _Layout, gi: int) -> np.ndarray:
        """Grant ``gi``'s units spent on each path, as its budget rows count them (M units)."""
        out = np.zeros(at.paths)
        for g, k, act, first in self.uses:
            if g != gi:
                continue
            per = pb.grants[gi].grant.per_token(self.pairs[k][1].price)
            spent = self.x[first : first + len(act)] * at.hours[act] * per
            path = at.path[act]
            out += spent[path < 0].sum() + np.bincount(path[path >= 0], weights=spent[path >= 0], minlength=at.paths)
        return out


def _program(
    pb: Problem, at: _Layout, whole: Sequence[int], off: dict[tuple[int, tuple[str, int]], tuple[float, float]]
) -> tuple[Program, list[tuple[str, Offer]], list[tuple[int, int, np.ndarray, int]], int]:
    """The LP's columns and rows (module docstring). ``whole``: grants whose budget rows are equations (spent
    whole on every path); ``off``: (grant, pair) -> the window (start, until) in which it gets nothing there."""
    n, w = at.n, at.w
    bounds = np.array(pb.bounds)
    t0, t1 = bounds[at.seg], bounds[at.seg + 1]
    demand = np.concatenate([np.asarray(pb.demand[r], dtype=float) for r in at.routes]) / M
    caps = np.repeat([pb.cap[p] / M for p in at.finite], n)
    budget = np.array([g.amount / M for g in pb.grants for _ in range(pb.paths)])
    lo = np.concatenate([demand, np.full(len(caps) + len(budget), -INF)])
    for gi in whole:
        lo[at.grant_base + gi * at.paths : at.grant_base + (gi + 1) * at.paths] = budget[gi * at.paths]
    cols = Program()
    cols.rows(lo, np.concatenate([demand, caps, budget]))
    pairs = [(r, c) for r in at.routes for c in pb.routes[r]]
    for r, c in pairs:
        shut = candidate_key(c.provider, c.model) in pb.down or not c.paid_ok
        cols.block(w * c.price, _upper(n, shut), at.serve(r, c.provider))
    z0 = cols.n
    for ri, r in enumerate(at.routes):
        unserved = pb.unserved.get(r, PENALTY) * OVER
        cols.block(w * unserved, np.full(n, INF), [(ri * n + np.arange(n), np.ones(n))])
    uses = []
    active = [np.flatnonzero((t0 >= g.start) & (t1 <= g.until)) for g in pb.grants]
    payers = pb.payers()
    for gi, k, per in _pays(pb, pairs):
        g, (r, c), act = pb.grants[gi], pairs[k], active[gi]
        if not len(act):
            continue
        end = min(g.end, pb.bounds[-1])  # one that never expires: early is better up to the horizon
        span = max(end - pb.bounds[0], 1.0)
        bonus = np.where(t1[act] > end, 0.1 * BONUS, BONUS * (1 + (end - (t0 + t1)[act] / 2) / span))
        up = _upper(n, candidate_key(c.provider, c.model) in pb.down or gi not in payers.get((r, c.index), {gi}))
        if (gi, (r, c.index)) in off:
            start, until = off[gi, (r, c.index)]
            up[(t0 >= start) & (t0 < until)] = 0.0
        first = cols.n
        for part in np.split(np.arange(len(act)), [1] if at.path[act[0]] < 0 else []):
            if not len(part):
                continue
            slots = act[part]
            entries = [(rows[slots], vals[slots]) for rows, vals in at.serve(r, c.provider)]
            entries += [(rows, vals * per) for rows, vals in at.grant_rows(gi, slots)]
            cols.block(-w[slots] * (bonus[part] + BURN * per), up[slots], entries)
        uses.append((gi, k, act, first))
    return cols, pairs, uses, z0


def _inside(t0: np.ndarray, g: PlannedGrant) -> np.ndarray:
    """Which slots (by their start) lie in the grant's window."""
    return (t0 >= g.start) & (t0 < g.until)


def _pays(pb: Problem, pairs: Sequence[tuple[str, Offer]]) -> list[tuple[int, int, float]]:
    """(grant index, pair index, grant units per token) for each grant and candidate it pays for, grants in the
    vendor's debit order. A money grant pays nothing for a free model (the vendor debits it nothing there), so
    it has no columns there: spending it would earn the bonus and burn nothing."""
    index = {(r, c.index): k for k, (r, c) in enumerate(pairs)}
    out = []
    for gi, g in enumerate(pb.grants):
        for pair in g.pairs:
            k = index[pair]
            per = g.grant.per_token(pairs[k][1].price)
            if per > 0:
                out.append((gi, k, per))
    return out


def _upper(n: int, shut_now: bool) -> np.ndarray:
    up = np.full(n, INF)
    if shut_now:
        up[0] = 0.0
    return up


def _read(
    pb: Problem,
    at: _Layout,
    pairs: Sequence[tuple[str, Offer]],
    uses: Sequence[tuple[int, int, np.ndarray, int]],
    z0: int,
    x: np.ndarray,
    dual: np.ndarray,
    status: str,
) -> Schedule:
    n, w, seg, segs = at.n, at.w, at.seg, len(pb.bounds) - 1
    out = Schedule(status=status)
    tok = np.clip(x, 0.0, None) * M
    paid = tok[: len(pairs) * n].reshape(len(pairs), n)
    out.unserved = float(tok[z0 : z0 + len(at.routes) * n] @ np.tile(w, len(at.routes)))
    out.paid = [{} for _ in range(segs)]
    for k, (r, c) in enumerate(pairs):
        spend = np.bincount(seg, weights=paid[k] * w * c.price, minlength=segs)
        for sg in np.flatnonzero(spend > 1e-9):
            out.paid[sg][c.provider] = out.paid[sg].get(c.provider, 0.0) + float(spend[sg])
        if paid[k, 0] > 1e-6:
            out.now[r, c.index] = (float(paid[k, 0]), 0.0)
    out.burn = {g.key: [0.0] * segs for g in pb.grants}
    for gi, k, active, first in uses:
        g, (r, c) = pb.grants[gi], pairs[k]
        u = tok[first : first + len(active)]
        per = g.grant.per_token(c.price)
        burn = np.bincount(seg[active], weights=u * w[active] * per, minlength=segs)
        out.burn[g.key] = [a + float(b) for a, b in zip(out.burn[g.key], burn, strict=True)]
        if active[0] == 0 and u[0] > 1e-6:
            p, granted = out.now.get((r, c.index), (0.0, 0.0))
            out.now[r, c.index] = (p, granted + float(u[0]))
            out.grant_now[g.key] = out.grant_now.get(g.key, 0.0) + float(u[0])
    out.mu = {p: max(0.0, -float(dual[at.cap_base + i * n])) / w[0] for i, p in enumerate(at.finite)}
    out.lam = {
        g.key: max(0.0, -float(sum(dual[at.grant_base + gi * at.paths : at.grant_base + (gi + 1) * at.paths])))
        for gi, g in enumerate(pb.grants)
    }
    return out
