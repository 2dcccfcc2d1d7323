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
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from balancer.vendors.base import Vendor

FIXTURES = Path(__file__).parent / "fixtures"
VENDORS = sorted(REGISTRY)


def _replies(name: str) -> list[dict[str, Any]]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert doc["vendor"] == name
    replies: list[dict[str, Any]] = doc["replies"]
    return replies


REPLIES = [(name, i, r) for name in VENDORS for i, r in enumerate(_replies(name))]


def test_fixture_files_are_well_formed() -> None:
    """One fixture file per vendor, none for unknown vendors; every reply names a failure class, a status,
    a body and where the body comes from."""
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == VENDORS
    for name, i, reply in REPLIES:
        assert set(reply) <= {"failure", "status", "body", "source", "note"}, (name, i)
        assert reply["source"].strip() and isinstance(reply["status"], int), (name, i)
        assert reply["failure"] in set(Failure), (name, i)


@pytest.mark.parametrize(("name", "i", "reply"), REPLIES, ids=[f"{n}-{i}-{r['failure']}" for n, i, r in REPLIES])
def test_fixture_replies_classify(name: str, i: int, reply: dict[str, Any]) -> None:
    """Each recorded vendor reply is classified by the vendor's rules into the class it is labelled with."""
    outcome, _ = compat.classify_reply(REGISTRY[name], reply["status"], {}, orjson.dumps(reply["body"]))
    assert outcome.failure is Failure(reply["failure"]), (name, i, outcome)


@pytest.mark.parametrize(("name", "i", "reply"), REPLIES, ids=[f"{n}-{i}-{r['failure']}" for n, i, r in REPLIES])
def test_fixture_replies_are_errors_even_at_200(name: str, i: int, reply: dict[str, Any]) -> None:
    """A recorded error body served with HTTP 200 is still not a success (errors hidden in 200s are found)."""
    outcome, _ = compat.classify_reply(REGISTRY[name], 200, {}, orjson.dumps(reply["body"]))
    assert not outcome.ok, (name, i)


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
    """Out-of-range temperature/top_p are clamped only where the vendor declares a range; the model is replaced."""
    vendor: Vendor = REGISTRY[name]
    data = b'{"model":"route","messages":[{"role":"user","content":"x"}],"temperature":5,"top_p":0,"stream":true}'
    body = wire.decode_body(data)
    view = wire.chat_view(body, len(data))
    shaped = compat.shape_chat(vendor, dict(body), view, "m-1", None)
    out = msgspec.json.decode(shaped.body)
    assert out["model"] == "m-1" and out["messages"] == [{"role": "user", "content": "x"}]
    if vendor.quirks.temperature:
        assert out["temperature"] == vendor.quirks.temperature[1]
    else:
        assert out["temperature"] == 5
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
