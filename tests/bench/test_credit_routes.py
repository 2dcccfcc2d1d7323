"""The routes CLI: each route's tokens per candidate, credit-burn against the planner told the future."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import credit_routes, scenario

SHARED = """
name: shared
start: 2026-11-01
days: 4
seed: 5
providers:
  tiangong:
    tpm: 1500
    prices: {tiangong-2: [1.0, 1.0]}
    grants:
      - {name: pack, tokens: 4000000, models: [tiangong-2], expires: 3}
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


@pytest.mark.timeout(240)  # two strategies over four simulated days: ~20 s beside other work
def test_each_routes_rows_add_up_to_what_it_was_served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two routes sharing a pack's provider: for each strategy, a route's rows add up to its demand less its
    unserved tokens, and each row's windows (2 days each) to its total; both routes show on the shared provider."""
    path = tmp_path / "shared.yaml"
    path.write_text(SHARED, encoding="utf-8")
    trace = scenario.trace(scenario.load(path))
    assert credit_routes.main(["--scenario", str(path), "--days", "2"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for route, demand in trace.demand.items():
        mine = [r for r in doc["rows"] if r["route"] == route]
        for field, unserved in (
            ("sim_mtok", "unserved_by_route_mtok"),
            ("foresight_mtok", "foresight_unserved_by_route_mtok"),
        ):
            served = sum(r[field] for r in mine) + doc[unserved].get(route, 0.0)
            assert served == pytest.approx(demand.sum() / 1e6, abs=0.01), (route, field)
        for r in mine:
            assert len(r["windows"]) == 2
            assert sum(a for a, _ in r["windows"]) == pytest.approx(r["sim_mtok"], abs=0.002)
            assert sum(b for _, b in r["windows"]) == pytest.approx(r["foresight_mtok"], abs=0.002)
    shared = {r["route"] for r in doc["rows"] if r["candidate"] == "tiangong/tiangong-2" and r["sim_mtok"] > 0}
    assert shared == {"chat", "code"}


@pytest.mark.timeout(240)  # two strategies over four simulated days: ~20 s beside other work
def test_hours_count_only_their_span_one_window_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--hours 30:36: each route's rows add up to its demand in those six hours (the scenario leaves nothing
    unserved), each row has one window per hour summing to its total and served something then, and the JSON
    names the span."""
    path = tmp_path / "shared.yaml"
    path.write_text(SHARED, encoding="utf-8")
    trace = scenario.trace(scenario.load(path))
    assert credit_routes.main(["--scenario", str(path), "--hours", "30:36"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    doc = json.loads(out[-1])
    assert doc["hours"] == [30, 36] and doc["days_per_window"] is None and "per hour" in out[1]
    assert not any(doc["unserved_by_route_mtok"].values()) and not any(doc["foresight_unserved_by_route_mtok"].values())
    for route, demand in trace.demand.items():
        mine = [r for r in doc["rows"] if r["route"] == route]
        for field in ("sim_mtok", "foresight_mtok"):
            assert sum(r[field] for r in mine) == pytest.approx(demand[30:36].sum() / 1e6, abs=0.005), (route, field)
        for r in mine:
            assert len(r["windows"]) == 6 and (r["sim_mtok"] > 0 or r["foresight_mtok"] > 0)
            assert sum(a for a, _ in r["windows"]) == pytest.approx(r["sim_mtok"], abs=0.002)


def test_a_span_leaves_out_candidates_neither_strategy_used_in_it() -> None:
    """Over hours 2-4 a candidate served only in hour 0 has no row; over the whole trace it has one, and a span's
    windows are its hours."""
    sim = {("r", "p/a"): [0.0, 0.0, 5e6, 0.0]}
    known = {("r", "p/a"): [0.0] * 4, ("r", "p/b"): [1e6, 0.0, 0.0, 0.0]}
    span = credit_routes.rows(sim, known, 1, (2, 4))
    assert [(r.candidate, r.sim_mtok, r.windows) for r in span] == [("p/a", 5.0, [(5.0, 0.0), (0.0, 0.0)])]
    assert {r.candidate for r in credit_routes.rows(sim, known, 24)} == {"p/a", "p/b"}


def test_days_and_hours_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--days and --hours ask for two kinds of window: given both, a usage error before any simulation runs."""
    with pytest.raises(SystemExit) as stop:
        credit_routes.main(["--days", "2", "--hours", "0:24"])
    assert stop.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("hours", ["30", "36:30", "5:5", "a:b", "-1:4", "0:97", "1:2:3", "²:3"])
def test_hours_that_are_no_span_of_the_trace_are_refused(
    hours: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--hours that is not A:B with A < B inside the trace (96 hours here) is a usage error naming what was given,
    before any simulation runs."""
    path = tmp_path / "shared.yaml"
    path.write_text(SHARED, encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        credit_routes.main(["--scenario", str(path), f"--hours={hours}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--hours must be A:B" in err and repr(hours) in err


def test_a_window_under_a_day_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--days 0 is a usage error, before any simulation runs."""
    with pytest.raises(SystemExit) as stop:
        credit_routes.main(["--days", "0"])
    assert stop.value.code == 2
    assert "--days must be at least 1" in capsys.readouterr().err
