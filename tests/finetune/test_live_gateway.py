"""Transcripts from the gateway's real writer, converted by ``python -m finetune`` as a user would.

The writer is :class:`balancer.transcripts.TranscriptWriter` on a real event loop; files are copied
while it still has them open, as one would copy them off a live gateway.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

from balancer.transcripts import TranscriptRecord, TranscriptWriter, utc_now
from tests.finetune.conftest import finetune, no_traceback, read_jsonl

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def record(i: int, tools: bool = False) -> TranscriptRecord:
    """A logged chat completion; with ``tools``, the request holds a weather tool exchange."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"第{i}个问题：北京天气怎么样？"}]
    request: dict[str, Any] = {"model": "chat", "messages": messages}
    if tools:
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"北京"}'}}
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": '{"temp_c": 14}'},
        ]
        request["tools"] = TOOLS
    return TranscriptRecord(
        ts=utc_now(),
        request_id=f"req-{i}",
        route="chat",
        provider="deepseek-main",
        vendor="deepseek",
        model="deepseek-chat",
        request=request,
        response={"role": "assistant", "content": f"北京今天晴，14°C。（{i}）", "finish_reason": "stop"},
    )


async def write_live(directory: Path, records: list[TranscriptRecord], copy_to: Path) -> None:
    """Let the real writer write ``records``, copy its file while it is still open, then close it."""
    writer = TranscriptWriter(directory, batch_size=16)
    await writer.start()
    for r in records:
        assert writer.submit(r)
    while writer.written < len(records):
        await asyncio.sleep(0.005)
    shutil.copyfile(writer.files[0], copy_to)  # the gzip stream has no end marker yet
    await writer.close()


async def test_half_written_transcript_converts_up_to_the_last_complete_line(tmp_path: Path) -> None:
    """A .gz copied from a running gateway converts in full with a warning, exit 0, no traceback;
    the same copy cut mid-batch yields exactly the leading complete records and says bytes were left."""
    copy = tmp_path / "copy.jsonl.gz"
    await write_live(tmp_path / "live", [record(i) for i in range(40)], copy)
    done = finetune("convert", copy, "--to", "bailian", "-o", tmp_path / "all.jsonl")
    assert done.returncode == 0 and no_traceback(done.stderr), done.stderr
    assert "40 lines read, 40 samples written" in done.stderr and "[input.incomplete]" in done.stderr
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(copy.read_bytes()[:-40])  # as if copied in the middle of a write
    done = finetune("convert", cut, "--to", "bailian", "-o", tmp_path / "cut.jsonl", "--dedup", "none")
    assert done.returncode == 0 and no_traceback(done.stderr), done.stderr
    rows = read_jsonl(tmp_path / "cut.jsonl")
    assert 0 < len(rows) < 40
    assert [r["messages"][0]["content"] for r in rows] == [f"第{i}个问题：北京天气怎么样？" for i in range(len(rows))]
    left = re.search(r"(\d+) bytes of an incomplete line left for a later run", done.stderr)
    assert left is not None, done.stderr


async def test_tool_log_converts_with_tool_turns_dropped(tmp_path: Path) -> None:
    """A log where 20% of conversations used tools: zhipu (no tools) rejects them and exits 1 over
    --max-reject with a hint; with --drop-tools every conversation is kept, minus its tool turns."""
    log = tmp_path / "log.jsonl.gz"
    await write_live(tmp_path / "live", [record(i, tools=i % 5 == 0) for i in range(50)], log)
    strict = finetune("convert", log, "--to", "zhipu", "-o", tmp_path / "a.jsonl")
    assert strict.returncode == 1 and "10 of 50 lines rejected (20.0%)" in strict.stderr
    assert "--drop-tools" in strict.stderr and len(read_jsonl(tmp_path / "a.jsonl")) == 40
    report = tmp_path / "report.jsonl"
    kept = finetune("convert", log, "--to", "zhipu", "--drop-tools", "-o", tmp_path / "b.jsonl", "--report", report)
    assert kept.returncode == 0 and no_traceback(kept.stderr), kept.stderr
    rows = read_jsonl(tmp_path / "b.jsonl")
    assert len(rows) == 50 and all(set(r) == {"messages"} for r in rows)
    assert all(m["role"] in {"user", "assistant"} and "tool_calls" not in m for r in rows for m in r["messages"])
    assert rows[0]["messages"] == [
        {"role": "user", "content": "第0个问题：北京天气怎么样？"},
        {"role": "assistant", "content": "北京今天晴，14°C。（0）"},
    ]
    altered = [i for i in read_jsonl(report) if i["rule"] == "transform.drop_tools"]
    assert [i["line"] for i in altered] == [1, 6, 11, 16, 21, 26, 31, 36, 41, 46]
    assert altered[0]["action"] == "altered"
