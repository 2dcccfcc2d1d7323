"""The gateway's transcript writer: real files, a real event loop, and the finetune round trip."""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from balancer.transcripts import TranscriptRecord, TranscriptWriter, utc_now
from finetune.cli import main


def record(i: int = 0, **kw: Any) -> TranscriptRecord:
    """A transcript record with a Chinese prompt and answer."""
    fields: dict[str, Any] = {
        "ts": utc_now(),
        "request_id": f"req-{i}",
        "route": "chat",
        "provider": "deepseek-main",
        "vendor": "deepseek",
        "model": "deepseek-chat",
        "request": {
            "model": "deepseek-chat",
            "messages": [{"role": "user", "content": f"你好，第{i}个问题？"}],
        },
        "response": {"role": "assistant", "content": f"您好！这是第{i}个回答。", "finish_reason": "stop"},
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        "latency_ms": 12.5,
    }
    fields.update(kw)
    return TranscriptRecord(**fields)


def read_all(directory: Path) -> list[dict[str, Any]]:
    """Every record in every transcript file of a directory, in file order."""
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.glob("transcripts-*.jsonl.gz")):
        with gzip.open(path, "rb") as f:
            rows += [msgspec.json.decode(line) for line in f]
    return rows


async def test_records_land_in_gzip_jsonl(tmp_path: Path) -> None:
    """Submitted records are written as gzip JSONL with every documented field."""
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    assert all(writer.submit(record(i)) for i in range(3))
    await writer.close()
    rows = read_all(tmp_path)
    assert [r["request_id"] for r in rows] == ["req-0", "req-1", "req-2"]
    assert rows[0]["v"] == 1 and rows[0]["response"]["content"] == "您好！这是第0个回答。"
    assert set(rows[0]) >= {"ts", "route", "provider", "vendor", "model", "usage", "latency_ms", "stream"}
    assert re.fullmatch(r"transcripts-\d{8}T\d{6}-1\.jsonl\.gz", writer.files[0].name)


