"""``--requests``, the batch input file a batch output is joined with, is indexed when a command starts: a line that
cannot be joined (no JSON, nested 100000 levels deep, not a batch request, no custom_id or one an earlier line
has) stops the command with one line naming the file, the line number and what is wrong — exit 2, no traceback,
nothing written. (Before, such a line was a msgspec or RecursionError traceback.)

Every test runs ``python -m finetune`` as a child process, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.finetune.conftest import finetune, jsonl, no_traceback, read_jsonl

COMPLETION = {"choices": [{"message": {"role": "assistant", "content": "您好！"}, "finish_reason": "stop"}]}


def request(i: int) -> dict[str, Any]:
    """Batch request line ``i`` (custom_id ``r<i>``)."""
    body = {"model": "m", "messages": [{"role": "user", "content": f"问{i}"}]}
    return {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}


def outputs(path: Path, n: int) -> Path:
    """A batch output file answering requests r0 … r<n-1>."""
    return jsonl(path, [{"custom_id": f"r{i}", "response": {"status_code": 200, "body": COMPLETION}} for i in range(n)])


#: A bad third line of the request file, and what the message says about it.
BAD = {
    "not-json": ('{"custom_id": "r2", "body": {', "not JSON"),
    "deep": (json.dumps(request(2))[:-1] + ', "x": ' + "[" * 100000 + "]" * 100000 + "}", "100001 levels deep"),
    "array": ("[1, 2]", "not a batch request line (Expected `object`, got `array`)"),
    "no-body": ('{"custom_id": "r2"}', "not a batch request line (Object missing required field `body`)"),
    "wrong-messages": ('{"custom_id": "r2", "body": {"messages": "hi"}}', "got `str` - at `$.body.messages`"),
    "no-custom-id": (json.dumps({**request(2), "custom_id": ""}), "the request has no custom_id"),
    "same-custom-id": (json.dumps({**request(2), "custom_id": "r0"}), "custom_id 'r0' is also on line 1"),
}


def command(name: str, out: Path, requests: Path, tmp_path: Path) -> list[str | Path]:
    """Arguments of ``name`` reading batch output ``out`` joined with ``requests``."""
    return {
        "convert": ["convert", out, "--requests", requests, "--to", "bailian", "-o", tmp_path / "train.jsonl"],
        "validate": ["validate", out, "--for", "bailian", "--from", "batch", "--requests", requests],
        "stats": ["stats", out, "--from", "batch", "--requests", requests],
    }[name]


@pytest.mark.parametrize("name", ["convert", "validate", "stats"])
@pytest.mark.parametrize("bad", list(BAD))
def test_a_request_line_that_cannot_be_joined_is_named_by_number(tmp_path: Path, bad: str, name: str) -> None:
    """A bad third line of --requests (``bad``) exits 2 with ``--requests FILE:3: <what is wrong>``, no traceback,
    and no output file; the request file is left as it was."""
    line, reason = BAD[bad]
    requests = jsonl(tmp_path / "requests.jsonl", [request(0), request(1), line, request(3)])
    before = requests.read_bytes()
    out = outputs(tmp_path / "out.jsonl", 4)
    done = finetune(*command(name, out, requests, tmp_path))
    assert done.returncode == 2, done.stderr
    assert f"finetune: --requests {requests}:3: " in done.stderr and reason in done.stderr, done.stderr
    assert no_traceback(done.stderr) and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "train.jsonl").exists() and done.stdout == ""
    assert requests.read_bytes() == before


def test_a_request_file_with_a_byte_order_mark_is_joined(tmp_path: Path) -> None:
    """A request file saved with a UTF-8 byte order mark (Windows Notepad) is joined like one without: its first
    request too."""
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(request(i)) + "\n" for i in range(2)).encode())
    out = outputs(tmp_path / "out.jsonl", 2)
    done = finetune("convert", out, "--requests", requests, "--to", "bailian", "-o", tmp_path / "train.jsonl")
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert sorted(json.dumps(r, ensure_ascii=False).count("问0") + 2 * json.dumps(r, ensure_ascii=False).count("问1")
                  for r in rows) == [1, 2]  # fmt: skip
