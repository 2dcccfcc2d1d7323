"""Where grant tokens should go over time: the planner's model of the coming days.

Time from now to the last grant deadline is cut into segments at every grant's start and planned end;
inside a segment every day looks the same (the demand forecast is per UTC hour of day, capacity is the
rate limits), so a segment is 24 hour-of-day :class:`Slot` s with a multiplicity. Grants are placed into
slots most-constrained first (:func:`place_grants`), each into the hours where a grant token saves most
(:func:`by_value`); models that are free anyway take what room is left (:func:`place_free`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from balancer import flow
from balancer.ledger import AccountBook, GrantState, Snapshot
from balancer.router import Choice, CompiledRoute

H = 3600.0
INPUT_SHARE = 0.75  # prompt tokens' share of a route's traffic until the ledger has measured it
HISTORY_DAYS = 7
INF = float("inf")


@dataclass(slots=True)
class Slot:
    seg: int
    hod: int  # hour of day (UTC)
    weight: float  # how many such hours the segment holds


@dataclass(slots=True)
class GrantPlan:
    state: GrantState
    need: float  # tokens still to burn
    start: float
    end: float  # planned end: expires minus the safety margin
    pairs: list[tuple[str, int]]  # (route, choice index) it can serve
    tau: float = 0.0  # need / capacity available when it was placed (1: it needs every token it can get)
    alloc: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # per slot, tokens/hour


@dataclass(slots=True)
class World:
    slots: list[Slot]
    bounds: list[float]  # segment boundaries, epoch seconds
    demand: dict[str, list[float]]  # route -> tokens/hour per slot, left after grants
    cap: dict[str, list[float]]  # provider -> tokens/hour per slot, left
    now_slot: int = 0  # the slot of the current hour


def blended(book: AccountBook | None, model: str, input_share: float = INPUT_SHARE) -> float:
    t = book.tariffs.get(model) if book else None
    return t.blended(input_share) if t else 0.0


def forecast(traffic: Mapping[int, int], now: float) -> list[float]:
    """Tokens/hour for each UTC hour of day: a per-hour-of-day mean over the last days, or a flat rate."""
    hour = int(now // H)
    past = {h: v for h, v in traffic.items() if hour - HISTORY_DAYS * 24 <= h < hour}
    if not past:
        return [0.0] * 24
    first = min(past)
    span = hour - first
    if span < 24:
        return [sum(past.values()) / span] * 24
    sums, counts = [0.0] * 24, [0] * 24
    for h in range(first, hour):
        sums[h % 24] += past.get(h, 0)
        counts[h % 24] += 1
    return [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]


def capacity(choice: Choice, avg_tokens: float) -> float:
    """A provider's tokens/hour under its TPM and RPM limits (inf when unlimited)."""
    lim = choice.provider.limits
    cap = lim.tpm * 60.0 if lim.tpm else INF
    if lim.rpm and avg_tokens > 0:
        cap = min(cap, lim.rpm * 60.0 * avg_tokens)
    return cap


def segments(now: float, grants: Sequence[GrantPlan], horizon: float) -> tuple[list[Slot], list[float]]:
    """Hour-of-day slots of the segments between ``now``, every grant's start and planned end, and the horizon."""
    h0, hn = math.floor(now / H), max(math.floor(now / H) + 1, math.ceil(horizon / H))
    marks = {h0, hn}
    for g in grants:
        marks.update(min(max(math.ceil(t / H), h0), hn) for t in (g.start, g.end, g.state.expires) if t < INF)
    bounds = sorted(marks)
    slots: list[Slot] = []
    for seg, (a, b) in enumerate(itertools.pairwise(bounds)):
        n = b - a
        for hod in range(24):
            w = n // 24 + (1 if (hod - a) % 24 < n % 24 else 0)
            if w:
                slots.append(Slot(seg, hod, float(w)))
    return slots, [b * H for b in bounds]


def grants_to_place(
    routes: Mapping[str, CompiledRoute], books: Mapping[str, AccountBook], snap: Snapshot, now: float, margin: float
) -> list[GrantPlan]:
    out = []
    for st in snap.grants:
        if st.remaining <= 0 or st.expires <= now:
            continue
        pairs = [
            (r.name, c.index)
            for r in routes.values()
            for c in r.choices
            if c.provider_name == st.provider and (not st.models or c.model in st.models)
        ]
        if not pairs:
            continue
        need = float(st.remaining)
        if st.unit == "money":
            prices = [blended(books.get(st.provider), routes[r].choices[i].model) for r, i in pairs]
            mean = sum(prices) / len(prices)
            if mean <= 0:
                continue
            need = st.remaining / mean
        start = max(math.floor(now / H) * H, st.starts)  # the current hour is planned whole
        window = st.expires - max(st.starts, now - 30 * 86400.0)  # the whole window, not what is left of it
        end = max(start, math.ceil((st.expires - margin * window) / H) * H) if st.expires < INF else INF
        out.append(GrantPlan(st, need, start, end, pairs))
    return out


