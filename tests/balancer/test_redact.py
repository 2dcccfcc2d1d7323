"""Which key names hold a secret, table-driven, through the real transcript writer (balancer/redact.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import msgspec

from balancer.transcripts import TranscriptWriter
from tests.balancer.test_transcripts import record

#: (name, secret?) — the names a request, a tool call's arguments or a reply may carry.
NAMES: list[tuple[str, bool]] = [
    # keys and their headers
    ("api_key", True),
    ("api-key", True),
    ("apikey", True),
    ("apiKey", True),
    ("x-api-key", True),
    ("X-Api-Key", True),
    ("x-goog-api-key", True),
    ("Ocp-Apim-Subscription-Key", True),
    ("authorization", True),
    ("Proxy-Authorization", True),
    ("authentication", True),
    ("auth", True),
    ("basic_auth", True),
    ("bearer", True),
    ("private_key", True),
    ("privateKey", True),
    ("ssh_key", True),
    ("client_secret", True),
    ("clientSecret", True),
    ("secret", True),
    ("secret_key", True),
    ("aws_secret_access_key", True),
    ("access_key", True),
    ("access_key_id", True),  # half of the pair that signs: written nowhere either
    ("AccessKeyId", True),
    ("app_key", True),
    ("appSecret", True),
    ("webhook_secret", True),
    # tokens
    ("token", True),
    ("access_token", True),
    ("accessToken", True),
    ("session_token", True),
    ("refresh_token", True),
    ("id_token", True),
    ("X-Auth-Token", True),
    ("csrf_token", True),
    ("github_token", True),
    # passwords
    ("password", True),
    ("userPassword", True),
    ("pass_word", True),
    ("passwd", True),
    ("pwd", True),
    ("login_pwd", True),
    ("passphrase", True),
    ("pass", True),
    ("user_pass", True),
    ("credentials", True),
    ("credential", True),
    ("cookie", True),
    ("Cookie", True),
    ("set-cookie", True),
    ("Set-Cookie", True),
    # Chinese vendors
    ("SecretId", True),  # Tencent Cloud / Hunyuan
    ("SecretKey", True),
    ("AccessKeySecret", True),  # Alibaba Cloud
    ("api_secret", True),  # iFlytek Spark
    ("APISecret", True),
    ("ak", True),  # Baidu / Volcengine AK/SK
    ("sk", True),
    ("AK", True),
    ("baidu_sk", True),
    ("volcAk", True),
    ("密码", True),
    ("登录密码", True),
    ("口令", True),
    ("密钥", True),
    ("秘钥", True),
    ("访问令牌", True),
    # ordinary names of LLM requests, tools and replies: kept
    ("tokens", False),
    ("max_tokens", False),
    ("max_completion_tokens", False),
    ("max_token", False),
    ("maxTokens", False),
    ("token_count", False),
    ("prompt_tokens", False),
    ("eos_token", False),
    ("stop_token", False),
    ("tokenizer", False),
    ("keyword", False),
    ("keywords", False),
    ("key_points", False),
    ("keys", False),
    ("key", False),  # too generic (a cache key, a dict key) to drop
    ("sort_key", False),
    ("primary_key", False),
    ("idempotency_key", False),
    ("monkey", False),
    ("passage", False),
    ("passenger", False),
    ("bypass", False),
    ("compass", False),
    ("password_hint", False),
    ("author", False),
    ("authority", False),
    ("task", False),
    ("ask", False),
    ("mask", False),
    ("disk", False),
    ("speak", False),
    ("top_k", False),
    ("signature", False),  # a request's signature is no key (and a function's signature is code)
    ("sign", False),
    ("session_id", False),
    ("secretary", False),
    ("密码学", False),
    ("密码强度", False),
]


def _written(tmp_path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(tmp_path.glob("transcripts-*.jsonl.gz")):
        rows += [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    return rows


async def test_secret_names_table(tmp_path: Path) -> None:
    """Every name of the table marked secret is removed — from a dict request, from raw request bytes, from a
    tool call's JSON arguments and from the reply — and every other name is kept in all four places."""
    values = {name: f"v{i}-value" for i, (name, _) in enumerate(NAMES)}
    args = json.dumps(values, ensure_ascii=False)
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}
    request = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}], "metadata": values}
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    writer.submit(record(0, request=request, response={"role": "assistant", "content": "ok", "meta": values}))
    writer.submit(record(1, request=msgspec.Raw(json.dumps(request).encode())))
    await writer.close()
    rows = _written(tmp_path)
    assert len(rows) == 2
    places = [
        *(r["request"]["metadata"] for r in rows),
        *(json.loads(r["request"]["messages"][0]["tool_calls"][0]["function"]["arguments"]) for r in rows),
        rows[0]["response"]["meta"],
    ]
    for kept in places:
        leaked = [n for n, secret in NAMES if secret and n in kept]
        dropped = [n for n, secret in NAMES if not secret and n not in kept]
        assert (leaked, dropped) == ([], []), f"secrets kept: {leaked}; ordinary names dropped: {dropped}"


async def test_each_secret_name_alone_in_raw_bytes_is_found(tmp_path: Path) -> None:
    """A raw request (kept as bytes unless it may hold a secret name) with a single secret-named key — at the
    top, or inside a tool call's arguments, spelled as sent by any JSON encoder (``ensure_ascii`` or not) —
    is still decoded and loses it: the cheap check on the bytes misses none of the table's names."""
    secrets = [name for name, secret in NAMES if secret]
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    for i, name in enumerate(secrets):
        call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": json.dumps({name: "leak"})}}
        body = {"messages": [{"role": "assistant", "tool_calls": [call]}], name: "leak"}
        for ascii_only in (True, False):
            writer.submit(record(i, request=msgspec.Raw(json.dumps(body, ensure_ascii=ascii_only).encode())))
    await writer.close()
    rows = _written(tmp_path)
    assert len(rows) == 2 * len(secrets)
    leaked = sorted({r["request_id"] for r in rows if "leak" in json.dumps(r, ensure_ascii=False)})
    assert leaked == [], [secrets[int(x.removeprefix("req-"))] for x in leaked]
