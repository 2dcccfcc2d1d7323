"""Every vendor at once: ``balancer vendors`` lists them, a config mixing all of them validates with
``balancer check`` and serves one request per vendor through the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from balancer import cli
from balancer.vendors import REGISTRY
from tests.balancer.vendors import kit
from tests.conftest import CLIENT_KEY, EmulatorHandle, GatewayFactory, base_config

KEYS = {"tiangong": "app-key:app-secret", "glm": "key-id.key-secret"}


def _chat_model(name: str) -> str:
    return next(m for m, info in REGISTRY[name].models.items() if info.kind == "chat")


def _add_all(raw: dict[str, Any], emu: str) -> None:
    for name in REGISTRY:
        raw["providers"][f"all-{name}"] = {
            "vendor": name,
            "api_key": KEYS.get(name, f"sk-{name}"),
            "base_url": f"{emu}/{name}.all",
        }
        raw["routes"][f"all-{name}"] = {"candidates": [{"provider": f"all-{name}", "model": _chat_model(name)}]}


def test_vendors_command_lists_everything(capsys: pytest.CaptureFixture[str]) -> None:
    """`balancer vendors` names every vendor with its auth scheme, models and balance support."""
    assert cli.main(["vendors"]) == 0
    out = capsys.readouterr().out
    expected = "ernie qwen spark glm baichuan tiangong hunyuan yi deepseek doubao kimi minimax siliconflow stepfun"
    for name in [*expected.split(), "azure", "openai"]:
        vendor = REGISTRY[name]
        assert f"{name}: " in out and vendor.auth_scheme in out and _chat_model(name) in out
    assert "balance: GET /user/balance (granted/paid)" in out and "balance: GET /users/me/balance" in out
    assert "balance: GET /user/info" in out and "balance: none" in out
    assert "deepseek-chat" in out and "ctx    128,000" in out and "2/3 CNY/M" in out


def test_mixed_config_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config file with one account of every vendor passes `balancer check`."""
    raw = base_config("http://127.0.0.1:9")
    _add_all(raw, "http://127.0.0.1:9")
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert cli.main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert all(f"all-{name} ({name})" in out for name in REGISTRY)


async def test_mixed_config_serves_every_vendor(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """One request per vendor, each answered by that vendor's dialect through the gateway."""
    gw = await make_gateway(lambda raw: _add_all(raw, emulator.url))
    client = gw.client(CLIENT_KEY)
    for name in REGISTRY:
        raw = await client.chat.completions.with_raw_response.create(model=f"all-{name}", messages=kit.MESSAGES)
        assert raw.headers["x-qiao-provider"] == f"all-{name}" and raw.parse().choices[0].message.content
    stats = await emulator.stats()
    assert all(stats[f"{name}.all"]["served"] == 1 for name in REGISTRY)
