"""Scenario schema and trace generation: each demand-shaping field does what bench/README.md says, measured on
the generated trace; explicit series load exactly or fail naming file and line; old traces are unchanged."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from balancer.credit.trace import PriceChange, Trace
from bench import credit_sim, scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "bench/scenarios").glob("*.yaml")) + sorted(
    (ROOT / "bench/scenarios/heldout").glob("*.yaml")
)
OLD = ["default", "expiring_sooner", "outage", "tight_limits"]


def base(**route: Any) -> dict[str, Any]:
    r = {"tokens_per_hour": 100_000, "diurnal": 0.0, "noise": 0.0, "candidates": [["ds", "chat"]]} | route
    return {
        "name": "t",
        "start": "2026-11-02",  # a Monday
        "days": 28,
        "seed": 3,
        "providers": {"ds": {"prices": {"chat": [2.0, 8.0]}}},
        "routes": {"r": r},
    }


def make(tmp_path: Path, doc: dict[str, Any], name: str = "s.yaml") -> scenario.Scenario:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return scenario.load(p)


def demand(tmp_path: Path, **route: Any) -> np.ndarray:
    return scenario.trace(make(tmp_path, base(**route))).demand["r"]


def lag1(x: np.ndarray) -> float:
    y = np.log(x)
    return float(np.corrcoef(y[:-1], y[1:])[0, 1])


def old_demand(s: scenario.Scenario) -> dict[str, np.ndarray]:
    """The generator as it was before the schema grew (diurnal cycle × independent lognormal noise)."""
    rng = np.random.default_rng(s.seed)
    hours = s.days * 24
    hod = np.arange(hours) % 24
    out = {}
    for name, r in s.routes.items():
        cycle = 1.0 + r.diurnal * np.cos(2 * np.pi * (hod - r.peak_hour) / 24)
        noise = rng.lognormal(-0.5 * r.noise**2, r.noise, hours)
        assert r.tokens_per_hour is not None
        out[name] = r.tokens_per_hour * cycle * noise
    return out


@pytest.mark.parametrize("name", OLD)
def test_old_scenarios_trace_is_unchanged(name: str) -> None:
    """Without the new fields a scenario's demand is bit-for-bit what the old generator drew (same RNG order),
    its outages the same hours, and the Trace carries start, input shares and no price changes."""
    s = scenario.load(ROOT / f"bench/scenarios/{name}.yaml")
    t = scenario.trace(s)
    assert isinstance(t, Trace) and t.hours == 720
    for route, d in old_demand(s).items():
        assert np.array_equal(t.demand[route], d)
    assert t.start == dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()
    assert t.input_share == {r: spec.input_share for r, spec in s.routes.items()}
    assert t.price_changes == ()
    if name == "outage":
        assert t.down["spark"].sum() == 72 and t.down["spark"][240] and not t.down["spark"][239]
        assert t.down["zhipu"].sum() == 36


def test_ar_makes_the_noise_autocorrelated_at_the_same_sigma(tmp_path: Path) -> None:
    """With ar 0.8 the lag-1 autocorrelation of log demand is near 0.8 (independent noise: near 0), and the
    log-sigma stays at ``noise``; the mean stays at tokens_per_hour."""
    flat = demand(tmp_path, noise=0.3)
    ar = demand(tmp_path, noise=0.3, ar=0.8)
    assert abs(lag1(flat)) < 0.15 and lag1(ar) > 0.65
    assert np.std(np.log(ar)) == pytest.approx(0.3, rel=0.25)
    assert ar.mean() == pytest.approx(100_000, rel=0.15)


def test_weekly_multipliers_show_in_per_weekday_means(tmp_path: Path) -> None:
    """weekly[k] multiplies every hour of weekday k (Mon..Sun from start, which is a Monday here)."""
    week = [1.0, 1.1, 1.2, 1.3, 1.4, 0.6, 0.5]
    d = demand(tmp_path, weekly=week)
    per_day = d.reshape(28, 24).mean(axis=1)
    for k in range(7):
        assert per_day[k::7] == pytest.approx(100_000 * week[k])


def test_weekday_is_taken_from_start(tmp_path: Path) -> None:
    """Starting on a Sunday, day 0 gets the Sunday multiplier."""
    doc = base(weekly=[1, 1, 1, 1, 1, 1, 2])
    doc["start"] = "2026-11-01"
    d = scenario.trace(make(tmp_path, doc)).demand["r"]
    assert d[:24].mean() == pytest.approx(200_000) and d[24:48].mean() == pytest.approx(100_000)


def test_a_step_doubles_demand_from_its_day_and_trend_compounds(tmp_path: Path) -> None:
    """steps [[15, 2]] doubles every hour from day 15 on (a fractional day starts mid-day); trend grows by
    (1 + trend) per day."""
    d = demand(tmp_path, noise=0.2, steps=[[15, 2.0]])
    assert d[360:].mean() / d[:360].mean() == pytest.approx(2.0, rel=0.1)
    exact = demand(tmp_path, steps=[[15, 2.0], [20.5, 0.5]])
    assert exact[359] == pytest.approx(100_000) and exact[360] == pytest.approx(200_000)
    assert exact[491] == pytest.approx(200_000) and exact[492] == pytest.approx(100_000)
    grow = demand(tmp_path, trend=0.01)
    assert grow[24 * 10] / grow[0] == pytest.approx(1.01**10)


def test_bursts_raise_some_hours_and_leave_the_rest(tmp_path: Path) -> None:
    """Bursts multiply a few stretches of hours by a factor in range; other hours and the noise stay put."""
    flat = demand(tmp_path, noise=0.2)
    burst = demand(tmp_path, noise=0.2, bursts={"per_week": 3, "hours": [3, 6], "factor": [2.0, 3.0]})
    ratio = burst / flat
    raised = ratio > 1.0 + 1e-9
    assert 5 < raised.sum() < 200 and ratio.max() <= 3.0 * 3.0 and (ratio >= 1.0 - 1e-12).all()
    assert np.allclose(ratio[~raised], 1.0)
    assert ratio[raised].max() >= 2.0


def test_new_fields_on_one_route_leave_the_others_alone(tmp_path: Path) -> None:
    """AR, weekly, steps, bursts on the first route do not move the second route's draws."""
    doc = base(noise=0.2)
    doc["routes"]["q"] = {"tokens_per_hour": 5e5, "noise": 0.2, "candidates": [["ds", "chat"]]}
    before = scenario.trace(make(tmp_path, doc)).demand["q"]
    doc["routes"]["r"] |= {
        "ar": 0.8,
        "weekly": [1] * 7,
        "steps": [[3, 2]],
        "bursts": {"per_week": 2, "hours": [1, 2], "factor": [2, 3]},
    }
    assert np.array_equal(scenario.trace(make(tmp_path, doc)).demand["q"], before)


