"""The gateway's batch API and Idempotency-Key: real gateway, real emulator, the openai SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import structlog

from tests.balancer.admin.test_admin_api import call
from tests.balancer.batch_upstream import BatchVendor, completion, output_line
from tests.conftest import CLIENT_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth


def _file(route: str, n: int) -> bytes:
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": route, "messages": [{"role": "user", "content": f"问 {i}"}]}} for i in range(n)]  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _with_qwen_batch(raw: dict[str, object]) -> None:
    raw["routes"]["bq"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}  # type: ignore[index]


async def test_a_batch_is_forwarded_rewritten_and_booked_once(
    emulator: EmulatorHandle, make_gateway: GatewayFactory
) -> None:
    """A batch file naming a route reaches the candidate's vendor with its model, completes over polls, and its
    usage is booked once however often it is polled, at half the list price."""
    gw: GatewayHandle = await make_gateway(_with_qwen_batch)
    seen = emulator.record_bodies()
    client = gw.client()
    f = await client.files.create(file=("in.jsonl", _file("bq", 3)), purpose="batch")
    assert f.id.startswith("file-qiao-")
    batch = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    while batch.status != "completed":
        batch = await client.batches.retrieve(batch.id)
    for _ in range(3):
        await client.batches.retrieve(batch.id)
    content = (await client.files.content(batch.output_file_id)).content
    rows = [json.loads(line) for line in content.splitlines()]
    assert [r["custom_id"] for r in rows] == ["c0", "c1", "c2"]
    assert {r["response"]["body"]["model"] for r in rows} == {"qwen-plus"}
    assert seen == []  # nothing went through the chat side
    snap = await gw.gw.ledger.snapshot(gw.clock())
    qwen_rows = [r for r in snap.rows if r.provider == "qwen"]
    stats = (await emulator.stats())["qwen"]
    assert sum(r.requests for r in qwen_rows) == 3
    assert sum(r.tokens for r in qwen_rows) == stats["total_tokens"]
    list_price = round(stats["prompt_tokens"] * 0.8 + stats["completion_tokens"] * 2.0)
    assert abs(sum(r.micro for r in qwen_rows) - list_price / 2) <= 3


async def test_a_route_without_a_batch_vendor_is_refused(gateway: GatewayHandle) -> None:
    """A route whose candidates' vendors have no batch API answers a 400 naming the vendors that have one."""
    client = gateway.client()
    with pytest.raises(openai.BadRequestError, match="batch API"):
        await client.files.create(file=("in.jsonl", _file("solo", 1)), purpose="batch")
    with pytest.raises(openai.NotFoundError):
        await client.batches.retrieve("batch_qiao_nope")


async def test_idempotency_key_replays_the_first_answer(
    emulator: EmulatorHandle, gateway: GatewayHandle, http: aiohttp.ClientSession
) -> None:
    """A request repeated with the same Idempotency-Key is answered from the first one's reply (no second vendor
    call, marked as a replay, with its own request_done line and nothing booked); another key reaches the
    vendor."""
    body = {"model": "solo", "messages": [{"role": "user", "content": "一次"}]}
    url = gateway.url + "/v1/chat/completions"
    answers = []
    with structlog.testing.capture_logs() as logs:
        for key in ("k1", "k1", "k2"):
            async with http.post(url, json=body, headers={**auth(CLIENT_KEY), "Idempotency-Key": key}) as r:
                answers.append((r.status, r.headers.get("x-qiao-idempotent-replay"), await r.read()))
    done = [e for e in logs if e["event"] == "request_done"]
    assert [e.get("replay", False) for e in done] == [False, True, False] and done[1]["route"] == "solo"
    assert "tokens" not in done[1] and "attempts" not in done[1]
    assert await emulator.requests("deepseek.a") == 2
    assert answers[1] == (200, "true", answers[0][2])
    assert answers[0][1] is None and answers[2][1] is None


async def test_a_repeat_is_replayed_only_to_a_valid_key_and_the_same_body(
    emulator: EmulatorHandle, gateway: GatewayHandle, http: aiohttp.ClientSession
) -> None:
    """A kept reply answers only its own request: a repeat with another body under the same Idempotency-Key is
    refused (422 idempotency_key_reused, no vendor call), one with the same JSON (even in other bytes: keys in
    another order, \\u escapes, spacing) is replayed, and once the client key is revoked the repeat gets the
    key's 401, never the kept answer."""
    status, made = await call(http, gateway, "POST", "/admin/keys", json={"name": "idem"})
    assert status == 201, made
    url, key = gateway.url + "/v1/chat/completions", made["secret"]
    first = {"model": "solo", "messages": [{"role": "user", "content": "一次"}]}
    other = {"model": "solo", "messages": [{"role": "user", "content": "另一次"}]}
    answers = []
    again = json.dumps({"messages": first["messages"], "model": "solo"}, ensure_ascii=True, indent=1).encode()
    for body in (json.dumps(first, ensure_ascii=False).encode(), json.dumps(other).encode(), again):
        head = {**auth(key), "Idempotency-Key": "same", "Content-Type": "application/json"}
        async with http.post(url, data=body, headers=head) as r:
            answers.append((r.status, r.headers.get("x-qiao-idempotent-replay"), await r.json()))
    assert answers[0][0] == 200 and answers[1][0] == 422, answers
    error = answers[1][2]["error"]
    assert (error["code"], error["param"]) == ("idempotency_key_reused", "Idempotency-Key") and error["message"]
    assert answers[2] == (200, "true", answers[0][2])
    assert await emulator.requests("deepseek.a") == 1
    assert (await call(http, gateway, "DELETE", "/admin/keys/idem"))[0] == 200
    async with http.post(url, json=first, headers={**auth(key), "Idempotency-Key": "same"}) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "invalid_api_key"
        assert r.headers.get("x-qiao-idempotent-replay") is None


