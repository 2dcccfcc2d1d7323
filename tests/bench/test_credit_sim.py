"""The credit-simulation CLI on a small scenario: the wing's simulation and bound, and the JSON line it prints."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from balancer.credit.bound import Optimum, solve
from balancer.sim import STRATEGIES, SimResult, simulate
from bench import credit_sim, scenario

SMALL = """
name: small
start: 2026-11-01
days: 4
seed: 3
requests_per_hour: 8
replan_minutes: 30
providers:
  glm:
    tpm: 1000
    prices: {glm-4-air: [0.5, 0.5]}
    grants:
      - {name: air, tokens: 3000000, models: [glm-4-air], expires: 2}
  qwen:
    tpm: 2000
    prices: {qwen-plus: [0.8, 2.0]}
  deepseek:
    prices: {deepseek-chat: [2.0, 3.0]}
routes:
  chat:
    tokens_per_hour: 150000
    diurnal: 0.5
    candidates: [[deepseek, deepseek-chat], [qwen, qwen-plus], [glm, glm-4-air]]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, SimResult], Optimum]:
    path: Path = tmp_path_factory.mktemp("sim") / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    s = scenario.load(path)
    cfg, t = scenario.to_config(s), scenario.trace(s)
    kw = {"requests_per_hour": s.requests_per_hour, "replan_minutes": s.replan_minutes, "seed": s.seed}
    return {n: asyncio.run(simulate(cfg, t, n, **kw)) for n in STRATEGIES}, solve(cfg, t)  # type: ignore[arg-type]


def test_optimum_is_a_lower_bound_and_credit_burn_comes_close(run: tuple[dict[str, SimResult], Optimum]) -> None:
    """No strategy pays less than the LP bound; credit-burn spends the grant and lands within 2% of the bound
    (here cheapest-first is already optimal: the grant covers the cheapest model), far below the rest."""
    results, opt = run
    paid = {n: r.paid_cny for n, r in results.items()}
    assert opt.status == "optimal" and all(v >= opt.paid_cny * (1 - 1e-6) for v in paid.values())
    assert paid["credit-burn"] <= 1.02 * opt.paid_cny and paid["credit-burn"] < min(
        paid["round-robin"], paid["priority"]
    )
    assert results["credit-burn"].burned["glm/air"] >= 0.99 * 3_000_000
    assert all(r.unserved_tokens == 0 and r.unserved_cny == 0 for r in results.values())
    assert results["credit-burn"].replans > 0 and results["priority"].replans == 0


def test_main_prints_a_json_line_with_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI prints the table and a final JSON line naming the scenario, the bound (with its solver status and
    whether it kept the vendor's debit order) and each strategy."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    assert credit_sim.main(["--scenario", str(path), "--strategies", "cheapest,credit-burn", "--seed", "5"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["bench"] == "credit_sim" and doc["scenario"] == "small (seed 5)" and doc["seed"] == 5
    assert set(doc["strategies"]) == {"cheapest", "credit-burn"} and isinstance(doc["target_met"], bool)
    assert set(doc["optimum"]) == {
        "paid_cny",
        "unserved_mtok",
        "unserved_cny",
        "unserved_by_route_mtok",
        "burned_tokens_m",
        "burned_money_cny",
        "seconds",
        "status",
        "debit_order",
    }
    assert doc["optimum"]["status"] == "optimal" and doc["optimum"]["debit_order"] is True
    cb = doc["strategies"]["credit-burn"]
    assert set(cb) == {
        "paid_cny",
        "paid_ratio",
        "cost_ratio",
        "burn_tokens_vs_opt",
        "burn_money_vs_opt",
        "wasted_mtok",
        "unserved_mtok",
        "unserved_cny",
        "unserved_by_route_mtok",
        "seconds",
        "replans",
        "replan_max_ms",
        "replan_warm_ms",
    }
    assert set(doc["targets"]) == {"paid_ratio<=1.02", "burn_tokens>=0.99", "burn_money>=0.99", "unserved<=opt+0.1%"}
    assert doc["target_met"] == all(doc["targets"].values())
    assert cb["burn_money_vs_opt"] == 1.0  # no money grant: the optimum burns none
