"""Every vendor in the registry: the reply bodies in ``fixtures/<vendor>.json`` map to the failure class
each is labelled with, its request shaping follows its declared quirks, its catalogue is well formed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from balancer import wire
from balancer.errors import Failure
from balancer.judging import mapped_chunk
from balancer.vendors import REGISTRY, shaping
from balancer.vendors import openai_compat as compat
from balancer.vendors.base import Vendor
from tests.balancer.vendors import audit

FIXTURES = Path(__file__).parent / "fixtures"
VENDORS = sorted(REGISTRY)
# doc: the body as the vendor's docs or SDK show it; assembled: code/message from the vendor's table put in
# its documented envelope; observed: a real reply quoted by a third party; hand-written: nothing documented.
KINDS = {"doc", "assembled", "observed", "hand-written"}
SECTIONS = {"vendor", "replies", "balances", "streams"}


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert doc["vendor"] == name and set(doc) <= SECTIONS
    return doc


def _section(key: str) -> list[tuple[str, int, dict[str, Any]]]:
    return [(name, i, item) for name in VENDORS for i, item in enumerate(_doc(name).get(key, []))]


REPLIES = _section("replies")
BALANCES = _section("balances")
STREAMS = _section("streams")


def _ids(items: list[tuple[str, int, dict[str, Any]]], label: str) -> list[str]:
    return [f"{n}-{i}-{item['expect'].get('failure') if label == 'expect' else item[label]}" for n, i, item in items]


def _well_sourced(item: dict[str, Any]) -> bool:
    source, kind = item["source"].strip(), item["kind"]
    written = source.startswith("hand-written:")
    return bool(source) and kind in KINDS and written == (kind == "hand-written")


def test_fixture_files_are_well_formed() -> None:
    """One fixture file per vendor, none for unknown vendors; every reply names a failure class, a status, a
    body, its kind and where the body comes from (hand-written bodies say so in their source)."""
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == VENDORS
    for name, i, reply in REPLIES:
        assert set(reply) <= {"failure", "status", "body", "source", "kind", "note"}, (name, i)
        assert _well_sourced(reply) and isinstance(reply["status"], int), (name, i)
        assert reply["failure"] in set(Failure), (name, i)
    for name, i, item in [*BALANCES, *STREAMS]:
        assert _well_sourced(item) and set(item) <= {"body", "events", "expect", "source", "kind", "note"}, (name, i)


def test_every_vendor_has_a_documented_or_labelled_body_for_each_rehearsed_class() -> None:
    """Each vendor's fixtures cover at least auth, rate limit and quota, the classes every dialect rehearses."""
    for name in VENDORS:
        classes = {r["failure"] for n, _, r in REPLIES if n == name}
        assert {"auth_failed", "rate_limited", "quota_exhausted"} <= classes, name


@pytest.mark.parametrize(("name", "i", "reply"), REPLIES, ids=_ids(REPLIES, "failure"))
def test_fixture_replies_classify(name: str, i: int, reply: dict[str, Any]) -> None:
    """Each recorded vendor reply is classified by the vendor's rules into the class it is labelled with."""
    outcome, _ = compat.classify_reply(REGISTRY[name], reply["status"], {}, orjson.dumps(reply["body"]))
    assert outcome.failure is Failure(reply["failure"]), (name, i, outcome)


@pytest.mark.parametrize(("name", "i", "reply"), REPLIES, ids=_ids(REPLIES, "failure"))
def test_fixture_replies_are_errors_even_at_200(name: str, i: int, reply: dict[str, Any]) -> None:
    """A recorded error body served with HTTP 200 is still not a success (errors hidden in 200s are found)."""
    outcome, _ = compat.classify_reply(REGISTRY[name], 200, {}, orjson.dumps(reply["body"]))
    assert not outcome.ok, (name, i)


