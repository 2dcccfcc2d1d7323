"""The where CLI: credit-burn's and the optimum's tokens and paid CNY per period, model and bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from balancer.credit.bound import solve
from bench import credit_where, scenario
from tests.bench.test_credit_twins import GROWS


def _grows(tmp_path: Path) -> Path:
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    return path


def test_each_period_accounts_for_its_demand_and_the_paid_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Split on day 2 of a route that grows 2.4x then (DeepSeek unlimited: nothing unserved): in each period the
    tokens of every row add up to that period's demand, for the simulation and for the optimum alike, and the
    rows' CNY add up to what each paid over the month (the simulation's paid_cny, the optimum's solve)."""
    path = _grows(tmp_path)
    s = scenario.load(path)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    assert credit_where.main(["--scenario", str(path), "--split", "2"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    demand = trace.demand["chat"]
    for period, part in ((0, demand[:48]), (1, demand[48:])):
        rows = [r for r in doc["rows"] if r["period"] == period]
        assert sum(r["sim_mtok"] for r in rows) == pytest.approx(part.sum() / 1e6, abs=0.01)
        assert sum(r["opt_mtok"] for r in rows) == pytest.approx(part.sum() / 1e6, abs=0.01)
    assert sum(t["sim_cny"] for t in doc["totals"]) == pytest.approx(doc["paid_cny"], abs=0.05)
    assert sum(t["opt_cny"] for t in doc["totals"]) == pytest.approx(solve(cfg, trace).paid_cny, abs=0.05)
    pack = {r["period"]: r["opt_mtok"] for r in doc["rows"] if r["bucket"] == "pack"}
    assert sum(pack.values()) == pytest.approx(3.0, abs=0.01)  # the optimum spends all of the grant


@pytest.mark.parametrize("split", ["0", "4", "1.5", "nan"])
def test_a_split_outside_the_scenario_is_refused(
    split: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--split must be a whole day with days on both sides: 0, 4 (of 4 days), 1.5 and nan are a usage error."""
    with pytest.raises(SystemExit) as stop:
        credit_where.main(["--scenario", str(_grows(tmp_path)), "--split", split])
    assert stop.value.code == 2
    assert "--split must be a whole day" in capsys.readouterr().err


def test_the_optimum_says_whether_it_kept_the_debit_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON line carries the optimum's ``debit_order`` (True here: one grant, nothing to order), as
    credit_sim's does, so a reader knows which bound the rows compare with; no "not kept" line is printed (the wording of ``balancer plan --replay``'s)."""
    assert credit_where.main(["--scenario", str(_grows(tmp_path)), "--split", "2"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["debit_order"] is True
    assert "debit order not kept" not in out


RISE = """
name: rise
start: 2026-11-01
days: 2
providers:
  zhipu:
    prices: {glm-4-air: [1.0, 1.0]}
    grants:
      - {name: pack, tokens: 2400000, models: [glm-4-air], expires: 1}
  deepseek:
    prices: {deepseek-chat: [5.0, 5.0]}
price_changes:
  - {day: 1, provider: zhipu, model: glm-4-air, prices: [3.0, 3.0]}
routes:
  chat:
    tokens_per_hour: 100000
    noise: 0.0
    diurnal: 0.0
    candidates: [[zhipu, glm-4-air], [deepseek, deepseek-chat]]
"""


def test_an_optimum_past_the_mip_time_limit_is_named_the_lp_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2.4M pack over a price rise (¥1 then ¥3 per M; DeepSeek at ¥5): the vendor debits the pack on day 0, so
    the optimum pays day 1 at ¥3 (¥7.2); the LP alone pays day 0 and keeps the pack for day 1 (¥2.4), which
    takes the MIP to undo. With no time for it (``--mip-seconds 0``) the rows are the LP's, and the output says so."""
    path = tmp_path / "rise.yaml"
    path.write_text(RISE, encoding="utf-8")
    for seconds, kept, paid in (("300", True, 7.2), ("0", False, 2.4)):
        assert credit_where.main(["--scenario", str(path), "--split", "1", "--mip-seconds", seconds]) == 0
        out = capsys.readouterr().out
        doc = json.loads(out.strip().splitlines()[-1])
        assert doc["debit_order"] is kept and ("debit order not kept" in out) is not kept
        assert sum(t["opt_cny"] for t in doc["totals"]) == pytest.approx(paid, abs=0.01)
