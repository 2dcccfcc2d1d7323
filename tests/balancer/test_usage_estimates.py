"""A served answer whose vendor reported no usable usage — none at all, or counts that are no token counts (below 0,
beyond 2**32, more digits than any decoder reads) — is still the client's answer, from the first candidate asked:
it is booked once, on an estimate marked as such (the ledger, the ``request_done`` line, the metrics), and an
unreadable count is logged as a warning naming the request, the provider and the count, never a huge value.
Asked with the official ``openai`` SDK, async and sync (in a thread), streamed and not."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import aiohttp
import openai
import pytest

from balancer import replies, wire
from tests.balancer.test_metrics import scrape, value
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle


async def _gateway(make_gateway: GatewayFactory, hostile: str, path: str) -> GatewayHandle:
    """A gateway whose route ``chat`` asks ``ds-a`` (the hostile upstream at ``path``) first; ``ds-b`` and ``qwen``
    (the emulator) are healthy."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"{hostile}/{path}"

    handle: GatewayHandle = await make_gateway(edit)
    return handle


async def ask(gw: GatewayHandle, sync: bool, stream: bool) -> tuple[str, str]:
    """The answer's text and the provider that served it, asked with the SDK's async client or its sync one."""
    if sync:
        return await asyncio.to_thread(_ask_sync, gw.sync_client(), stream)
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT, stream=stream)  # type: ignore[call-overload]
    if stream:
        text = "".join([c.choices[0].delta.content or "" async for c in r.parse() if c.choices])
    else:
        text = r.parse().choices[0].message.content or ""
    return text, r.headers["x-qiao-provider"]


def _ask_sync(client: openai.OpenAI, stream: bool) -> tuple[str, str]:
    r = client.chat.completions.with_raw_response.create(**CHAT, stream=stream)  # type: ignore[call-overload]
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
    else:
        text = r.parse().choices[0].message.content or ""
    return text, r.headers["x-qiao-provider"]


