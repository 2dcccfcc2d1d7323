"""``finetune distill --batch`` when the vendor's batch output file holds broken lines: no JSON, nested 100000 levels
deep, the wrong shape, a chat message that is none, a line twice. Each prompt is settled once — its answer kept, or
its failure reported by input line with the output line and the reason (for a line that failed with a status, the
error its body states, key-shaped tokens masked) — lines naming no request are reported by output line, the good
answers are written, and a rerun asks (in a new batch) exactly the prompts left, never a traceback, a lost or a
duplicated record. (Before, any such line stopped the run with a traceback.) A good answer whose usage counts -5
tokens is kept, its cost reported as unknown (it was refused, and asked again in the next batch).

A small vendor batch API (:mod:`tests.balancer.batch_upstream`) behind a real gateway; ``distill`` as a child
process, as a user runs it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.balancer.batch_upstream import BatchVendor, completion, good, output_line
from tests.conftest import GatewayFactory, GatewayHandle
from tests.finetune.test_teacher_loop import _prompts, _run


@pytest.fixture
async def vendor() -> AsyncIterator[tuple[BatchVendor, str]]:
    v = BatchVendor()
    async for url in v.serve():
        yield v, url


async def _gateway(make_gateway: GatewayFactory, url: str) -> GatewayHandle:
    """A gateway whose route ``bq`` is Qwen's batch API at ``url``."""

    def edit(raw: dict[str, Any]) -> None:
        raw["providers"]["qwen"]["base_url"] = url
        raw["routes"]["bq"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}

    gw: GatewayHandle = await make_gateway(edit)
    return gw


def _with_body(line: dict[str, Any], **changes: Any) -> bytes:
    return output_line(line, {**completion(line), **changes})


def _broken(i: int, line: dict[str, Any]) -> bytes:
    """Prompt ``i``'s output: 0 and 7 good (7 twice, the second another answer), 5 good but for its usage, the others
    broken."""
    cid = line["custom_id"].encode()
    message = {"role": "assistant", "content": 5}
    broken = {
        1: b'{"custom_id": "' + cid + b'", "response": {\n',  # no JSON (cut off)
        2: good(i, line).replace(b'"error": null', b'"x": ' + b"[" * 100000 + b"]" * 100000, 1),  # too deep
        3: json.dumps({"custom_id": line["custom_id"], "response": "ok"}).encode() + b"\n",  # wrong shape
        4: _with_body(line, choices=[{"index": 0, "message": message, "finish_reason": "stop"}]),
        5: output_line(
            line, completion(line, f"答 {i}", {"prompt_tokens": -5, "completion_tokens": 1, "total_tokens": -4})
        ),
        6: _with_body(line, choices="x"),
        7: good(i, line) + output_line(line, completion(line, "另一个答案")),
        8: output_line(line, {"error": {"code": "internal", "message": "boom for sk-abcdef1234567890"}}, 500),
        9: b"[1, 2]\n",
    }
    return broken.get(i) or good(i, line)


#: What stderr says about prompt line N of p.jsonl (each exactly once).
REASONS = {
    2: "no answer in batch",
    3: "no answer in batch",
    4: "not a batch output line (Expected `object | null`, got `str` - at `$.response`)",
    5: "the answer's message is no chat message",
    6: "the answer's usage is no token counts (prompt_tokens below 0: -5): its cost is unknown, not",
    7: "the answer is not a chat completion",
    9: "failed in the batch: status 500: internal: boom for [redacted]",  # the body's error, key-shaped token masked
    10: "no answer in batch",
}


async def test_broken_output_lines_fail_their_prompts_and_a_rerun_asks_them_again(
    tmp_path: Path, vendor: tuple[BatchVendor, str], make_gateway: GatewayFactory
) -> None:
    """Ten prompts, seven answered by broken output lines: exit 1 without a traceback; each broken prompt reported
    once, by its input line, with the reason (by output line for lines naming no request); the three good answers
    written once each (the first of a repeated custom_id's lines; the one whose usage is -5 tokens reported as of
    unknown cost); nothing half-written; the rerun sends a batch of exactly the seven left and ends with all ten
    answers in input order."""
    v, url = vendor
    v.answer = _broken
    gw = await _gateway(make_gateway, url)
    prompts, out = tmp_path / "p.jsonl", tmp_path / "out.jsonl"
    _prompts(prompts, 10, "坏行")
    args = ("distill", str(prompts), "-o", str(out), "--model", "bq", "--batch", "--poll-s", "0.05",
            "--base-url", gw.url + "/v1")  # fmt: skip
    code, _, err = await _run(*args)
    assert code == 1, err
    assert "Traceback" not in err
    for n, reason in REASONS.items():
        said = [x for x in err.splitlines() if x.startswith(f"finetune: p.jsonl:{n}: ")]
        assert len(said) == 1 and reason in said[0], (n, said)
    assert not [x for x in err.splitlines() if x.startswith(("finetune: p.jsonl:1: ", "finetune: p.jsonl:8: "))]
    for line in (2, 3, 11):
        assert f"output line {line}: " in err and "it names no request, so it is skipped" in err
    assert "levels deep; at most 100 are read" in err and "not JSON" in err
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == ["答 0", "答 5", "答 7"]
    assert "(estimate, 1 of unknown usage not counted)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.checkpoint.jsonl", "out.jsonl", "p.jsonl"]

    v.answer = good
    code, _, err = await _run(*args)
    assert code == 0, err
    first = [line["custom_id"] for line in v.uploads[0]]
    assert [line["custom_id"] for line in v.uploads[1]] == first[1:5] + first[6:7] + first[8:]
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][1]["content"] for r in rows] == [f"坏行 问题 {i}" for i in range(10)]
    assert [r["messages"][-1]["content"] for r in rows] == ["答 0", *(f"答 {i}" for i in range(4)), "答 5", "答 4",
                                                            "答 7", "答 5", "答 6"]  # fmt: skip
