"""``balancer plan --replay``: every strategy and the offline optimum on the demand of the gateway's own logs."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from balancer import cli, sim
from balancer.config import Config
from balancer.credit.trace import Trace
from tests.balancer.credit.test_replay import T0, _served_log, done_line, write
from tests.conftest import EmulatorHandle, base_config

STRATEGIES = ("round-robin", "priority", "cheapest-list", "cheapest", "credit-burn")  # sim.STRATEGIES


@dataclass
class FakeOptimum:
    """bound.Optimum's fields."""

    paid_cny: float
    unserved_tokens: float = 0.0
    unserved_cny: float = 0.0
    burned: dict[str, float] = field(default_factory=dict)
    status: str = "optimal"
    unserved_by_route: dict[str, float] = field(default_factory=dict)
    debit_order: bool = True


@dataclass
class FakeResult:
    """sim.SimResult's fields."""

    strategy: str
    paid_cny: float
    unserved_tokens: float = 0.0
    unserved_cny: float = 0.0
    burned: dict[str, float] = field(default_factory=dict)
    wasted: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.01
    replans: int = 1
    replan_ms: float = 1.0
    unserved_by_route: dict[str, float] = field(default_factory=lambda: {"chat": 60.0, "solo": 40.0})


@pytest.fixture
def fake_sim(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Trace, int]]:
    """Replace the simulation and the bound by fakes with known numbers; the calls are recorded."""
    calls: list[tuple[str, Trace, int]] = []

    async def simulate(cfg: Config, trace: Trace, strategy: str, *, requests_per_hour: int = 40) -> FakeResult:
        calls.append((strategy, trace, requests_per_hour))
        paid = 2.0 + len(strategy) / 10
        return FakeResult(strategy, paid, 100, 0.5, {"ds-a/pack": 30_000}, {"ds-a/pack": 20_000})

    def solve(cfg: Config, trace: Trace) -> FakeOptimum:
        return FakeOptimum(2.0, 0, 0.0, {"ds-a/pack": 50_000})

    monkeypatch.setattr(cli, "_simulator", lambda: (simulate, solve, STRATEGIES))
    return calls


def config_file(tmp_path: Path) -> Path:
    raw: dict[str, Any] = base_config("http://127.0.0.1:9")
    raw["providers"]["ds-a"]["account"] = {"grants": [{"name": "pack", "tokens": 50_000, "models": ["deepseek-chat"]}]}
    raw["providers"]["qwen"]["account"] = {"grants": [{"name": "old", "amount": 5.0, "expires": "2020-01-31"}]}
    path = tmp_path / "qiao.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def logs(tmp_path: Path) -> list[Path]:
    plain = write(tmp_path / "a.log", ["not json", done_line("chat", 900, 100, T0 + 10), done_line("gone", 5, 5, T0)])
    gz = write(tmp_path / "b.log.gz", [done_line("solo", 300, 200, T0 + 3700)], gz=True)
    return [gz, plain]