def one_done(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's one request_done line, served (and no failed attempt, no unhandled error anywhere)."""
    assert not [e for e in logs if e["event"] in ("unhandled_error", "upstream_failed", "stream_failed")], logs
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == 200, done
    return done[0]


async def called_once(hostile: str, path: str, emulator: EmulatorHandle) -> None:
    """The hostile upstream got the request once; no other candidate got it (no failover, no retry)."""
    async with aiohttp.ClientSession() as http, http.get(f"{hostile}/_calls") as r:
        calls = await r.json()
    assert calls == {path: 1}, calls
    assert await emulator.requests("deepseek.b") == 0 and await emulator.requests("qwen") == 0


async def booked_once_on_an_estimate(
    gw: GatewayHandle, done: dict[str, Any], provider: str = "ds-a", route: str = "chat"
) -> None:
    """One request booked, on ``provider`` only, marked estimated, its tokens those of ``request_done`` (a
    completion too, for a chat); /metrics counts the same tokens for ``route`` (and can be read: no count it cannot
    hold)."""
    tokens = done["tokens"]
    assert tokens["estimated"] is True and tokens["prompt"] > 0, tokens
    assert (tokens["completion"] > 0) is (route != "embed"), tokens
    snap = await gw.gw.ledger.snapshot(gw.clock())
    rows = [r for r in snap.rows if r.requests or r.tokens or r.micro]
    assert {r.provider for r in rows} == {provider}, rows
    assert (sum(r.requests for r in rows), sum(r.estimated for r in rows)) == (1, 1), rows
    assert sum(r.tokens for r in rows) == tokens["prompt"] + tokens["completion"], rows
    assert all(r.micro >= 0 for r in rows), rows
    async with aiohttp.ClientSession() as http:
        m = await scrape(http, gw.url)
    served = [value(m, "qiao_tokens_total", provider=provider, route=route, client="tests", kind=k)
              for k in ("prompt", "completion")]  # fmt: skip
    assert served == [tokens["prompt"], tokens["completion"]]


@pytest.mark.parametrize("stream", [False, True], ids=["reply", "stream"])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_an_answer_without_usage_is_booked_once_on_an_estimate(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    sync: bool,
    stream: bool,
) -> None:
    """A reply (or a stream) that reports no usage is served and booked once on an estimate, marked as such: the
    prompt from the request's size, the completion from the answer's (a reply was not booked at all before)."""
    path = "no-usage/0"
    gw = await _gateway(make_gateway, hostile, path)
    assert await ask(gw, sync, stream) == ("好", "ds-a")
    await called_once(hostile, path, emulator)
    done = one_done(logs)
    await booked_once_on_an_estimate(gw, done)
    assert not [e for e in logs if e["event"] == "usage_unreadable"]  # no usage is no broken usage


def warned(logs: list[dict[str, Any]], done: dict[str, Any], count: str, provider: str = "ds-a") -> dict[str, Any]:
    """The one ``usage_unreadable`` warning: the request's id, the provider and which count; never a long run of
    digits (a huge count is logged as its length) nor a key."""
    warnings = [e for e in logs if e["event"] == "usage_unreadable"]
    assert len(warnings) == 1, warnings
    w = warnings[0]
    assert w["log_level"] == "warning" and w["request_id"] == done["request_id"], w
    assert (w["provider"], w["count"]) == (provider, count), w
    assert "9" * 13 not in repr(w) and "sk-" not in repr(w) and len(repr(w)) < 400, w
    return w


# (upstream path, the count the warning names, what it says): the usage comes after the answer (its own last chunk
# in a stream), as OpenAI sends it.
COUNTS = {
    "negative": ("negative-last-prompt_tokens/5", "prompt_tokens", "below 0: -5"),
    "negative-cached": ("negative-last-cached_tokens/5", "prompt_tokens_details.cached_tokens", "below 0: -5"),
    "30-digits": ("digits-last-completion_tokens/30", "completion_tokens", "beyond 2**32: a 30-digit number"),
    "5000-digits": ("digits-last-prompt_tokens/5000", "usage.prompt_tokens", "Integer value out of range"),
}
CASES = [(c, stream) for c in COUNTS for stream in (False, True)]


@pytest.mark.parametrize(("case", "stream"), CASES, ids=[f"{c}-{'stream' if s else 'reply'}" for c, s in CASES])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_an_unreadable_count_is_served_and_booked_once_on_an_estimate(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    sync: bool,
    case: str,
    stream: bool,
) -> None:
    """A reply (or a stream whose usage chunk comes after the answer) whose usage has a count below 0, beyond 2**32
    or of more digits than msgspec decodes is the client's answer, whole, from the first candidate, asked once (it
    was failed over, the answer paid twice; streamed, the client got an error event after the whole answer). It is
    booked once on an estimate (never the count), and a warning names the request, provider and count."""
    path, count, reason = COUNTS[case]
    gw = await _gateway(make_gateway, hostile, path)
    assert await ask(gw, sync, stream) == ("好", "ds-a")
    await called_once(hostile, path, emulator)
    done = one_done(logs)
    await booked_once_on_an_estimate(gw, done)
    assert warned(logs, done, count)["reason"] == reason


@pytest.mark.parametrize(("path", "count"), [("negative-choice-prompt_tokens/5", "prompt_tokens"),
                                             ("digits-choice-total_tokens/400", "total_tokens")])  # fmt: skip
async def test_an_unreadable_count_inside_a_choice_is_served_and_booked_once_on_an_estimate(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], path: str, count: str
) -> None:
    """Moonshot's stream, whose usage rides inside its last chunk's choice: a count there below 0 or beyond 2**32
    ends the stream as the vendor did, booked once on an estimate, with the warning."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["kimi"]["base_url"] = f"{hostile}/{path}"

    gw = await make_gateway(edit)
    stream = await gw.client().chat.completions.create(model="kimi", messages=CHAT["messages"], stream=True)
    chunks = [c async for c in stream]
    assert [d.delta.content for c in chunks for d in c.choices if d.delta.content] == ["好"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    done = one_done(logs)
    assert done["stream_end"] == "done"
    await booked_once_on_an_estimate(gw, done, "kimi", "kimi")
    warned(logs, done, count, "kimi")


@pytest.mark.parametrize("digits", [30, 400, 5000])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_an_unreadable_count_in_an_embeddings_reply_is_served_as_the_client_asked(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    sync: bool,
    digits: int,
) -> None:
    """The SDK asks embeddings as base64 (and decodes them): a reply whose prompt_tokens has 30, 400 or 5000 digits
    is served from the first candidate as base64 of the vendor's vectors, booked once on an estimate, warned; its
    usage is the estimate booked (the reshaping reads the reply once the count no decoder reads is replaced: one of
    5000 digits failed over to the next candidate)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["base_url"] = f"{hostile}/digits/{digits}"
        cfg["providers"]["qwen-b"] = {"vendor": "qwen", "api_key": "sk-q2", "base_url": f"{emulator.url}/qwen"}
        cfg["routes"]["embed"]["candidates"].append({"provider": "qwen-b", "model": "text-embedding-v3"})

    gw = await make_gateway(edit)
    if sync:
        r = await asyncio.to_thread(gw.sync_client().embeddings.with_raw_response.create, model="embed", input="你好")
    else:
        r = await gw.client().embeddings.with_raw_response.create(model="embed", input="你好")
    assert r.headers["x-qiao-provider"] == "qwen" and r.parse().data[0].embedding == [0.5, 0.25]
    sent = json.loads(r.http_response.content)["data"][0]["embedding"]  # as the gateway wrote it
    assert isinstance(sent, str) and struct.unpack("<2f", base64.b64decode(sent)) == (0.5, 0.25)
    done = one_done(logs)
    prompt = done["tokens"]["prompt"]
    assert (r.parse().usage.prompt_tokens, r.parse().usage.total_tokens) == (prompt, prompt)
    await booked_once_on_an_estimate(gw, done, "qwen", "embed")
    warned(logs, done, "usage.prompt_tokens" if digits == 5000 else "prompt_tokens", "qwen")


