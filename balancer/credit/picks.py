"""The current hour read off the schedule: per route, the share of tokens each candidate takes and the order
for what the shares do not place (step 3 of :mod:`balancer.credit.planner`).

The cheap picks are drawn a little more than planned (OVERSUBSCRIBE), so a quiet hour takes its dip from the
dearest, unless another route is planned on their provider for something other than capacity lost if unused (a
free model, a left-over pack); a free model or left-over pack on a provider nothing else counts on takes the
dearest paid one's draw too. Where grants alone are planned, the one worth keeping on a provider with room takes
the dip (:func:`_tiers`). Past the shares, candidates go by what the next token costs now: a candidate's price,
or the value of the grant it would spend, plus the value of its provider's capacity this hour (the LP's duals);
among equals, a provider no other route is planned on first.
"""

from __future__ import annotations

import itertools
from collections.abc import Container, Mapping, Sequence

from balancer.credit.horizon import PlannedGrant
from balancer.credit.plan import RoutePlan
from balancer.credit.schedule import Offer, Problem, Schedule

OVERSUBSCRIBE = 1.25  # how much more than planned the cheap picks are drawn (see _shares)
LEFT_OVER = 1e-6  # CNY per Mtok under which a grant's value (its dual) is nothing: one more unit would be left over
WORTHLESS = 1e-3  # CNY per Mtok under which a grant's token is worth no money to keep (lp.BONUS is 1-2e-4)
FREE = "free"  # what carriers names a free model's use of its provider (any free model: capacity at no price)


def carriers(
    pb: Problem, sched: Schedule, paying: Mapping[tuple[str, int], PlannedGrant]
) -> dict[str, dict[str, set[str]]]:
    """Provider -> route -> what the schedule spends on it there in the current hour: "paid" (FREE for a free
    model), or the key of the grant the vendor debits for it first (in the hour it runs out the next may pay
    too: ``Problem.payers``)."""
    out: dict[str, dict[str, set[str]]] = {}
    for route, cands in pb.routes.items():
        for c in cands:
            paid, granted = sched.now.get((route, c.index), (0.0, 0.0))
            spends = ({FREE} if c.price == 0.0 else {"paid"}) if paid > 0 else set()
            if granted > 0:  # by the grant the vendor debits first (lp lets grants pay now only where there is one)
                spends.add(paying[route, c.index].key)
            if spends:
                out.setdefault(c.provider, {}).setdefault(route, set()).update(spends)
    return out


def others(carriers: Mapping[str, Mapping[str, set[str]]], route: str) -> dict[str, frozenset[str]]:
    """Provider -> what the other routes are planned to spend on it this hour, for the providers another route is
    planned on."""
    return {
        p: frozenset(itertools.chain.from_iterable(s for r, s in by.items() if r != route))
        for p, by in carriers.items()
        if by.keys() - {route}
    }


def _left_over(g: PlannedGrant | None, sched: Schedule) -> bool:
    """A token grant the schedule values at nothing: one more unit of it would be left over whatever is done
    (its provider's capacity or the demand bounds it), so any token it takes now is a token saved."""
    return g is not None and g.grant.unit == "tokens" and sched.lam.get(g.key, 0.0) < LEFT_OVER


def route_plan(
    route: str,
    cands: Sequence[Offer],
    demand: float,
    sched: Schedule,
    paying: Mapping[tuple[str, int], PlannedGrant],
    shared: Mapping[str, frozenset[str]],
) -> RoutePlan:
    """``shared``: the providers another route is planned on this hour, and what it spends there. Their candidates
    are drawn at their planned share (an excess would take capacity the other route's plan counts on), except
    where the pick and all the others spend there are capacity lost if unused (:func:`_fixed`). They come after
    an equally priced one in the order for the rest."""
    price = {c.index: 0.0 if (route, c.index) in paying else c.price for c in cands}
    capped = frozenset(c.index for c in cands if not c.paid_ok and price[c.index] > 0)
    planned = {c.index: sum(sched.now.get((route, c.index), (0.0, 0.0))) / demand if demand > 0 else 0.0 for c in cands}
    fixed = _fixed(route, cands, sched, paying, shared)
    perishable = _perishable(route, cands, sched, paying, planned, shared)
    cum, to = _shares(planned, price, _tiers(route, cands, sched, paying, price), fixed, perishable)
    marginal = _marginal(route, cands, sched, paying)
    # Ties go to the candidate a grant pays for (it is spent now rather than later; before a free model too:
    # a token the grant does not take now may be lost to it), then to one whose provider no other route is
    # planned on (a rush here must not take capacity a rush there needs), then to the lower list price.
    list_price = {c.index: c.price for c in cands}
    prov = {c.index: c.provider for c in cands}
    order = sorted(
        (c.index for c in cands if c.index not in capped),
        key=lambda i: (
            round(marginal[i], 6),
            price[i] > 0,
            (route, i) not in paying,
            prov[i] in shared,
            list_price[i],
            i,
        ),
    )
    return RoutePlan(
        shares=cum,
        share_to=to,
        price=price,
        capped=capped,
        rank={idx: n for n, idx in enumerate(order)},
    )