BAD_BATCH_CALLS: list[tuple[str, str, bytes, str | None, int]] = [
    ("create_not_json", "/v1/batches", b"{", "application/json", 400),
    ("create_not_object", "/v1/batches", b"[1]", "application/json", 400),
    ("create_other_endpoint", "/v1/batches", b'{"input_file_id": "f", "endpoint": "/v1/embeddings"}', None, 400),
    ("upload_not_multipart", "/v1/files", b'{"purpose": "batch"}', "application/json", 400),
    ("upload_no_file", "/v1/files", b'--zz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--zz--\r\n',
     "multipart/form-data; boundary=zz", 400),
    ("upload_wrong_purpose", "/v1/files",
     b'--zz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n--zz--\r\n',
     "multipart/form-data; boundary=zz", 400),
    ("upload_not_requests", "/v1/files",
     b'--zz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--zz\r\nContent-Disposition: form-data; '
     b'name="file"; filename="a.jsonl"\r\n\r\nnot json\r\n--zz--\r\n', "multipart/form-data; boundary=zz", 400),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path", "body", "ctype", "status"), BAD_BATCH_CALLS, ids=[c[0] for c in BAD_BATCH_CALLS]
)
async def test_bad_batch_calls_get_an_error_code(
    gateway: GatewayHandle,
    http: aiohttp.ClientSession,
    name: str,
    path: str,
    body: bytes,
    ctype: str | None,
    status: int,
) -> None:
    """Every refusal of the batch endpoints is OpenAI's error shape with a code (and the message), as on
    /v1/chat/completions: a client can branch on error.code, not only on a message meant for people."""
    headers = auth() if ctype is None else {**auth(), "Content-Type": ctype}
    async with http.post(gateway.url + path, data=body, headers=headers) as r:
        assert r.status == status, await r.text()
        err = (await r.json())["error"]
    assert err["type"] == "invalid_request_error" and err["code"] and len(err["message"]) > 20, err


async def test_another_client_keys_batch_and_files_are_404(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A batch and its files belong to the client key that made them: another key (allowed the same route) gets
    404 not_found for the batch, its input and output files, and cannot start a batch on the other's file — never
    the other client's status, prompts or answers. The owner still reaches all of them."""
    status, made = await call(http, gateway, "POST", "/admin/keys", json={"name": "other"})
    assert status == 201, made
    owner, intruder = gateway.client(), gateway.client(made["secret"])
    f = await owner.files.create(file=("in.jsonl", _file("chat", 2)), purpose="batch")
    batch = await owner.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    while batch.status != "completed":
        batch = await owner.batches.retrieve(batch.id)
    assert batch.output_file_id
    with pytest.raises(openai.NotFoundError) as e:
        await intruder.batches.retrieve(batch.id)
    assert e.value.code == "not_found"
    for fid in (f.id, batch.output_file_id):
        with pytest.raises(openai.NotFoundError):
            await intruder.files.content(fid)
    with pytest.raises(openai.NotFoundError):
        await intruder.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert b"custom_id" in (await owner.files.content(batch.output_file_id)).content


async def test_a_batch_is_booked_to_its_client_key_and_counts_against_its_budget(
    gateway: GatewayHandle, http: aiohttp.ClientSession
) -> None:
    """A completed batch's cost is the client key's spend, like its chat requests: /admin/spend by key names the
    key (not a keyless row), the key's record shows it spent today, and a daily budget it used up refuses its next
    request with 429 insufficient_quota."""
    status, made = await call(http, gateway, "POST", "/admin/keys", json={"name": "batcher", "daily_budget": 1e-5})
    assert status == 201, made
    client = gateway.client(made["secret"])
    f = await client.files.create(file=("in.jsonl", _file("chat", 2)), purpose="batch")
    batch = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    while batch.status != "completed":
        batch = await client.batches.retrieve(batch.id)
    _, spend = await call(http, gateway, "GET", "/admin/spend?by=key")
    assert [(r["key"], r["requests"]) for r in spend["rows"]] == [("batcher", 2)], spend
    _, key = await call(http, gateway, "GET", "/admin/keys/batcher")
    assert key["spent_today_cny"] == pytest.approx(spend["total"]["cost_cny"]) and key["spent_today_cny"] > 1e-5
    with pytest.raises(openai.RateLimitError, match="daily budget") as e:
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "再来"}])
    assert e.value.code == "insufficient_quota"


