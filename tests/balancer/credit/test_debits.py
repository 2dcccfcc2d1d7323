"""The debit order's relabelling (``balancer.credit.debits.in_order``) on a hand-made schedule of the bound's LP."""

from __future__ import annotations

import numpy as np
import pytest

from balancer.credit import bound, debits
from balancer.credit.highs import Program
from tests.balancer.credit.sim_cases import config, day, trace


def test_a_schedule_that_pays_before_its_pack_is_relabelled_as_the_vendor_debits() -> None:
    """A 1M pack on the cheap model (1 CNY/M all day), 100k tokens an hour on it for a day: an LP schedule that
    pays hours 0-9 and spends the pack in hours 14-23 costs the same as the vendor's (pack in hours 0-9, then
    paid), and breaks the order. Relabelled, the tokens per hour stay, the pack takes hours 0-9 and paid the
    rest, the cost is the LP's, and the order is kept."""
    pack = [{"name": "pack", "tokens": 1_000_000, "models": ["glm-4-air"], "expires": day(0)}]
    cfg, tr = config(grants=pack), trace(100_000, days=1)
    lp = Program()
    cols = bound._columns(cfg, tr, lp)
    (grant, k, first), paid = cols.uses[0], cols.paid_cols(0)
    assert grant.key == "cheap/pack"
    assert cols.pairs[k].provider == "cheap" and k == 0
    x = np.zeros(lp.n)
    x[paid[:14]] = 0.1  # Mtok an hour, paid in hours 0-13
    x[first + np.arange(14, 24)] = 0.1  # the pack in hours 14-23
    rules = debits.rules(tr, cols, lp.uppers(), bound.M)
    assert not debits.kept(rules, x, cols.n)
    y = debits.in_order(x, cols, lp.uppers(), bound.M)
    assert debits.kept(rules, y, cols.n)
    assert np.allclose(y[first : first + 24], [0.1] * 10 + [0.0] * 14)
    assert np.allclose(y[paid], [0.0] * 10 + [0.1] * 14)
    assert lp.costs() @ y == pytest.approx(lp.costs() @ x)
