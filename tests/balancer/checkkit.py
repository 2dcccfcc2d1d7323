"""Shared by the `balancer check` tests: a clean config, and `balancer` run as a user runs it (a subprocess
with an environment free of REDIS_URL and of the tests' own variables)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Raw = dict[str, Any]
SECRET = "sk-live-never-printed-4242"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base() -> Raw:
    """A clean config: one client key, one DeepSeek account, one route, no Redis, no balance polls."""
    return {
        "server": {"port": free_port()},
        "state": {"backend": "memory"},
        "balances": {"enabled": False},
        "client_keys": [{"name": "app", "key_sha256": "0" * 64}],
        "providers": {"ds": {"vendor": "deepseek", "api_key": SECRET, "base_url": "http://127.0.0.1:9/deepseek"}},
        "routes": {"chat": {"candidates": [{"provider": "ds", "model": "deepseek-chat"}]}},
    }


def environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without REDIS_URL or any QIAO_T_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("QIAO_T_")}
    return env | (extra or {})


def write(tmp_path: Path, raw: Raw) -> Path:
    f = tmp_path / "qiao.yaml"
    f.write_text(yaml.safe_dump(raw))
    return f


def balancer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "balancer", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=environ(env))


def check(tmp_path: Path, raw: Raw, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return balancer("check", "--config", str(write(tmp_path, raw)), *flags, env=env)


def lines(text: str, level: str) -> list[str]:
    """The ``path: message`` of each ``level: FILE: path: message`` line."""
    return [line.split(": ", 2)[2] for line in text.splitlines() if line.startswith(f"{level}: ")]


def edited(edit: Callable[[Raw], object]) -> Raw:
    raw = base()
    edit(raw)
    return raw


def azure(raw: Raw, extra: dict[str, str]) -> None:
    raw["providers"]["az"] = {"vendor": "azure", "api_key": "k", "extra": extra}
    raw["routes"]["chat"]["candidates"].append({"provider": "az", "model": "gpt-4o"})
