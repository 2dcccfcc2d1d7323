"""The credit plan as data: what the ``credit-burn`` and ``cheapest`` strategies read per request, and the
outlook the plan report shows. No solver here: the request path imports this module, never the planner.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from balancer.credit.pricing import Grant

PAST = -1  # "past the planned shares" in the round robin's credits
STALE_GAP_S = 30.0  # a plan found stale is re-made at once, not sooner than this after it was made or last woken
HOUR = 3600.0

Period = tuple[float, float, Mapping[str, float]]
Lineup = tuple[tuple[str, str], ...]  # a route's candidates as (provider, model), in their order: what indices name


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What the strategies read for one route: precomputed, so ordering costs microseconds."""

    shares: tuple[float, ...] = ()  # cumulative shares of the route's tokens; shares[i] pairs with share_to[i]
    share_to: tuple[int, ...] = ()  # choice indices
    price: Mapping[int, float] = field(default_factory=dict)  # effective µ¥/token; 0 while a grant covers it
    capped: frozenset[int] = frozenset()  # over a paid spend cap and no grant covers them
    rank: Mapping[int, int] = field(default_factory=dict)  # the order for the rest (capped ones absent)
    credit: dict[int, float] = field(default_factory=dict)  # each pick's round-robin credit (continued; mutable)

    def next_pick(self, tokens: float = 1.0) -> int | None:
        """The next pick, for a request of ``tokens`` (an estimate), by smooth weighted round robin over tokens:
        each candidate, and "past the shares", gains its share of ``tokens`` in credit, the one with the most (the
        first of equals) is picked and pays ``tokens``. After any requests each has had its share of their tokens
        within the largest one's (the shares are the plan's tokens, so a pick is weighed by its request's: by
        count, requests of unlike sizes would give a candidate its share of requests and any share of tokens).
        The credits carry over to the next plan (``Plan.continuing``), so a re-plan that moves the shares
        neither restarts nor skips anyone's turn."""
        credit, best, top, prev, w = self.credit, PAST, -1.0e300, 0.0, max(tokens, 1.0)
        for cum, i in zip(self.shares, self.share_to, strict=True):
            c = credit[i] = credit.get(i, 0.0) + (cum - prev) * w
            prev = cum
            if c > top:
                best, top = i, c
        c = credit[PAST] = credit.get(PAST, 0.0) + (1.0 - prev) * w
        if c > top:
            best = PAST
        credit[best] -= w
        return None if best == PAST else best

    def stale_after(self, index: int, paid: int) -> bool:
        """Whether a request that paid ``paid`` µ¥ on candidate ``index`` shows this plan out of date: it prices
        the candidate at 0 (a grant covers it), so a paid booking there means the grant ran out or ended before
        the plan expected, and until a re-plan its share is paid at list price."""
        return paid > 0 and self.price.get(index) == 0.0


@dataclass(frozen=True, slots=True)
class GrantOutlook:
    """A grant's projection under the plan: when it runs out, what it would leave unspent at expiry."""

    grant: Grant
    remaining: int  # units left now
    exhausted_at: float | None  # projected; None: not before the horizon
    waste: int  # projected units left at expiry
    share_now: float  # tokens/hour planned this hour
    value: float = 0.0  # µ¥ one more unit of it would save (the schedule's dual, over the paths): its worth to the plan


@dataclass(frozen=True, slots=True)
class Plan:
    made_at: float
    routes: Mapping[str, RoutePlan]
    grants: tuple[GrantOutlook, ...] = ()
    paid: tuple[Period, ...] = ()  # (from, to, provider -> µ¥/day)
    demand: Mapping[str, float] = field(default_factory=dict)  # route -> forecast tokens/day
    unserved: float = 0.0  # forecast tokens no candidate has room for, over the horizon
    status: str = ""  # the solver's
    lineups: Mapping[str, Lineup] = field(default_factory=dict)  # route -> the candidates its indices were made for
    capacity_value: Mapping[str, float] = field(default_factory=dict)  # provider -> µ¥ its next token saves now

    @property
    def until(self) -> float:
        """The end of the hour the plan was made in: its shares are that hour's (the planner's first slot)."""
        return (math.floor(self.made_at / HOUR) + 1) * HOUR

    def fitted(self, lineups: Mapping[str, Lineup]) -> Plan:
        """This plan without the routes whose candidates are not ``lineups``' now (a reload reordered, added or
        removed them, or dropped the route): their indices would name other candidates, so those routes go by
        the price order (as with no plan) until a re-plan for the config in force. Itself when all still fit."""
        keep = {r: p for r, p in self.routes.items() if r in lineups and self.lineups.get(r) == lineups[r]}
        return self if len(keep) == len(self.routes) else dataclasses.replace(self, routes=keep)

    def continuing(self, before: Mapping[str, RoutePlan]) -> Plan:
        """This plan with each route's picks continuing the round robin of the plan ``before`` it (its routes)
        where that had the route: the credits of the candidates this plan still draws carry over. Started afresh
        at every re-plan, each plan's first pick would land on the largest share: a route with one request per
        re-plan sent them all there, whatever the shares."""
        routes = {
            r: dataclasses.replace(p, credit=_carried(before[r].credit, p.share_to)) if r in before else p
            for r, p in self.routes.items()
        }
        return dataclasses.replace(self, routes=routes)


def _carried(credit: Mapping[int, float], share_to: tuple[int, ...]) -> dict[int, float]:
    """The credits a plan drawing ``share_to`` keeps: those of its picks and of "past the shares"."""
    return {i: c for i, c in credit.items() if i == PAST or i in share_to}
