"""Transcript capture in the gateway: opt-in per route or key, streams assembled, secrets stripped,
and the files convert end to end with `finetune convert`."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
import resource
import subprocess
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from balancer.config import hash_key
from finetune.cli import main as finetune_main
from tests.conftest import CHAT, CLIENT_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth


def records(directory: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(directory.glob("transcripts-*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return out


async def capturing(
    make_gateway: GatewayFactory, directory: Path, ds_a_key: str = "", **settings: Any
) -> GatewayHandle:
    """A gateway writing route ``chat``'s conversations to ``directory`` (``settings``: more of the transcripts
    section; ``ds_a_key``: ds-a's provider key, when the test pastes it)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["transcripts"] = {"directory": str(directory), **settings}
        cfg["routes"]["chat"]["transcripts"] = True
        if ds_a_key:
            cfg["providers"]["ds-a"]["api_key"] = ds_a_key

    return await make_gateway(edit)


async def test_capture_end_to_end(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Opted-in routes and keys are recorded (streams assembled, tool calls kept, secrets dropped);
    others are not; finetune converts the files."""
    directory = tmp_path / "transcripts"

    def edit(cfg: dict[str, Any]) -> None:
        cfg["transcripts"] = {"directory": str(directory)}
        cfg["routes"]["chat"]["transcripts"] = True
        cfg["client_keys"].append({"name": "logged", "key_sha256": hash_key("sk-logged-key"), "transcripts": True})

    gw = await make_gateway(edit)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    client = gw.client()
    await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "你好，请回答！"}])
    stream = await client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "查一下天气"}],
        tools=tools,
        stream=True,  # type: ignore[arg-type]
    )
    async for _ in stream:
        pass
    await client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "not logged"}])
    body = {**CHAT, "model": "solo", "api_key": "sk-secret-in-body"}
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth("sk-logged-key")) as r:
        assert r.status == 200
    assert gw.gw.capture is not None
    await gw.gw.capture.close()

    recs = records(directory)
    assert len(recs) == 3
    plain, streamed, by_key = recs
    assert plain["route"] == "chat" and plain["provider"] == "ds-a" and plain["vendor"] == "deepseek"
    assert plain["request"]["messages"][0]["content"] == "你好，请回答！"  # full-width punctuation kept
    assert plain["response"]["content"] and plain["usage"]["total_tokens"] > 0 and not plain["stream"]
    assert streamed["stream"] and streamed["response"]["tool_calls"][0]["function"]["name"] == "lookup"
    assert streamed["response"]["finish_reason"] == "tool_calls"
    assert by_key["route"] == "solo" and "api_key" not in by_key["request"]
    assert "sk-secret-in-body" not in json.dumps(recs)

    out = tmp_path / "train.jsonl"
    assert finetune_main(["convert", "--to", "bailian", *map(str, sorted(directory.glob("*.gz"))), "-o", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert any(m["content"] == "你好，请回答！" for line in lines for m in line["messages"])


async def test_pretty_printed_body_stays_one_line(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A client body sent pretty-printed with a trailing newline (``json.dumps(indent=2)``, ``curl
    --data-binary @file``) is still one JSONL line per record: every line of the file is a whole record."""
    directory = tmp_path / "transcripts"

    gw = await capturing(make_gateway, directory)
    body = json.dumps({**CHAT, "model": "chat", "messages": [{"role": "user", "content": "你好，\n换行！"}]}, indent=2)
    for _ in range(2):
        async with http.post(
            gw.url + "/v1/chat/completions",
            data=(body + "\n").encode(),
            headers={**auth(), "Content-Type": "application/json"},
        ) as r:
            assert r.status == 200
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    lines = [line for f in sorted(directory.glob("*.gz")) for line in gzip.decompress(f.read_bytes()).splitlines()]
    assert len(lines) == 2
    recs = [json.loads(line) for line in lines]
    assert [r["request"]["messages"][0]["content"] for r in recs] == ["你好，\n换行！"] * 2


def _lines_on_disk(directory: Path) -> list[bytes]:
    """Every byte of every file as far as it decompresses (a file cut mid-stream included), split at line ends."""
    data = b""
    for f in sorted(directory.glob("transcripts-*.jsonl.gz")):
        d = zlib.decompressobj(31)
        try:
            data += d.decompress(f.read_bytes())
        except zlib.error:
            data += b"<corrupt gzip>"
    return data.split(b"\n")


async def test_full_disk_keeps_serving_logs_once_and_writes_no_partial_line(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """When the transcript directory's disk fills up, every request is still answered, the log says so
    once (``transcripts_write_failed``), and what is on disk is whole records only: each file decompresses,
    every line is a JSON record, none is cut."""
    directory = tmp_path / "small"
    directory.mkdir()
    mounted = not subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(directory)]).returncode
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    if not mounted:  # no mount permission: a 48 KB file size limit on this process (EFBIG through the same code)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, limit[1]))
    try:

        def edit(cfg: dict[str, Any]) -> None:
            cfg["transcripts"] = {"directory": str(directory)}
            cfg["routes"]["chat"]["transcripts"] = True

        gw = await make_gateway(edit)
        assert gw.gw.capture is not None
        writer = gw.gw.capture.writer
        with structlog.testing.capture_logs() as logs:
            for i in range(40):
                text = f"第{i}条：" + base64.b64encode(random.Random(i).randbytes(3000)).decode()
                body = {**CHAT, "model": "chat", "messages": [{"role": "user", "content": text}]}
                async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
                    assert r.status == 200
                for _ in range(200):  # bounded: the record's batch is written or failed
                    if writer.written + writer.errors > i:
                        break
                    await asyncio.sleep(0.01)
            await gw.gw.capture.close()
        assert writer.errors > 0
        assert [e["event"] for e in logs].count("transcripts_write_failed") == 1
        *whole, tail = _lines_on_disk(directory)
        assert tail == b""  # no record cut in the middle
        assert len(whole) == writer.written and all(json.loads(line)["route"] == "chat" for line in whole)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], check=False)