def test_price_changes_become_trace_price_changes(tmp_path: Path) -> None:
    """price_changes' day becomes an hour index (day × 24), sorted; an unknown model is refused."""
    doc = base()
    doc["price_changes"] = [
        {"day": 12.5, "provider": "ds", "model": "chat", "prices": [1.0, 4.0]},
        {"day": 3, "provider": "ds", "model": "chat", "prices": [1.5, 6.0]},
    ]
    t = scenario.trace(make(tmp_path, doc))
    assert t.price_changes == (PriceChange(72, "ds", "chat", 1.5, 6.0), PriceChange(300, "ds", "chat", 1.0, 4.0))
    doc["price_changes"][0]["model"] = "nope"
    with pytest.raises(scenario.ScenarioError, match="ds/nope"):
        make(tmp_path, doc)


def test_unknown_fields_and_bad_shapes_are_refused(tmp_path: Path) -> None:
    """Structs forbid unknown fields; weekly needs 7 numbers; steps are pairs; ar in (-1, 1)."""
    for bad, msg in [
        ({"weekley": [1] * 7}, "weekley"),
        ({"weekly": [1] * 6}, "weekly"),
        ({"steps": [[15]]}, "steps"),
        ({"ar": 1.0}, "ar"),
    ]:
        with pytest.raises(scenario.ScenarioError, match=msg):
            make(tmp_path, base(**bad))


def test_unserved_price_reaches_the_config_route(tmp_path: Path) -> None:
    """A route's unserved_price is the Config route's unserved_price (None when absent)."""
    assert scenario.to_config(make(tmp_path, base(unserved_price=30.0))).routes["r"].unserved_price == 30.0
    assert scenario.to_config(make(tmp_path, base())).routes["r"].unserved_price is None


# --- explicit series ---------------------------------------------------------------------------------------


