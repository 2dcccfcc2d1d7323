"""deploy/prometheus and deploy/grafana agree with the code: promtool accepts the rules and their unit tests
pass, and every metric they name is one the gateway really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import CHAT, GatewayFactory

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _promtool(*args: str) -> str:
    out = subprocess.run([PROMTOOL, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_rules_check_and_their_unit_tests_pass() -> None:
    """promtool checks the alert rules, and each alert fires on the series that should fire it (alerts_test.yml:
    provider down, store degraded, grant at risk, grant expiring, spend cap near, high error rate)."""
    assert "SUCCESS: 8 rules found" in _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml")


def _family(sample: str) -> str:
    """A sample's family name: without the _total/_bucket/_count/_sum/_created a sample name adds."""
    return next((sample.removesuffix(s) for s in SUFFIXES if sample.endswith(s)), sample)


def _named(text: str) -> set[str]:
    return {_family(m) for m in re.findall(r"\bqiao_[a-z_]+", text)}


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["expr"]] if "expr" in node else []
        return own + [e for k, v in node.items() if k != "expr" for e in _exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _exprs(v)]
    return []


async def test_every_metric_named_is_exported(make_gateway: GatewayFactory, http: aiohttp.ClientSession) -> None:
    """The names used by the alert rules and by every panel of the Grafana dashboard are families a live
    gateway's /metrics serves (a renamed metric would silence an alert)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["account"] = {
            "grants": [{"name": "pack", "tokens": 1000, "expires": "2099-01-01"}],
            "daily_cap": 10.0,
        }

    gw = await make_gateway(edit)
    await gw.client().chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
    async with http.get(gw.url + "/metrics") as r:
        exported = {_family(f.name) for f in text_string_to_metric_families(await r.text())}
    dashboard = json.loads((DEPLOY / "grafana" / "qiao-dashboard.json").read_text())
    used = _named((DEPLOY / "prometheus" / "alerts.yml").read_text()) | _named(" ".join(_exprs(dashboard)))
    assert used and used - exported == set(), sorted(used - exported)
    assert len(_exprs(dashboard)) >= 16