def room_for(g: GrantPlan, w: World, i: int, routes: Mapping[str, CompiledRoute]) -> float:
    """Tokens/hour grant ``g`` could take in slot ``i``: demand of its routes, within its provider's capacity."""
    seen: set[str] = set()
    demand = 0.0
    for r, _ in g.pairs:
        if r not in seen:
            seen.add(r)
            demand += w.demand[r][i]
    return min(demand, w.cap[g.state.provider][i])


def is_active(g: GrantPlan, w: World, i: int) -> bool:
    seg = w.slots[i].seg
    return g.start <= w.bounds[seg] and w.bounds[seg + 1] <= g.end


def available(g: GrantPlan, w: World, routes: Mapping[str, CompiledRoute]) -> float:
    return sum(s.weight * room_for(g, w, i, routes) for i, s in enumerate(w.slots) if is_active(g, w, i))


@dataclass(slots=True)
class Prices:
    """What a token is worth per UTC hour of day, from the paid-only flow (no grants) of the forecast."""

    marginal: dict[str, list[float]]  # route -> µ¥/token of the dearest candidate it needs at that hour
    shadow: dict[str, list[float]]  # provider -> µ¥/token its capacity saves others at that hour (0: not full)


def pressure(
    routes: Mapping[str, CompiledRoute],
    list_price: Mapping[str, Mapping[int, float]],
    rates: Mapping[str, Sequence[float]],
    caps: Mapping[str, float],
) -> Prices:
    arcs = [
        (n, "p:" + c.provider_name, INF, list_price[n][c.index], (n, c.index, c.provider_name))
        for n, r in routes.items()
        for c in r.choices
    ]
    out = Prices({n: [0.0] * 24 for n in routes}, {p: [0.0] * 24 for p in caps})
    for hod in range(24):
        flows = flow.transport({n: rates[n][hod] for n in routes}, {"p:" + p: cap for p, cap in caps.items()}, arcs)
        used: dict[str, float] = {}
        for (n, idx, p), v in flows.items():
            used[p] = used.get(p, 0.0) + v
            out.marginal[n][hod] = max(out.marginal[n][hod], list_price[n][idx])
        for n, idx, p in flows:
            if caps[p] < INF and used[p] >= 0.99 * caps[p]:
                gain = out.marginal[n][hod] - list_price[n][idx]
                out.shadow[p][hod] = max(out.shadow[p][hod], gain)
    return out


def by_value(g: GrantPlan, w: World, routes: Mapping[str, CompiledRoute], prices: Prices) -> list[float]:
    """Tokens/hour for ``g`` per slot: the hours where a grant token saves most (the paid price its routes
    pay at the margin, less what its provider's capacity would save others then) first, until its need is
    met; equally good hours share alike, and every day of a segment gets the same (the pacing)."""
    routes_of = {r for r, _ in g.pairs}
    shadow = prices.shadow[g.state.provider]
    active = [i for i in range(len(w.slots)) if is_active(g, w, i)]
    value = {i: max(prices.marginal[r][w.slots[i].hod] for r in routes_of) - shadow[w.slots[i].hod] for i in active}
    out = [0.0] * len(w.slots)
    left = g.need
    for _, group in itertools.groupby(sorted(active, key=lambda i: -value[i]), key=lambda i: round(value[i], 6)):
        members = list(group)
        room = {i: room_for(g, w, i, routes) for i in members}
        total = sum(w.slots[i].weight * room[i] for i in members)
        f = 1.0 if total <= left else left / total
        for i in members:
            out[i] = f * room[i]
        left -= f * total
        if left <= 0:
            break
    return out


def place(g: GrantPlan, w: World, routes: Mapping[str, CompiledRoute], prices: Prices) -> float:
    """Place ``g`` (see :func:`by_value`), taking from its routes whose marginal paid price is highest first."""
    placed = 0.0
    for i, planned in enumerate(by_value(g, w, routes, prices)):
        amount = planned
        hod = w.slots[i].hod
        for r, idx in sorted(dict.fromkeys(g.pairs), key=lambda p: -prices.marginal[p[0]][hod]):
            take = min(amount, w.demand[r][i])
            if take <= 0:
                continue
            w.demand[r][i] -= take
            w.cap[g.state.provider][i] -= take
            g.alloc.setdefault((r, idx), [0.0] * len(w.slots))[i] += take
            amount -= take
            placed += take * w.slots[i].weight
    return placed