def series_doc(path: str, days: int = 2) -> dict[str, Any]:
    doc = base()
    doc["days"] = days
    doc["routes"]["r"] = {"series": path, "candidates": [["ds", "chat"]]}
    doc["routes"]["q"] = {"tokens_per_hour": 1000, "candidates": [["ds", "chat"]]}
    return doc


def test_series_csv_with_hours_loads_exactly_and_replaces_the_demand(tmp_path: Path) -> None:
    """A CSV ``hour,route,tokens`` (path relative to the YAML) is the route's demand, hour by hour; rows past
    the scenario's end are ignored; the other route is generated as usual."""
    (tmp_path / "data").mkdir()
    vals = [float(i * 1000 + 7) for i in range(60)]
    rows = "".join(f"{i},r,{v}\n" for i, v in reversed(list(enumerate(vals))))  # any order
    (tmp_path / "data/d.csv").write_text("hour,route,tokens\n" + rows, encoding="utf-8")
    t = scenario.trace(make(tmp_path, series_doc("data/d.csv")))
    assert t.demand["r"].tolist() == vals[:48]
    assert t.demand["q"].shape == (48,)


def test_series_jsonl_with_times_loads_exactly(tmp_path: Path) -> None:
    """JSONL rows with ISO-8601 UTC ``time`` (Z or +00:00 or another offset) land on their hour from start."""
    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    lines = []
    for i in range(48):
        t = start + dt.timedelta(hours=i)
        stamp = t.isoformat() if i % 2 else t.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
        lines.append(json.dumps({"time": stamp, "route": "r", "tokens": i * 10}))
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = scenario.trace(make(tmp_path, series_doc("d.jsonl")))
    assert t.demand["r"].tolist() == [i * 10.0 for i in range(48)]


