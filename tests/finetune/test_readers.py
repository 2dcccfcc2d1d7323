"""Source formats: OpenAI lines, transcripts, request/response pairs, batch files, gzip, detection."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from finetune.model import Message
from finetune.readers import (
    BatchReader,
    InputError,
    detect,
    legacy_functions_to_tools,
    read_openai,
    read_pair,
    read_transcript,
)
from tests.finetune.conftest import finetune, jsonl, no_traceback, read_jsonl

REQ = {"model": "m", "messages": [{"role": "user", "content": "你好？"}], "tools": [{"type": "function"}]}
COMPLETION = {"choices": [{"message": {"role": "assistant", "content": "您好！"}, "finish_reason": "stop"}]}


def enc(obj: object) -> bytes:
    """JSON-encode a fixture."""
    return msgspec.json.encode(obj)


def test_preference_line_lifts_input() -> None:
    """A DPO line's input.messages and tools become the canonical prompt."""
    line = {
        "input": {"messages": REQ["messages"], "tools": []},
        "preferred_output": [],
        "non_preferred_output": [],
    }
    conv = read_openai(enc(line))
    assert conv.is_preference and conv.messages == [Message(role="user", content="你好？")] and conv.tools == []


def test_transcript_appends_reply_and_keeps_provenance() -> None:
    """A transcript record becomes request messages + reply, with provider, vendor and model."""
    rec = {"v": 1, "request": REQ, "response": {"content": "您好！", "finish_reason": "stop"}}
    conv = read_transcript(enc({**rec, "provider": "ds-1", "vendor": "deepseek", "model": "deepseek-chat"}))
    assert conv.messages[-1] == Message(role="assistant", content="您好！")
    assert (conv.provider, conv.vendor, conv.model) == ("ds-1", "deepseek", "deepseek-chat")


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_truncated_replies_are_rejected(reason: str) -> None:
    """A reply cut off by length or a content filter is refused as training data."""
    rec = {"v": 1, "request": REQ, "response": {"content": "半句", "finish_reason": reason}}
    with pytest.raises(InputError) as err:
        read_transcript(enc(rec))
    assert err.value.rule == "input.finish_reason"


def test_pair_with_completion_or_message() -> None:
    """A pair's response may be a whole chat.completion or just the assistant message."""
    a = read_pair(enc({"request": REQ, "response": COMPLETION}))
    b = read_pair(enc({"request": REQ, "response": {"role": "assistant", "content": "您好！"}}))
    assert a.messages == b.messages and a.messages[-1].content == "您好！"


def test_pair_without_choices_is_rejected() -> None:
    """A completion with an empty choices list is reported under input.no_choices."""
    with pytest.raises(InputError, match="no choices"):
        read_pair(enc({"request": REQ, "response": {"choices": []}}))


def test_batch_output_joins_requests_by_custom_id(tmp_path: Path) -> None:
    """Batch output lines are joined with the batch input file by custom_id, in any order."""
    reqs = jsonl(
        tmp_path / "in.jsonl",
        [
            {"custom_id": f"r{i}", "body": {**REQ, "messages": [{"role": "user", "content": f"问{i}"}]}}
            for i in range(3)
        ],
    )
    reader = BatchReader(reqs)
    out = {"custom_id": "r2", "response": {"status_code": 200, "body": COMPLETION}, "error": None}
    conv = reader(enc(out))
    reader.close()
    assert [m.content for m in conv.messages] == ["问2", "您好！"]


def test_batch_errors_and_missing_requests(tmp_path: Path) -> None:
    """Failed batch entries and outputs without a request are rejected with their own rules."""
    reader = BatchReader(None)
    with pytest.raises(InputError) as failed:
        reader(enc({"custom_id": "x", "response": None, "error": {"code": "boom"}}))
    with pytest.raises(InputError) as missing:
        reader(enc({"custom_id": "x", "response": {"status_code": 200, "body": COMPLETION}}))
    assert (failed.value.rule, missing.value.rule) == ("input.batch_error", "input.missing_request")


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ({"messages": []}, "openai"),
        ({"input": {}, "preferred_output": []}, "openai"),
        ({"v": 1, "request": {}, "response": {}}, "transcript"),
        ({"custom_id": "a", "response": {}}, "batch"),
        ({"request": {}, "response": {}}, "pair"),
        ({"conversations": []}, "sharegpt"),
        ({"instruction": "x"}, "alpaca"),
        ({"bot_setting": [], "messages": []}, "minimax"),
        ({"messages": [], "chosen": {}, "rejected": {}}, "bailian"),
        ([{"prompt": "x"}], "qianfan-pr"),
    ],
)
def test_detect_by_first_line(tmp_path: Path, first: object, expected: str) -> None:
    """The format is recognised from the keys of the first non-blank line."""
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\n" + enc(first) + b"\n")
    assert detect(path) == expected


