"""``finetune distill`` (not ``--batch``) when the teacher answers with something that is no usable answer: content
``5``, content a list of numbers, null content without tool_calls, the role ``user``, a message that is null. Each is
its prompt's failure — reported by input line with the reason, kept out of the checkpoint, asked again by a rerun —
never a traceback, never a crash of the output write; and an answer like these already in a checkpoint (written by
an older version) is reported and asked again. (Before, any such message was checkpointed and crashed the output
write on every rerun.) A good answer whose usage counts a string, 10**30, -3 or 5000 digits of tokens is kept, asked
once, its cost reported as unknown.

A small teacher endpoint (aiohttp, port 0) that answers each prompt as the test says; ``distill`` as a child
process, as a user runs it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from finetune.teacher import Spend
from tests.conftest import start_site
from tests.finetune.test_teacher_loop import _prompts, _run

USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def reply(i: int, message: Any = None, usage: Any = USAGE) -> dict[str, Any]:
    """A chat completion; by default the good answer ``答 <i>``."""
    message = {"role": "assistant", "content": f"答 {i}"} if message is None else message
    return {"id": f"r{i}", "object": "chat.completion", "model": "teacher-1",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}  # fmt: skip


class Teacher:
    """The endpoint: which prompts (by number) it was asked, and how it answers prompt ``i``."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.answer: Callable[[int], dict[str, Any] | bytes] = reply

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        i = int(body["messages"][-1]["content"].rsplit(" ", 1)[1])
        self.asked.append(i)
        answer = self.answer(i)
        if isinstance(answer, bytes):  # JSON as it is (json.dumps writes no 5000-digit number)
            return web.Response(body=answer, content_type="application/json")
        return web.json_response(answer)

    async def serve(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        runner, url = await start_site(app, shutdown_timeout=0.1)
        yield url + "/v1"
        await runner.cleanup()


@pytest.fixture
async def teacher() -> AsyncIterator[tuple[Teacher, str]]:
    t = Teacher()
    async for url in t.serve():
        yield t, url


#: Prompt i -> (its reply, what stderr says about it). Prompts 0 and 9 are answered well.
BAD: dict[int, tuple[dict[str, Any], str]] = {
    1: (reply(1, {"role": "assistant", "content": 5}), "the answer's message is no chat message (Expected `str"),
    2: (reply(2, {"role": "assistant", "content": [1, 2]}), "the answer's message is no chat message (Expected"),
    3: (reply(3, {"role": "assistant", "content": None}), "the answer's message is empty: no content and no tool_c"),
    4: (reply(4, {"role": "user", "content": "答"}), 'the answer\'s message has the role "user", not assistant'),
    8: ({**reply(8), "choices": [{"index": 0, "message": None}]}, "the answer is not a chat completion"),
}


def _bad(i: int) -> dict[str, Any]:
    return BAD[i][0] if i in BAD else reply(i)


def _answers(out: Path) -> list[tuple[str, str]]:
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return [(r["messages"][1]["content"], r["messages"][-1]["content"]) for r in rows]


def _distill(tmp_path: Path, url: str, prompts: int, text: str, retries: int) -> tuple[Path, tuple[str, ...]]:
    """``prompts`` prompts written to ``p.jsonl`` (:func:`_prompts`); the output path and the distill command line
    that answers them through ``url`` with ``retries``."""
    _prompts(tmp_path / "p.jsonl", prompts, text)
    out = tmp_path / "out.jsonl"
    cmd = ("distill", str(tmp_path / "p.jsonl"), "-o", str(out), "--model", "route", "--base-url", url)
    return out, (*cmd, "--retries", str(retries))


def _said(err: str, n: int) -> list[str]:
    return [x for x in err.splitlines() if x.startswith(f"finetune: p.jsonl:{n}: ")]


async def test_bad_answers_fail_their_prompts_and_a_rerun_asks_only_them(
    tmp_path: Path, teacher: tuple[Teacher, str]
) -> None:
    """Ten prompts, five answered with no usable answer: exit 1 without a traceback; each of the five reported once,
    by input line, with the reason, after its retry (asked twice); only the five good answers checkpointed and
    written; no temporary file left. The rerun against a fixed endpoint asks exactly the five, exits 0 and ends
    with all ten answers in input order and the checkpoint removed."""
    t, url = teacher
    t.answer = _bad
    out, args = _distill(tmp_path, url, 10, "坏答", retries=1)
    code, _, err = await _run(*args)
    assert code == 1, err
    assert "Traceback" not in err
    for i, (_, reason) in BAD.items():
        said = _said(err, i + 1)
        assert len(said) == 1 and "failed after 2 tries: " + reason in said[0], (i, said, err)
    assert not _said(err, 1) and not _said(err, 10)
    assert sorted(t.asked) == sorted([0, 5, 6, 7, 9, *BAD, *BAD])
    assert _answers(out) == [(f"坏答 问题 {i}", f"答 {i}") for i in (0, 5, 6, 7, 9)]
    checkpoint = tmp_path / "out.checkpoint.jsonl"
    where = sorted(json.loads(x)["where"] for x in checkpoint.read_text(encoding="utf-8").splitlines())
    assert where == sorted(f"p.jsonl:{i + 1}" for i in (0, 5, 6, 7, 9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.checkpoint.jsonl", "out.jsonl", "p.jsonl"]

    t.answer, t.asked = reply, []
    code, _, err = await _run(*args)
    assert code == 0, err
    assert sorted(t.asked) == sorted(BAD)
    assert _answers(out) == [(f"坏答 问题 {i}", f"答 {i}") for i in range(10)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "p.jsonl"]


def _counting(i: int, where: str, count: bytes) -> bytes:
    """The good answer ``答 <i>`` (priced: a catalogue model) whose usage count ``where`` is the JSON ``count``."""
    usage = {**USAGE, where: "COUNT"}
    return json.dumps({**reply(i, usage=usage), "model": "deepseek-chat"}).encode().replace(b'"COUNT"', count)


#: Prompt i -> its answer, good but for its usage. Prompts 0 and 5 are answered well.
UNREADABLE = {
    1: _counting(1, "prompt_tokens", b'"9"'),
    2: _counting(2, "completion_tokens", b"1" + b"0" * 30),
    3: _counting(3, "prompt_tokens", b"-3"),
    4: _counting(4, "total_tokens", b"9" * 5000),
}


async def test_an_answer_whose_usage_is_no_token_counts_is_kept_and_its_cost_unknown(
    tmp_path: Path, teacher: tuple[Teacher, str]
) -> None:
    """Six prompts, four answered well but for usage counting a string, 10**30, -3 or 5000 digits of tokens: every
    answer is kept and written, each prompt asked once (before, those four were refused and asked again: paid twice,
    then reported as failed); each of the four is reported once by input line as of unknown cost, and the spend
    prices only the two others, saying it leaves four out. Exit 0, the checkpoint removed."""
    t, url = teacher
    t.answer = lambda i: UNREADABLE.get(i) or {**reply(i), "model": "deepseek-chat"}
    out, args = _distill(tmp_path, url, 6, "用量", retries=1)
    code, _, err = await _run(*args)
    assert code == 0, err
    assert "Traceback" not in err
    assert sorted(t.asked) == list(range(6))
    assert _answers(out) == [(f"用量 问题 {i}", f"答 {i}") for i in range(6)]
    for i in UNREADABLE:
        said = _said(err, i + 1)
        assert len(said) == 1 and "the answer's usage is no token counts (" in said[0], (i, said, err)
        assert said[0].endswith("): its cost is unknown, not in the spend") and "9" * 13 not in said[0], said
    assert not _said(err, 1) and not _said(err, 6)
    spend = Spend()
    for _ in range(2):
        spend.add("", "deepseek-chat", USAGE)
    spend.unknown = 4
    assert spend.micro > 0 and f"6 answers written to {out}; 0 failed, 24 tokens, {spend}\n" in err, err
    assert str(spend).endswith("(estimate, 4 of unknown usage not counted)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "p.jsonl"]


#: What an older version checkpointed for prompt i (by input line i + 1), and what stderr then says.
STALE: dict[int, tuple[dict[str, Any], str]] = {
    1: ({"role": "assistant", "content": 5}, "no usable answer (the answer's message is no chat message"),
    2: ({"role": "assistant"}, "no usable answer (the answer's message is empty"),
    3: ({"role": "system", "content": "答"}, 'no usable answer (the answer\'s message has the role "system"'),
}


async def test_a_bad_answer_already_in_the_checkpoint_is_reported_and_asked_again(
    tmp_path: Path, teacher: tuple[Teacher, str]
) -> None:
    """A checkpoint (left by a run with a failure) whose answers for three prompts are no usable answer, as an older
    version kept them: the rerun reports each by input line, asks exactly those and the failed prompt again, exits 0
    and writes all five answers in input order — the output write never crashes on the stale lines."""
    t, url = teacher
    t.answer = lambda i: {"error": {"message": "down"}} if i == 4 else reply(i)
    out, args = _distill(tmp_path, url, 5, "旧", retries=0)
    checkpoint = tmp_path / "out.checkpoint.jsonl"
    code, _, err = await _run(*args)
    assert code == 1 and "p.jsonl:5: failed after 1 tries: " in err, err
    entries = [json.loads(x) for x in checkpoint.read_text(encoding="utf-8").splitlines()]
    for e in entries:
        i = int(e["where"].rsplit(":", 1)[1]) - 1
        if i in STALE:
            e["message"] = STALE[i][0]
    checkpoint.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")

    t.answer, t.asked = reply, []
    code, _, err = await _run(*args)
    assert code == 0, err
    assert "Traceback" not in err
    for i, (_, reason) in STALE.items():
        said = _said(err, i + 1)
        assert len(said) == 1 and f"the answer in {checkpoint} is {reason}" in said[0] and "asking again" in said[0]
    assert sorted(t.asked) == [1, 2, 3, 4]
    assert _answers(out) == [(f"旧 问题 {i}", f"答 {i}") for i in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "p.jsonl"]
