"""The teacher loop end to end, on emulated vendors: prompts → ``distill`` through a live gateway → ``convert`` →
``push`` → ``jobs``; real gateway and emulator on port 0, the CLI as real subprocesses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CLIENT_KEY, EmulatorHandle, GatewayFactory

GRANT = 150  # tokens of qwen-plus: spent by the first handful of answers
GLM_KEY = "glm-id.glm-secret-value"


def _config(emu: str) -> dict[str, Any]:
    expires = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    grant = {"name": "trial", "tokens": GRANT, "models": ["qwen-plus"], "expires": expires}
    return {
        "ds": {"vendor": "deepseek", "api_key": "sk-ds", "base_url": f"{emu}/deepseek"},
        "qwen": {"vendor": "qwen", "api_key": "sk-q", "base_url": f"{emu}/qwen", "account": {"grants": [grant]}},
        "glm": {"vendor": "glm", "api_key": "${TEST_GLM_KEY}", "base_url": f"{emu}/glm"},
    }


def _edit(emu: str) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        raw["providers"] = _config(emu)
        raw["routes"] = {
            "teacher": {
                "strategy": "credit-burn",
                "candidates": [
                    {"provider": "ds", "model": "deepseek-chat"},
                    {"provider": "qwen", "model": "qwen-plus"},
                ],
            },
            "bulk": {"strategy": "priority", "candidates": [{"provider": "glm", "model": "glm-4-air"}]},
        }

    return edit


def _prompts(path: Path, n: int, tag: str) -> None:
    lines = [{"messages": [{"role": "system", "content": "简短回答"}, {"role": "user", "content": f"{tag} 问题 {i}"}]}
             for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")


async def _cli(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "finetune", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "QIAO_API_KEY": CLIENT_KEY, "TEST_GLM_KEY": GLM_KEY, **(env or {})},
    )  # fmt: skip


async def _run(*args: str) -> tuple[int, str, str]:
    proc = await _cli(*args)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _lines_at_least(path: Path, n: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(500):
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.returncode is None, "distill ended before the point the test waits for"
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} lines")


async def test_the_whole_teacher_loop(
    tmp_path: Path, emulator: EmulatorHandle, make_gateway: GatewayFactory, monkeypatch: Any
) -> None:
    """Prompts are answered through a credit-burn route (its grant spent), survive a SIGKILL and a vendor failing
    midway with every prompt paid exactly once, a batch runs on Zhipu's batch API, the answers convert to Zhipu's
    format, push starts a job that ``jobs --follow`` sees succeed, and the ledger's tokens equal the emulator's."""
    monkeypatch.setenv("TEST_GLM_KEY", GLM_KEY)
    gw = await make_gateway(_edit(emulator.url))
    cfg_file = tmp_path / "qiao.yaml"
    raw = {"client_keys": [{"name": "t", "key_sha256": gw.gw.cfg.client_keys[0].key_sha256}],
           "providers": _config(emulator.url), "routes": {"r": {"candidates": [{"provider": "glm", "model": "glm-4-air"}]}}}  # fmt: skip
    cfg_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    base = gw.url + "/v1"
    prompts, answers = tmp_path / "prompts.jsonl", tmp_path / "answers.jsonl"
    checkpoint = tmp_path / "answers.checkpoint.jsonl"
    _prompts(prompts, 30, "在线")
    for target in ("deepseek", "qwen"):  # slow enough to be caught mid-way
        await emulator.fault(target, "ok", latency_ms=40)
    distill = ("distill", str(prompts), "-o", str(answers), "--model", "teacher", "--base-url", base,
               "--concurrency", "3", "--config", str(cfg_file), "--progress-every", "0.2")  # fmt: skip

    first = await _cli(*distill)
    await _lines_at_least(checkpoint, 8, first)
    first.kill()  # SIGKILL: requests in flight are answered by the gateway and kept for the rerun
    await first.wait()
    assert not answers.exists()

    second = await _cli(*distill)
    await _lines_at_least(checkpoint, 16, second)
    await emulator.fault("qwen", "server_error")  # one vendor fails midway: the route fails over
    _, err = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, err.decode()
    assert "resuming:" in err.decode() and "30/30 done" in err.decode()
    await emulator.clear()
    stats = await emulator.stats()
    assert stats["qwen"]["faults"].get("server_error", 0) >= 1
    assert stats["qwen"]["served"] + stats["deepseek"]["served"] == 30  # each prompt paid exactly once
    rows = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][1]["content"] for r in rows] == [f"在线 问题 {i}" for i in range(30)]
    assert all(r["messages"][-1]["role"] == "assistant" and r["messages"][-1]["content"] for r in rows)
    assert not checkpoint.exists()

    batch_prompts, batch_answers = tmp_path / "bulk.jsonl", tmp_path / "bulk-answers.jsonl"
    _prompts(batch_prompts, 5, "批量")
    code, _, err_b = await _run("distill", str(batch_prompts), "-o", str(batch_answers), "--model", "bulk",
                                "--base-url", base, "--batch", "--poll-s", "0.05")  # fmt: skip
    assert code == 0, err_b
    assert (await emulator.stats())["glm"]["batch_lines"] == 5
    assert len(batch_answers.read_text(encoding="utf-8").splitlines()) == 5

    train = tmp_path / "train.jsonl"
    code, _, err_c = await _run("convert", "--to", "zhipu", str(answers), str(batch_answers), "-o", str(train))
    assert code == 0, err_c
    code, out_p, err_p = await _run("push", str(train), "--config", str(cfg_file), "--provider", "glm",
                                    "--model", "glm-4-flash")  # fmt: skip
    assert code == 0, err_p
    job = out_p.split(":", 1)[0]
    code, out_j, err_j = await _run("jobs", job, "--config", str(cfg_file), "--provider", "glm",
                                    "--follow", "--interval", "0.02")  # fmt: skip
    assert code == 0, err_j
    assert out_j.strip().splitlines()[-1].startswith(f"{job}: succeeded (succeeded),")
    assert GLM_KEY not in out_p + err_p + out_j + err_j

    await gw.gw.ledger.flush()
    snap = await gw.gw.ledger.snapshot(gw.clock())
    stats = await emulator.stats()
    booked = {p: sum(r.tokens for r in snap.rows if r.provider == p) for p in ("ds", "qwen", "glm")}
    assert booked == {"ds": stats["deepseek"]["total_tokens"], "qwen": stats["qwen"]["total_tokens"],
                      "glm": stats["glm"]["total_tokens"]}  # fmt: skip
    grant = next(g for g in snap.grants if g.grant.name == "trial")
    assert grant.used == GRANT  # credit-burn spent the grant
    glm_list = 0.5 * stats["glm"]["total_tokens"]  # glm-4-air lists 0.5 CNY/M in and out: 0.5 µ¥ a token
    glm_booked = sum(r.micro for r in snap.rows if r.provider == "glm")
    assert abs(glm_booked - glm_list / 2) <= 5  # at the batch price: half (rounded per line)