def test_a_series_route_keeps_the_other_routes_draws(tmp_path: Path) -> None:
    """Replacing a route by a series still draws its noise, so the routes after it get the same demand."""
    (tmp_path / "d.csv").write_text("hour,route,tokens\n" + "".join(f"{i},r,5\n" for i in range(48)), encoding="utf-8")
    gen = series_doc("d.csv")
    gen["routes"]["r"] = {"tokens_per_hour": 10, "candidates": [["ds", "chat"]]}
    assert np.array_equal(
        scenario.trace(make(tmp_path, series_doc("d.csv"))).demand["q"], scenario.trace(make(tmp_path, gen)).demand["q"]
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("d.csv", "hour,route,tokens\n0,r,5\n1,zz,5\n", r"d\.csv line 3: route 'zz'"),
        ("d.csv", "hour,route,tokens\n0,r,5\n1,r,-5\n", r"d\.csv line 3: tokens '-5' must be"),
        ("d.csv", "hour,route,tokens\n0,r,5\n1,r,lots\n", r"d\.csv line 3: tokens 'lots' is not a number"),
        ("d.csv", "hour,route,tokens\n0,r,5\n0,r,5\n", r"d\.csv line 3: route r hour 0 appears twice"),
        ("d.csv", "when,route,tokens\n0,r,5\n", r"d\.csv line 1: the header must be"),
        (
            "d.csv",
            "hour,route,tokens\n" + "".join(f"{i},r,1\n" for i in range(30)),
            r"has 30 of the scenario's 48 hours.*shorter",
        ),
        ("d.jsonl", '{"hour": 0, "route": "r", "tokens": 1}\n{"hour": 1, "route": "r"\n', r"d\.jsonl line 2: not JSON"),
        (
            "d.jsonl",
            '{"time": "2026-11-02T00:30:00Z", "route": "r", "tokens": 1}\n',
            r"d\.jsonl line 1: .*not on an hour boundary",
        ),
        (
            "d.jsonl",
            '{"time": "2026-11-01T23:00:00Z", "route": "r", "tokens": 1}\n',
            r"d\.jsonl line 1: hour -1 is before",
        ),
        ("missing.csv", None, r"missing\.csv: demand series file not found"),
        ("d.csv", "hour,route,tokens\ninf,r,5\n", r"d\.csv line 2: hour 'inf' is not a whole hour index"),
        ("d.csv", "hour,route,tokens\nnan,r,5\n", r"d\.csv line 2: hour 'nan' is not a whole hour index"),
        ("d.csv", "hour,route,tokens\n0,r,5\n1,r,1e999\n", r"d\.csv line 3: tokens '1e999' must be a finite"),
        ("d.jsonl", '{"hour": 0, "route": ["r"], "tokens": 1}\n', r"d\.jsonl line 1: route \['r'\] is not one of"),
        (
            "d.jsonl",
            '{"time": 1793577600, "route": "r", "tokens": 1}\n',
            r"d\.jsonl line 1: time 1793577600 is not an ISO",
        ),
    ],
)
def test_bad_series_files_name_file_and_line(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    """An unknown route (or one that is not a string), negative, infinite or non-numeric tokens, an infinite or NaN
    hour, a duplicate hour, a bad header, a series shorter than the scenario, bad JSON, an off-the-hour, pre-start or
    non-string time, a missing file: a ScenarioError at load naming the file (and line), never another exception."""
    if text is not None:
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(scenario.ScenarioError, match=message):
        make(tmp_path, series_doc(name))


def test_series_needs_no_tokens_per_hour_but_a_generated_route_does(tmp_path: Path) -> None:
    """A route without series and without tokens_per_hour is refused at load."""
    with pytest.raises(scenario.ScenarioError, match="tokens_per_hour or series"):
        make(tmp_path, base(tokens_per_hour=None))


# --- shipped scenarios -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_traces_and_converts(path: Path) -> None:
    """Every scenario in bench/scenarios (and heldout) starts with a comment, loads, makes a 30-day trace with
    finite non-negative demand and a gateway Config; within the bench's budget (≤ 8 providers, ≤ 3 routes,
    ≤ 40 requests per hour) for the new ones."""
    assert path.read_text(encoding="utf-8").startswith("#")
    s = scenario.load(path)
    t = scenario.trace(s)
    cfg = scenario.to_config(s)
    assert set(cfg.routes) == set(s.routes) and set(cfg.providers) == set(s.providers)
    assert t.hours == s.days * 24 == 720
    for d in t.demand.values():
        assert d.shape == (720,) and np.isfinite(d).all() and (d >= 0).all()
    assert len(s.providers) <= 8 and len(s.routes) <= 3 and s.requests_per_hour <= 40


def test_the_series_scenario_replays_the_committed_csv(tmp_path: Path) -> None:
    """bench/scenarios/series.yaml's support route is exactly the committed CSV, which bench/make_series.py
    writes again byte for byte from its seed."""
    from bench import make_series

    s = scenario.load(ROOT / "bench/scenarios/series.yaml")
    csv_path = ROOT / "bench/scenarios/series_support.csv"
    rows = csv_path.read_text(encoding="utf-8").splitlines()[1:]
    assert scenario.trace(s).demand["support"].tolist() == [float(r.split(",")[2]) for r in rows]
    out = tmp_path / "again.csv"
    make_series.main(["--out", str(out)])
    assert out.read_bytes() == csv_path.read_bytes()


def test_the_new_scenarios_have_their_shapes() -> None:
    """bursty doubles after day 15 and is autocorrelated; late-grants has a grant starting mid-month and its
    price cuts; surplus-drop's chat falls late; growth-promo grows."""
    sc = {p.stem: scenario.load(p) for p in SCENARIOS}
    b = scenario.trace(sc["bursty"]).demand["chat"]
    assert b[360:].mean() > 1.7 * b[:360].mean() and lag1(b) > 0.6
    lg = sc["late_grants"]
    assert any(g.starts >= 10 for g in lg.providers["hunyuan"].grants)
    assert any(g.expires - g.starts == 2 for g in lg.providers["zhipu"].grants)  # days 8-10 inclusive: 3 days
    assert len(scenario.trace(lg).price_changes) == 2
    drop = scenario.trace(sc["surplus_drop"]).demand["chat"]
    assert drop[20 * 24 :].mean() < 0.35 * drop[: 20 * 24].mean()
    grow = scenario.trace(sc["growth_promo"]).demand["assist"]
    assert grow[-168:].mean() > 1.6 * grow[:168].mean()
    assert sum(g.amount is not None for p in sc["vouchers"].providers.values() for g in p.grants) >= 4


def test_seeded_replaces_the_seed_and_names_it_or_keeps_the_file_as_it_is(tmp_path: Path) -> None:
    """``seeded(path, 11)`` is the file's scenario with seed 11 and "(seed 11)" in its name, so its noise differs
    from the file's seed 3; ``seeded(path, None)`` is the file's scenario unchanged."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(base(noise=0.3)), encoding="utf-8")
    as_is, other = scenario.seeded(path, None), scenario.seeded(path, 11)
    assert as_is == scenario.load(path) and as_is.seed == 3
    assert other.seed == 11 and other.name == "t (seed 11)"
    assert not np.array_equal(scenario.trace(other).demand["r"], scenario.trace(as_is).demand["r"])


def test_a_series_with_a_byte_order_mark_loads_and_one_not_utf8_is_refused(tmp_path: Path) -> None:
    """A CSV saved by a spreadsheet (UTF-8 with a byte-order mark) loads as if it had none; bytes that are not UTF-8
    are a ScenarioError naming the file and the byte."""
    rows = "".join(f"{h},r,{h + 1}\n" for h in range(48))
    (tmp_path / "d.csv").write_bytes(b"\xef\xbb\xbf" + f"hour,route,tokens\n{rows}".encode())
    assert scenario.trace(make(tmp_path, series_doc("d.csv"))).demand["r"].tolist() == [float(h + 1) for h in range(48)]
    (tmp_path / "d.csv").write_bytes(b"hour,route,tokens\n0,r,5\xff\n")
    with pytest.raises(scenario.ScenarioError, match=r"d\.csv: not UTF-8 text \(byte 23"):
        make(tmp_path, series_doc("d.csv"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"cannot read: No such file"),
        ("name: [\n", r"not a YAML scenario"),
        ("- 1\n", r"not a YAML mapping"),
        ("extends: gone.yaml\nname: x\n", r"gone\.yaml: cannot read"),
    ],
)
def test_a_bad_scenario_file_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, message: str
) -> None:
    """A missing scenario, broken YAML, a YAML list, an ``extends`` of a missing file: load raises ScenarioError;
    the bench CLIs print ``error: ...`` and exit 2 (credit_sim also for an unknown strategy), with no traceback."""
    path = tmp_path / "s.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.load(path)
    for call in (lambda: credit_sim.main(["--scenario", str(path)]), lambda: scenario.for_cli(path, 7)):
        with pytest.raises(SystemExit) as exit_:
            call()
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2 and "Traceback" not in err
    assert credit_sim.main(["--strategies", "credit-burn,best"]) == 2
    assert "error: --strategies: unknown best" in capsys.readouterr().err


def _with(path: str, value: Any) -> dict[str, Any]:
    """``base()`` with the dotted ``path`` set to ``value`` (list indices as numbers)."""
    doc = base()
    doc["providers"]["ds"]["grants"] = [{"name": "g", "tokens": 5_000_000, "models": ["chat"]}]
    *head, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = doc
    for k in head:
        node = node[k]
    node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("days", 0, r"days: must be a finite number in \[1, 366\], not 0"),
        ("days", 100_000_000, r"days: .* not 100000000"),  # hours for centuries: it would run out of memory
        ("requests_per_hour", 0, r"requests_per_hour: .*\[1, 3600\]"),
        ("replan_minutes", -1, r"replan_minutes: .* not -1"),
        ("routes.r.tokens_per_hour", -5, r"routes\.r\.tokens_per_hour: .* not -5"),
        ("routes.r.tokens_per_hour", float("nan"), r"tokens_per_hour: .* not nan"),
        ("routes.r.steps", [[1, float("inf")]], r"routes\.r\.steps\[0\]\[1\]: .* not inf"),
        ("routes.r.diurnal", 1.5, r"diurnal: .*\[0, 1\]"),
        ("routes.r.noise", -0.1, r"noise: "),
        ("routes.r.ar", 1.0, r"ar: .* not 1\.0"),
        ("routes.r.input_share", 2, r"input_share: .*\[0, 1\]"),
        ("routes.r.weekly", [1, 1, 1, 1, 1, 1, -1], r"weekly\[6\]: "),
        ("routes.r.bursts", {"per_week": 1e9, "hours": [1, 2], "factor": [2, 3]}, r"per_week: .*\[0, 168\]"),
        ("routes.r.bursts", {"per_week": 1, "hours": [5, 2], "factor": [2, 3]}, r"bursts\.hours: \[from, to\]"),
        ("routes.r.candidates", [["ds"]], r"candidates\[0\]"),
        ("routes.r.candidates", [], r"a route needs at least one candidate"),
        ("providers.ds.tpm", -5, r"providers\.ds\.tpm: "),
        ("providers.ds.prices.chat", [float("nan"), 8.0], r"prices\.chat\[0\]: .* not nan"),
        ("providers.ds.outages", [[-5, 1]], r"outages\[0\]\[0\]: "),
        ("providers.ds.outages", [[3, 1]], r"outages\[0\]: \[from, to\]"),
        ("providers.ds.grants.0", {"name": "g", "tokens": 5, "amount": 3.0}, r"exactly one of tokens .* or amount"),
        ("providers.ds.grants.0", {"name": "g", "models": ["chat"]}, r"exactly one of tokens"),
        ("providers.ds.grants.0", {"name": "g", "tokens": 5, "starts": 4, "expires": 2}, r"expires on day 2, before"),
        ("providers.ds.grants.0.tokens", -1, r"grants\[0\]\.tokens: "),
        ("expiry_scale", 0, r"expiry_scale: "),
    ],
)
def test_a_scenario_with_numbers_out_of_range_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, value: Any, message: str
) -> None:
    """Numbers a YAML float allows but a scenario cannot mean (infinite, NaN, negative, a burst a second, a
    century of days), pairs out of order, grants that are both or neither pack and voucher or end before they
    start, a malformed candidate: load raises ScenarioError naming the field, and credit_sim exits 2 with one
    ``error:`` line — no traceback, no hang, no trace generated from them."""
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(_with(path, value)), encoding="utf-8")
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.load(p)
    with pytest.raises(SystemExit) as exit_:
        credit_sim.main(["--scenario", str(p), "--strategies", "credit-burn"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "Traceback" not in err


def test_a_negative_or_huge_seed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--seed`` must be a whole number from 0 to 2^63 - 1 (numpy refuses a negative one with a traceback)."""
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(base()), encoding="utf-8")
    for seed in (-1, 2**63):
        with pytest.raises(scenario.ScenarioError, match=f"seed {seed}: a whole number"):
            scenario.seeded(p, seed)
    assert scenario.seeded(p, 2**63 - 1).seed == 2**63 - 1
    with pytest.raises(SystemExit) as exit_:
        credit_sim.main(["--scenario", str(p), "--seed", "-1"])
    assert exit_.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_the_base_of_the_out_of_range_cases_loads(tmp_path: Path) -> None:
    """The document the out-of-range cases change loads as it is (each case fails for its own field)."""
    assert make(tmp_path, _with("routes.r.noise", 0.1)).routes["r"].noise == 0.1