def _fixed(
    route: str,
    cands: Sequence[Offer],
    sched: Schedule,
    paying: Mapping[tuple[str, int], PlannedGrant],
    shared: Mapping[str, frozenset[str]],
) -> set[int]:
    """The candidates drawn at their planned share only: those on a provider another route is planned on, unless
    the pick and all the others spend there are capacity lost if not used this hour (:func:`_lost`; any free
    model's use is FREE to :func:`carriers`). Which route takes such capacity does not matter, and in an hour below
    a route's forecast the capacity its share leaves idle is lost."""
    lost = {FREE} | {g.key for g in paying.values() if _left_over(g, sched)}
    return {
        c.index
        for c in cands
        if c.provider in shared and not (_lost(c, paying.get((route, c.index)), sched) and shared[c.provider] <= lost)
    }


def _lost(c: Offer, g: PlannedGrant | None, sched: Schedule) -> bool:
    """A pick whose capacity this hour is lost if it does not use it: a free model no grant covers, or a token
    grant worth nothing to keep (:func:`_left_over`)."""
    return _left_over(g, sched) if g else c.price == 0.0


def _perishable(
    route: str,
    cands: Sequence[Offer],
    sched: Schedule,
    paying: Mapping[tuple[str, int], PlannedGrant],
    planned: Mapping[int, float],
    shared: Container[str],
) -> set[int]:
    """The picks whose capacity this hour is lost if they do not use it (:func:`_lost`) on a provider no other
    route is planned on, where every pick the route plans is such a one (more drawn there takes nothing another
    route or a grant of this one counts on)."""
    ok = {c.index for c in cands if _lost(c, paying.get((route, c.index)), sched)}
    bad = {c.provider for c in cands if c.provider in shared or (planned[c.index] > 0 and c.index not in ok)}
    return {c.index for c in cands if c.index in ok and c.provider not in bad}


def _tiers(
    route: str,
    cands: Sequence[Offer],
    sched: Schedule,
    paying: Mapping[tuple[str, int], PlannedGrant],
    price: Mapping[int, float],
) -> dict[int, int]:
    """The boosted picks (price 0 now) by how little a token they do not take this hour is worth later, which is
    the order their over-draw is given in when the shares cannot all have it: 0, a grant whose next unit is worth
    nothing to keep (left over, token or money: worth at most the early-spending tie-break; its tokens not taken
    now are lost to it) or whose provider's capacity the plan values this hour (the capacity, not the grant, is
    what is short); 1, a free model; 2, a grant worth keeping on a provider with room: what it does not take now
    it can take later, so in an hour below the forecast it takes the dip before a free model does."""
    out = {}
    for c in cands:
        if price[c.index] != 0.0:
            continue
        g = paying.get((route, c.index))
        if g is None:
            out[c.index] = 1
        else:
            keep = sched.lam.get(g.key, 0.0) * g.grant.per_token(c.price)
            out[c.index] = 0 if keep < WORTHLESS or sched.mu.get(c.provider, 0.0) > 0 else 2
    return out


