"""Config: strict validation with exact paths, secrets from env/files never printed, `balancer check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from balancer import config as config_mod
from balancer import router
from balancer.config import ConfigError
from balancer.gateway import StartupError, check_startable
from balancer.routes import compile_routes
from balancer.secrets import Secret


def minimal() -> dict[str, Any]:
    return {
        "server": {"insecure_no_auth": True},
        "providers": {"ds": {"vendor": "deepseek", "api_key": "sk-1"}},
        "routes": {"chat": {"candidates": [{"provider": "ds", "model": "deepseek-chat"}]}},
    }


@pytest.mark.parametrize(
    ("edit", "path", "why"),
    [
        (
            lambda c: c["routes"]["chat"]["candidates"][0].update(provider="nope"),
            "routes.chat.candidates[0].provider",
            "no provider named",
        ),
        (
            lambda c: c["routes"]["chat"]["candidates"][0].update(wieght=2),
            "routes.chat.candidates[0]",
            "unknown field `wieght`",
        ),
        (lambda c: c["providers"]["ds"].update(vendor="openia"), "providers.ds.vendor", "unknown vendor"),
        (lambda c: c["providers"]["ds"].update(vendor="deepseak"), "providers.ds.vendor", "did you mean 'deepseek'?"),
        (lambda c: c["providers"]["ds"].update(limits={"rpm": "many"}), "providers.ds.limits.rpm", "Expected `int`"),
        (lambda c: c["routes"]["chat"].update(strategy="random"), "routes.chat.strategy", "unknown strategy"),
        (lambda c: c["routes"]["chat"].update(candidates=[]), "routes.chat.candidates", "at least one"),
        (lambda c: c.update(client_keys=[{"name": "a", "key_sha256": "abc"}]), "client_keys[0].key_sha256", "64"),
        (
            lambda c: (
                c["failover"].update(classes={"rate_limitted": {}})
                if "failover" in c
                else c.update(failover={"classes": {"rate_limitted": {}}})
            ),
            "failover.classes",
            "rate_limitted",
        ),
    ],
)
def test_errors_name_the_path(edit: Any, path: str, why: str) -> None:
    """Every validation error — of the file, or of its routes as the gateway compiles them — names the exact
    path of the bad key and why."""
    raw = minimal()
    edit(raw)
    with pytest.raises(ConfigError) as exc:
        compile_routes(config_mod.parse(raw, "f.yaml"), router.STRATEGIES)
    msg = str(exc.value)
    assert path in msg and why in msg, msg


@pytest.mark.parametrize(
    ("edit", "path", "why"),
    [
        (lambda c: c["providers"]["ds"].update(limits={"tpm": -5}), "providers.ds.limits.tpm", "finite number >= 0"),
        (
            lambda c: c["providers"]["ds"].update(timeouts={"ttft_s": float("nan")}),
            "providers.ds.timeouts.ttft_s",
            "not nan",
        ),
        (
            lambda c: c["providers"]["ds"].update(prices={"deepseek-chat": {"input": float("inf"), "output": 1.0}}),
            "providers.ds.prices.deepseek-chat.input",
            "not inf",
        ),
        (
            lambda c: c["providers"]["ds"].update(account={"grants": [{"name": "g", "tokens": -1}]}),
            "providers.ds.account.grants[0].tokens",
            ">= 0",
        ),
        (lambda c: c["routes"]["chat"]["candidates"][0].update(weight=-1), "routes.chat.candidates[0].weight", ">= 0"),
        (lambda c: c["routes"]["chat"].update(unserved_price=float("nan")), "routes.chat.unserved_price", "not nan"),
        (lambda c: c.update(planning={"replan_s": 0}), "planning.replan_s", "more than 0"),
        (lambda c: c.update(planning={"horizon_days": -30}), "planning.horizon_days", ">= 0"),
        (lambda c: c.update(planning={"safety_margin": 1.0}), "planning.safety_margin", "below 1"),
        (lambda c: c.update(state={"degraded_share": 2}), "state.degraded_share", "at most 1"),
        (lambda c: c.update(failover={"deadline_s": -1}), "failover.deadline_s", ">= 0"),
        (lambda c: c.update(money={"usd_cny": float("inf")}), "money.usd_cny", "not inf"),
    ],
)
def test_every_number_is_finite_and_in_range(edit: Any, path: str, why: str) -> None:
    """A negative, NaN or infinite number anywhere in the config (limits, timeouts, prices, grants, weights, prices of
    unserved demand, failover, money), a share above 1, a planner period of 0 or a safety margin of 1: a
    ConfigError naming the exact path (before: accepted, and the planner re-planned without pause or priced NaN)."""
    raw = minimal()
    edit(raw)
    with pytest.raises(ConfigError) as exc:
        config_mod.parse(raw, "f.yaml")
    msg = str(exc.value)
    assert msg.startswith("f.yaml: ") and path + ":" in msg and why in msg, msg


def test_env_and_file_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR} and file:/path resolve at load time; the value is held as a Secret that never prints."""
    monkeypatch.setenv("DS_KEY", "sk-from-env-12345")
    secret_file = tmp_path / "key"
    secret_file.write_text("sk-from-file-67890\n")
    raw = minimal()
    raw["providers"]["ds"]["api_key"] = "${DS_KEY}"
    raw["providers"]["qw"] = {"vendor": "qwen", "api_key": f"file:{secret_file}"}
    cfg = config_mod.parse(raw)
    assert cfg.providers["ds"].api_key == Secret("sk-from-env-12345")
    assert cfg.providers["qw"].api_key is not None and cfg.providers["qw"].api_key.reveal() == "sk-from-file-67890"
    assert "sk-from" not in repr(cfg) and "sk-from" not in str(cfg.providers)


