"""Shaping a request for one vendor and model by its quirks: refuse what it cannot honour (never a silent
drop), drop the fields a declared quirk says it rejects, send under the vendor's name what it knows by another
(the role developer as system, max_completion_tokens as max_tokens), merge the system messages where a vendor
takes one, leave out assistant messages that say nothing where a vendor refuses them, give the turns that called a
tool the reasoning_content a thinking model needs where a history lost it, clamp sampling to its
ranges (a model's own where it has one) and the output to the model's maximum, ask for stream usage where it
must be asked. Every change is logged. Pure functions; vendor differences are data
(:class:`~balancer.vendors.base.Quirks`, :class:`~balancer.vendors.base.ModelInfo`); the messages rewritten in
:mod:`balancer.vendors.messages`. Reading replies is :mod:`balancer.vendors.openai_compat`.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from balancer import wire
from balancer.vendors import messages
from balancer.vendors.base import ModelInfo, Vendor


class Unsupported(Exception):
    """This candidate cannot serve the request as asked: ``param`` names the field it cannot honour (``n``
    above the vendor's maximum, ``tools`` to a model without tool calling, a ``tool_choice`` the vendor does not
    accept, ``response_format`` json_schema to a model without structured output, ``messages`` holding an image
    or any other part that is not text for a text-only model)."""

    def __init__(self, message: str, param: str, code: str = "unsupported_parameter") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def refusal(vendor: Vendor, view: wire.RequestView, model: str, info: ModelInfo | None) -> Unsupported | None:
    """Why this vendor and model cannot honour the request, or None. Never a silent drop: the candidate is
    skipped (and the client told, when none can)."""
    q = vendor.quirks
    if q.max_n is not None and view.n > q.max_n:
        return Unsupported(
            f"{vendor.name} accepts n <= {q.max_n}, the request asks n={view.n}", "n", "unsupported_value"
        )
    if view.tools and info is not None and not info.tools:
        return Unsupported(f"{vendor.name} model '{model}' does not support tools (function calling)", "tools")
    if view.tool_choice and q.tool_choice is not None and view.tool_choice not in q.tool_choice:
        return Unsupported(
            f"{vendor.name} accepts tool_choice {' or '.join(q.tool_choice)} alone, the request asks "
            f"'{view.tool_choice}'",
            "tool_choice",
            "unsupported_value",
        )
    if view.json_mode and info is not None and not info.json_mode:
        return Unsupported(f"{vendor.name} model '{model}' does not support JSON output", "response_format")
    if view.json_schema and info is not None and info.json_schema is False:
        return Unsupported(
            f"{vendor.name} model '{model}' does not support structured output (response_format type json_schema; "
            "its JSON mode is json_object)",
            "response_format",
        )
    if q.alternating_turns and not view.alternating:
        return Unsupported(
            f"{vendor.name} needs user and assistant turns to alternate, from a user turn to a user or tool turn "
            "(tool results may follow each other)",
            "messages",
            "unsupported_value",
        )
    if q.one_system_first and view.system_later:
        return Unsupported(
            f"{vendor.name} takes system instructions only at the start of the messages, before any other turn",
            "messages",
            "unsupported_value",
        )
    if view.media and info is not None and info.vision is False:
        return Unsupported(
            f"{vendor.name} model '{model}' takes text only; the messages hold a part of type '{view.media}'",
            "messages",
            "unsupported_value",
        )
    return None


@dataclass(slots=True)
class Shaped:
    body: bytes
    adjustments: list[str]


_INCLUDE_USAGE = msgspec.Raw(b'{"include_usage":true}')


def _clamp(body: wire.Body, name: str, value: float | None, rng: tuple[float, float] | None, out: list[str]) -> None:
    if value is None or rng is None:
        return
    lo, hi = rng
    clamped = min(max(value, lo), hi)
    if clamped != value:
        body[name] = wire.raw(clamped)
        out.append(f"{name} {value}->{clamped}")


def shape_chat(vendor: Vendor, body: wire.Body, view: wire.RequestView, model: str, info: ModelInfo | None) -> Shaped:
    """The request body for this vendor and model. ``body`` is a copy the caller may not reuse."""
    q = vendor.quirks
    out: list[str] = []
    refused = refusal(vendor, view, model, info)
    if refused is not None:
        raise refused
    body["model"] = wire.raw(model)
    for name in q.unsupported:
        if body.pop(name, None) is not None:
            out.append(f"dropped {name}")
    if q.developer_as_system and view.developer:
        body["messages"] = messages.developer_as_system(body["messages"])
        out.append("role developer sent as system")
    if q.one_system_first and view.systems > 1:
        body["messages"], merged = messages.merge_leading_systems(body["messages"])
        if merged:
            out.append(f"merged {merged} system messages into one")
    if q.no_empty_assistant and view.empty_assistant:
        body["messages"], contents, dropped = messages.without_empty_assistant(body["messages"])
        out += [f"left out the empty content of {contents} assistant tool-call messages"] if contents else []
        out += [f"left out {dropped} empty assistant messages"] if dropped else []
    if q.reasoning_on_calls is not None and view.unreasoned and thinking(view, info):
        body["messages"], given = messages.with_reasoning(body["messages"], q.reasoning_on_calls)
        out += [f"gave {given} assistant messages of tool-call turns a placeholder reasoning_content"] if given else []
    if q.max_tokens_only and "max_completion_tokens" in body:
        body["max_tokens"] = body.pop("max_completion_tokens")
        out.append("renamed max_completion_tokens to max_tokens")
    temperature = info.temperature if info is not None and info.temperature is not None else q.temperature
    _clamp(body, "temperature", view.temperature, temperature, out)
    _clamp(body, "top_p", view.top_p, q.top_p, out)
    if info is not None and info.max_output is not None and (view.max_tokens or 0) > info.max_output:
        key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        body[key] = wire.raw(info.max_output)
        out.append(f"{key} {view.max_tokens}->{info.max_output}")
    if view.stream and q.stream_usage_option and not view.include_usage:
        body["stream_options"] = _INCLUDE_USAGE
        out.append("added stream_options.include_usage")
    return Shaped(wire.encode_body(body), out)


def thinking(view: wire.RequestView, info: ModelInfo | None) -> bool:
    """Whether the model thinks for this request: as the request's ``thinking`` says, else as the catalogue has it."""
    if view.thinking in ("enabled", "disabled"):
        return view.thinking == "enabled"
    return info is not None and info.thinks


def shape_embeddings(body: wire.Body, model: str) -> Shaped:
    """The vendor is asked for floats (its default; not every vendor knows base64): the gateway encodes the
    reply as the client asked (:func:`balancer.shapes.embeddings_base64`)."""
    body["model"] = wire.raw(model)
    body.pop("encoding_format", None)
    return Shaped(wire.encode_body(body), [])