async def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    """When the bounded queue is full, submit returns False and counts the drop."""
    writer = TranscriptWriter(tmp_path, queue_size=2)
    results = [writer.submit(record(i)) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert writer.dropped == 3
    await writer.start()
    await writer.close()
    assert len(read_all(tmp_path)) == 2


async def test_sampling_drops_deterministically(tmp_path: Path) -> None:
    """A sample rate below 1 keeps a seeded share of records and counts the rest as dropped."""
    writer = TranscriptWriter(tmp_path, sample_rate=0.5, rng=random.Random(7))
    await writer.start()
    kept = sum(writer.submit(record(i)) for i in range(200))
    await writer.close()
    assert 60 < kept < 140
    assert writer.dropped == 200 - kept
    assert len(read_all(tmp_path)) == kept


async def test_rotation_at_max_bytes(tmp_path: Path) -> None:
    """Files rotate once they reach max_bytes, and every file is readable on its own."""
    writer = TranscriptWriter(tmp_path, max_bytes=200, batch_size=1)
    await writer.start()
    for i in range(5):
        writer.submit(record(i))
    await writer.close()
    assert len(writer.files) >= 3
    assert [r["request_id"] for r in read_all(tmp_path)] == [f"req-{i}" for i in range(5)]


async def test_secrets_are_never_written(tmp_path: Path) -> None:
    """Secret-named keys are removed from requests (dict or raw bytes) and responses."""
    raw = msgspec.Raw(b'{"messages":[],"api_key":"sk-raw-secret","extra":{"Authorization":"Bearer x"}}')
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    writer.submit(record(0, request={"messages": [], "headers": {"authorization": "Bearer sk-1"}, "apiKey": "k"}))
    writer.submit(record(1, request=raw, response={"content": "ok", "x-api-key": "sk-2"}))
    await writer.close()
    text = b"".join(gzip.decompress(p.read_bytes()) for p in writer.files)
    assert b"sk-" not in text and b"Bearer" not in text


async def test_optional_pii_scrubbing(tmp_path: Path) -> None:
    """With scrub_pii, mobile numbers and emails in messages are replaced; full-width text survives."""
    req = {"messages": [{"role": "user", "content": "我的手机是13812345678，邮箱a@b.cn。"}]}
    writer = TranscriptWriter(tmp_path, scrub_pii=True)
    await writer.start()
    writer.submit(record(0, request=req))
    await writer.close()
    assert read_all(tmp_path)[0]["request"]["messages"][0]["content"] == "我的手机是[PHONE]，邮箱[EMAIL]。"


async def test_write_errors_are_counted_not_raised(tmp_path: Path) -> None:
    """A record that cannot be encoded is counted as an error; later records are still written."""
    writer = TranscriptWriter(tmp_path, batch_size=1)
    await writer.start()
    writer.submit(record(0, response={"bad": object()}))
    writer.submit(record(1))
    await writer.close()
    assert writer.errors == 1
    assert [r["request_id"] for r in read_all(tmp_path)] == ["req-1"]


async def test_submit_after_close_is_dropped(tmp_path: Path) -> None:
    """After close, submit returns False instead of raising."""
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    await writer.close()
    assert writer.submit(record()) is False and writer.dropped == 1


async def test_round_trip_through_finetune_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Transcript files convert directly with finetune, provenance filters included."""
    writer = TranscriptWriter(tmp_path / "t")
    await writer.start()
    writer.submit(record(0))
    writer.submit(record(1, vendor="openai", provider="oa", model="gpt-4o"))
    await writer.close()
    out = tmp_path / "out.jsonl"
    code = main(["convert", "--to", "bailian", *map(str, writer.files), "-o", str(out), "--provider", "deepseek*"])
    assert code == 0, capsys.readouterr().err
    rows = [msgspec.json.decode(line) for line in out.read_bytes().splitlines()]
    assert rows == [
        {
            "messages": [
                {"role": "user", "content": "你好，第0个问题？"},
                {"role": "assistant", "content": "您好！这是第0个回答。"},
            ]
        }
    ]


async def test_close_without_start_still_writes(tmp_path: Path) -> None:
    """Records queued before start() are written by close() even if the task never ran."""
    writer = TranscriptWriter(tmp_path)
    writer.submit(record(0))
    await writer.close()
    assert [r["request_id"] for r in read_all(tmp_path)] == ["req-0"]


async def test_secret_keys_spelled_with_json_escapes_are_removed(tmp_path: Path) -> None:
    """A raw request whose secret-named keys are written with JSON escapes (``"\\u0070assword"`` is
    ``password`` to any reader) loses them too; Chinese text escaped as ``\\uXXXX`` is kept."""
    raw = msgspec.Raw(
        b'{"messages":[{"role":"user","content":"\\u4f60\\u597d"}],'
        b'"\\u0070assword":"hunter2","\\u0061uthorization":"Bearer sk-live"}'
    )
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    writer.submit(record(0, request=raw))
    await writer.close()
    text = b"".join(gzip.decompress(p.read_bytes()) for p in writer.files)
    assert b"hunter2" not in text and b"sk-live" not in text
    assert read_all(tmp_path)[0]["request"]["messages"][0]["content"] == "你好"


async def test_camel_case_and_compound_secret_names_are_removed(tmp_path: Path) -> None:
    """Secret names spelled camelCase or compound (``clientSecret``, ``accessToken``, ``userPassword``,
    ``aws_secret_access_key``, ``X-Auth-Token``) are removed like their snake_case forms, from dict
    and raw requests; ordinary keys (``max_tokens``, ``keywords``) stay."""
    secrets = {
        "clientSecret": "s1-leak",
        "accessToken": "s2-leak",
        "userPassword": "s3-leak",
        "aws_secret_access_key": "s4-leak",
        "X-Auth-Token": "s5-leak",
        "refreshToken": "s6-leak",
    }
    kept = {"max_tokens": 5, "keywords": ["天气"], "messages": []}
    raw = msgspec.Raw(msgspec.json.encode({**kept, "metadata": secrets}))
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    writer.submit(record(0, request={**kept, "tools": [{"extra": secrets}]}))
    writer.submit(record(1, request=raw, response={"content": "ok", "meta": secrets}))
    await writer.close()
    text = b"".join(gzip.decompress(p.read_bytes()) for p in writer.files)
    assert b"-leak" not in text
    rows = read_all(tmp_path)
    assert all(r["request"]["max_tokens"] == 5 and r["request"]["keywords"] == ["天气"] for r in rows)


async def test_files_are_private_to_the_owner(tmp_path: Path) -> None:
    """Transcripts hold users' conversations: the directory the writer creates is 0700 and each file
    0600, whatever the process umask."""
    old = os.umask(0o022)
    try:
        writer = TranscriptWriter(tmp_path / "t")
        await writer.start()
        writer.submit(record(0))
        await writer.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in writer.files] == [0o600]


async def test_deleted_directory_is_recreated_and_records_are_not_lost(tmp_path: Path) -> None:
    """If the transcript directory is deleted while a file is open, the next batch goes to a new file in
    a re-created directory instead of into the deleted file, where it could never be read."""
    directory = tmp_path / "t"
    writer = TranscriptWriter(directory)
    await writer.start()
    writer.submit(record(0))
    for _ in range(500):  # bounded wait for the first batch
        if writer.written:
            break
        await asyncio.sleep(0.01)
    assert writer.written == 1
    shutil.rmtree(directory)
    writer.submit(record(1))
    await writer.close()
    assert [r["request_id"] for r in read_all(directory)] == ["req-1"] and writer.errors == 0


async def test_a_record_that_cannot_be_encoded_costs_only_itself(tmp_path: Path) -> None:
    """One unencodable record in a batch is counted as an error; the other records of its batch are written."""
    writer = TranscriptWriter(tmp_path)
    writer.submit(record(0))
    writer.submit(record(1, response={"bad": object()}))
    writer.submit(record(2))
    await writer.start()
    await writer.close()
    assert writer.errors == 1 and writer.written == 2
    assert [r["request_id"] for r in read_all(tmp_path)] == ["req-0", "req-2"]


async def test_pii_scrubbing_catches_common_chinese_spellings(tmp_path: Path) -> None:
    """With scrub_pii, the ways Chinese users actually write PII are caught: a 19-digit UnionPay card
    printed 4-4-4-4-3, a 身份证 number spaced 6-8-4, a mobile number in full-width digits (IME input);
    every other byte of the text is kept as is."""
    card = "6222021234567890128"  # Luhn-valid, 19 digits
    spaced_card = " ".join(card[i : i + 4] for i in range(0, 19, 4))
    text = f"卡号：{spaced_card}，身份证 110105 19491231 002X；手机１３８１２３４５６７８。订单号 2024 0101 0001。"
    req = {"messages": [{"role": "user", "content": text}]}
    writer = TranscriptWriter(tmp_path, scrub_pii=True)
    await writer.start()
    writer.submit(record(0, request=req))
    await writer.close()
    content = read_all(tmp_path)[0]["request"]["messages"][0]["content"]
    assert content == "卡号：[CARD]，身份证 [ID]；手机[PHONE]。订单号 2024 0101 0001。"


async def test_a_directory_that_cannot_be_created_is_logged_not_raised(tmp_path: Path) -> None:
    """A transcripts directory that turns out to be a file when the writer starts (created after `balancer check`
    passed) does not raise out of start (before: FileExistsError, a traceback at serve): the log says
    ``transcripts_write_failed`` once, records are counted as errors, and once the file is gone they are written."""
    blocked = tmp_path / "transcripts"
    blocked.write_text("a file")
    writer = TranscriptWriter(blocked, batch_size=1)
    with structlog.testing.capture_logs() as logs:
        await writer.start()
        assert writer.submit(record(0))
        for _ in range(500):  # bounded: until the batch has failed
            if writer.errors:
                break
            await asyncio.sleep(0.01)
        blocked.unlink()
        writer.submit(record(1))
        await writer.close()
    assert writer.errors == 1 and writer.written == 1
    assert [e["event"] for e in logs] == ["transcripts_write_failed", "transcripts_write_resumed"]
    assert [r["request_id"] for r in read_all(blocked)] == ["req-1"]