async def test_a_key_over_its_budget_cannot_start_a_batch(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A client key that has used its daily budget is refused a new batch file and a new batch (429
    insufficient_quota with Retry-After, as for its chat requests), so batches are no way around the budget;
    its batch already made can still be read."""
    status, made = await call(http, gateway, "POST", "/admin/keys", json={"name": "spent", "daily_budget": 1e-5})
    assert status == 201, made
    client = gateway.client(made["secret"])
    f = await client.files.create(file=("in.jsonl", _file("chat", 1)), purpose="batch")
    await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "花钱"}])
    with pytest.raises(openai.RateLimitError, match="daily budget") as e:
        await client.files.create(file=("in.jsonl", _file("chat", 1)), purpose="batch")
    assert e.value.code == "insufficient_quota" and e.value.response.headers["Retry-After"]
    with pytest.raises(openai.RateLimitError, match="daily budget"):
        await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")


async def test_duplicate_custom_ids_and_embeddings_routes_are_400s(gateway: GatewayHandle) -> None:
    """A batch file whose lines repeat a custom_id (answers could not be told apart), or that names an embeddings
    route (the batch is sent to the chat endpoint), is a 400 invalid_file naming the problem, before any upload."""
    client = gateway.client()
    twice = _file("chat", 2).replace(b'"c1"', b'"c0"')
    with pytest.raises(openai.BadRequestError, match="custom_id 'c0'") as e:
        await client.files.create(file=("in.jsonl", twice), purpose="batch")
    assert e.value.code == "invalid_file"
    with pytest.raises(openai.BadRequestError, match="embeddings") as e:
        await client.files.create(file=("in.jsonl", _file("embed", 1)), purpose="batch")
    assert e.value.code == "wrong_endpoint"


@pytest.fixture
async def vendor() -> AsyncIterator[tuple[BatchVendor, str]]:
    v = BatchVendor()
    async for url in v.serve():
        yield v, url


def _hostile_usage(i: int, line: dict[str, Any]) -> bytes:
    """Line 0 a good answer; then usage counting -5 prompt, -5 completion or -5 cached tokens, 10**30 prompt
    tokens, a 5000-digit completion count, usage nested 5000 levels deep, and no JSON."""
    bad: list[Any] = [None, {"prompt_tokens": -5, "completion_tokens": 1, "total_tokens": -4},
                      {"prompt_tokens": 3, "completion_tokens": -5, "total_tokens": -2},
                      {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": -5}},
                      {"prompt_tokens": 10**30, "completion_tokens": 1},
                      {"prompt_tokens": 3, "completion_tokens": "BIG"}]  # fmt: skip
    if i < len(bad):
        return output_line(line, completion(line, usage=bad[i])).replace(b'"BIG"', b"9" * 5000)
    if i == len(bad):
        return output_line(line, completion(line)).replace(
            b'"usage": {', b'"usage": {"x": ' + b"[" * 5000 + b"]" * 5000 + b", ", 1
        )
    return b'{"custom_id": "' + line["custom_id"].encode() + b'", "response": {\n'


async def test_counts_below_0_or_beyond_2_32_in_a_batch_output_are_not_booked(
    vendor: tuple[BatchVendor, str], make_gateway: GatewayFactory
) -> None:
    """A vendor's batch output whose lines count -5 prompt, completion or cached tokens, 10**30 prompt tokens or 5000
    digits of completion tokens, or nest usage 5000 levels deep, or are no JSON, books only its good line (3 + 1
    tokens): the ledger never sees a negative count, and the client still gets the output file as the vendor wrote
    it. One warning says how many answered lines went unbooked for a count that is none, and the first's count."""
    v, url = vendor
    v.answer = _hostile_usage

    def edit(raw: dict[str, Any]) -> None:
        _with_qwen_batch(raw)
        raw["providers"]["qwen"]["base_url"] = url

    gw: GatewayHandle = await make_gateway(edit)
    client = gw.client()
    f = await client.files.create(file=("in.jsonl", _file("bq", 8)), purpose="batch")
    batch = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    with structlog.testing.capture_logs() as logs:
        batch = await client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id
    warned = [e for e in logs if e["event"] == "batch_usage_unreadable"]
    assert [(e["log_level"], e["lines"], e["count"]) for e in warned] == [("warning", 5, "prompt_tokens")], warned
    content = (await client.files.content(batch.output_file_id)).content
    assert content.count(b"\n") == 8
    snap = await gw.gw.ledger.snapshot(gw.clock())
    rows = [r for r in snap.rows if r.provider == "qwen"]
    assert (sum(r.requests for r in rows), sum(r.tokens for r in rows)) == (1, 4), rows
    assert all(r.tokens >= 0 and r.micro >= 0 for r in snap.rows)
