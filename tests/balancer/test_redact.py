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
    # words joined by "/" (a path-like name) are words too
    ("api/key", True),
    ("x/api/token", True),
    ("x/api/key", True),
    ("user/pass", True),
    ("baidu/sk", True),
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
    ("v1/sort_key", False),
    ("disk/ask", False),
    ("密码学", False),
    ("密码强度", False),
]


def _written(tmp_path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(tmp_path.glob("transcripts-*.jsonl.gz")):
        rows += [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    return rows


async def _both_ways(
    tmp_path: Path, request: dict[str, Any], response: dict[str, Any] | None = None, scrub_pii: bool = False
) -> list[dict[str, Any]]:
    """The rows a writer makes of ``request`` sent as a dict (with ``response``) and as its raw JSON bytes."""
    writer = TranscriptWriter(tmp_path, scrub_pii=scrub_pii)
    await writer.start()
    writer.submit(record(0, request=request) if response is None else record(0, request=request, response=response))
    writer.submit(record(1, request=msgspec.Raw(json.dumps(request).encode())))
    await writer.close()
    rows = _written(tmp_path)
    assert len(rows) == 2
    return rows


async def test_secret_names_table(tmp_path: Path) -> None:
    """Every name of the table marked secret is removed — from a dict request, from raw request bytes, from a
    tool call's JSON arguments and from the reply — and every other name is kept in all four places."""
    values = {name: f"v{i}-value" for i, (name, _) in enumerate(NAMES)}
    args = json.dumps(values, ensure_ascii=False)
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}
    request = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}], "metadata": values}
    rows = await _both_ways(tmp_path, request, {"role": "assistant", "content": "ok", "meta": values})
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


def _leaks(row: dict[str, Any], values: tuple[str, ...]) -> list[str]:
    text = json.dumps(row, ensure_ascii=False)
    return [v for v in values if v in text]


async def test_secret_named_objects_and_arrays_keep_their_type_and_no_value(tmp_path: Path) -> None:
    """A secret-named key holding an object or array is written as an empty one of its type (before: the key was
    dropped, whatever it held); nothing under it survives, keys included (a map may be keyed by tokens) — in a
    dict request, in raw request bytes, in a tool call's JSON arguments and in the reply."""
    values = {
        "password": {"value": "hunter2-a"},
        "credentials": ["sk-abc-b", {"user": "bob-c"}],
        "token": {"type": "hunter2-d"},
        "auth": {"sk-live-map-key-e": {"scope": "read-f"}},
        "api_key": "sk-scalar-g",
        "city": "北京",
    }
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": json.dumps(values)}}
    request = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}], "metadata": values}
    rows = await _both_ways(tmp_path, request, {"role": "assistant", "content": "ok", "meta": values})
    expected = {"password": {}, "credentials": [], "token": {}, "auth": {}, "city": "北京"}
    for r in rows:
        assert r["request"]["metadata"] == expected
        assert json.loads(r["request"]["messages"][0]["tool_calls"][0]["function"]["arguments"]) == expected
        assert _leaks(r, ("hunter2", "sk-", "bob-c", "read-f")) == []
    assert rows[0]["response"]["meta"] == expected


#: A tool's parameters: secret-named properties with values hidden in every keyword that may hold one.
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "default": "guest"},
        "password": {
            "type": "string",
            "description": "the account's password",
            "minLength": 8,
            "default": "hunter2-default",
            "enum": ["sk-live-enum"],
            "const": "hunter2-const",
            "examples": ["hunter2-example"],
            "pattern": "^hunter2-pattern$",
            "x-value": "hunter2-extension",
        },
        "api_key": {"type": ["string", "null"], "anyOf": [{"const": "sk-live-anyof"}]},
        "token": {"type": "hunter2-type"},
        "credentials": {
            "type": "object",
            "properties": {"user": {"type": "string", "default": "hunter2-user"}},
            "required": ["user", "hunter2-required"],
        },
        "options": {"type": "object", "default": {"verbose": True, "secret": "hunter2-nested-default"}},
    },
    "required": ["username", "password", "api_key", "credentials"],
    "x-api-key": "sk-live-keyword",
}
#: What a transcript keeps of it: every property, its type and description; no value.
KEPT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "default": "guest"},
        "password": {"type": "string", "description": "the account's password", "minLength": 8},
        "api_key": {"type": ["string", "null"], "anyOf": [{}]},
        "token": {},
        "credentials": {"type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]},
        "options": {"type": "object", "default": {"verbose": True}},
    },
    "required": ["username", "password", "api_key", "credentials"],
}