def test_gzip_is_read_transparently(tmp_path: Path, cli: object) -> None:
    """A gzip file (recognised by its magic bytes, whatever its name) converts like plain JSONL."""
    line = enc({"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "好"}]})
    src = tmp_path / "data.jsonl"
    src.write_bytes(gzip.compress(line + b"\n"))
    assert detect(src) == "openai"
    from finetune.cli import main

    assert main(["convert", "--to", "openai", str(src), "-o", str(tmp_path / "o.jsonl"), "-q"]) == 0
    assert (tmp_path / "o.jsonl").read_bytes() == line + b"\n"


def test_legacy_function_calling_becomes_tools() -> None:
    """Deprecated functions/function_call/role=function lines are read as tools/tool_calls/role=tool."""
    line = {
        "functions": [{"name": "f", "parameters": {}}],
        "messages": [
            {"role": "user", "content": "调用"},
            {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "结果"},
            {"role": "assistant", "content": "完成。"},
        ],
    }
    conv = legacy_functions_to_tools(read_openai(enc(line)))
    assert conv.tools == [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    call = conv.messages[1].tool_calls
    assert call is not msgspec.UNSET and call[0].function.name == "f"
    assert conv.messages[2] == Message(role="tool", content="结果", tool_call_id=call[0].id)


def test_legacy_function_calling_transcript_keeps_its_functions_and_answer(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """A transcript of a client using deprecated ``functions`` whose reply is a ``function_call`` converts to a
    sample with the functions as tools and the call as the last turn's tool call (before: both were dropped and
    the line rejected, ``content.empty``: an assistant turn with neither content nor tool calls)."""
    request = {
        "model": "chat",
        "functions": [
            {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
        ],
        "messages": [
            {"role": "user", "content": "北京天气？"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "weather", "arguments": '{"city":"北京"}'},
            },
            {"role": "function", "name": "weather", "content": "晴"},
            {"role": "user", "content": "上海呢？"},
        ],
    }
    reply = {"role": "assistant", "content": None, "finish_reason": "function_call"}
    reply["function_call"] = {"name": "weather", "arguments": '{"city":"上海"}'}
    src = jsonl(tmp_path / "t.jsonl", [{"v": 1, "request": request, "response": reply, "vendor": "deepseek"}])
    code, _, err = cli("convert", "--to", "openai", src, "-o", tmp_path / "o.jsonl")
    assert code == 0, err
    (line,) = read_jsonl(tmp_path / "o.jsonl")
    assert line["tools"] == [{"type": "function", "function": request["functions"][0]}]
    assert [c["function"]["arguments"] for c in line["messages"][-1]["tool_calls"]] == ['{"city":"上海"}']


@pytest.mark.parametrize("compress", [False, True])
def test_byte_order_mark_is_read_past_and_validate_names_it(tmp_path: Path, compress: bool) -> None:
    """A file starting with a UTF-8 BOM (as Windows Notepad saves it) is detected by its real format
    and every line converts, the Chinese text byte for byte; ``validate`` rejects the BOM by name."""
    rows = [
        {"conversations": [{"from": "human", "value": f"问题{i}"}, {"from": "gpt", "value": "答。"}]} for i in range(3)
    ]
    data = b"\xef\xbb\xbf" + b"".join(enc(r) + b"\n" for r in rows)
    src = tmp_path / ("bom.jsonl.gz" if compress else "bom.jsonl")
    src.write_bytes(gzip.compress(data) if compress else data)
    done = finetune("convert", src, "--to", "openai", "-o", tmp_path / "out.jsonl")
    assert done.returncode == 0 and no_traceback(done.stderr), done.stderr
    assert [m["messages"][0]["content"] for m in read_jsonl(tmp_path / "out.jsonl")] == ["问题0", "问题1", "问题2"]
    checked = finetune("validate", "--for", "sharegpt", src)
    assert checked.returncode == 1 and no_traceback(checked.stderr)
    assert f"{src.name}:1: rejected [file.bom]" in checked.stderr and "input.json" not in checked.stderr
