"""The twins CLI: a scenario against twins that ask the same until a day and differ after it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import credit_twins, scenario

GROWS = """
name: grows
start: 2026-11-01
days: 4
seed: 5
providers:
  tiangong:
    tpm: 1000
    prices: {tiangong-2: [1.0, 1.0]}
    grants:
      - {name: pack, tokens: 3000000, models: [tiangong-2], expires: 3}
  qwen:
    tpm: 1000
    prices: {qwen-plus: [0.9, 0.9]}
  deepseek:
    prices: {deepseek-chat: [2.0, 3.0]}
routes:
  chat:
    tokens_per_hour: 50000
    noise: 0.1
    steps: [[2, 2.4]]
    candidates: [[qwen, qwen-plus], [tiangong, tiangong-2], [deepseek, deepseek-chat]]
"""


def test_the_cli_prints_each_twin_and_the_best_shared_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A route that grows 2.4x on day 2 with a grant that a planner could spend on days 0-1 (saving qwen's 0.9)
    or keep for the peak (saving DeepSeek's 2.2): against a twin that stays flat (factor 1/2.4) keeping the
    grant costs nothing, so the shared best is the optimum (1.0); against one that falls to a tenth after
    day 2, a grant kept is partly wasted and the best shared schedule is dearer than either optimum (> 1)."""
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    s = scenario.load(path)
    trace = scenario.trace(s)
    other = credit_twins.twin(trace, 48, 0.5)
    assert np.array_equal(other.demand["chat"][:48], trace.demand["chat"][:48])
    assert np.allclose(other.demand["chat"][48:], 0.5 * trace.demand["chat"][48:])
    assert credit_twins.main(["--scenario", str(path), "--day", "2", "--factors", f"{1 / 2.4},0.1"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    flat, falls = doc["twins"]
    assert flat["ratio"] == pytest.approx(1.0, abs=1e-4)
    assert falls["ratio"] > 1.01


@pytest.mark.parametrize("factors", ["a,1", "0.5,-1", "nan", ""])
def test_bad_factors_are_refused_with_a_message(factors: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Factors that are not numbers >= 0 stop the CLI with argparse's usage error (exit 2) naming them, no traceback."""
    with pytest.raises(SystemExit) as stop:
        credit_twins.main(["--day", "2", "--factors", factors])
    assert stop.value.code == 2
    assert "--factors" in capsys.readouterr().err


def test_a_day_outside_the_scenario_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--day must leave hours on both sides inside the scenario: day 0 and day 4 of a 4-day scenario are refused."""
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    for day in ("0", "4", "nan", "-1"):
        with pytest.raises(SystemExit) as stop:
            credit_twins.main(["--scenario", str(path), "--day", day])
        assert stop.value.code == 2
        assert "--day must fall inside" in capsys.readouterr().err


def test_a_family_shares_one_schedule_with_twins_that_part_on_different_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--base undoes the growth (the month stays flat) and --family adds twins that grow 2.4x from day 1 or day 2:
    the grant is worth keeping for either peak and costs the flat month nothing kept, so the family reaches its
    optima (1.0); a twin that falls to a tenth from day 1 joins it, and the best shared schedule pays more than the
    optimum on the worst of them (> 1.01), the same t the CLI prints last."""
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    base = ["--scenario", str(path), "--base", f"2:{1 / 2.4}"]
    assert credit_twins.main([*base, "--family", "1:2.4,2:2.4"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["day"], r["factor"]) for r in doc["family"]] == [(None, 1.0), (1.0, 2.4), (2.0, 2.4)]
    assert doc["ratio"] == pytest.approx(1.0, abs=1e-4)
    assert credit_twins.main([*base, "--family", "1:2.4,2:2.4,1:0.1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    doc = json.loads(out[-1])
    assert doc["ratio"] > 1.01 and max(r["ratio"] for r in doc["family"]) == pytest.approx(doc["ratio"], abs=2e-4)
    assert out[-2] == f"worst of the family: {doc['ratio']:.4f}"


@pytest.mark.parametrize("family", ["2", "a:1", "2:-1", "1:2,x", "nan:2"])
def test_bad_family_steps_are_refused_with_a_message(family: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A --family that is not DAY:FACTOR pairs (a finite day, a factor >= 0) stops the CLI with a usage error."""
    with pytest.raises(SystemExit) as stop:
        credit_twins.main(["--family", family])
    assert stop.value.code == 2
    assert "DAY:FACTOR" in capsys.readouterr().err


def test_a_family_day_outside_the_scenario_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every family member and the base must part inside the scenario; --day and --family are one or the other."""
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    for args, msg in (
        (["--family", "1:2,4:2"], "--family's days must fall inside"),
        (["--family", "1:2", "--base", "9:1"], "--base's day must fall inside"),
        (["--family", "1:2", "--day", "1"], "not allowed with"),
    ):
        with pytest.raises(SystemExit) as stop:
            credit_twins.main(["--scenario", str(path), *args])
        assert stop.value.code == 2
        assert msg in capsys.readouterr().err


def test_noise_twins_follow_another_seed_from_their_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --noise twin is the month until its day and the scenario drawn with its seed from then on (the same
    shape, other noise); the rows name each twin's seed, and the shared schedule's t is the worst row's. With a
    twin that grows and one that falls to a tenth from day 1 in the same family (the month flat: --base undoes
    its growth), t is above 1.01, as in the family test."""
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    month, other = (scenario.trace(scenario.for_cli(path, sd)) for sd in (None, 9))
    mixed = credit_twins.noise_twin(month, other, 30)
    assert np.array_equal(mixed.demand["chat"][:30], month.demand["chat"][:30])
    assert np.array_equal(mixed.demand["chat"][30:], other.demand["chat"][30:])
    assert not np.array_equal(other.demand["chat"][30:], month.demand["chat"][30:])
    base = ["--scenario", str(path), "--base", f"2:{1 / 2.4}"]
    assert credit_twins.main([*base, "--noise", "1:9,2:10", "--family", "1:2.4,1:0.1"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["day"], r["factor"], r.get("seed")) for r in doc["family"]] == [
        (None, 1.0, None),
        (1.0, 2.4, None),
        (1.0, 0.1, None),
        (1.0, 1.0, 9),
        (2.0, 1.0, 10),
    ]
    month, *_, noisy = doc["family"]
    assert noisy["optimum_cny"] != month["optimum_cny"]
    assert doc["ratio"] > 1.01 and max(r["ratio"] for r in doc["family"]) == pytest.approx(doc["ratio"], abs=2e-4)


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--noise", "1"], "DAY:SEED"),
        (["--noise", "1:x"], "DAY:SEED"),
        (["--noise", "nan:3"], "DAY:SEED"),
        (["--noise", "1:3", "--day", "1"], "not allowed with"),
        (["--noise", "9:3"], "--noise's days must fall inside"),
        ([], "is required"),
    ],
)
def test_bad_noise_twins_are_refused_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], msg: str
) -> None:
    """--noise takes DAY:SEED pairs inside the scenario, never with --day; one of --day, --family, --noise is
    needed. Each mistake is argparse's usage error (exit 2) with a message, no traceback."""
    path = tmp_path / "grows.yaml"
    path.write_text(GROWS, encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        credit_twins.main(["--scenario", str(path), *args])
    assert stop.value.code == 2
    assert msg in capsys.readouterr().err