async def test_tool_and_response_schemas_keep_secret_named_properties_not_their_values(tmp_path: Path) -> None:
    """``tools[].function.parameters``, ``functions[].parameters`` and ``response_format.json_schema.schema`` keep a
    property named ``password``/``api_key``/``token`` with its type and description, so ``required`` still names
    properties that exist (before: the property was removed and the schema no longer valid); no value hidden in
    ``default``, ``enum``, ``const``, ``examples``, ``pattern``, an extension keyword or a bogus ``type`` survives."""
    request = {
        "messages": [{"role": "user", "content": "登录"}],
        "tools": [{"type": "function", "function": {"name": "login", "parameters": PARAMETERS}}],
        "functions": [{"name": "login", "parameters": PARAMETERS}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "login", "schema": PARAMETERS}},
    }
    rows = await _both_ways(tmp_path, request)
    for r in rows:
        sent = r["request"]
        assert sent["tools"][0]["function"]["parameters"] == KEPT
        assert sent["functions"][0]["parameters"] == KEPT
        assert sent["response_format"]["json_schema"]["schema"] == KEPT
        assert _leaks(r, ("hunter2", "sk-live")) == []


async def test_arguments_encoded_twice_lose_their_secrets_and_stay_encoded_twice(tmp_path: Path) -> None:
    """A tool call's arguments encoded twice (a JSON string holding the JSON text, as some clients send them)
    lose their secret values like arguments encoded once (before: the password was written as sent), and decode
    back, twice, to the rest of the object."""
    twice = json.dumps(json.dumps({"user": "bob", "password": "hunter2-twice"}))
    call = {"id": "c1", "type": "function", "function": {"name": "login", "arguments": twice}}
    request = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}
    rows = await _both_ways(tmp_path, request)
    for r in rows:
        assert _leaks(r, ("hunter2",)) == []
        args = r["request"]["messages"][0]["tool_calls"][0]["function"]["arguments"]
        assert json.loads(json.loads(args)) == {"user": "bob"}


PHONE = 13800138000
#: A tool's parameters whose numbers look like a phone: bounds and numeric defaults of a schema, no PII.
NUMERIC = {
    "type": "object",
    "properties": {
        "phone": {
            "type": "integer",
            "minimum": PHONE,
            "maximum": PHONE + 99,
            "multipleOf": PHONE,
            "default": PHONE,
            "description": "回拨号码，例如 13800138000",
            "examples": ["13800138000"],
        },
    },
}


async def test_pii_scrubbing_keeps_a_schemas_numbers_and_scrubs_its_strings(tmp_path: Path) -> None:
    """With scrub_pii on, a number in a tool's or response format's JSON Schema that looks like a phone
    (``minimum``, ``maximum``, ``multipleOf``, a numeric ``default``) stays that number, so the recorded schema
    is still valid (before: it became the string "[PHONE]"); the schema's strings (a description, examples) are
    still scrubbed, and the same number outside a schema (``metadata``) still becomes "[PHONE]"."""
    request = {
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"phone": PHONE},
        "tools": [{"type": "function", "function": {"name": "call", "parameters": NUMERIC}}],
        "functions": [{"name": "call", "parameters": NUMERIC}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "call", "schema": NUMERIC}},
    }
    rows = await _both_ways(tmp_path, request, scrub_pii=True)
    phone = {
        "type": "integer",
        "minimum": PHONE,
        "maximum": PHONE + 99,
        "multipleOf": PHONE,
        "default": PHONE,
        "description": "回拨号码，例如 [PHONE]",
        "examples": ["[PHONE]"],
    }
    for r in rows:
        sent = r["request"]
        assert sent["metadata"] == {"phone": "[PHONE]"}
        for schema in (
            sent["tools"][0]["function"]["parameters"],
            sent["functions"][0]["parameters"],
            sent["response_format"]["json_schema"]["schema"],
        ):
            assert schema == {"type": "object", "properties": {"phone": phone}}
