"""Every emulator dialect against its vendor's production rules: a rehearsal with the emulator produces the
failure class it claims, and the balance body it serves parses with the vendor's own parser."""

from __future__ import annotations

import orjson
import pytest

from balancer.emulator.dialects import DIALECTS
from balancer.emulator.dialects.base import ERROR_FAULTS
from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat

# The class each error fault is meant to rehearse.
INTENDED = {
    "model_unavailable": Failure.MODEL_UNAVAILABLE,
    "auth": Failure.AUTH_FAILED,
    "rate_limit": Failure.RATE_LIMITED,
    "balance_exhausted": Failure.QUOTA_EXHAUSTED,
    "content_filter": Failure.CONTENT_FILTERED,
    "context_length": Failure.CONTEXT_LENGTH,
    "bad_request": Failure.BAD_REQUEST,
}
VENDORS = sorted(REGISTRY)


def test_every_vendor_has_a_dialect() -> None:
    """The emulator speaks for exactly the vendors in the registry, and every error fault has an intended class."""
    assert sorted(DIALECTS) == VENDORS
    assert {*INTENDED, "server_error"} == set(ERROR_FAULTS)


@pytest.mark.parametrize("name", VENDORS)
@pytest.mark.parametrize("fault", sorted(INTENDED))
def test_fault_bodies_classify_as_intended(name: str, fault: str) -> None:
    """The dialect's body for each error fault is classified by the vendor's rules into the fault's class."""
    status, body = DIALECTS[name].error(fault)
    outcome, _ = compat.classify_reply(REGISTRY[name], status, {}, orjson.dumps(body))
    assert outcome.failure is INTENDED[fault], (name, fault, outcome)


@pytest.mark.parametrize("name", VENDORS)
def test_server_error_fails_over(name: str) -> None:
    """The dialect's overload / 5xx body is a breaker-counting upstream_error (never the client's fault)."""
    status, body = DIALECTS[name].server_error
    outcome, _ = compat.classify_reply(REGISTRY[name], status, {}, orjson.dumps(body))
    assert outcome.failure in (Failure.UPSTREAM_ERROR, Failure.RATE_LIMITED)


@pytest.mark.parametrize("name", VENDORS)
def test_what_a_model_cannot_take_is_the_clients_request(name: str) -> None:
    """The dialect's answers to what a model cannot take (an image for a text-only model, a json_schema without
    structured output, a role it does not know, turns that do not alternate, system messages but one first, an
    assistant message saying nothing, a temperature it does not take) are
    each a bad_request: returned to the client, never a mark against the candidate's health (the gateway skips
    such a model before sending, ``shaping.refusal``, or adjusts the request)."""
    d = DIALECTS[name]
    replies = (
        d.no_json_schema,
        d.no_developer_role,
        d.not_alternating,
        *(d.one_system_first or ()),
        *(d.empty_assistant or ()),
        *((d.unreasoned.reply,) if d.unreasoned else ()),
        *(r for _, r in d.temperature_only.values()),
    )
    for status, body in (d.text_only, *(r for r in replies if r is not None)):
        outcome, _ = compat.classify_reply(REGISTRY[name], status, {}, orjson.dumps(body))
        assert outcome.failure is Failure.BAD_REQUEST, (name, outcome)


@pytest.mark.parametrize("name", VENDORS)
def test_a_vendor_that_refuses_the_developer_role_gets_system(name: str) -> None:
    """Where the emulator plays a vendor refusing the role "developer" (its sourced body), the vendor's quirks send
    it as "system", and only there: the two facts are kept apart, in the dialect and in the vendor."""
    assert (DIALECTS[name].no_developer_role is not None) is REGISTRY[name].quirks.developer_as_system


@pytest.mark.parametrize("name", VENDORS)
def test_a_vendor_that_takes_one_system_message_first_gets_them_merged(name: str) -> None:
    """Where the emulator plays a vendor refusing several system messages, or one after another turn (its sourced
    bodies), the vendor's quirks merge the leading ones and skip it for a later one, and only there."""
    assert (DIALECTS[name].one_system_first is not None) is REGISTRY[name].quirks.one_system_first


@pytest.mark.parametrize("name", VENDORS)
def test_a_vendor_that_refuses_empty_assistant_messages_gets_them_left_out(name: str) -> None:
    """Where the emulator plays a vendor refusing an assistant message that says nothing (its sourced bodies), the
    vendor's quirks leave such messages (or their empty content beside tool calls) out, and only there."""
    assert (DIALECTS[name].empty_assistant is not None) is REGISTRY[name].quirks.no_empty_assistant


