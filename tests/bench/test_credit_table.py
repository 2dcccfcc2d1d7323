"""bench/credit_table: parses the simulator's last JSON line, tabulates it, and fails on a missed target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import credit_table

FIXTURE: dict[str, Any] = {
    "bench": "credit_sim",
    "scenario": "bursty (seed 11)",
    "seed": 11,
    "demand_mtok": 1728.4,
    "optimum": {
        "paid_cny": 4100.5,
        "unserved_mtok": 0.25,
        "unserved_cny": 3.1,
        "burned_tokens_m": 300.0,
        "burned_money_cny": 0.0,
        "seconds": 0.8,
    },
    "strategies": {
        "cheapest": {
            "paid_cny": 4500.0,
            "paid_ratio": 1.0974,
            "cost_ratio": 1.1,
            "burn_tokens_vs_opt": 0.91,
            "burn_money_vs_opt": 1.0,
            "wasted_mtok": 27.0,
            "unserved_mtok": 0.3,
            "unserved_cny": 3.5,
            "seconds": 20.0,
            "replans": 720,
            "replan_max_ms": None,
            "replan_warm_ms": None,
        },
        "credit-burn": {
            "paid_cny": 4150.0,
            "paid_ratio": 1.0121,
            "cost_ratio": 1.012,
            "burn_tokens_vs_opt": 0.9987,
            "burn_money_vs_opt": 1.0,
            "wasted_mtok": 0.4,
            "unserved_mtok": 0.31,
            "unserved_cny": 3.6,
            "seconds": 61.2,
            "replans": 2880,
            "replan_max_ms": 180.4,
            "replan_warm_ms": 14.26,
        },
    },
    "target_met": True,
    "targets": {"paid_within_2pct": True, "burn_99pct": True},
}


def test_parse_line_reads_the_last_json_line() -> None:
    """The table before the JSON line is skipped; the report comes back as a dict."""
    out = "scenario bursty: ...\nstrategy paid\n" + json.dumps(FIXTURE) + "\n\n"
    assert credit_table.parse_line(out) == FIXTURE


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("", "no output"),
        ("table\nnot json\n", "not JSON"),
        ('{"bench": "other"}', "not a credit_sim report"),
        ('{"bench": "credit_sim", "strategies": {}}', "without 'optimum'"),
    ],
)
def test_parse_line_says_what_is_wrong(stdout: str, message: str) -> None:
    """No output, a non-JSON last line, another bench's line, a report missing a key: ValueError saying so."""
    with pytest.raises(ValueError, match=message):
        credit_table.parse_line(stdout)


def test_table_row_shows_credit_burn_against_the_optimum() -> None:
    """A row: scenario (without the seed suffix), seed, credit-burn's paid ratio, token and ¥ burn vs optimum,
    unserved (optimum's in brackets), paid + unserved ¥ over the optimum's, cheapest's paid ratio, re-plan median /
    max ms, target met."""
    run = credit_table.Run("bench/scenarios/bursty.yaml", 11, doc=FIXTURE)
    text = credit_table.table([run], ["cheapest", "credit-burn"])
    header, rule, row = text.splitlines()
    assert "cheapest paid ÷ opt" in header and rule.count("|") == header.count("|")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == [
        "bursty",
        "11",
        "1.0121",
        "0.9987",
        "1.0000",
        "0.31 (0.25)",
        "1.0120",
        "1.0974",
        "14.3 / 180",
        "met",
    ]


# A stand-in for bench/credit_sim.py, run for real by credit_table as `python -m bench.credit_sim` from a
# directory of its own: it logs its argv, fails on seed 23 and reports seed 7 as met, any other seed as missed.
STAND_IN = """
import json, sys
argv = sys.argv[1:]
seed = int(argv[argv.index("--seed") + 1])
with open("calls.log", "a") as f:
    f.write(json.dumps(argv) + "\\n")
if seed == 23:
    sys.exit("Traceback...\\nKeyError: 'x'")
doc = json.loads(open("report.json").read())
if seed != 7:
    doc |= {"target_met": False, "targets": {"paid_within_2pct": False, "burn_99pct": True}}
print("table")
print(json.dumps(doc | {"seed": seed}))
"""


def test_missed_targets_and_errors_fail_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main runs every scenario × seed as a subprocess; a missed target (named in its row) or a failed run makes
    the exit status 1 and shows in the summary; --no-fail prints the same and exits 0. Each run's row goes to
    stderr as it ends."""
    (tmp_path / "bench" / "scenarios").mkdir(parents=True)
    (tmp_path / "bench" / "__init__.py").write_text("")
    (tmp_path / "bench" / "credit_sim.py").write_text(STAND_IN)
    (tmp_path / "bench" / "scenarios" / "six.yaml").write_text("name: six\n")
    (tmp_path / "report.json").write_text(json.dumps(FIXTURE))
    monkeypatch.chdir(tmp_path)  # `python -m` finds bench.credit_sim in the working directory first
    assert credit_table.main(["--scenarios", "bench/scenarios/six.yaml", "--seeds", "7,11,23", "--jobs", "2"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    rows = [line for line in captured.err.splitlines() if line.startswith("  |")]  # the two that ran, not the error
    assert len(rows) == 2 and rows[0].startswith("  | bursty | 7 | 1.0121 |") and "| 11 |" in rows[1]
    calls = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert sorted(c[c.index("--seed") + 1] for c in calls) == ["11", "23", "7"]
    assert all(c[c.index("--strategies") + 1] == "cheapest,credit-burn" for c in calls)
    assert "missed (paid_within_2pct)" in out and "error: exit 1: KeyError: 'x'" in out
    assert "3 runs: targets met in 1, missed in 2" in out.splitlines()[-1]
    assert credit_table.main(["--scenarios", "bench/scenarios/six.yaml", "--seeds", "7,11", "--no-fail"]) == 0


def test_default_scenarios_include_heldout() -> None:
    """By default every scenario in bench/scenarios and bench/scenarios/heldout runs."""
    files = credit_table.scenario_files(credit_table.DEFAULT_SCENARIOS)
    assert "bench/scenarios/default.yaml" in files and any("/heldout/" in f for f in files)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "x,1"], "--seeds: expected whole numbers >= 0"),
        (["--seeds", ","], "--seeds: expected whole numbers >= 0"),
        (["--seeds", "-1"], "--seeds: expected whole numbers >= 0"),
        (["--seeds", "9" * 30], "--seeds: expected whole numbers >= 0"),
        (["--jobs", "0"], "--jobs: expected a whole number from 1 to 64"),
        (["--jobs", "-3"], "--jobs: expected a whole number from 1 to 64"),
        (["--strategies", "credit-burn,best"], "--strategies: unknown best"),
    ],
)
def test_bad_arguments_exit_2_before_any_run(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A seed that is not a whole number >= 0 (or none at all), a job count outside 1-64 (0 would wait
    forever), an unknown strategy: one usage error and exit 2, before a single scenario is simulated."""
    with pytest.raises(SystemExit) as exit_:
        credit_table.main([*args, "--scenarios", "bench/scenarios/default.yaml"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "credit_table:" not in err
