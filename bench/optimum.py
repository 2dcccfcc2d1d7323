"""The offline optimum: with the whole trace known, the cheapest way to serve it is a linear program.

Variables, per hour h: ``x[r,c,h]`` tokens of route r served by candidate c, ``u[g,r,c,h]`` the part of it
paid by grant g (only while g is valid and covers c), ``z[r,h]`` demand left unserved (penalised).
Constraints: demand met, provider capacity per hour (0 during an outage), grant-funded ≤ served, and each
grant's total ≤ its size (tokens; or µ¥ for money grants, weighted by price). Objective: paid µ¥.
Solved with scipy's HiGHS (``method="highs"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse

from bench.scenario import Scenario, Trace, expiry_day

PENALTY = 1000.0  # µ¥ per unserved token: far above any price, so demand is dropped only when it must be


@dataclass(frozen=True, slots=True)
class Optimum:
    paid_cny: float
    burned: dict[str, float]  # grant -> units burned (tokens, or µ¥ for money grants)
    unserved: float
    status: str


def price(s: Scenario, r: str, provider: str, model: str) -> float:
    """µ¥ per token for route r on (provider, model): the route's input/output mix at list price."""
    pin, pout = s.providers[provider].prices[model]
    share = s.routes[r].input_share
    return share * pin + (1 - share) * pout


def solve(s: Scenario, t: Trace) -> Optimum:
    H = t.hours
    pairs = [(r, p, m) for r, spec in s.routes.items() for p, m in spec.candidates]
    grants = [(p, g) for p, spec in s.providers.items() for g in spec.grants]
    uses = [
        (gi, k)
        for gi, (p, g) in enumerate(grants)
        for k, (_, pp, m) in enumerate(pairs)
        if pp == p and (not g.models or m in g.models)
    ]
    nx, nu, nz = len(pairs) * H, len(uses) * H, len(s.routes) * H
    routes = list(s.routes)
    cost = np.zeros(nx + nu + nz)
    ub = np.full(nx + nu + nz, np.inf)
    for k, (r, p, m) in enumerate(pairs):
        cost[k * H : (k + 1) * H] = price(s, r, p, m)
        ub[k * H : (k + 1) * H][t.down[p]] = 0.0
    for j, (gi, k) in enumerate(uses):
        p, g = grants[gi]
        r, _, m = pairs[k]
        cost[nx + j * H : nx + (j + 1) * H] = -price(s, r, p, m)
        window = np.zeros(H, dtype=bool)
        window[g.starts * 24 : (expiry_day(s, g) + 1) * 24] = True
        ub[nx + j * H : nx + (j + 1) * H][~window] = 0.0
    cost[nx + nu :] = PENALTY
    hours = np.arange(H)
    # demand: Σ_c x[r,c,h] + z[r,h] = D[r,h]
    rows, cols, vals = [], [], []
    for k, (r, _, _) in enumerate(pairs):
        ri = routes.index(r)
        rows.append(ri * H + hours), cols.append(k * H + hours), vals.append(np.ones(H))
    for ri in range(len(routes)):
        rows.append(ri * H + hours), cols.append(nx + nu + ri * H + hours), vals.append(np.ones(H))
    a_eq = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(routes) * H, nx + nu + nz)
    )
    b_eq = np.concatenate([t.demand[r] for r in routes])
    a_ub, b_ub = _inequalities(s, t, pairs, grants, uses, nx + nu + nz)
    res = scipy.optimize.linprog(
        cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=np.stack([np.zeros_like(ub), ub], 1), method="highs"
    )
    x = res.x
    burned: dict[str, float] = {}
    for j, (gi, k) in enumerate(uses):
        p, g = grants[gi]
        r, _, m = pairs[k]
        w = price(s, r, p, m) if g.tokens is None else 1.0
        burned[f"{p}/{g.name}"] = burned.get(f"{p}/{g.name}", 0.0) + w * x[nx + j * H : nx + (j + 1) * H].sum()
    paid = float(cost[: nx + nu] @ x[: nx + nu]) / 1e6
    return Optimum(paid, burned, float(x[nx + nu :].sum()), res.message)


def _inequalities(
    s: Scenario, t: Trace, pairs: list[tuple[str, str, str]], grants: list, uses: list[tuple[int, int]], n: int
) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    H = t.hours
    nx = len(pairs) * H
    hours = np.arange(H)
    provs = list(s.providers)
    rows, cols, vals, b = [], [], [], []
    # capacity: Σ_{c on p} x[r,c,h] ≤ tpm·60
    for k, (_, p, _) in enumerate(pairs):
        pi = provs.index(p)
        rows.append(pi * H + hours), cols.append(k * H + hours), vals.append(np.ones(H))
    for p in provs:
        tpm = s.providers[p].tpm * s.tpm_scale
        b.append(np.full(H, tpm * 60.0 if tpm else 1e15))
    base = len(provs) * H
    # link: Σ_g u[g,r,c,h] − x[r,c,h] ≤ 0
    for k in range(len(pairs)):
        rows.append(base + k * H + hours), cols.append(k * H + hours), vals.append(-np.ones(H))
    for j, (_, k) in enumerate(uses):
        rows.append(base + k * H + hours), cols.append(nx + j * H + hours), vals.append(np.ones(H))
    b.append(np.zeros(len(pairs) * H))
    base += len(pairs) * H
    # grant size: Σ w·u[g,·,·,·] ≤ size
    for j, (gi, k) in enumerate(uses):
        p, g = grants[gi]
        r, _, m = pairs[k]
        w = price(s, r, p, m) if g.tokens is None else 1.0
        rows.append(np.full(H, base + gi)), cols.append(nx + j * H + hours), vals.append(np.full(H, w))
    b.append(np.array([g.tokens if g.tokens is not None else (g.amount or 0.0) * 1e6 for _, g in grants]))
    m = base + len(grants)
    a = scipy.sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, n))
    return a, np.concatenate(b)