def place_grants(
    grants: list[GrantPlan], w: World, routes: Mapping[str, CompiledRoute], prices: Prices
) -> dict[str, float]:
    """Place every grant; returns each one's projected waste (tokens).

    The first order tried: feasible grants most-constrained first, then the ones that cannot finish in time
    (they get what is left: reported, not chased). Two other orders (earliest end first; most constrained
    first, doomed ones included) are kept instead only if they burn more without wasting any grant the first
    order burns completely."""
    best: tuple[float, dict[str, float], World, dict[str, tuple[float, float, dict[tuple[str, int], list[float]]]]]
    best = (-1.0, {}, w, {})
    first: dict[str, float] = {}
    for rule in ("constrained", "earliest", "all"):
        trial = World(
            w.slots,
            w.bounds,
            {k: list(v) for k, v in w.demand.items()},
            {k: list(v) for k, v in w.cap.items()},
            w.now_slot,
        )
        for g in grants:
            g.alloc = {}
        waste = _place_in_order(grants, trial, routes, prices, rule)
        burned = sum(g.need for g in grants) - sum(waste.values())
        first = first or waste
        safe = all(v <= 1.0 or first[k] > 1.0 for k, v in waste.items())  # no grant newly wasted
        if burned > best[0] * (1 + 1e-6) and safe:
            best = (burned, waste, trial, {_key(g): (g.tau, g.end, g.alloc) for g in grants})
    _, waste, trial, kept = best
    w.demand, w.cap = trial.demand, trial.cap
    for g in grants:
        g.tau, g.end, g.alloc = kept[_key(g)]
    return waste


def _key(g: GrantPlan) -> str:
    return g.state.provider + "/" + g.state.name


def _place_in_order(
    grants: list[GrantPlan], w: World, routes: Mapping[str, CompiledRoute], prices: Prices, rule: str
) -> dict[str, float]:
    waste: dict[str, float] = {}
    todo = list(grants)
    while todo:
        ratios = [(g.need / a if (a := available(g, w, routes)) > 0 else INF, g) for g in todo]
        for t, g in ratios:
            if t > 1.0 and g.end < g.state.expires:  # the safety margin is the first thing to give up
                g.end = g.state.expires
        ratios = [(g.need / a if (a := available(g, w, routes)) > 0 else INF, g) for g in todo]
        feasible = [(t, g) for t, g in ratios if t <= 1.0]
        if rule == "earliest":
            g = min(todo, key=lambda g: g.end)
        elif rule == "all" or feasible:
            _, g = max(feasible if rule != "all" else ratios, key=lambda tg: (min(tg[0], 1e9), -tg[1].end))
        else:
            g = min(todo, key=lambda g: g.end)
        todo.remove(g)
        g.tau = next(t for t, h in ratios if h is g)
        waste[_key(g)] = max(0.0, g.need - place(g, w, routes, prices))
    return waste


def free_models(
    routes: Mapping[str, CompiledRoute], list_price: Mapping[str, Mapping[int, float]], snap: Snapshot, now: float
) -> list[GrantPlan]:
    """Models free at list price (no grant needed) as bottomless grants, placed after the real ones."""
    out: dict[str, GrantPlan] = {}
    for name, r in routes.items():
        for c in r.choices:
            if list_price[name][c.index] == 0 and not covered(snap, c, now):
                st = GrantState(
                    provider=c.provider_name, name="", unit="tokens", size=0, used=0, models=[], starts=0, expires=INF
                )
                g = out.setdefault(c.provider_name, GrantPlan(st, INF, now, INF, []))
                g.pairs.append((name, c.index))
    return list(out.values())


def place_free(g: GrantPlan, w: World, value: Mapping[str, float]) -> GrantPlan:
    """Free models take whatever room the grants left, for the routes whose paid alternative costs most."""
    by_value = sorted(g.pairs, key=lambda p: -value[p[0]])
    cap = w.cap[g.state.provider]
    for i in range(len(w.slots)):
        for r, idx in by_value:
            take = min(cap[i], w.demand[r][i])
            if take > 0:
                w.demand[r][i] -= take
                cap[i] -= take
                g.alloc.setdefault((r, idx), [0.0] * len(w.slots))[i] += take
    return g


def covered(snap: Snapshot, c: Choice, now: float) -> bool:
    return any(
        g.provider == c.provider_name
        and g.remaining > 0
        and g.starts <= now < g.expires
        and (not g.models or c.model in g.models)
        for g in snap.grants
    )
