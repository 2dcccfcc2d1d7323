"""The vendor's rules as an attempt reads them: failures' text scrubbed of configured secrets, hooks that fail."""

from __future__ import annotations

import orjson

from balancer.errors import Failure
from balancer.judging import Judge, mapped_chunk
from balancer.secrets import Scrubber
from balancer.vendors import REGISTRY

SECRET = "tenant-7f3a9c-long-account-secret"


def _judge() -> Judge:
    return Judge(Scrubber({SECRET}), lambda: 1_000_000.0)


def test_a_failed_reply_that_echoes_a_secret_is_classified_without_it() -> None:
    """A vendor's 401 that quotes the configured secret back keeps its class, and its message no longer holds
    the secret; a reply without one is read once, as it came."""
    body = orjson.dumps({"error": {"message": f"invalid key {SECRET}", "type": "invalid_request_error"}})
    outcome, _ = _judge().reply(REGISTRY["deepseek"], 401, {}, body)
    assert not outcome.ok and outcome.failure is Failure.AUTH_FAILED
    assert SECRET not in (outcome.message or "") and "[redacted]" in (outcome.message or "")
    plain, _ = _judge().reply(REGISTRY["deepseek"], 401, {}, body.replace(SECRET.encode(), b"x"))
    assert plain.failure is Failure.AUTH_FAILED and "invalid key x" in (plain.message or "")


def test_an_error_event_keeps_the_vendors_words_scrubbed() -> None:
    """A stream's ``event: error`` is a failure whatever its data's shape; its text reaches the client with the
    secret replaced and the payload returned as it came."""
    payload = f"upstream refused account {SECRET}".encode()
    data, outcome, _ = _judge().mapped(REGISTRY["deepseek"], payload, error=True)
    assert data == payload and not outcome.ok
    assert SECRET not in (outcome.message or "") and "upstream refused account" in (outcome.message or "")


def test_a_mapping_hook_that_raises_makes_a_malformed_reply() -> None:
    """A hook that fails on a body (a shape its mapping does not expect) is the reply's fault: a malformed-response
    outcome naming the error's type, not an exception; no hook leaves the bytes as they are."""

    def hook(_: bytes) -> bytes:
        raise KeyError("choices")

    out = mapped_chunk(hook, b'{"odd": 1}')
    assert not isinstance(out, bytes) and out.failure is Failure.MALFORMED_RESPONSE and "KeyError" in out.message
    assert mapped_chunk(None, b"as is") == b"as is"
