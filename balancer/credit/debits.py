"""The vendor's debit order in the offline optimum (:mod:`balancer.credit.bound`), as rows of a mixed-integer program.

The vendor debits a token on model m from the first of the account's grants (its debit order) that covers m,
is open and has something left; only when none has does it pay (``ledger.split``). So for each grant a and
step s (``STEP`` hours of the trace) a binary e[a,s], "a is used up by the end of step s", and in every hour h
of step s that a is open (its column's upper bound above 0: inside its window, the provider up), for each
(route, candidate) pair on a model a covers:

    paid[h] + sum over the grants after a that cover it of u[b,h]  <=  D[route,h] * e[a,s]
    c[a,s] = c[a,s-1] + a's units spent in step s;   c[a,s] >= size_a * e[a,s];   e[a,s] <= e[a,s+1]

(A money grant takes nothing for a model free that hour, so those hours have no row.) In a step whose e is
1 the rows let later grants and paid tokens run from its first hour, before a is gone: a relaxation of the
vendor's rule (any schedule the vendor allows meets them), so the optimum stays a lower bound on every
schedule the ledger can book; exact with ``STEP = 1`` up to the order of tokens inside an hour.

Most LP schedules that break the order only label tokens wrongly (a pack's model paid in one hour and the pack
spent in another at the same price): :func:`in_order` relabels them as the vendor debits, and where that costs
no more than the LP the mixed-integer program is not needed (on the bench's scenarios: 1 s instead of 30–60 s).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from balancer.credit.highs import Program
from balancer.credit.ledger import AccountBook
from balancer.credit.pricing import Grant
from balancer.credit.trace import Trace

STEP = 1  # hours per binary (any number is a valid relaxation; 1 is exact to the hour)


def units(g: Grant, price: np.ndarray) -> np.ndarray:
    """Units of ``g`` one token spends in each hour at ``price`` (µ¥/token per hour, so the CNY the bound counts
    per Mtok): :meth:`Grant.per_token` as one value per hour."""
    return np.broadcast_to(g.per_token(price), price.shape)


class Pair(Protocol):
    """A (route, candidate) pair of the bound's program: its route and hourly price."""

    @property
    def route(self) -> str: ...

    @property
    def price(self) -> np.ndarray: ...


class Columns(Protocol):
    """The bound's columns for one trace (``bound._Columns``): its books, pairs, each pair's ``n`` hourly paid
    columns (``paid_cols(k)``) and the grant columns ``uses`` ((grant, pair index, first column) each)."""

    @property
    def books(self) -> Mapping[str, AccountBook]: ...

    @property
    def pairs(self) -> Sequence[Pair]: ...

    @property
    def uses(self) -> Sequence[tuple[Grant, int, int]]: ...

    @property
    def n(self) -> int: ...

    def paid_cols(self, k: int) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """One grant's part of the debit order: its units per hour in each block of its columns (``spends``: first
    column, units per token each hour), its size (program units) and, per pair it covers, the hours it is
    debited first and the blocks that then take nothing until it is gone (``holds``: hours, firsts, demand)."""

    grant: Grant
    size: float
    spends: list[tuple[int, np.ndarray]]
    holds: list[tuple[np.ndarray, list[int], np.ndarray]]

    def exhausted(self, x: np.ndarray, steps: int, tol: float) -> np.ndarray:
        """Per step, whether the schedule ``x`` has used the grant up by the step's end."""
        spent = np.zeros(steps)
        for first, per in self.spends:
            spent += np.add.reduceat(per * x[first : first + len(per)], np.arange(0, len(per), STEP))
        return np.cumsum(spent) >= self.size - tol


def rules(trace: Trace, cols: Columns, upper: np.ndarray, scale: float) -> list[Rule]:
    """Every grant's :class:`Rule` over the bound's columns ``cols``, a grant open in an hour where its column's
    ``upper`` bound is above 0 (inside its window, the provider up); the program counts tokens in units of
    ``scale``."""
    n, pairs, out = cols.n, cols.pairs, []
    for book in cols.books.values():
        for i, a in enumerate(book.grants):
            mine = [(k, first) for g, k, first in cols.uses if g is a]
            later = {id(g) for g in book.grants[i + 1 :]}
            holds = []
            for k, first in mine:
                follow = [f for g, kk, f in cols.uses if kk == k and id(g) in later]
                hours = (upper[first : first + n] > 0) & (units(a, pairs[k].price) > 0)
                holds.append((hours, [int(cols.paid_cols(k)[0]), *follow], trace.demand[pairs[k].route] / scale))
            if any(hours.any() for hours, _, _ in holds):
                out.append(Rule(a, a.size / scale, [(f, units(a, pairs[k].price)) for k, f in mine], holds))
    return out


