"""Grants and planner settings a user writes wrong: ``balancer plan`` and ``balancer check`` as subprocesses, on
real config files — a clear error or warning naming the key, never a traceback, a hang or a silently wrong plan."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.balancer.credit.planning import credit_config


def _config(tmp_path: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    raw = credit_config()
    for prov in raw["providers"].values():
        prov["api_key"] = "sk-test"
    edit(raw)
    path = tmp_path / "qiao.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "balancer", *args], capture_output=True, text=True, timeout=60)


def _grant(raw: dict[str, Any], **grant: Any) -> None:
    raw["providers"]["glm"]["account"]["grants"].append({"name": "x", "models": ["glm-4-air"], **grant})


@pytest.mark.parametrize(
    ("edit", "path", "why"),
    [
        (lambda c: c.update(planning={"horizon_days": 10000}), "planning.horizon_days", "at most 366"),
        (lambda c: c.update(planning={"replan_s": 0.001}), "planning.replan_s", "at least 1"),
        (lambda c: c.update(money={"usd_cny": 0}), "money.usd_cny", "more than 0"),
        (
            lambda c: _grant(c, tokens=1_000_000, expires="9999-12-31"),
            "providers.glm.account.grants[1].expires",
            "leave it out",
        ),
    ],
)
def test_plan_refuses_settings_it_cannot_plan_with(tmp_path: Path, edit: Any, path: str, why: str) -> None:
    """A horizon of 10,000 days (before: a 15 s, 600 MB solve per re-plan; 10^7 days with a far grant never
    finished), a re-plan every millisecond (a core spent solving back to back), a USD rate of 0 (every USD
    voucher and price silently worth nothing: a $5 voucher reported exhausted) and a grant expiring on
    9999-12-31 (before: a ValueError traceback from ``plan``, a 500 from GET /admin/plan): ``plan`` exits 2 with
    one line naming the key, nothing on stdout."""
    r = _run("plan", "--config", str(_config(tmp_path, edit)), "--rate", "chat=200000")
    assert r.returncode == 2 and not r.stdout, (r.returncode, r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert f"{path}: " in r.stderr and why in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_check_warns_of_a_grant_that_pays_for_nothing(tmp_path: Path) -> None:
    """A grant that expired (2020) or of size 0 (tokens or amount) is planned nothing: ``check`` names each
    (before: silence) and still exits 0 — the gateway serves; ``--strict`` exits 2."""

    def edit(c: dict[str, Any]) -> None:
        c["providers"]["glm"]["account"]["grants"] = [
            {"name": "old", "tokens": 1_000_000, "expires": "2020-01-01"},
            {"name": "empty", "tokens": 0},
            {"name": "nothing", "amount": 0},
        ]

    path = str(_config(tmp_path, edit))
    r = _run("check", "--config", path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    at = "providers.glm.account.grants"
    assert f"{at}[0].expires: grant 'old' expired on 2020-01-01" in r.stderr, r.stderr
    assert f"{at}[1].tokens: grant 'empty' is of size 0" in r.stderr, r.stderr
    assert f"{at}[2].amount: grant 'nothing' is of size 0" in r.stderr, r.stderr
    assert _run("check", "--strict", "--config", path).returncode == 2
