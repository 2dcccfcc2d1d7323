"""The planner's model of the coming days: time cut into slots, demand per slot, capacity and grants.

Time from now to the horizon is cut into segments: the current hour alone, then at every grant's start,
planned end (expiry less the safety margin) and expiry, and at least weekly. Inside a segment the order of
the hours does not matter to the schedule (only the grants' windows link hours, and they are whole
segments), only how much demand its hours hold: so a segment is :class:`Slot` s per block of hours of day,
demand path and band of the spread (:func:`banded`), each with a multiplicity (how many such hours the
segment holds) — the demand's distribution, not just its mean. The demand paths are the level drifting
or falling (:data:`~balancer.credit.forecast.PATHS`; one route alone drifting high, :func:`demand_paths`) and noise
futures drawn from the route's own past days (:mod:`balancer.credit.futures`): weeks as busy or as quiet as the
past's were.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from balancer.config import Limits, Route
from balancer.credit.forecast import HIGH, PATHS, STAYING, Forecast
from balancer.credit.futures import draw
from balancer.credit.ledger import AccountBook, Snapshot
from balancer.credit.pricing import INPUT_SHARE, Grant

H = 3600.0
WEEK = 7 * 24  # hours
BLOCK = 4  # hours of day planned together (their spread in bands)
INF = float("inf")
FUTURES = 4  # noise futures drawn (futures.draw)
FUTURES_P = 0.5  # the probability they share, taken from the staying path's
ALONE = 1.0  # where routes drift, the weight of their own high paths together, in joint high paths (then rescaled)


@dataclass(frozen=True, slots=True)
class Slot:
    seg: int
    hod: int  # hour of day (UTC)
    weight: float  # how many such hours the segment holds (a band of them: that many times the band's share)
    band: int = 0  # which band of the demand's spread (forecast.BANDS), lowest first
    prob: float = 1.0  # the probability of its demand path
    path: int = -1  # which demand path (:func:`demand_paths`, by index) it is on; -1: every path's (the current hour)


@dataclass(frozen=True, slots=True)
class Path:
    """A demand path: the level drifting ``z`` sigmas (and falling by ``fall``: forecast.PATHS), on every route
    or on ``alone`` only (the rest staying), or a noise future (route -> multiplier per hour from the origin)."""

    prob: float
    z: float = 0.0
    fall: float = 1.0
    alone: str = ""
    future: Mapping[str, Sequence[float]] | None = None


@dataclass(frozen=True, slots=True)
class PlannedGrant:
    """A grant as the planner sees it: what is left of it, when it may be spent, and where."""

    grant: Grant
    amount: float  # units it may still spend (what the ledger shows left)
    start: float
    end: float  # planned end: expires minus the safety margin
    pairs: tuple[tuple[str, int], ...]  # (route, choice index) it can pay for
    closes: float | None = None  # before it expires: a grant the vendor debits after it expires sooner

    @property
    def key(self) -> str:
        return self.grant.key

    @property
    def until(self) -> float:
        """Spendable until (in the plan): its expiry, or sooner (``_in_debit_order``)."""
        return self.grant.expires if self.closes is None else self.closes


def blended(book: AccountBook | None, model: str, input_share: float = INPUT_SHARE) -> float:
    """µ¥ per token at list price for a route's prompt/completion mix (0: unpriced or free)."""
    t = book.tariffs.get(model) if book else None
    return t.blended(input_share) if t else 0.0


