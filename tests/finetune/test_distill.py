"""finetune distill against a live gateway: what an answer keeps, failures by line, resuming, safe output."""

from __future__ import annotations

import json
from pathlib import Path

from finetune.teacher import backoff
from tests.conftest import EmulatorHandle, GatewayHandle
from tests.finetune.test_teacher_loop import _prompts, _run
from tests.redis_server import free_port

REPLY = {
    "id": "chatcmpl-r1",
    "object": "chat.completion",
    "model": "deepseek-reasoner",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "先查天气。", "reasoning_content": "用户问天气，应调用工具。",
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "weather", "arguments": "{\"city\": \"北京\"}"}}]}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
}  # fmt: skip


async def test_answer_keeps_reasoning_and_tool_calls(
    tmp_path: Path, emulator: EmulatorHandle, gateway: GatewayHandle
) -> None:
    """The teacher's reasoning_content and tool_calls are written with its answer, after the prompt as read."""
    await emulator.fault("deepseek.a", "custom", status=200, body=REPLY)
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 1, "天气")
    code, _, err = await _run(
        "distill", str(prompts), "-o", str(out), "--model", "solo", "--base-url", gateway.url + "/v1"
    )
    assert code == 0, err
    answer = json.loads(out.read_text(encoding="utf-8"))["messages"][-1]
    assert answer["reasoning_content"] == "用户问天气，应调用工具。"
    assert answer["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city": "北京"}'}
    assert answer["content"] == "先查天气。"


async def test_a_failure_is_reported_by_line_and_retried_by_a_rerun(
    tmp_path: Path, emulator: EmulatorHandle, gateway: GatewayHandle
) -> None:
    """A prompt that still fails after its retries is named by file and line (exit 1, the others written); the
    rerun sends only that prompt and completes the output."""
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 4, "重试")
    await emulator.fault("deepseek.a", "server_error", count=1)
    args = ("distill", str(prompts), "-o", str(out), "--model", "solo", "--base-url", gateway.url + "/v1",
            "--concurrency", "1", "--retries", "0")  # fmt: skip
    code, _, err = await _run(*args)
    assert code == 1, err
    assert "p.jsonl:1: failed after 1 tries: HTTP 502" in err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    before = await emulator.requests("deepseek.a")
    code, _, err = await _run(*args)
    assert code == 0, err
    assert await emulator.requests("deepseek.a") == before + 1
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4


async def test_a_failed_call_is_retried_within_the_budget(
    tmp_path: Path, emulator: EmulatorHandle, gateway: GatewayHandle
) -> None:
    """A 5xx is retried (after the backoff) and the prompt is answered; nothing is reported."""
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 1, "等待")
    await emulator.fault("deepseek.a", "server_error", count=1)
    code, _, err = await _run("distill", str(prompts), "-o", str(out), "--model", "solo", "--base-url",
                              gateway.url + "/v1", "--retries", "1")  # fmt: skip
    assert code == 0, err
    assert await emulator.requests("deepseek.a") == 2
    assert "failed after" not in err


def test_backoff_honours_retry_after_up_to_a_cap() -> None:
    """The server's Retry-After decides the wait; without one it doubles from 0.5 s; never beyond the cap."""
    assert backoff(1, 2.5) == 2.5
    assert [backoff(n, None) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(1, 3600) == 60.0 and backoff(20, None) == 60.0


async def test_an_output_that_is_an_input_is_refused(tmp_path: Path, gateway: GatewayHandle) -> None:
    """distill never writes over its input (exit 2, the input unchanged)."""
    prompts = tmp_path / "p.jsonl"
    _prompts(prompts, 2, "安全")
    before = prompts.read_bytes()
    code, _, err = await _run("distill", str(prompts), "-o", str(prompts), "--model", "solo", "--base-url", gateway.url)
    assert code == 2 and "same file as an input" in err
    assert prompts.read_bytes() == before


async def test_a_run_that_answers_nothing_leaves_the_output_as_it_was(tmp_path: Path, gateway: GatewayHandle) -> None:
    """A rerun after a complete run (its checkpoint gone) that gets no answer at all (no gateway listening at the
    URL any more) does not replace the answers the first run wrote with an empty file: the output is left byte
    for byte, and the run says so and exits 1."""
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 2, "保留")
    args = ("distill", str(prompts), "-o", str(out), "--model", "solo", "--retries", "0")
    code, _, err = await _run(*args, "--base-url", gateway.url + "/v1")
    assert code == 0, err
    before = out.read_bytes()
    assert before.count(b"\n") == 2
    code, _, err = await _run(*args, "--base-url", f"http://127.0.0.1:{free_port()}/v1")
    assert code == 1, err
    assert out.read_bytes() == before
    assert f"{out} left as it was" in err
