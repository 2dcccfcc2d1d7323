"""The values CLI and ``sim.plans_at``: each grant's and capacity's value at chosen hours, per strategy."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from balancer.credit.ledger import MemoryLedger, books_from_config
from balancer.credit.planner import make_plan
from balancer.credit.schedule import Warm
from balancer.sim import plans_at
from bench import credit_values, scenario

SMALL = """
name: small
start: 2026-11-01
days: 3
seed: 5
providers:
  tiangong:
    tpm: 1500
    prices: {tiangong-2: [3.0, 3.0]}
    grants:
      - {name: pack, tokens: 1000000, models: [tiangong-2], expires: 1}
  qwen:
    tpm: 1000
    prices: {qwen-plus: [0.9, 0.9]}
  deepseek:
    prices: {deepseek-chat: [2.0, 3.0]}
routes:
  chat:
    tokens_per_hour: 50000
    noise: 0.1
    candidates: [[qwen, qwen-plus], [tiangong, tiangong-2], [deepseek, deepseek-chat]]
  code:
    tokens_per_hour: 30000
    noise: 0.2
    candidates: [[tiangong, tiangong-2], [deepseek, deepseek-chat]]
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_the_first_hours_plan_is_the_planners_own_on_an_empty_ledger(small: Path) -> None:
    """At hour 0 nothing has been served: the plan is the one make_plan gives from an empty ledger at the start."""
    s = scenario.load(small)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    got = asyncio.run(plans_at(cfg, trace, "credit-burn", [0]))[0]
    books = books_from_config(cfg)
    snap = asyncio.run(MemoryLedger(books).snapshot(trace.start))
    assert repr(got) == repr(make_plan(cfg, books, snap, trace.start, warm=Warm()))


def test_asking_for_more_hours_changes_no_plan(small: Path) -> None:
    """The plans are made beside the run and leave it as it was: hour 30's plan is the same asked alone or after
    hour 10's."""
    s = scenario.load(small)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    alone = asyncio.run(plans_at(cfg, trace, "credit-burn", [30]))
    both = asyncio.run(plans_at(cfg, trace, "credit-burn", [10, 30]))
    assert set(both) == {10, 30} and repr(both[30]) == repr(alone[30])


def test_the_cli_gives_every_grant_and_capacity_per_strategy_and_hour(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hours given out of order and twice are planned once each, in order; each names the pack (while it lasts:
    usable through day 1, so hour 50 has no row for it) and the two capacity-limited providers, for every
    strategy; the values are ¥ per Mtok, none below 0, and where the future is known the pack is worth what
    DeepSeek costs `code` (¥2/M in, ¥3/M out; paid tiangong-2 is dearer): it runs short, 1M against ~1.4M of
    `code` alone in its two days."""
    argv = ["--scenario", str(small), "--hours", "20,5,20,50", "--strategies", "credit-burn,credit-burn+foresight"]
    assert credit_values.main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    doc = json.loads(out[-1])
    assert list(doc["values"]) == ["5", "20", "50"] and out[0].startswith("hour 5 ")
    for hour, table in doc["values"].items():
        pack = {"grant tiangong/pack"} if int(hour) < 48 else set()
        assert set(table) == {"capacity qwen", "capacity tiangong", *pack}, hour
        for row in table.values():
            assert set(row) == {"credit-burn", "credit-burn+foresight"} and min(row.values()) >= 0
    assert 2.0 <= doc["values"]["5"]["grant tiangong/pack"]["credit-burn+foresight"] <= 3.0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--hours", "5,x"], "--hours must be whole hours"),
        (["--hours", "72"], "each under 72"),
        (["--strategies", "credit-burn,round-robin"], "round-robin makes no plan"),
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], says: str, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hours that are not whole hours inside the trace, or a strategy that makes no plan, stop with a usage error
    that names them, before any simulation runs."""
    with pytest.raises(SystemExit) as stop:
        credit_values.main(["--scenario", str(small), *argv])
    assert stop.value.code == 2
    assert says in capsys.readouterr().err