def kept(rules: Sequence[Rule], x: np.ndarray, n: int, tol: float = 1e-7) -> bool:
    """Whether the schedule ``x`` (of a program without the rows) already keeps the debit order: then it is
    also the best schedule that keeps it, and the mixed-integer program need not be solved."""
    steps = (n + STEP - 1) // STEP
    for r in rules:
        gone = np.repeat(r.exhausted(x, steps, tol), STEP)[:n]
        for hours, firsts, _ in r.holds:
            after = np.sum([x[f : f + n] for f in firsts], axis=0)
            if np.any(after[hours & ~gone] > tol):
                return False
    return True


def in_order(x: np.ndarray, cols: Columns, upper: np.ndarray, scale: float) -> np.ndarray:
    """The schedule ``x`` (over ``cols``, ``cols.n`` hours) relabelled as the vendor would debit it: hour by
    hour, each pair's tokens (paid and granted alike) go to its grants in debit order while they are open
    (``upper`` > 0) and have something left, the rest paid (``ledger.split``, in floats). The tokens per pair
    and hour stay, so it keeps every row but the grants' costs; where it costs no more than ``x`` it is the
    best schedule that keeps the order."""
    order = {id(g): i for b in cols.books.values() for i, g in enumerate(b.grants)}
    left = {id(g): g.size / scale for b in cols.books.values() for g in b.grants}
    blocks_of: list[list[tuple[Grant, int]]] = [[] for _ in cols.pairs]
    for g, k, first in sorted(cols.uses, key=lambda u: order[id(u[0])]):
        blocks_of[k].append((g, first))
    y = x.copy()
    for h in range(cols.n):
        for k, (p, blocks) in enumerate(zip(cols.pairs, blocks_of, strict=True)):
            paid = int(cols.paid_cols(k)[h])
            total = y[paid] + sum(y[first + h] for _, first in blocks)
            for g, first in blocks:
                per = float(g.per_token(p.price[h]))
                take = min(total, left[id(g)] / per) if upper[first + h] > 0 and per > 0 else 0.0
                y[first + h], left[id(g)], total = take, left[id(g)] - take * per, total - take
            y[paid] = total
    return y


def add(lp: Program, rules: Sequence[Rule], n: int) -> int:
    """Add the debit-order rows (module docstring) of ``rules`` to ``lp``, whose schedule has ``n`` hours.
    Returns the binaries added."""
    steps = (n + STEP - 1) // STEP
    for r in rules:
        e = lp.block(np.zeros(steps), np.ones(steps), [], integer=True)
        _exhausted(lp, r, e, steps)
        for hours, firsts, demand in r.holds:
            _held(lp, hours, firsts, demand, e)
    return steps * len(rules)


def _exhausted(lp: Program, r: Rule, e: int, steps: int) -> None:
    """c[s] (the grant's units spent by the end of step s) >= size * e[s], and e never falls back to 0."""
    c = lp.block(np.zeros(steps), np.full(steps, np.inf), [])
    row = lp.rows(np.zeros(steps), np.zeros(steps))  # c[s] - c[s-1] - spent in step s = 0
    s = np.arange(steps)
    lp.entries(row + s, c + s, np.ones(steps))
    lp.entries(row + s[1:], c + s[:-1], -np.ones(steps - 1))
    for first, per in r.spends:
        hours = np.arange(len(per))
        lp.entries(row + hours // STEP, first + hours, -per)
    row = lp.rows(np.zeros(steps), np.full(steps, np.inf))  # c[s] - size * e[s] >= 0
    lp.entries(row + s, c + s, np.ones(steps))
    lp.entries(row + s, e + s, np.full(steps, -r.size))
    row = lp.rows(np.full(steps - 1, -np.inf), np.zeros(steps - 1))  # e[s] - e[s+1] <= 0
    lp.entries(row + s[:-1], e + s[:-1], np.ones(steps - 1))
    lp.entries(row + s[:-1], e + s[1:], -np.ones(steps - 1))


def _held(lp: Program, hours: np.ndarray, firsts: Sequence[int], demand: np.ndarray, e: int) -> None:
    """In each of ``hours``: the columns after the grant (each block of one column per hour from ``firsts``)
    take nothing unless the grant is used up by the end of the hour's step (binary ``e`` + step)."""
    h = np.flatnonzero(hours)
    if not len(h):
        return
    row = lp.rows(np.full(len(h), -np.inf), np.zeros(len(h)))
    rows = row + np.arange(len(h))
    for first in firsts:
        lp.entries(rows, first + h, np.ones(len(h)))
    lp.entries(rows, e + h // STEP, -demand[h])