def _marginal(
    route: str, cands: Sequence[Offer], sched: Schedule, paying: Mapping[tuple[str, int], PlannedGrant]
) -> dict[int, float]:
    """What the next token costs on each candidate now: the grant it would spend (its value to the schedule,
    converted to tokens) or its price, plus what its provider's capacity is worth this hour; except a left-over
    token grant, which costs nothing: its provider's capacity is worth something only to the plan's shares,
    and a token past them that the grant does not take is lost to it for good. (A money grant burns faster on
    a dearer model, so which route takes its provider's capacity still matters: it keeps the capacity's value.)"""
    out = {}
    for c in cands:
        g = paying.get((route, c.index))
        if _left_over(g, sched):
            out[c.index] = 0.0
        else:
            lam = sched.lam.get(g.key, 0.0) if g else 0.0
            out[c.index] = (lam * g.grant.per_token(c.price) if g else c.price) + sched.mu.get(c.provider, 0.0)
    return out


def _shares(
    planned: Mapping[int, float],
    price: Mapping[int, float],
    boost: Mapping[int, int] | Container[int],
    fixed: Container[int] = (),
    perishable: Container[int] = (),
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Cumulative pick shares from the planned shares of the route's forecast demand, cheapest first.

    In an hour that runs below the forecast the cheap candidates should still get their planned tokens and
    the dearest take the dip, so: the ``boost`` ones (what a grant pays for, free models) are drawn up to
    OVERSUBSCRIBE times their share, tier by tier where ``boost`` maps them to tiers (:func:`_tiers`: a later
    tier gets what the earlier ones leave, so where grants alone are planned the one worth keeping takes the
    dip), then the cheaper paid ones up to as much out of what is left, and the dearest paid one gets the rest.
    A provider's limit cuts any excess, which falls over in the plan's order.
    The ``fixed`` ones (a provider another route is planned on) are drawn at their share only: an excess
    there takes capacity the other route's plan counts on, and its requests then fall to dearer candidates.
    The dearest paid one still takes the rest wherever it is (drawing it at its share too measured worse).
    The ``perishable`` ones (free capacity this hour loses if unused: :func:`_perishable`) take the dearest paid
    one's draw besides (unless another route is planned on its provider), and it gets only what falls over to
    it: in an hour below the forecast the dearest is not paid for while such capacity is idle. Cheaper paid ones
    keep theirs: their shares are the plan's split of capacity other routes use too, which the order for the
    rest does not keep."""
    tier = boost if isinstance(boost, Mapping) else {i: 0 for i in planned if i in boost}
    used = sorted((i for i, v in planned.items() if v > 0), key=lambda i: (price[i], tier.get(i, 0), i))
    if not used:
        return (), ()
    last = used[-1] if used[-1] not in tier else None  # a paid dearest takes the dip; grants never do
    fix = sum(planned[i] for i in used if i in fixed and i != last)
    draw, room = _draws({i: planned[i] for i in used if i in tier and i not in fixed}, tier, 1.0 - fix)
    flat = sum(planned[i] for i in used if i not in tier and i not in fixed and i != last)
    scale = min(OVERSUBSCRIBE, room / flat) if flat > 0 else 1.0  # grants come first
    per = sum(planned[i] for i in used if i in perishable)  # a subset of boost, never fixed (_perishable)
    extra = 0.0
    if per > 0 and last is not None and last not in fixed:  # a dearest no other route counts on gives its draw
        extra = max(0.0, room - scale * flat) / per
        used = [i for i in used if i != last]
    cum: list[float] = []
    total = 0.0
    for i in used:  # the dearest paid one gets what is left of the plan
        times = 1.0 if i in fixed else draw[tier[i]] + (extra if i in perishable else 0.0) if i in tier else scale
        total = min(1.0, max(total, sum(planned.values())) if i == last else total + planned[i] * times)
        cum.append(total)
    return tuple(cum), tuple(used)


def _draws(planned: Mapping[int, float], tier: Mapping[int, int], room: float) -> tuple[dict[int, float], float]:
    """Each tier's multiplier of its picks' planned shares, up to OVERSUBSCRIBE out of the ``room`` the tiers
    before it leave, and the room left after them all."""
    draw = {}
    for t in sorted({tier[i] for i in planned}):
        up = sum(v for i, v in planned.items() if tier[i] == t)
        draw[t] = min(OVERSUBSCRIBE, room / up)
        room -= draw[t] * up
    return draw, room
