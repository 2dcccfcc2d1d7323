"""The credit plan as data: what the ``credit-burn`` and ``cheapest`` strategies read per request, and the
outlook the plan report shows. No solver here: the request path imports this module, never the planner.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from balancer.credit.pricing import Grant

GOLDEN = 0.6180339887498949  # k * GOLDEN mod 1: picks that match the shares closely at every count

Period = tuple[float, float, Mapping[str, float]]
Lineup = tuple[tuple[str, str], ...]  # a route's candidates as (provider, model), in their order: what indices name


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What the strategies read for one route: precomputed, so ordering costs microseconds."""

    shares: tuple[float, ...] = ()  # cumulative shares of the route's requests; shares[i] pairs with share_to[i]
    share_to: tuple[int, ...] = ()  # choice indices
    price: Mapping[int, float] = field(default_factory=dict)  # effective µ¥/token; 0 while a grant covers it
    capped: frozenset[int] = frozenset()  # over a paid spend cap and no grant covers them
    rank: Mapping[int, int] = field(default_factory=dict)  # the order for the rest (capped ones absent)
    turn: Iterator[int] = field(default_factory=itertools.count)  # the picks' place in the sequence (continued)

    def pick(self, u: float) -> int | None:
        """The candidate a ``u`` in [0, 1) lands on, or None (past the planned shares)."""
        i = bisect.bisect_right(self.shares, u)
        return self.share_to[i] if i < len(self.share_to) else None

    def next_pick(self) -> int | None:
        """The next pick of a low-discrepancy sequence: after n picks each candidate has had its share of them
        within about 3 (random draws: within ~sqrt(n))."""
        return self.pick((next(self.turn) * GOLDEN) % 1.0)


@dataclass(frozen=True, slots=True)
class GrantOutlook:
    """A grant's projection under the plan: when it runs out, what it would leave unspent at expiry."""

    grant: Grant
    remaining: int  # units left now
    exhausted_at: float | None  # projected; None: not before the horizon
    waste: int  # projected units left at expiry
    share_now: float  # tokens/hour planned this hour


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

    def fitted(self, lineups: Mapping[str, Lineup]) -> Plan:
        """This plan without the routes whose candidates are not ``lineups``' now (a reload reordered, added or
        removed them, or dropped the route): their indices would name other candidates, so those routes go by
        the price order (as with no plan) until a re-plan for the config in force. Itself when all still fit."""
        keep = {r: p for r, p in self.routes.items() if r in lineups and self.lineups.get(r) == lineups[r]}
        return self if len(keep) == len(self.routes) else dataclasses.replace(self, routes=keep)

    def continuing(self, before: Mapping[str, RoutePlan]) -> Plan:
        """This plan with each route's picks continuing the sequence of the plan ``before`` it (its routes) where
        that had the route. A sequence started afresh at every re-plan makes each plan's first pick land on the
        first share: a route with one request per re-plan sent them all there, whatever the shares."""
        routes = {r: dataclasses.replace(p, turn=before[r].turn) if r in before else p for r, p in self.routes.items()}
        return dataclasses.replace(self, routes=routes)