@pytest.mark.parametrize(("name", "i", "item"), BALANCES, ids=[f"{n}-{i}" for n, i, _ in BALANCES])
def test_fixture_balances_parse(name: str, i: int, item: dict[str, Any]) -> None:
    """The vendor's documented balance reply parses with its balance probe into granted and paid apart."""
    probe = REGISTRY[name].balance
    assert probe is not None, name
    bal = probe.parse(orjson.dumps(item["body"]))
    want = item["expect"]
    assert bal.total == pytest.approx(want["total"]) and bal.granted == pytest.approx(want["granted"])
    assert bal.paid == pytest.approx(want["paid"])


def test_every_balance_probe_has_a_fixture() -> None:
    """A vendor with a balance probe has at least one recorded balance reply, and only those do."""
    assert {n for n, _, _ in BALANCES} == {n for n in VENDORS if REGISTRY[n].balance is not None}


def _replay(vendor: Vendor, events: list[str]) -> tuple[Failure | None, int | None, bool]:
    """Read raw SSE lines as the gateway does: (the first failure, the last usage total, [DONE] seen)."""
    usage: int | None = None
    for line in events:
        if line.startswith(":"):
            continue  # an SSE comment (keep-alive)
        data = line.removeprefix("data:").lstrip().encode()
        if data == b"[DONE]":
            return None, usage, True
        mapped = mapped_chunk(vendor.map_chunk, data)
        assert isinstance(mapped, bytes), mapped  # every recorded chunk maps
        outcome, view = compat.classify_chunk(vendor, mapped)
        if not outcome.ok:
            return outcome.failure, usage, False
        found = compat.chunk_usage(vendor, view) if view is not None else None
        usage = found.total_tokens if found is not None else usage
    return None, usage, False


@pytest.mark.parametrize(("name", "i", "item"), STREAMS, ids=_ids(STREAMS, "expect"))
def test_fixture_streams(name: str, i: int, item: dict[str, Any]) -> None:
    """A recorded stream is read as the vendor's quirks say: usage found where it puts it, [DONE] exactly when
    it sends one, an error chunk inside the stream classified."""
    vendor = REGISTRY[name]
    failure, usage, done = _replay(vendor, item["events"])
    want = item["expect"]
    assert (failure.value if failure else None) == want["failure"], (name, i)
    assert usage == want["usage_total"] and done == want["done"], (name, i)
    if want["failure"] is None:
        assert done == vendor.quirks.sends_done, (name, i)


@pytest.mark.parametrize("name", VENDORS)
def test_every_rule_cites_a_source(name: str) -> None:
    """Every error rule names where its fact comes from: a URL, an SDK path, or 'unconfirmed:' and its basis."""
    for rule in (*REGISTRY[name].errors, *compat.GENERIC, *compat.BY_STATUS.values()):
        src = rule.source
        assert src.startswith(("https://", "github:", "unconfirmed: ")) and len(src) > 15, (name, rule)


@pytest.mark.parametrize("name", VENDORS)
def test_success_reply_is_ok(name: str) -> None:
    """A normal 200 reply is OK and its usage is read."""
    ok = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "好的。"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    outcome, view = compat.classify_reply(REGISTRY[name], 200, {}, orjson.dumps(ok))
    assert outcome.ok and view is not None and view.usage is not None and view.usage.total_tokens == 5


@pytest.mark.parametrize("name", VENDORS)
def test_shaping_follows_quirks(name: str) -> None:
    """A temperature valid for OpenAI (0..2) but above a vendor's declared range is clamped to it, and kept
    where none is declared; the model is replaced."""
    vendor: Vendor = REGISTRY[name]
    data = b'{"model":"route","messages":[{"role":"user","content":"x"}],"temperature":2,"top_p":0,"stream":true}'
    body = wire.decode_body(data)
    view = wire.chat_view(body, len(data))
    shaped = shaping.shape_chat(vendor, dict(body), view, "m-1", None)
    out = msgspec.json.decode(shaped.body)
    assert out["model"] == "m-1" and out["messages"] == [{"role": "user", "content": "x"}]
    if vendor.quirks.temperature:
        assert out["temperature"] == vendor.quirks.temperature[1]
    else:
        assert out["temperature"] == 2
    if vendor.quirks.stream_usage_option:
        assert out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("name", VENDORS)
