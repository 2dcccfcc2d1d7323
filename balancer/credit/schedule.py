"""The credit-burn schedule's inputs and outputs: the linear program's data, without the solver.

:mod:`balancer.credit.lp` builds and solves the LP from a :class:`Problem` and answers a :class:`Schedule`;
the planner imports it lazily, in its worker thread, so nothing else loads numpy or HiGHS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from balancer.credit.horizon import PlannedGrant, Slot


@dataclass(frozen=True, slots=True)
class Offer:
    """One way to serve a route in the LP: a candidate (route choice) at its list price."""

    index: int
    provider: str
    model: str
    price: float  # µ¥/token at list price for this route's mix
    paid_ok: bool = True  # False: over a spend cap now, no paid use in the current hour


@dataclass(frozen=True, slots=True)
class Problem:
    slots: Sequence[Slot]
    bounds: Sequence[float]
    routes: Mapping[str, Sequence[Offer]]
    demand: Mapping[str, Sequence[float]]  # route -> tokens/hour per slot
    cap: Mapping[str, float]  # provider -> tokens/hour (inf: unlimited)
    grants: Sequence[PlannedGrant]
    down: frozenset[str] = frozenset()  # candidates ("provider/model") unavailable in the current hour
    unserved: Mapping[str, float] = field(default_factory=dict)  # route -> µ¥ an unserved token costs
    paths: int = 1  # demand paths: the slots after the current hour come once per path (Slot.path)

    def debited(self) -> dict[tuple[str, int], int]:
        """(route, choice index) -> index in ``grants`` of the grant the vendor debits for it in the current
        hour: the first (``grants`` keep the vendor's debit order) open for the whole hour that covers it and
        pays something there (a money grant is debited nothing for a free model): the first of :meth:`payers`."""
        return {pair: min(gis) for pair, gis in self.payers().items()}

    def payers(self) -> dict[tuple[str, int], frozenset[int]]:
        """(route, choice index) -> the grants that may pay for it in the current hour: the first in the debit
        order open for the whole hour that covers it and pays something there (:meth:`debited`) and, while
        every grant before it on the pair would be used up within the rest of the hour even on its cheapest model
        (all of its provider's capacity, or of its routes' demand now, there), the next in the debit order: the
        vendor moves on to it the moment the one before runs out, so the hour a grant ends is not planned as an
        hour its successor cannot have. (Judged on the grant's dearest model, a voucher with hours left on its
        cheap model let a pack behind it be planned on the dear one, where the vendor then spent the voucher.)"""
        out: dict[tuple[str, int], list[int]] = {}
        through: dict[tuple[str, int], bool] = {}  # every grant so far on the pair is used up now
        price = {(r, o.index): o.price for r, offers in self.routes.items() for o in offers}
        for gi, g in enumerate(self.grants):
            if not (g.start <= self.bounds[0] and g.until >= self.bounds[1]):
                continue
            per = {pair: g.grant.per_token(price[pair]) for pair in g.pairs}
            per = {pair: k for pair, k in per.items() if k > 0}
            demand = sum(self.demand[r][0] for r in dict.fromkeys(r for r, _ in per))
            room = min(self.cap.get(g.grant.provider, 0.0), demand) * self.slots[0].weight  # tokens
            ends = bool(per) and g.amount <= room * min(per.values())
            for pair in per:
                if through.get(pair, True):
                    out.setdefault(pair, []).append(gi)
                    through[pair] = ends
        return {pair: frozenset(gis) for pair, gis in out.items()}

    def behind(self) -> list[tuple[int, int, frozenset[tuple[str, int]]]]:
        """(a, b, pairs): grant ``b`` comes after grant ``a`` in the vendor's debit order on the same provider,
        both pay for ``pairs``, and ``a``'s window ends no later than ``b``'s. While ``a`` is open the vendor
        debits ``b`` on those pairs only once ``a`` is gone (a voucher behind a token pack on the same model)."""
        out = []
        for a, g in enumerate(self.grants):
            for b in range(a + 1, len(self.grants)):
                h = self.grants[b]
                shared = frozenset(g.pairs) & frozenset(h.pairs)
                if h.grant.provider == g.grant.provider and shared and g.until <= h.until and h.start < g.until:
                    out.append((a, b, shared))
        return out


@dataclass(slots=True)
class Schedule:
    now: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)  # (route, idx) -> paid, grant tok/h
    grant_now: dict[str, float] = field(default_factory=dict)  # grant key -> tokens/hour it pays for now
    burn: dict[str, list[float]] = field(default_factory=dict)  # grant key -> units spent per segment
    paid: list[dict[str, float]] = field(default_factory=list)  # per segment: provider -> µ¥ spent
    mu: dict[str, float] = field(default_factory=dict)  # provider -> µ¥/token its capacity is worth now
    lam: dict[str, float] = field(default_factory=dict)  # grant key -> µ¥ one more unit of it would save
    unserved: float = 0.0  # tokens over the horizon
    status: str = ""


@dataclass(slots=True)
class Warm:
    """What one re-plan leaves the next: the last solution's basis (the next solve of the same shape starts from
    it, ~10x faster than cold), and the last demand model (``horizon.banded``'s slots and demand, with the inputs
    they were made from), reused while those are the same: every re-plan of an hour but the first; and how the
    hour's first re-plan settled each grant waiting behind another (``lp.solve``), kept for the rest of the hour."""

    shape: tuple[int, int] = (0, 0)
    basis: object = None
    demand: tuple[object, tuple[list[Slot], dict[str, list[float]]]] | None = None
    waits: dict[tuple[str, str], tuple[int, bool]] = field(default_factory=dict)  # (earlier, later) -> (hour, whole)
