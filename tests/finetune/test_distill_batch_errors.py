"""``finetune distill --batch`` when the gateway says no or is gone: a message naming the gateway, whether a
batch was sent and what to do, exit 2 — never the openai SDK's traceback; a batch the gateway forgot is
given up so a rerun can send a new one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EmulatorHandle, GatewayHandle
from tests.finetune.test_teacher_loop import _prompts, _run


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--api-key", "sk-not-a-client-key"], "Incorrect API key provided"),
        (["--model", "no-such-route"], "The model 'no-such-route' does not exist"),
        (["--base-url", "http://127.0.0.1:9/v1"], "http://127.0.0.1:9/v1: Connection error"),
    ],
)
async def test_a_refused_or_unreachable_gateway_is_a_message(
    tmp_path: Path, gateway: GatewayHandle, extra: list[str], message: str
) -> None:
    """A wrong client key (401), a route that does not exist (404) or no gateway listening: exit 2, the reason
    and 'no batch was sent (nothing paid)', no traceback, no output and no checkpoint left."""
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 2, "批量")
    args = {"--model": "chat", "--base-url": gateway.url + "/v1", "--retries": "0"}
    args.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    code, _, err = await _run(
        "distill", str(prompts), "-o", str(out), "--batch", *(x for kv in args.items() for x in kv)
    )
    assert code == 2, err
    assert message in err and "no batch was sent (nothing paid)" in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "out.checkpoint.jsonl").exists()


async def test_a_batch_the_gateway_forgot_is_given_up(
    tmp_path: Path, emulator: EmulatorHandle, gateway: GatewayHandle
) -> None:
    """The checkpoint holds an open batch the gateway no longer knows (it restarted without shared state): the
    run says so by line and exits 1 (no traceback), the batch is marked lost, and the rerun sends a new batch
    that answers every prompt — instead of polling the vanished batch on every rerun forever."""
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    ckpt = tmp_path / "out.checkpoint.jsonl"
    _prompts(prompts, 2, "遗失")
    ckpt.write_text(json.dumps({"batch": "batch_qiao_gone", "state": "open"}) + "\n")
    args = ("distill", str(prompts), "-o", str(out), "--model", "chat", "--batch", "--poll-s", "0.05",
            "--base-url", gateway.url + "/v1")  # fmt: skip
    code, _, err = await _run(*args)
    assert code == 1, err
    assert "p.jsonl:1: batch batch_qiao_gone is unknown to" in err and "Traceback" not in err
    assert {"batch": "batch_qiao_gone", "state": "lost"} in [json.loads(x) for x in ckpt.read_text().splitlines()]
    code, _, err = await _run(*args)
    assert code == 0, err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


async def test_negative_retries_are_refused(tmp_path: Path, gateway: GatewayHandle) -> None:
    """--retries -1 is a usage error (exit 2) before anything is sent — it used to make no attempt at all and
    report every prompt as unanswered, telling the user to rerun a command that could never ask."""
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 1, "负数")
    code, _, err = await _run("distill", str(prompts), "-o", str(out), "--model", "chat", "--retries", "-1",
                              "--base-url", gateway.url + "/v1")  # fmt: skip
    assert code == 2 and "--retries: -1 is not 0 or more" in err, err
    assert not out.exists()