async def test_a_reply_broken_beyond_its_usage_still_fails_over(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, hostile: str, logs: list[dict[str, Any]]
) -> None:
    """A reply whose usage no decoder reads (5000 digits) and whose ``error`` is of no dialect's type (5) is a
    malformed response as before: only the usage is read leniently. Failed over to the next candidate, nothing
    booked on the broken one, no usage warning. (A guard: the old code failed it over too.)"""
    gw = await _gateway(make_gateway, hostile, "digits-broken-prompt_tokens/5000")
    text, provider = await ask(gw, False, False)
    assert text and provider == "ds-b"
    assert [e["failure"] for e in logs if e["event"] == "upstream_failed"] == ["malformed_response"]
    snap = await gw.gw.ledger.snapshot(gw.clock())
    assert not [r for r in snap.rows if r.provider == "ds-a" and (r.requests or r.tokens)], snap.rows
    assert not [e for e in logs if e["event"] == "usage_unreadable"]


@pytest.mark.parametrize(
    ("usage", "found"),
    [
        (replies.Usage(prompt_tokens=0, completion_tokens=2**32, total_tokens=2**32), None),
        (replies.Usage(prompt_tokens=-1), ("prompt_tokens", "below 0: -1")),
        (replies.Usage(total_tokens=2**32 + 1), ("total_tokens", "beyond 2**32: 4294967297")),
        (replies.Usage(prompt_cache_hit_tokens=10**40), ("prompt_cache_hit_tokens", "beyond 2**32: a 41-digit number")),
        (
            replies.Usage(prompt_tokens_details=replies.PromptTokensDetails(cached_tokens=-(10**20))),
            ("prompt_tokens_details.cached_tokens", "below 0: a 21-digit number"),
        ),
    ],
)
def test_a_token_count_is_from_0_to_2_32(usage: replies.Usage, found: tuple[str, str] | None) -> None:
    """Every count from 0 to 2**32 is a token count; the first that is not is named, with what it says (a huge one
    by its number of digits)."""
    assert replies.unreadable(usage) == found


def _read_again(data: bytes) -> replies.ReplyView | None:
    """``data`` as the gateway reads a reply its decoder refused."""
    try:
        replies.reply_decoder.decode(data)
    except wire.HOSTILE_JSON as e:
        return replies.without_usage(data, e)
    raise AssertionError("the reply decoded")


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (b'{"choices": [], "usage": {"prompt_tokens": "12"}}', "usage.prompt_tokens"),
        (b'{"choices": [], "usage": {"completion_tokens": null}}', "usage.completion_tokens"),
        (b'{"choices": [], "usage": {"total_tokens": 1.5}}', "usage.total_tokens"),
        (b'{"choices": [], "usage": {"prompt_tokens": ' + b"9" * 5000 + b"}}", "usage.prompt_tokens"),
        (b'{"choices": [{"finish_reason": "stop", "usage": "n/a"}]}', "choices[0].usage"),
        (b'{"choices": 5, "usage": {"total_tokens": 1.5}}', None),  # more than the usage is broken
        (b'{"choices": [], "usage": {"prompt_tokens": 1.5}, "error": 5}', None),
        (b'{"choices": [], "usage": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}", None),  # nested too deep
        (b'{"choices": [], "usage": {"prompt_tokens": 1', None),  # no JSON
    ],
)
def test_a_reply_whose_only_fault_is_its_usage_is_read_without_it(data: bytes, count: str | None) -> None:
    """A reply the decoder refuses is read again without its usage: when only a usage count was unreadable (a
    string, null, a float, 5000 digits; in a choice too) its view keeps the rest (the choices' finish_reason) and
    says which count; a reply broken elsewhere, nested too deep or no JSON stays unread."""
    view = _read_again(data)
    if count is None:
        assert view is None
        return
    assert view is not None and view.choices is not None and isinstance(view.usage, replies.UnreadableUsage)
    assert replies.unreadable(view.usage) == (count, view.usage.reason) and view.usage.reason
    assert [(c.finish_reason, c.usage) for c in view.choices] == ([("stop", None)] if view.choices else [])
