"""bench/forecast_error.py: the forecast against the scenario generator's expectation, per day, over seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import forecast_error

ROOT = Path(__file__).resolve().parents[2]
WEEK = [1.1, 1.15, 1.1, 1.05, 1.0, 0.75, 0.7]  # Monday first


def write(tmp_path: Path, name: str, **route: Any) -> str:
    r = {"tokens_per_hour": 100_000, "diurnal": 0.3, "noise": 0.0, "weekly": WEEK, "candidates": [["ds", "chat"]]}
    doc = {
        "name": name,
        "start": "2026-11-01",  # a Sunday
        "days": 28,
        "seed": 3,
        "providers": {"ds": {"prices": {"chat": [2.0, 8.0]}}},
        "routes": {"r": r | route},
    }
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(p)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = forecast_error.main(list(argv))
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    return code, json.loads(lines[-1]) if code == 0 else {}, out.err


def test_calm_traffic_is_forecast_nearly_exactly_once_its_week_is_learned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Traffic with a daily cycle and weekdays but no noise: on day 1 (a Sunday's history) the level reads the
    Sunday, low by the log of the week's mean over 0.7, and the week is flat (its error the true week's spread);
    by day 21 the level, week and hours are each within 3% (the week shrinks a little toward flat). Noisy,
    bursty traffic of the same shape is further off on day 21 in every figure."""
    code, doc, _ = run(capsys, "--scenarios", write(tmp_path, "calm"), "--seeds", "1-3", "--days", "1,21")
    assert code == 0 and doc["bench"] == "forecast_error" and doc["seeds"] == [1, 2, 3]
    day1, day21 = doc["rows"]
    assert day1["day"] == 1 and day1["n"] == 3
    assert day1["level"] == pytest.approx(math.log(sum(WEEK) / 7 / 0.7), abs=0.03)
    assert day1["week"] > 0.15
    assert day21["level"] < 0.03 and day21["week"] < 0.03 and day21["hours"] < 0.03
    bursty = write(tmp_path, "bursty", noise=0.25, ar=0.8, bursts={"per_week": 2, "hours": [2, 8], "factor": [1.5, 3]})
    _, noisy, _ = run(capsys, "--scenarios", bursty, "--seeds", "1-3", "--days", "21")
    assert all(noisy["rows"][0][k] > day21[k] for k in forecast_error.FIGURES)


def test_a_trend_is_not_read_as_a_weekday_pattern(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Calm traffic growing 3% a day: the expectation's week is read from each day against the 7 around it, so the
    growth does not lean on the weekdays that come last (plain weekday means read the fitted week 0.047 off on
    day 21, against 0.018 without the trend); the level's error is the growth still to come."""
    _, doc, _ = run(capsys, "--scenarios", write(tmp_path, "trend", trend=0.03), "--seeds", "1", "--days", "21")
    assert doc["rows"][0]["week"] < 0.03 and doc["rows"][0]["level"] > 0.2


def test_traffic_that_stops_gives_figures_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A route whose traffic steps to nothing on day 9: the forecast of 0 against an expectation of 0, or a rate
    against none, counts each side as at least a token an hour, so every figure is finite (the forecast made on
    day 12 is ~log(100k) off over the hours it still expects traffic in)."""
    code, doc, _ = run(
        capsys, "--scenarios", write(tmp_path, "stops", steps=[[9, 0.0]]), "--seeds", "1", "--days", "12"
    )
    row = doc["rows"][0]
    assert code == 0 and all(math.isfinite(row[k]) for k in forecast_error.FIGURES)
    assert 5 < row["level"] < math.log(2e5)


def test_a_series_route_is_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/scenarios/series.yaml replays a file for one route: it has no generator, so only the generated
    routes are measured (one forecast per generated route and seed)."""
    from bench import scenario

    path = str(ROOT / "bench/scenarios/series.yaml")
    generated = [r for r, spec in scenario.load(path).routes.items() if spec.series is None]
    code, doc, _ = run(capsys, "--scenarios", path, "--seeds", "1,2", "--days", "10")
    assert code == 0 and doc["rows"][0]["n"] == 2 * len(generated) < 2 * len(scenario.load(path).routes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "x"], "'x' is not a whole number or a range a-b"),
        (["--days", "3-"], "'3-' is not a whole number or a range a-b"),
        (["--days", "²"], "'²' is not a whole number"),
    ],
)
def test_bad_seeds_or_days_are_a_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A seed or day list that is not whole numbers or ranges exits 2 naming the flag and the part, never a
    traceback."""
    with pytest.raises(SystemExit) as e:
        forecast_error.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_missing_scenario_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario file that is not there is ``error: ...`` naming it on stderr and exit 2."""
    code, _, err = run(capsys, "--scenarios", str(tmp_path / "nope.yaml"), "--seeds", "1")
    assert code == 2 and err.startswith("error: ") and "nope.yaml" in err
