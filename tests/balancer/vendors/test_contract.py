"""Every vendor in the registry: its own error bodies map to the right failure class, its request
shaping follows its declared quirks, its catalogue and balance probe are well formed."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from balancer import wire
from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from balancer.vendors.base import Vendor

EXPECTED = {
    "auth": Failure.AUTH_FAILED,
    "rate_limit": Failure.RATE_LIMITED,
    "balance_exhausted": Failure.QUOTA_EXHAUSTED,
    "content_filter": Failure.CONTENT_FILTERED,
    "context_length": Failure.CONTEXT_LENGTH,
    "bad_request": Failure.BAD_REQUEST,
}
VENDORS = sorted(REGISTRY)


@pytest.mark.parametrize("name", VENDORS)
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_dialect_errors_classify(name: str, kind: str) -> None:
    """The vendor's own error body for each fault is classified into the matching failure class."""
    vendor = REGISTRY[name]
    status, body = getattr(vendor.dialect, kind)
    outcome, _ = compat.classify_reply(vendor, status, {}, orjson.dumps(body))
    assert outcome.failure is EXPECTED[kind], (name, kind, outcome)


@pytest.mark.parametrize("name", VENDORS)
def test_server_error_fails_over(name: str) -> None:
    """The vendor's overload / 5xx body is a breaker-counting upstream_error (never the client's fault)."""
    vendor = REGISTRY[name]
    status, body = vendor.dialect.server_error
    outcome, _ = compat.classify_reply(vendor, status, {}, orjson.dumps(body))
    assert outcome.failure in (Failure.UPSTREAM_ERROR, Failure.RATE_LIMITED)


@pytest.mark.parametrize("name", VENDORS)
def test_success_and_hidden_200_errors(name: str) -> None:
    """A normal 200 reply is OK; a 200 whose body is an error is not."""
    vendor = REGISTRY[name]
    ok = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "好的。"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    outcome, view = compat.classify_reply(vendor, 200, {}, orjson.dumps(ok))
    assert outcome.ok and view is not None and view.usage is not None and view.usage.total_tokens == 5
    _, body = vendor.dialect.rate_limit
    outcome, _ = compat.classify_reply(vendor, 200, {}, orjson.dumps(body))
    assert not outcome.ok


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


@pytest.mark.parametrize("name", [n for n in VENDORS if REGISTRY[n].balance is not None])
def test_balance_round_trip(name: str) -> None:
    """The emulator's rendering of a balance parses back to the same granted and paid amounts."""
    probe = REGISTRY[name].balance
    assert probe is not None
    bal = probe.parse(orjson.dumps(probe.render(12.5, 80.0)))
    assert bal.total == pytest.approx(92.5)
    assert bal.granted == pytest.approx(12.5) and bal.paid == pytest.approx(80.0)


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
