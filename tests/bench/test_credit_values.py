"""The values CLI and ``sim.plans_at``: each grant's and capacity's value at chosen hours, per strategy."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from balancer.credit.ledger import MemoryLedger, books_from_config
from balancer.credit.planner import make_plan
from balancer.credit.schedule import Warm
from balancer.sim import plans_at
from bench import credit_values, scenario
from tests.bench.test_credit_routes import SHARED


def small_scenario() -> dict[str, Any]:
    """test_credit_routes' two routes over three days, the Tiangong pack 1M and usable through day 1, paid
    tiangong-2 dearer than DeepSeek."""
    raw: dict[str, Any] = yaml.safe_load(SHARED)
    raw.update(name="small", days=3)
    tiangong = raw["providers"]["tiangong"]
    tiangong["prices"] = {"tiangong-2": [3.0, 3.0]}
    tiangong["grants"] = [{"name": "pack", "tokens": 1_000_000, "models": ["tiangong-2"], "expires": 1}]
    return raw


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario()), encoding="utf-8")
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