def test_tables_name_every_strategy_and_the_optimum(
    tmp_path: Path, fake_sim: list[tuple[str, Trace, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The text output shows the span (hours, requests, tokens per route), the grants (one flagged as outside
    the replayed hours), a row per strategy with cost over the optimum's, and the optimum's row; the unserved tokens
    by route for a strategy that left some (none for the optimum, which left none)."""
    code = cli.main(["plan", "--config", str(config_file(tmp_path)), "--replay", *map(str, logs(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "replayed 2026-03-01T10:00Z .. 2026-03-01T11:00Z (2 hour(s)): 2 served request(s), 1,500 tokens" in out
    assert "chat: 1 request(s), 1,000 tokens (90% input)" in out
    assert "skipped: route 'gone'" in out and "'gone'" in err
    assert "qwen/old: ¥5.00, - .. 2020-01-31  (window does not overlap the replayed hours" in out
    assert "ds-a/pack: 50,000 tokens" in out
    assert [c[0] for c in fake_sim] == list(STRATEGIES)
    for name in STRATEGIES:
        row = next(line for line in out.splitlines() if line.startswith(f"{name} "))
        paid = 2.0 + len(name) / 10
        cost = paid + 0.5
        assert row.split()[1:] == [f"{paid:.4f}", "100", "0.5000", f"{cost:.4f}", f"{cost / 2:.3f}", f"+{cost - 2:.4f}"]
    optimum = next(line for line in out.splitlines() if line.startswith("optimum ")).split()[1:]
    assert optimum == ["2.0000", "0", "0.0000", "2.0000", "1.000", "+0.0000"]
    assert "credit-burn: burned: ds-a/pack 30,000 tokens; wasted at expiry: ds-a/pack 20,000 tokens" in out
    assert "credit-burn: unserved tokens by route: chat 60, solo 40" in out
    assert "optimum: unserved" not in out  # nothing unserved: no line
    assert "debit order" not in out  # the optimum kept it: nothing to say


def test_an_optimum_without_the_debit_order_is_called_a_looser_bound(
    tmp_path: Path,
    fake_sim: list[tuple[str, Trace, int]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the bound's MIP ran out of time the optimum is the LP alone: the text says the vendor's debit order
    was not kept, and the JSON document carries ``debit_order: false``."""
    simulate, _, names = cli._simulator()
    monkeypatch.setattr(
        cli, "_simulator", lambda: (simulate, lambda cfg, trace: FakeOptimum(2.0, debit_order=False), names)
    )
    args = ["plan", "--config", str(config_file(tmp_path)), "--replay", *map(str, logs(tmp_path))]
    assert cli.main(args) == 0
    assert (
        "optimum: the vendor's debit order not kept (its MIP ran out of time): a looser bound"
        in capsys.readouterr().out
    )
    assert cli.main([*args[:3], "--json", *args[3:]]) == 0
    assert json.loads(capsys.readouterr().out)["optimum"]["debit_order"] is False


def test_json_is_one_document_whose_numbers_add_up(
    tmp_path: Path, fake_sim: list[tuple[str, Trace, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one JSON document: route tokens sum to the total, cost = paid + unserved, the unserved by
    route as the simulation reported it, x_optimum is cost over the optimum's cost; --strategies and
    --requests-per-hour reach the simulation."""
    args = ["plan", "--config", str(config_file(tmp_path)), "--json", "--strategies", "cheapest,priority"]
    code = cli.main([*args, "--requests-per-hour", "7", "--replay", *map(str, logs(tmp_path))])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(c[0], c[2]) for c in fake_sim] == [("cheapest", 7), ("priority", 7)]
    span = doc["replay"]
    assert sum(r["tokens"] for r in span["routes"].values()) == span["tokens"] == 1500
    assert set(doc["strategies"]) == {"cheapest", "priority"}
    for r in doc["strategies"].values():
        assert r["cost_cny"] == pytest.approx(r["paid_cny"] + r["unserved_cny"])
        assert r["unserved_by_route"] == {"chat": 60, "solo": 40} and r["unserved_tokens"] == 100
        assert r["x_optimum"] == pytest.approx(r["cost_cny"] / doc["optimum"]["cost_cny"], abs=1e-3)
        assert r["burned"]["ds-a/pack"] + r["wasted"]["ds-a/pack"] == 50_000
    assert doc["optimum"]["status"] == "optimal"
    assert doc["optimum"]["wasted"] == {
        "ds-a/pack": 0,
        "qwen/old": 5.0,
    }  # size less burn, for grants expired by the end
    assert {g["grant"]: g["overlaps_replay"] for g in doc["grants"]} == {"ds-a/pack": True, "qwen/old": False}


def test_since_and_until_choose_the_hours_replayed(
    tmp_path: Path, fake_sim: list[tuple[str, Trace, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--since/--until (ISO 8601, UTC unless they say otherwise) pass only the hours between them to the simulation;
    the lines outside (of any route) are counted in the document and named in the text."""
    base = ["plan", "--config", str(config_file(tmp_path)), "--replay", *map(str, logs(tmp_path))]
    assert cli.main([*base, "--json", "--until", "2026-03-01T12:00+01:00"]) == 0  # 11:00Z: the 10:00Z hour only
    doc = json.loads(capsys.readouterr().out)
    assert (doc["replay"]["first_hour"], doc["replay"]["hours"]) == ("2026-03-01T10:00Z", 1)
    assert (doc["replay"]["tokens"], doc["replay"]["outside_window"]) == (1000, 1)
    assert {trace.hours for _, trace, _ in fake_sim} == {1}
    assert cli.main([*base, "--since", "2026-03-01T11:00"]) == 0
    out = capsys.readouterr().out
    assert "not counted: 2 served line(s) outside --since/--until" in out and "2026-03-01T11:00Z" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--replay", "EMPTY"], "error: --replay: no request_done line in"),
        (["--replay", "MISSING"], "MISSING: no such file"),
        (["--replay", "OK", "/dev/zero"], "/dev/zero: a character device, not a log file"),
        (["--replay", "GONE"], "only on routes not in the config: gone"),
        (["--replay", "OK", "DIR"], "DIR: a directory; name the log files in it"),
        (["--replay", "OK", "PLAIN.gz"], "PLAIN.gz: named .gz but not gzip"),
        (
            ["--replay", "OK", "BROKEN.gz"],
            "BROKEN.gz: corrupt or unreadable after line 0 (Error -3 while decompressing data: invalid block type)",
        ),
        (["--replay", "CUT.gz"], "warning: --replay: "),
        (["--replay", "OK", "--strategies", "fastest"], "error: --strategies: unknown fastest"),
        (["--replay", "OK", "--since", "last week"], "error: --since 'last week': expected an ISO 8601"),
        (["--replay", "OK", "--until", "2026-02-30"], "--until '2026-02-30': expected an ISO 8601"),
        (
            ["--replay", "OK", "--since", "2026-03-02"],
            "(0 undated: no timestamp in 2000-2099; 1 outside --since/--until)",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path,
    fake_sim: list[tuple[str, Trace, int]],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    """An empty log, a missing file, a character device (/dev/zero never ends), logs of unknown routes only, a
    directory, a file named .gz that is not gzip, corrupt gzip data, a gzip file cut before its first line, an
    unknown strategy, a --since/--until that is not ISO 8601, or a window that holds no served line: exit 2, a
    message (never a traceback)."""
    gz = gzip.compress((done_line("chat", 1, 1, T0) + "\n").encode())
    (tmp_path / "DIR").mkdir()
    files = {
        "EMPTY": write(tmp_path / "empty.log", []),
        "MISSING": tmp_path / "MISSING",
        "GONE": write(tmp_path / "gone.log", [done_line("gone", 1, 1, T0)]),
        "OK": write(tmp_path / "ok.log", [done_line("chat", 1, 1, T0)]),
        "DIR": tmp_path / "DIR",
        "PLAIN.gz": write(tmp_path / "PLAIN.gz", [done_line("chat", 1, 1, T0)]),
        "BROKEN.gz": tmp_path / "BROKEN.gz",
        "CUT.gz": tmp_path / "CUT.gz",
    }
    files["BROKEN.gz"].write_bytes(gz[:10] + b"\xff" + gz[11:])
    files["CUT.gz"].write_bytes(gz[:12])
    argv = [str(files.get(a, a)) for a in extra]
    assert cli.main(["plan", "--config", str(config_file(tmp_path)), *argv]) == 2
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in err and not out
    assert not fake_sim


async def test_a_real_gateway_log_replayed_through_every_strategy(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """`python -m balancer plan --replay` on a log a real gateway wrote (and the same log gzipped): every
    simulation strategy and the optimum, with cost = paid + unserved, no strategy below the optimum, grant burn
    within the grant, the grant that expired long ago flagged; the text names every strategy and the optimum."""
    log_file, cfg_file, seen = await _served_log(tmp_path, emulator, http)
    gz = tmp_path / "gateway.log.gz"
    gz.write_bytes(gzip.compress(log_file.read_bytes()))
    base = [sys.executable, "-m", "balancer", "plan", "--config", str(cfg_file), "--requests-per-hour", "4"]
    run = subprocess.run([*base, "--json", "--replay", str(gz)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["replay"]["tokens"] == sum(map(sum, seen.values()))
    assert {r: v["tokens"] for r, v in doc["replay"]["routes"].items()} == {r: sum(v) for r, v in seen.items()}
    assert list(doc["strategies"]) == list(sim.STRATEGIES)
    best = doc["optimum"]
    assert best["cost_cny"] == pytest.approx(best["paid_cny"] + best["unserved_cny"], abs=1e-3)
    for r in doc["strategies"].values():
        assert r["cost_cny"] == pytest.approx(r["paid_cny"] + r["unserved_cny"], abs=1e-3)
        assert sum(r["unserved_by_route"].values()) == pytest.approx(r["unserved_tokens"], abs=len(seen))
        assert r["cost_cny"] >= best["cost_cny"] - 1e-3
        assert 0 <= r["burned"]["ds-a/pack"] <= 50_000
    assert {g["grant"]: g["overlaps_replay"] for g in doc["grants"]} == {"ds-a/pack": True, "qwen/old": False}
    text = subprocess.run([*base, "--replay", str(log_file)], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    rows = {line.split()[0] for line in text.stdout.splitlines() if line.strip()}
    assert set(sim.STRATEGIES) | {"optimum"} <= rows
    assert "qwen/old: ¥5.00, - .. 2020-01-31  (window does not overlap the replayed hours" in text.stdout


def test_a_truncated_gzip_log_is_replayed_with_a_warning(
    tmp_path: Path, fake_sim: list[tuple[str, Trace, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A gzip log cut short (a log being written, or cut by a crash) is replayed from its whole lines: exit 0, a
    warning on stderr naming the file, that it is truncated and the lines read, the same warning in the report
    and the JSON document; lines naming request_done that are not JSON are counted in the report."""
    lines = [done_line("chat", 90, 10, T0 + i) for i in range(400)] + ["2026-03-01 [info] request_done route=chat"]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = tmp_path / "live.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    plain = write(tmp_path / "a.log", [lines[-1], done_line("solo", 5, 5, T0)])
    base = ["plan", "--config", str(config_file(tmp_path)), "--replay", str(cut), str(plain)]
    assert cli.main(base) == 0
    out, err = capsys.readouterr()
    warning = next(line for line in err.splitlines() if line.startswith("warning: --replay:"))
    assert str(cut) in warning and "truncated gzip file" in warning and "whole line(s) before the cut" in warning
    assert warning.removeprefix("warning: --replay: ") in out
    assert "not counted: 1 line(s) naming request_done that are not JSON objects" in out
    assert cli.main([*base, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["replay"]["warnings"]) == 1 and doc["replay"]["unreadable_lines"] == 1
    read = int(doc["replay"]["warnings"][0].split("read its ")[1].split(" whole")[0].replace(",", ""))
    assert 0 < read < 400 and doc["replay"]["routes"]["chat"]["requests"] == read