def test_missing_env_var_is_named() -> None:
    """A reference to an unset variable names the variable and the key that uses it."""
    raw = minimal()
    raw["providers"]["ds"]["api_key"] = "${QIAO_SURELY_UNSET_VAR}"
    with pytest.raises(ConfigError, match=r"providers\.ds\.api_key: environment variable QIAO_SURELY_UNSET_VAR"):
        config_mod.parse(raw)


def test_refuses_to_start_without_client_keys() -> None:
    """Without client keys the gateway refuses to start unless insecure_no_auth is set."""
    raw = minimal()
    raw["server"] = {}
    with pytest.raises(StartupError, match="insecure_no_auth"):
        check_startable(config_mod.parse(raw))
    check_startable(config_mod.parse(minimal()))


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "balancer", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_check_prints_routes(tmp_path: Path) -> None:
    """`balancer check` validates a file and prints each route with its candidates; exit 0."""
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(minimal()))
    out = run_cli("check", "--config", str(f))
    assert out.returncode == 0, out.stderr
    assert "chat" in out.stdout and "ds (deepseek) -> deepseek-chat" in out.stdout and "sk-1" not in out.stdout


def test_check_reports_bad_config(tmp_path: Path) -> None:
    """`balancer check` on a bad file exits 2 with the path of the bad key, no traceback."""
    raw = minimal()
    raw["routes"]["chat"]["candidates"][0]["provider"] = "ghost"
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(raw))
    out = run_cli("check", "--config", str(f))
    assert out.returncode == 2 and "routes.chat.candidates[0].provider" in out.stderr and "Traceback" not in out.stderr


def test_demo_config_is_valid() -> None:
    """The bundled demo config validates (with the emulator URL filled in)."""
    import os
    from importlib import resources

    os.environ.setdefault("QIAO_EMULATOR_URL", "http://127.0.0.1:1")
    cfg = config_mod.parse(yaml.safe_load(resources.files("balancer").joinpath("demo.yaml").read_text()))
    assert "gpt-4o" in cfg.routes and cfg.client_keys


def test_serve_reports_a_busy_port(tmp_path: Path) -> None:
    """`balancer serve` on a port already in use exits 2 with a clear message, no traceback."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        raw = minimal()
        raw["server"]["port"] = busy.getsockname()[1]
        f = tmp_path / "c.yaml"
        f.write_text(yaml.safe_dump(raw))
        out = run_cli("serve", "--config", str(f))
    assert out.returncode == 2 and "cannot listen on 127.0.0.1" in out.stderr
    assert "Traceback" not in out.stderr and "Unclosed" not in out.stderr


@pytest.mark.parametrize("command", ["emulate", "demo"])
def test_the_emulator_reports_a_busy_port(command: str) -> None:
    """`balancer emulate` on a port in use, and `balancer demo` whose emulator's port (--port + 1) is in use, exit
    2 naming the port and the emulator, no traceback."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        out = run_cli(command, "--port", str(taken if command == "emulate" else taken - 1))
    assert out.returncode == 2, out.stderr
    assert f"cannot listen on 127.0.0.1:{taken} for the emulator" in out.stderr
    assert "Traceback" not in out.stderr and "Unclosed" not in out.stderr