def test_the_trace_carries_what_each_routes_generator_expects(tmp_path: Path) -> None:
    """``Trace.expected``: without noise or bursts it is the demand itself (cycle, weekdays, steps, trend);
    noise (mean one, AR or not) leaves it as it was; bursts raise it by their mean excess, so over a year the
    bursty demand's mean is the expectation's within 3%; a series is its own expectation."""
    shaped = {"diurnal": 0.3, "weekly": [1.0, 1.1, 1.2, 1.3, 1.4, 0.6, 0.5], "steps": [[10, 2.0]], "trend": 0.01}
    t = scenario.trace(make(tmp_path, base(**shaped)))
    assert np.allclose(t.expected["r"], t.demand["r"], rtol=1e-12)
    noisy = scenario.trace(make(tmp_path, base(**shaped, noise=0.3, ar=0.8)))
    assert np.allclose(noisy.expected["r"], t.expected["r"], rtol=1e-12)
    assert not np.allclose(noisy.demand["r"], t.demand["r"])
    doc = base(bursts={"per_week": 2, "hours": [2, 8], "factor": [1.5, 3.0]})
    doc["days"] = 364
    year = scenario.trace(make(tmp_path, doc))
    assert year.expected["r"] == pytest.approx(np.full(364 * 24, 100_000 * (1 + 2 / 168 * 5 * 1.25)))
    assert year.demand["r"].mean() == pytest.approx(year.expected["r"].mean(), rel=0.03)
    s = scenario.load(ROOT / "bench/scenarios/series.yaml")
    series = scenario.trace(s)
    replayed = [r for r, spec in s.routes.items() if spec.series is not None]
    assert replayed and all(np.array_equal(series.expected[r], series.demand[r]) for r in replayed)