def banded(
    slots: Sequence[Slot], bounds: Sequence[float], fcs: Mapping[str, Forecast]
) -> tuple[list[Slot], dict[str, list[float]]]:
    """The slots after the first regrouped into blocks of BLOCK hours of day per segment, once per demand
    path (:func:`demand_paths`), and each split into the bands of the demand's spread: a band's demand is the
    mean, over that band's share of the block's hours, of the route's expected rate (its weekday's and
    hour's) times the spread's multiplier, on a drift path times its drift — the block's hours ranked by
    demand and cut into bands. On a noise future the hours are the expected rates times the future's own
    multipliers, ranked as they are (no spread: the future is the spread); a route with no noise to draw
    from has its staying path's bands there. Routes are banded alike (their peaks taken together: the cautious
    reading when they share providers) and drift alike but on a route's own high path, where the rest stay.
    Returns the slots and each route's demand."""
    out, demand = [slots[0]], {r: [f.rate(int(bounds[0] // H))] for r, f in fcs.items()}
    shares = [b for b, _ in max((f.bands() for f in fcs.values()), key=len, default=((1.0, 1.0),))]
    blocks: dict[tuple[int, int], list[Slot]] = {}
    for s in slots[1:]:
        blocks.setdefault((s.seg, s.hod // BLOCK), []).append(s)
    origin = int(bounds[0] // H)
    paths = demand_paths(fcs, origin, int(bounds[-1] // H) - origin)
    for (seg, block), group in blocks.items():
        hours = [h for s in group for h in _hours(s, bounds)]
        weight = sum(s.weight for s in group)
        rates = {r: [f.rate(h) for h in hours] for r, f in fcs.items()}  # once per block, not per band and path
        per = {r: _band_means(_atoms(rates[r], f.bands()), shares) for r, f in fcs.items()}
        ahead = ((bounds[seg] + bounds[seg + 1]) / 2 - bounds[0]) / 86400.0
        for k, path in enumerate(paths):
            future = path.future or {}
            means = {
                r: _band_means(_atoms(rates[r], (), [future[r][h - origin] for h in hours]), shares)
                for r in fcs
                if r in future
            }
            for band, share in enumerate(shares):
                out.append(Slot(seg, block * BLOCK, weight * share, band, path.prob, k if len(paths) > 1 else -1))
                for r, f in fcs.items():
                    z = path.z if path.alone in ("", r) else 0.0
                    demand[r].append(means[r][band] if r in means else per[r][band] * f.drifted(z, ahead, path.fall))
    return out, demand


def demand_paths(fcs: Mapping[str, Forecast], origin: int, hours: int) -> list[Path]:
    """The demand paths: :data:`~balancer.credit.forecast.PATHS` (the level drifting low, staying, drifting
    high, or halving: what a grant kept back is worth if traffic grows, and what it risks if traffic falls),
    then FUTURES noise futures drawn from the routes' past (:mod:`~balancer.credit.futures`), which take
    FUTURES_P of the staying path's probability. One path where no route has a drift (no history), the drift
    paths alone where none has noise to draw from.

    Where two routes or more drift, each also has a high path of its own on which it alone drifts high:
    routes' levels are read from their own traffic and err apart, and on the joint high path every shared
    provider saturates, so capacity takes the value and no route's grants look short — a route's grants spent
    on a shared provider for another route then look free. The joint path stays (traffic that grows grows on
    every route: it is the hedge for that); the routes' own together weigh :data:`ALONE` joint ones, and the
    probabilities are rescaled to sum 1 (``bench/README.md``, stop 44)."""
    if not any(f.drift > 0 for f in fcs.values()):
        return [Path(1.0)]
    paths = [Path(p, z, fall) for p, z, fall in PATHS]
    futures = draw({r: f.noise for r, f in fcs.items()}, origin, hours, FUTURES)
    if futures:
        paths[STAYING] = Path(PATHS[STAYING][0] - FUTURES_P)
        paths += [Path(FUTURES_P / len(futures), future=future) for future in futures]
    drifting = [r for r, f in fcs.items() if f.drift > 0]
    if len(drifting) < 2:
        return paths
    high = paths[HIGH]
    paths += [Path(high.prob * ALONE / len(drifting), high.z, high.fall, r) for r in drifting]
    total = sum(p.prob for p in paths)
    return [dataclasses.replace(p, prob=p.prob / total) for p in paths]


def _hours(s: Slot, bounds: Sequence[float]) -> list[int]:
    """The hours of a segment at a slot's hour of day (one per weekday is enough: the rate repeats weekly)."""
    a, b = int(bounds[s.seg] // H), int(bounds[s.seg + 1] // H)
    first = a + (s.hod - a) % 24
    return list(range(first, min(b, first + WEEK), 24))


def _atoms(
    rates: Sequence[float], bands: Sequence[tuple[float, float]], future: Sequence[float] = ()
) -> list[tuple[float, float]]:
    """(demand, probability) of each hour's expected ``rates``: the rate × each band's multiplier, equally
    likely; on a future, the rate × the future's multiplier for that hour, one atom per hour."""
    if future:
        return [(v * m, 1 / len(rates)) for v, m in zip(rates, future, strict=True)]
    return [(v * m, p / len(rates)) for v in rates for p, m in bands]


def _band_means(atoms: list[tuple[float, float]], shares: Sequence[float]) -> list[float]:
    """Mean demand in each band of shares: the atoms ranked and cut."""
    atoms.sort()
    if len(shares) == 1:
        return [sum(v * p for v, p in atoms)]
    out, i, left = [], 0, atoms[0][1]
    for share in shares:
        need, total = share, 0.0
        while need > 1e-12 and i < len(atoms):
            take = min(need, left)
            total += take * atoms[i][0]
            need, left = need - take, left - take
            if left <= 1e-12:
                i += 1
                left = atoms[i][1] if i < len(atoms) else 0.0
        out.append(total / (share - need) if share > need else atoms[-1][0])
    return out


def nowcast(expected: float, seen: int, elapsed: float) -> float:
    """Tokens/hour for the rest of the current hour: the rate seen so far in it (``seen`` tokens over the
    ``elapsed`` share of the hour), trusted fully after a quarter of an hour, blended with the forecast before."""
    if elapsed <= 0:
        return expected
    trust = min(1.0, elapsed / 0.25)
    return trust * seen / elapsed + (1.0 - trust) * expected


def unserved_price(route: Route, prices: Iterable[float]) -> float:
    """µ¥ a token of ``route`` that no candidate serves costs: the route's ``unserved_price`` (CNY/Mtok), and
    never less than its dearest candidate's price (``prices``: the route's, µ¥/token)."""
    return max([route.unserved_price or 0.0, *prices])


def capacity(lim: Limits, avg_tokens: float) -> float:
    """A provider's tokens/hour under its TPM and RPM limits (inf when unlimited)."""
    cap = lim.tpm * 60.0 if lim.tpm else INF
    if lim.rpm and avg_tokens > 0:
        cap = min(cap, lim.rpm * 60.0 * avg_tokens)
    return cap


def segments(now: float, grants: Sequence[PlannedGrant], horizon: float) -> tuple[list[Slot], list[float]]:
    """Hour-of-day slots of the segments: the current hour, then between every grant's start, planned end and
    expiry (and at least every week), up to the horizon. Returns the slots (the current hour's first) and
    the segment bounds (epoch s)."""
    h0 = math.floor(now / H)
    hn = max(h0 + 2, math.ceil(horizon / H))
    # Weekly at least, so a grant's exhaustion shows within a week; on fixed weeks, so that the LP's shape
    # (and the warm start) survives from one re-plan to the next.
    marks = {h0, h0 + 1, *range((h0 // WEEK + 1) * WEEK, hn, WEEK), hn}
    for g in grants:
        marks.update(min(max(math.ceil(t / H), h0 + 1), hn) for t in (g.start, g.end, g.until) if t < INF)
    bounds = sorted(marks)
    slots: list[Slot] = []
    for seg, (a, b) in enumerate(itertools.pairwise(bounds)):
        n = b - a
        for hod in range(24):
            w = n // 24 + (1 if (hod - a) % 24 < n % 24 else 0)
            if w:
                slots.append(Slot(seg, hod, float(w)))
    return slots, [b * H for b in bounds]


def grants_to_plan(routes: Mapping[str, Route], snap: Snapshot, now: float, margin: float) -> list[PlannedGrant]:
    """Every grant with something left that a route can use (one expiring past the horizon too: while it
    lasts, what it covers costs nothing; what it still holds at the horizon is not waste)."""
    out = []
    for balance in snap.grants:
        st = balance.grant
        if balance.remaining <= 0 or st.expires <= now:
            continue
        pairs = tuple(
            (name, i)
            for name, r in routes.items()
            for i, c in enumerate(r.candidates)
            if c.provider == st.provider and (not st.models or c.model in st.models)
        )
        if not pairs:
            continue
        start = max(math.floor(now / H) * H, st.starts)  # the current hour is planned whole
        window = st.expires - max(st.starts, now - 30 * 86400.0)  # the whole window, not what is left of it
        end = max(start, math.ceil((st.expires - margin * window) / H) * H) if st.expires < INF else INF
        out.append(PlannedGrant(st, float(balance.remaining), start, end, pairs))
    return _in_debit_order(out)


def _in_debit_order(grants: list[PlannedGrant]) -> list[PlannedGrant]:
    """The vendor spends an account's grants one after another (``Snapshot.grants`` lists them in its debit
    order): a grant after this one, on the same models, gets nothing until this one is gone. So this one
    must be gone by then too — its window closes with the soonest of theirs. That only bites where the
    order is not earliest-expiry (``debit_order: listed``); a later grant whose window opens first is left
    alone (the vendor spends it while this one has not started)."""
    out = list(grants)
    for i in range(len(out) - 1, -1, -1):
        g = out[i]
        later = [
            h
            for h in out[i + 1 :]
            if h.grant.provider == g.grant.provider
            and h.until < g.until
            and h.start >= g.start
            and set(h.pairs) & set(g.pairs)
        ]
        if later:
            until, end = min(h.until for h in later), min(g.end, *(h.end for h in later))
            out[i] = PlannedGrant(g.grant, g.amount, g.start, end, g.pairs, until)
    return out