def test_catalogue_is_sane(name: str) -> None:
    """Every model has a positive context window and non-negative prices."""
    vendor = REGISTRY[name]
    assert vendor.models and vendor.title and vendor.base_url.startswith("https://")
    for info in vendor.models.values():
        assert info.context_window > 0 and info.input_price >= 0 and info.output_price >= 0


def test_retry_after_forms() -> None:
    """Retry-After in seconds and Azure's retry-after-ms are both honoured."""
    assert compat.retry_after({"retry-after": "12"}) == 12.0
    assert compat.retry_after({"retry-after-ms": "1500"}) == 1.5
    assert compat.retry_after({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None


def test_quirk_overrides_from_provider_extra() -> None:
    """Unconfirmed ranges can be overridden per provider; a malformed override is a config error naming the key."""
    from balancer import config as config_mod

    qwen = REGISTRY["qwen"].configured({"temperature": "0,1.5", "max_n": "1", "unsupported": "seed, logprobs"})
    assert qwen.quirks.temperature == (0.0, 1.5) and qwen.quirks.max_n == 1
    assert qwen.quirks.unsupported == ("seed", "logprobs") and qwen.quirks.top_p == REGISTRY["qwen"].quirks.top_p
    assert REGISTRY["qwen"].configured({}) is REGISTRY["qwen"]
    raw = {"providers": {"q": {"vendor": "qwen", "extra": {"temperature": "hot"}}}, "routes": {}}
    with pytest.raises(config_mod.ConfigError, match=r"providers\.q\.extra: malformed quirk override"):
        config_mod.parse(raw)


def test_ratelimit_header_forms() -> None:
    """x-ratelimit-remaining-*: 0 rests the account until the reset the vendor states (OpenAI's duration form too)."""
    assert compat.exhausted_for({"x-ratelimit-remaining-requests": "5"}) is None
    assert compat.exhausted_for({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}) == 360.0
    assert compat.exhausted_for({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "20ms"}) == 0.02
    assert compat.exhausted_for({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset": "12"}) == 12.0
    assert compat.exhausted_for({"x-ratelimit-remaining-requests": "0"}) == 1.0


def test_audit_table_is_current() -> None:
    """balancer/vendors/README.md's audit table is the one the rules render (regenerate: python -m
    tests.balancer.vendors.audit)."""
    assert audit.section(audit.README.read_text(encoding="utf-8")) == audit.render()


def test_error_rule_override_from_provider_extra() -> None:
    """A provider can put its own error rule before the vendor's (for an unconfirmed fact); a malformed one is a
    config error naming the key."""
    from balancer import config as config_mod

    qwen = REGISTRY["qwen"].configured({"error.code.limit_requests": "quota_exhausted", "error.status.418": "timeout"})
    body = orjson.dumps({"error": {"code": "limit_requests", "type": "limit_requests", "message": "x"}})
    assert compat.classify_reply(qwen, 429, {}, body)[0].failure is Failure.QUOTA_EXHAUSTED
    assert compat.classify_reply(qwen, 418, {}, b'{"error":{"message":"x"}}')[0].failure is Failure.TIMEOUT
    assert compat.classify_reply(REGISTRY["qwen"], 429, {}, body)[0].failure is Failure.RATE_LIMITED
    for bad in ({"error.code.x": "sleepy"}, {"error.colour.x": "timeout"}, {"error.status.x": "timeout"}):
        raw = {"providers": {"q": {"vendor": "qwen", "extra": bad}}, "routes": {}}
        with pytest.raises(config_mod.ConfigError, match=r"providers\.q\.extra: malformed quirk override"):
            config_mod.parse(raw)
