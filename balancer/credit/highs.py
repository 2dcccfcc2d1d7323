"""A linear program in blocks of columns, solved with HiGHS: what the planner's LP and the offline bound share.

Imported only by :mod:`balancer.credit.lp` (the planner's worker), :mod:`balancer.credit.bound` and
:mod:`balancer.credit.debits` (tools): the request path never loads numpy or HiGHS. Columns are >= 0, integer
where a block says so (the bound's debit order: then a mixed-integer program); rows have lower and upper bounds
(equal: an equation).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS here: don't let numpy's import start a thread pool

import numpy as np
from highspy import HighsModelStatus, HighsVarType, MatrixFormat, ObjSense
from highspy import _Highs as Solver  # type: ignore[attr-defined]  # the bare solver (Highs() prints a banner)

from balancer.credit.schedule import Warm

MIP_GAP = 1e-7  # CNY, absolute: the bound's BURN breaks ties at 1e-5 per unit, below any relative gap


@dataclass(slots=True)
class Program:
    """Rows (bounds) and columns (cost, upper bound, entries) added in blocks, as numpy arrays."""

    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)
    upper: list[np.ndarray] = field(default_factory=list)
    ent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # rows, cols, vals
    integer: list[int] = field(default_factory=list)  # every integer column
    n: int = 0  # columns
    m: int = 0  # rows

    def rows(self, lo: Iterable[float], hi: Iterable[float]) -> int:
        """Add rows with these bounds. Returns the first one's index."""
        first, lo_, hi_ = self.m, np.asarray(list(lo), dtype=float), np.asarray(list(hi), dtype=float)
        self.lo.append(lo_)
        self.hi.append(hi_)
        self.m += len(lo_)
        return first

    def block(
        self,
        cost: np.ndarray,
        upper: np.ndarray,
        entries: Sequence[tuple[np.ndarray, np.ndarray]],
        integer: bool = False,
    ) -> int:
        """Add len(cost) columns; each (rows, values) pair gives every new column one entry. Returns the first.
        ``integer``: the columns take whole values (the program becomes a MIP: no duals)."""
        first, ids = self.n, np.arange(self.n, self.n + len(cost))
        if integer:
            self.integer.extend(range(first, first + len(cost)))
        self.cost.append(cost)
        self.upper.append(upper)
        for rows, vals in entries:
            self.ent.append((rows, ids, np.broadcast_to(vals, ids.shape)))
        self.n += len(cost)
        return first

    def entries(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        """Add entries to existing columns (a row added after them that links them)."""
        self.ent.append((np.asarray(rows), np.asarray(cols), np.broadcast_to(vals, np.shape(cols))))

    def costs(self) -> np.ndarray:
        """Every column's cost, in order."""
        return np.concatenate(self.cost)

    def uppers(self) -> np.ndarray:
        """Every column's upper bound, in order."""
        return np.concatenate(self.upper)

    def solve(self, warm: Warm | None = None, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
        """Minimise; returns the columns' values (clipped at 0), the rows' duals (zeros for a MIP) and "optimal"
        (or zeros and the solver's status, "Time limit reached" past ``seconds``). ``warm``: start from its
        basis when the shape matches, and keep the new one (an LP only). A MIP is solved to within ``MIP_GAP``
        (absolute) of its optimum."""
        rows, cols, vals = (np.concatenate([e[i] for e in self.ent]) for i in range(3))
        order = np.lexsort((rows, cols))
        kinds = np.zeros(self.n, dtype=np.int32)  # all continuous: HiGHS reads an LP
        kinds[self.integer] = int(HighsVarType.kInteger)
        model = (
            *(self.n, self.m, len(order), int(MatrixFormat.kColwise), int(ObjSense.kMinimize), 0.0),
            *(self.costs(), np.zeros(self.n), self.uppers(), np.concatenate(self.lo), np.concatenate(self.hi)),
            np.searchsorted(cols[order], np.arange(self.n + 1)).astype(np.int32),
            rows[order].astype(np.int32),
            np.ascontiguousarray(vals[order], dtype=np.float64),
            kinds,
        )
        h = Solver()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        if seconds is not None:
            h.setOptionValue("time_limit", float(seconds))
        if self.integer:
            h.setOptionValue("mip_rel_gap", 0.0)
            h.setOptionValue("mip_abs_gap", MIP_GAP)
        h.passModel(*model)  # arrays as buffers: a HighsLp's vectors would copy them element by element
        shape = (self.n, self.m)
        if warm is not None and warm.basis is not None and warm.shape == shape:
            h.setBasis(warm.basis)
        h.run()
        status = h.getModelStatus()
        if status != HighsModelStatus.kOptimal:
            if warm is not None:
                warm.basis = None
            return np.zeros(self.n), np.zeros(self.m), h.modelStatusToString(status)
        sol = h.getSolution()
        x = np.clip(np.asarray(sol.col_value), 0.0, None)
        if self.integer:
            return x, np.zeros(self.m), "optimal"
        if warm is not None:
            warm.shape, warm.basis = shape, h.getBasis()
        return x, np.asarray(sol.row_dual), "optimal"
