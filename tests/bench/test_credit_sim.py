"""The credit simulation on a small scenario: it drives the real strategies and its LP bound is a bound."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench import credit_sim, optimum, scenario

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
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, credit_sim.Result]:
    path: Path = tmp_path_factory.mktemp("sim") / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    s = scenario.load(path)
    t = scenario.trace(s)
    return {n: asyncio.run(credit_sim.simulate(s, t, n)) for n in credit_sim.STRATEGIES} | {
        "_opt": credit_sim.Result("optimum", paid_cny=optimum.solve(s, t).paid_cny)
    }


def test_optimum_is_a_lower_bound_and_credit_burn_comes_close(run: dict[str, credit_sim.Result]) -> None:
    """No strategy pays less than the LP bound; credit-burn spends the grant and lands within 2% of the bound
    (here cheapest-first is already optimal: the grant covers the cheapest model), far below the rest."""
    opt = run["_opt"].paid_cny
    paid = {n: r.paid_cny for n, r in run.items() if n != "_opt"}
    assert all(v >= opt * (1 - 1e-6) for v in paid.values())
    assert paid["credit-burn"] <= 1.02 * opt and paid["credit-burn"] < min(paid["round-robin"], paid["priority"])
    assert run["credit-burn"].burned["glm/air"] >= 0.99 * 3_000_000
    assert all(r.unserved == 0 for r in run.values())


def test_main_prints_a_json_line_with_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI prints the table and a final JSON line naming the scenario, the bound and each strategy."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    assert credit_sim.main(["--scenario", str(path), "--strategies", "cheapest,credit-burn", "--seed", "5"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["bench"] == "credit_sim" and doc["scenario"] == "small (seed 5)"
    assert set(doc["strategies"]) == {"cheapest", "credit-burn"} and isinstance(doc["target_met"], bool)
