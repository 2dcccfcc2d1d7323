"""The credit plan as data: what the ``credit-burn`` and ``cheapest`` strategies read per request, and the
outlook the plan report shows. No solver here: the request path imports this module, never the planner.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from balancer.credit.pricing import Grant

GOLDEN = 0.6180339887498949  # k * GOLDEN mod 1: picks that match the shares closely at every count

Period = tuple[float, float, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What the strategies read for one route: precomputed, so ordering costs microseconds."""

    shares: tuple[float, ...] = ()  # cumulative shares of the route's requests; shares[i] pairs with share_to[i]
    share_to: tuple[int, ...] = ()  # choice indices
    price: Mapping[int, float] = field(default_factory=dict)  # effective µ¥/token; 0 while a grant covers it
    capped: frozenset[int] = frozenset()  # over a paid spend cap and no grant covers them
    rank: Mapping[int, int] = field(default_factory=dict)  # the order for the rest (capped ones absent)
    turn: Iterator[int] = field(default_factory=itertools.count)

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