async def test_cut_streams_are_not_captured(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Only finished answers are transcripts: a stream the upstream cuts, or the client leaves, writes no
    record (and no part of one); a complete stream after them is written whole."""
    directory = tmp_path / "transcripts"

    gw = await capturing(make_gateway, directory)
    assert gw.gw.capture is not None
    body = {**CHAT, "model": "chat", "stream": True}
    with structlog.testing.capture_logs() as logs:
        for target in ("deepseek.a", "deepseek.b"):
            await emulator.fault(target, "truncate_stream")
        async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            await r.read()
        await emulator.clear()
        for target in ("deepseek.a", "deepseek.b"):
            await emulator.fault(target, "stall_stream")
        async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            await r.content.readany()  # the first bytes, then the client goes away
            r.close()
        for _ in range(1000):  # bounded: until the gateway has finished both requests
            if [e["event"] for e in logs].count("request_done") >= 2:
                break
            await asyncio.sleep(0.01)
        assert [e["event"] for e in logs].count("request_done") >= 2
    await emulator.clear()
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        await r.read()
    await gw.gw.capture.close()
    *whole, tail = _lines_on_disk(directory)
    assert tail == b"" and len(whole) == 1
    assert json.loads(whole[0])["response"]["finish_reason"] == "stop"


async def test_keys_pasted_into_messages_are_not_written(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A key the gateway knows (the client's own key, a provider's key) pasted into a message, a tool
    call's arguments or ``metadata`` is replaced by ``[REDACTED]``; the rest of the text is kept byte for byte."""
    directory = tmp_path / "transcripts"
    vendor_key = "sk-vendor-ds-a-0123456789abcdef"

    gw = await capturing(make_gateway, directory, ds_a_key=vendor_key)
    messages = [
        {"role": "user", "content": f"我的密钥是{CLIENT_KEY}，供应商的是「{vendor_key}」。"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "login", "arguments": json.dumps({"text": vendor_key})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "好的"},
    ]
    body = {**CHAT, "model": "chat", "messages": messages, "metadata": {"note": CLIENT_KEY}}
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 200
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    (rec,) = records(directory)
    text = json.dumps(rec, ensure_ascii=False)
    assert CLIENT_KEY not in text and vendor_key not in text
    assert rec["request"]["messages"][0]["content"] == "我的密钥是[REDACTED]，供应商的是「[REDACTED]」。"
    assert json.loads(rec["request"]["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"text": "[REDACTED]"}


async def test_scrubbed_tool_call_arguments_stay_json(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A tool call's arguments (and a tool's JSON result) are JSON in a string: with scrub_pii on, their
    secret-named keys are removed and their PII (a phone as a string or as a number) replaced, and what the
    gateway writes is still JSON of the same shape — it parses, and ``finetune convert`` takes the line
    (before: ``"password"`` inside the string was kept and a numeric phone became ``[PHONE]``, not JSON)."""
    directory = tmp_path / "transcripts"

    gw = await capturing(make_gateway, directory, scrub_pii=True)
    args = {"password": "hunter2-pw", "phone": 13800138000, "mobile": "13800138000", "city": "北京"}
    call = {"id": "c1", "type": "function", "function": {"name": "book", "arguments": json.dumps(args)}}
    result = json.dumps({"api_key": "sk-tool-result-leak", "booked": True, "tel": 13900139000})
    tools = [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "user", "content": "订票"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": result},
        {"role": "user", "content": "再订一张"},
    ]
    body = {**CHAT, "model": "chat", "messages": messages, "tools": tools}
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 200
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    (rec,) = records(directory)
    text = json.dumps(rec, ensure_ascii=False)
    assert "hunter2-pw" not in text and "sk-tool-result-leak" not in text and "1380013" not in text
    sent = rec["request"]["messages"]
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {
        "phone": "[PHONE]",
        "mobile": "[PHONE]",
        "city": "北京",
    }
    assert json.loads(sent[2]["content"]) == {"booked": True, "tel": "[PHONE]"}
    assert json.loads(rec["response"]["tool_calls"][0]["function"]["arguments"]) == {"query": "再订一张"}

    out = tmp_path / "train.jsonl"
    files = [str(f) for f in sorted(directory.glob("*.gz"))]
    assert finetune_main(["convert", "--to", "bailian", *files, "-o", str(out)]) == 0
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    calls = [c for m in line["messages"] for c in m.get("tool_calls") or ()]
    parsed = [json.loads(c["function"]["arguments"]) for c in calls]
    assert len(parsed) == 2 and parsed[0]["city"] == "北京" and parsed[1] == {"query": "再订一张"}


async def test_known_key_with_escaped_slashes_is_not_written(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A provider key with slashes (Baidu's ``bce-v3/ALTAK-…/…``) pasted into a message by a client whose JSON
    encoder writes ``/`` as ``\\/`` (PHP's json_encode does by default) — in the text and inside a tool call's
    arguments — is still replaced by ``[REDACTED]`` (before: the bytes did not hold it verbatim, so the body
    was written as sent, and every reader decodes the key back)."""
    directory = tmp_path / "transcripts"
    vendor_key = "bce-v3/ALTAK-abcdef123456/0123456789abcdef"

    gw = await capturing(make_gateway, directory, ds_a_key=vendor_key)
    args = json.dumps({"text": vendor_key}).replace("/", "\\/")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}
    messages = [
        {"role": "user", "content": f"key: {vendor_key}"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "好"},
        {"role": "user", "content": "好"},
    ]
    body = json.dumps({**CHAT, "model": "chat", "messages": messages}).replace("/", "\\/")
    headers = {**auth(), "Content-Type": "application/json"}
    async with http.post(gw.url + "/v1/chat/completions", data=body.encode(), headers=headers) as r:
        assert r.status == 200
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    (rec,) = records(directory)
    sent = rec["request"]["messages"]
    assert sent[0]["content"] == "key: [REDACTED]"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"text": "[REDACTED]"}
    assert "ALTAK-abcdef123456" not in json.dumps(rec)


async def test_tool_schemas_with_secret_named_properties_stay_valid_and_convert(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A tool whose parameters have a ``password`` property (a value hidden in its ``default`` and ``enum``) and
    a tool call whose arguments hold a ``credentials`` object: the transcript the gateway writes keeps the
    property with its type and description, so every ``required`` name is a property (before: ``password`` was
    removed and ``required`` named a property that was not there), writes ``credentials`` as ``{}``, holds no
    secret value, and ``finetune convert`` takes the line with the tools as written."""
    directory = tmp_path / "transcripts"

    gw = await capturing(make_gateway, directory)
    password = {"type": "string", "description": "登录密码", "default": "hunter2-default", "enum": ["sk-live-enum"]}
    parameters = {
        "type": "object",
        "properties": {"user": {"type": "string"}, "password": password, "credentials": {"type": "object"}},
        "required": ["user", "password"],
    }
    tools = [{"type": "function", "function": {"name": "login", "parameters": parameters}}]
    args = json.dumps({"user": "bob", "credentials": {"otp": "hunter2-otp"}})
    messages = [
        {"role": "user", "content": "帮我登录"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "login", "arguments": args}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "好的"},
        {"role": "user", "content": "再登录一次"},
    ]
    body = {**CHAT, "model": "chat", "messages": messages, "tools": tools}
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 200, await r.text()
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    (rec,) = records(directory)
    written = rec["request"]["tools"][0]["function"]["parameters"]
    assert written["properties"]["password"] == {"type": "string", "description": "登录密码"}
    assert set(written["required"]) <= set(written["properties"])
    sent_args = json.loads(rec["request"]["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert sent_args == {"user": "bob", "credentials": {}}
    assert "hunter2" not in json.dumps(rec) and "sk-live" not in json.dumps(rec)

    out = tmp_path / "train.jsonl"
    files = [str(f) for f in sorted(directory.glob("*.gz"))]
    assert finetune_main(["convert", "--to", "openai", *files, "-o", str(out)]) == 0
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert line["tools"][0]["function"]["parameters"] == written


async def test_a_stream_of_several_choices_is_recorded_as_its_first(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """With ``n: 2`` the streamed record holds choice 0's answer, as the non-stream record does (before: the
    deltas of both choices were joined into one answer, twice as long and never said by the model)."""
    directory = tmp_path / "transcripts"

    gw = await capturing(make_gateway, directory)
    for stream in (False, True):
        body = {**CHAT, "model": "chat", "n": 2, "stream": stream}
        async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            assert r.status == 200
            await r.read()
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    plain, streamed = records(directory)
    assert streamed["stream"] and plain["response"]["content"]
    assert streamed["response"] == plain["response"]


#: Stream chunks of a shape no OpenAI client reads, from a vendor: the request is served, no record is written.
MISSHAPEN = [
    {"index": 0, "delta": "好"},
    {"index": 0, "delta": {"content": ["好"]}},
    {"index": 0, "delta": {"tool_calls": ["f"]}},
    {"index": 0, "delta": {"tool_calls": [{"index": "first", "function": {"name": "f"}}]}},
    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": {"a": 1}}}]}},
]


async def test_misshapen_stream_chunks_neither_fail_the_request_nor_write_a_record(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A vendor's stream chunk of the wrong shape (a delta that is a string, content that is a list, a tool call's
    index that is no integer, arguments that are an object) is relayed as it was before capture was on, and
    no record is written for it (before: the assembler raised — a 500 internal_error to the client, or a
    traceback after the stream); the next good stream is recorded."""
    directory = tmp_path / "transcripts"

    gw = await capturing(make_gateway, directory)
    body = {**CHAT, "model": "chat", "stream": True}
    done = 'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    for choice in MISSHAPEN:
        bad = "data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "choices": [choice]})
        for target in ("deepseek.a", "deepseek.b"):
            headers = {"Content-Type": "text/event-stream"}
            await emulator.fault(target, "custom", status=200, headers=headers, events=[bad, done, "data: [DONE]"])
        async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            text = await r.text()
        assert r.status == 200 and json.dumps(choice["delta"])[:8] in text and "[DONE]" in text, (choice, text)
    await emulator.clear()
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        await r.read()
    assert gw.gw.capture is not None
    await gw.gw.capture.close()
    (rec,) = records(directory)
    assert rec["response"]["finish_reason"] == "stop" and rec["response"]["content"]
