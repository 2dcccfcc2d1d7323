"""Deeply nested JSON request bodies: served up to the gateway's limit, a clean 400 beyond it (real gateway, real
emulator, raw HTTP); never a 5xx, a hang, a failover or a provider cooled down for the client's body."""

from __future__ import annotations

import json
import random
from typing import Any

import aiohttp
import pytest
import structlog

from balancer.nesting import MAX_DEPTH, depth
from tests.balancer.test_batches import _with_qwen_batch
from tests.conftest import EmulatorHandle, GatewayHandle, auth

PATH = "/v1/chat/completions"


def body(levels: int, where: str, stream: bool) -> bytes:
    """A chat body ``levels`` deep, the body's object the first level: nested in a message's content (which the
    gateway checks) or in an extra field (which it forwards untouched)."""
    head = f'{{"model": "chat", "stream": {json.dumps(stream)}, "messages": [{{"role": "user", "content": '
    if where == "content":  # body, messages, message: the content's own levels start at the 4th
        return f"{head}{'[' * (levels - 3)}{']' * (levels - 3)}}}]}}".encode()
    return f'{head}"hi"}}], "extra": {"[" * (levels - 1)}{"]" * (levels - 1)}}}'.encode()


async def post(gateway: GatewayHandle, data: bytes, **headers: str) -> tuple[int, bytes, list[Any]]:
    """POST a chat body; the status, the reply's bytes and the log events the request wrote."""
    async with aiohttp.ClientSession() as http:
        with structlog.testing.capture_logs() as logs:
            async with http.post(
                gateway.url + PATH, data=data, headers={**auth(), "Content-Type": "application/json", **headers}
            ) as r:
                return r.status, await r.read(), logs


@pytest.mark.parametrize("where", ["content", "extra"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_body_at_the_limit_is_served(
    gateway: GatewayHandle, emulator: EmulatorHandle, where: str, stream: bool
) -> None:
    """A body exactly MAX_DEPTH levels deep, in a message's content or an unknown field, is served (stream or not)
    with one request_done line; the vendor gets it whole (an unknown field included, byte for byte)."""
    seen = emulator.record_bodies()
    status, reply, logs = await post(gateway, body(MAX_DEPTH, where, stream))
    assert status == 200, reply
    assert reply.rstrip().endswith(b"data: [DONE]") if stream else json.loads(reply)["choices"]
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == 200 and done[0]["attempts"][0]["result"] == "ok"
    assert len(seen) == 1 and depth(json.dumps(seen[0]).encode()) == MAX_DEPTH


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 254, 255, 256, 500, 900, 5000, 100_000])
async def test_a_deeper_body_is_a_clean_400(gateway: GatewayHandle, emulator: EmulatorHandle, levels: int) -> None:
    """A body deeper than MAX_DEPTH (just over it, around orjson's 254 and msgspec's ~950, far beyond), in a
    message's content or an unknown field, stream or not, with an Idempotency-Key or not, is refused at intake:
    a 400 in OpenAI's shape whose message says how deep it is against the limit (naming the field when the body
    could be decoded), one request_done line with that status and no attempt, nothing logged as unhandled, the
    vendor never called and no provider cooled down (the route still serves)."""
    for where in ("content", "extra"):
        for stream in (False, True):
            extra = {"Idempotency-Key": f"deep-{levels}-{where}-{stream}"} if stream else {}
            status, reply, logs = await post(gateway, body(levels, where, stream), **extra)
            assert status == 400, reply
            err = json.loads(reply)["error"]
            assert (err["type"], err["code"]) == ("invalid_request_error", "invalid_json")
            assert f"at most {MAX_DEPTH} levels" in err["message"]
            if levels <= 900:  # decoded, then measured: the depth and the field are named
                field = "messages" if where == "content" else "extra"
                assert f"{levels} levels deep in '{field}'" in err["message"] and err["param"] == field
            done = [e for e in logs if e["event"] == "request_done"]
            assert len(done) == 1 and done[0]["status"] == 400 and done[0]["error"] == "invalid_json"
            assert not done[0].get("attempts")
            assert not [e for e in logs if e["event"] in ("unhandled_error", "attempt", "upstream_failed")]
    assert await emulator.requests("deepseek.a") == 0
    status, reply, _ = await post(gateway, body(3, "extra", False))
    assert status == 200 and json.loads(reply)["choices"]


async def test_a_deep_repeat_of_an_idempotency_key_is_a_422_not_a_500(gateway: GatewayHandle) -> None:
    """A repeat of an answered Idempotency-Key whose body nests deeper than orjson writes (300 levels) is compared
    by its bytes: the 422 for a different body, never the 500 its digest raised before (the repeat is checked
    against the kept reply before the body's own checks)."""
    status, reply, _ = await post(gateway, body(3, "extra", False), **{"Idempotency-Key": "same"})
    assert status == 200, reply
    status, reply, logs = await post(gateway, body(300, "extra", False), **{"Idempotency-Key": "same"})
    assert status == 422 and json.loads(reply)["error"]["code"] == "idempotency_key_reused"
    assert not [e for e in logs if e["event"] == "unhandled_error"]


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300, 900])
async def test_a_batch_line_nested_too_deeply_is_a_400(make_gateway: Any, levels: int) -> None:
    """A batch file's line deeper than MAX_DEPTH is refused at upload with a 400 naming the line and its depth (it
    was a 500 from 255 levels on: orjson could not write the line again)."""
    gw: GatewayHandle = await make_gateway(_with_qwen_batch)
    inner = "[" * (levels - 2) + "]" * (levels - 2)  # the line's object, its body, then these
    ok = {"custom_id": "c0", "method": "POST", "url": PATH, "body": {"model": "bq", "messages": []}}
    deep = json.dumps(ok).replace('"c0"', '"c1"').replace('"messages": []', f'"messages": [], "x": {inner}')
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData({"purpose": "batch"})
        form.add_field("file", (json.dumps(ok) + "\n" + deep + "\n").encode(), filename="in.jsonl")
        async with http.post(gw.url + "/v1/files", data=form, headers=auth()) as r:
            err = (await r.json())["error"]
            assert r.status == 400, err
    assert (
        err["param"] == "file" and f"Line 2 of the batch file nests JSON arrays and objects {levels}" in err["message"]
    )


@pytest.mark.timeout(180)  # 2000 random documents up to 40 levels: ~20 s beside other work
def test_depth_skips_strings_exactly() -> None:
    """depth() counts the levels of valid JSON whatever its strings hold (brackets, escaped quotes and
    backslashes, in keys too), as a walk of the decoded value does."""

    def walk(v: Any) -> int:
        kids = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        return 0 if kids is None else 1 + max(map(walk, kids), default=0)

    rng = random.Random(5)
    tricky = ['a\\"[', "\\\\", "}{", '"]\\\\"', "\\", "[[[", "é]"]

    def value(levels: int) -> Any:
        if levels == 0 or rng.random() < 0.2:
            return rng.choice([*tricky, 1, None])
        if rng.random() < 0.5:
            return [value(levels - 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(tricky) + str(i): value(levels - 1) for i in range(rng.randint(0, 3))}

    for _ in range(2000):
        v = value(rng.randint(0, 40))
        assert depth(json.dumps(v, ensure_ascii=rng.random() < 0.5).encode()) == walk(v)
