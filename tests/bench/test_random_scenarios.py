"""The random scenario writer: files the bench loads, the same file for the same index, never an overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest

from balancer.credit.bound import solve
from bench import random_scenarios, scenario


def test_each_index_writes_a_scenario_the_bench_loads_and_the_optimum_solves(tmp_path: Path) -> None:
    """Three scenarios load, build a config and a trace whose optimum HiGHS solves; every route ends with the
    unlimited paid DeepSeek, so nothing is left unserved."""
    assert random_scenarios.main(["--out", str(tmp_path), "--first", "3", "--count", "3"]) == 0
    files = sorted(tmp_path.glob("*.yaml"))
    assert [f.name for f in files] == ["random3.yaml", "random4.yaml", "random5.yaml"]
    for f in files:
        s = scenario.load(f)
        cfg, trace = scenario.to_config(s), scenario.trace(s)
        assert all(r.candidates[-1].provider == "deepseek" for r in cfg.routes.values())
        opt = solve(cfg, trace)
        assert opt.status == "optimal" and opt.unserved_tokens == pytest.approx(0.0, abs=1.0)


def test_an_index_always_writes_the_same_file(tmp_path: Path) -> None:
    """Index 7 written twice (two directories) is the same text; index 8 differs from it."""
    for d in ("a", "b"):
        assert random_scenarios.main(["--out", str(tmp_path / d), "--first", "7", "--count", "2"]) == 0
    a7, b7 = ((tmp_path / d / "random7.yaml").read_text(encoding="utf-8") for d in ("a", "b"))
    assert a7 == b7 and a7 != (tmp_path / "a" / "random8.yaml").read_text(encoding="utf-8")


def test_an_existing_file_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When one of the files exists the writer stops with a usage error before writing any of them."""
    (tmp_path / "random1.yaml").write_text("mine", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        random_scenarios.main(["--out", str(tmp_path), "--first", "0", "--count", "3"])
    assert stop.value.code == 2 and "never overwritten" in capsys.readouterr().err
    assert (tmp_path / "random1.yaml").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "random0.yaml").exists()


@pytest.mark.parametrize("args", [["--count", "0"], ["--first", "-1"], ["--count", "x"]])
def test_bad_counts_are_refused(tmp_path: Path, args: list[str]) -> None:
    """A count outside 1..10000, a negative first index or a non-number stop with a usage error (exit 2)."""
    with pytest.raises(SystemExit) as stop:
        random_scenarios.main(["--out", str(tmp_path), *args])
    assert stop.value.code == 2