@pytest.mark.parametrize("name", VENDORS)
def test_a_vendor_that_needs_reasoning_back_gets_a_placeholder_it_takes(name: str) -> None:
    """Where the emulator plays a thinking model refusing reasoning_content left out where a tool was called (its
    sourced body), the vendor's quirks give a placeholder, and only there; the placeholder is one the dialect takes
    (not "" where "" counts as none); and the vendor has a model that thinks by default."""
    d, vendor = DIALECTS[name], REGISTRY[name]
    placeholder = vendor.quirks.reasoning_on_calls
    assert (d.unreasoned is not None) is (placeholder is not None)
    if d.unreasoned is not None:
        assert placeholder or not d.unreasoned.empty_counts
        assert any(info.thinks for info in vendor.models.values())


@pytest.mark.parametrize("name", VENDORS)
def test_a_tool_schema_one_vendor_refuses_fails_over(name: str) -> None:
    """Where the emulator plays a vendor refusing tool schemas outside its own subset of JSON Schema (its sourced
    bodies: an untyped root, a node below breaking a rule), the vendor's rules read each refusal as unsupported
    (another candidate may take the request as it is) about ``tools``, not as a bad request."""
    for status, body in DIALECTS[name].tool_schema or ():
        outcome, _ = compat.classify_reply(REGISTRY[name], status, {}, orjson.dumps(body))
        assert (outcome.failure, outcome.about) == (Failure.UNSUPPORTED, "tools"), (name, outcome)


@pytest.mark.parametrize("name", VENDORS)
def test_the_tool_choices_the_emulator_refuses_are_the_ones_the_vendor_skips(name: str) -> None:
    """The tool_choice values a dialect accepts are the vendor's (``Quirks.tool_choice``), and its answer to another
    is a bad_request."""
    d, quirks = DIALECTS[name], REGISTRY[name].quirks
    assert (d.tool_choice[0] if d.tool_choice else None) == quirks.tool_choice
    if d.tool_choice is not None:
        status, body = d.tool_choice[1]
        outcome, _ = compat.classify_reply(REGISTRY[name], status, {}, orjson.dumps(body))
        assert outcome.failure is Failure.BAD_REQUEST, (name, outcome)


@pytest.mark.parametrize("name", VENDORS)
def test_a_vendor_that_ignores_max_completion_tokens_gets_max_tokens(name: str) -> None:
    """Where the emulator plays a vendor that limits the reply by max_tokens alone, the vendor's quirks send the
    limit as max_tokens, and only there."""
    assert DIALECTS[name].ignores_max_completion_tokens is REGISTRY[name].quirks.max_tokens_only


@pytest.mark.parametrize("name", VENDORS)
def test_a_model_with_one_temperature_has_it_in_the_catalogue(name: str) -> None:
    """The models a dialect lets take one temperature alone are the ones the catalogue pins to it
    (``ModelInfo.temperature``), and only those."""
    pinned = {
        m: i.temperature[0]
        for m, i in REGISTRY[name].models.items()
        if i.temperature is not None and i.temperature[0] == i.temperature[1]
    }
    assert {m: t for m, (t, _) in DIALECTS[name].temperature_only.items()} == pinned


@pytest.mark.parametrize("name", VENDORS)
def test_a_vendor_that_needs_alternating_turns_skips_other_histories(name: str) -> None:
    """Where the emulator plays a vendor refusing turns that do not alternate, the vendor's quirks skip such a
    history (``Quirks.alternating_turns``), and only there."""
    assert (DIALECTS[name].not_alternating is not None) is REGISTRY[name].quirks.alternating_turns


@pytest.mark.parametrize("name", VENDORS)
def test_rate_limit_body_is_an_error_even_at_200(name: str) -> None:
    """The dialect's rate-limit body served with HTTP 200 is still not a success."""
    _, body = DIALECTS[name].rate_limit
    outcome, _ = compat.classify_reply(REGISTRY[name], 200, {}, orjson.dumps(body))
    assert not outcome.ok


@pytest.mark.parametrize("name", VENDORS)
def test_balance_body_where_the_vendor_has_a_probe(name: str) -> None:
    """A dialect renders a balance body exactly when its vendor has a balance probe."""
    assert (DIALECTS[name].balance is None) == (REGISTRY[name].balance is None)


@pytest.mark.parametrize("name", [n for n in VENDORS if REGISTRY[n].balance is not None])
def test_balance_round_trip(name: str) -> None:
    """The emulator's rendering of a balance parses back to the same granted and paid amounts."""
    probe, render = REGISTRY[name].balance, DIALECTS[name].balance
    assert probe is not None and render is not None
    bal = probe.parse(orjson.dumps(render(12.5, 80.0)))
    assert bal.total == pytest.approx(92.5)
    assert bal.granted == pytest.approx(12.5) and bal.paid == pytest.approx(80.0)


def test_error_names_only_error_faults() -> None:
    """Asking a dialect for the body of a fault that has none (a stream fault) is a programming error."""
    with pytest.raises(ValueError, match="truncate_stream"):
        DIALECTS["openai"].error("truncate_stream")
