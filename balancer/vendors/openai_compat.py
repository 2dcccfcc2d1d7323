"""The one generic adapter for OpenAI-compatible vendors' replies: classify a reply, a stream chunk or an
error event by the vendor's error rules, read rate-limit and reset headers. Pure functions; vendor
differences are data. Shaping requests is :mod:`balancer.vendors.shaping`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import msgspec

from balancer import replies, wire
from balancer.errors import OK, Failure, Outcome
from balancer.vendors.base import ErrorRule, Vendor


def error_fields(v: replies.ReplyView) -> tuple[str, str, str] | None:
    """(code, type, message) when the body carries an error in any of the dialects we know."""
    if isinstance(v.error, replies.ErrorObject):
        e = v.error
        return str(e.code or ""), e.type or "", e.message or ""
    if isinstance(v.error, str):
        return "", "", v.error
    if v.base_resp is not None and v.base_resp.status_code != 0:
        return str(v.base_resp.status_code), "", v.base_resp.status_msg
    if v.response is not None and v.response.error is not None:  # Tencent Cloud API: HTTP 200 + Response.Error
        return v.response.error.code, "", v.response.error.message
    if v.error_code:
        return str(v.error_code), "", v.error_msg or ""
    if v.code not in (None, 0, "0", "", 200, "200") and v.choices is None and v.data is None:
        return str(v.code), "", v.message or ""
    return None


def _match(rule: ErrorRule, status: int, code: str, type_: str, message: str) -> bool:
    return (
        (rule.status is None or rule.status == status)
        and (rule.code is None or rule.code == code)
        and (rule.type is None or rule.type == type_)
        and (rule.contains is None or rule.contains in message)
    )


_OPENAI_ERRORS = "https://platform.openai.com/docs/guides/error-codes"
_SDK_STATUS = "github:openai/openai-python src/openai/_client.py _make_status_error"

# Rules every vendor falls back to after its own (OpenAI's codes, which OpenAI-compatible servers copy).
GENERIC: tuple[ErrorRule, ...] = (
    ErrorRule(
        Failure.CONTEXT_LENGTH,
        code="context_length_exceeded",
        source="unconfirmed: the code OpenAI-compatible servers send for an over-long prompt; not in " + _OPENAI_ERRORS,
    ),
    ErrorRule(
        Failure.CONTEXT_LENGTH,
        contains="maximum context length",
        source="unconfirmed: OpenAI's over-long prompt message (\"This model's maximum context length is …\")",
    ),
    ErrorRule(
        Failure.CONTENT_FILTERED,
        code="content_filter",
        source="https://learn.microsoft.com/azure/ai-services/openai/concepts/content-filter",
    ),
    ErrorRule(
        Failure.MODEL_UNAVAILABLE,
        code="model_not_found",
        source=_OPENAI_ERRORS + " (404: the model does not exist or no access)",
    ),
    ErrorRule(
        Failure.QUOTA_EXHAUSTED,
        code="insufficient_quota",
        source=_OPENAI_ERRORS + " (429: You exceeded your current quota)",
    ),
    ErrorRule(
        Failure.QUOTA_EXHAUSTED,
        type="insufficient_quota",
        source=_OPENAI_ERRORS + " (429: You exceeded your current quota)",
    ),
)


def _by_status(failure: Failure, status: int, meaning: str) -> ErrorRule:
    return ErrorRule(failure, status=status, source=f"{_SDK_STATUS} ({status}: {meaning})")


# The last resort, by HTTP status alone (the meanings the openai SDK gives them). 404 at a chat path means the
# model (or deployment) is not there for this account: that candidate, not the client's request, is at fault.
BY_STATUS: Mapping[int, ErrorRule] = {
    r.status or 0: r
    for r in (
        _by_status(Failure.BAD_REQUEST, 400, "BadRequestError"),
        _by_status(Failure.AUTH_FAILED, 401, "AuthenticationError"),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            status=402,
            source="https://www.rfc-editor.org/rfc/rfc9110#name-402-payment-required",
        ),
        _by_status(Failure.AUTH_FAILED, 403, "PermissionDeniedError"),
        _by_status(Failure.MODEL_UNAVAILABLE, 404, "NotFoundError"),
        ErrorRule(
            Failure.TIMEOUT, status=408, source="https://www.rfc-editor.org/rfc/rfc9110#name-408-request-timeout"
        ),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            status=413,
            source="https://www.rfc-editor.org/rfc/rfc9110#name-413-content-too-large",
        ),
        _by_status(Failure.BAD_REQUEST, 422, "UnprocessableEntityError"),
        _by_status(Failure.RATE_LIMITED, 429, "RateLimitError"),
        ErrorRule(
            Failure.TIMEOUT, status=504, source="https://www.rfc-editor.org/rfc/rfc9110#name-504-gateway-timeout"
        ),
    )
}


def retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    s = headers.get("retry-after")
    if s:
        try:
            return max(0.0, float(s))
        except ValueError:
            return None  # HTTP-date form: rare for APIs; fall back to the class default
    return None


_CN_OFFSET_S = 8 * 3600


def seconds_to_reset(resets: str | None, now: float | None) -> float | None:
    """Seconds from ``now`` until a calendar quota resets ("day_cn": next midnight Beijing time)."""
    if resets != "day_cn" or now is None:
        return None
    return 86400.0 - (now + _CN_OFFSET_S) % 86400.0


def matching_rule(vendor: Vendor, status: int, code: str, type_: str, message: str) -> ErrorRule | None:
    """The first rule that matches: the vendor's own, then the generic ones, then the status alone."""
    for rule in (*vendor.errors, *GENERIC):
        if _match(rule, status, code, type_, message):
            return rule
    return BY_STATUS.get(status)


def classify_error(
    vendor: Vendor,
    status: int,
    fields: tuple[str, str, str] | None,
    headers: Mapping[str, str],
    now: float | None = None,
) -> Outcome:
    code, type_, message = fields or ("", "", "")
    rule = matching_rule(vendor, status, code, type_, message)
    if rule is not None:
        failure, reset = rule.failure, seconds_to_reset(rule.resets, now)
    else:  # 5xx, or an error body at 2xx/3xx: the vendor's fault; any other 4xx: the request's
        failure, reset = Failure.UPSTREAM_ERROR if status >= 500 or status < 400 else Failure.BAD_REQUEST, None
    return Outcome(
        failure=failure,
        status=status,
        code=code or type_,
        message=message[:500],
        retry_after_s=retry_after(headers),
        reset_after_s=reset,
        about=rule.about or "" if rule is not None else "",
    )


def classify_reply(
    vendor: Vendor, status: int, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> tuple[Outcome, replies.ReplyView | None]:
    """Classify a complete (non-stream) reply. Errors hidden in HTTP 200 bodies are found too; an error status
    whose body is no JSON is classified by its status, its message the :func:`page_excerpt` of the body. A reply
    whose only fault is its usage is read without it (:func:`balancer.replies.without_usage`)."""
    view: replies.ReplyView | None
    try:
        view = replies.reply_decoder.decode(body)
    except wire.HOSTILE_JSON as e:
        view = replies.without_usage(body, e)
        if view is None and status < 300:
            return Outcome(failure=Failure.MALFORMED_RESPONSE, status=status, message=unreadable("reply", e)), None
        if view is None:
            outcome = classify_error(vendor, status, None, headers, now)
            return msgspec.structs.replace(outcome, message=page_excerpt(body, headers.get("content-type", ""))), None
    fields = error_fields(view)
    if status < 300 and fields is None:
        if view.choices is None and view.data is None:
            return Outcome(failure=Failure.MALFORMED_RESPONSE, status=status, message="reply has no choices"), view
        return OK, view
    return classify_error(vendor, status, fields, headers, now), view


def unreadable(what: str, e: BaseException) -> str:
    """Why a reply or chunk could not be read (``e``: one of :data:`balancer.wire.HOSTILE_JSON`); the decoder's reason
    names no value of the reply, only where it failed."""
    return f"{what} is not a JSON object the gateway can read: {wire.hostile_reason(e)[:200]}"


def classify_chunk(vendor: Vendor, data: bytes, now: float | None = None) -> tuple[Outcome, replies.ReplyView | None]:
    """Classify one stream chunk's JSON. A chunk that carries an error ends the stream with it."""
    try:
        view = replies.reply_decoder.decode(data)
    except wire.HOSTILE_JSON as e:  # caught inline: no wrapper call per chunk
        read = replies.without_usage(data, e)  # read again (only a chunk that failed): was its usage its only fault?
        if read is None:
            return Outcome(failure=Failure.MALFORMED_RESPONSE, message=unreadable("stream chunk", e)), None
        view = read
    fields = error_fields(view)
    if fields is not None:
        return classify_error(vendor, 200, fields, {}, now), view
    return OK, view


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_EXCERPT_CHARS = 200


def page_excerpt(body: bytes, content_type: str) -> str:
    """What a client may learn of an error reply that is no JSON (a proxy's page): an HTML page's ``<title>``, a
    plain text's first line, on one line and at most 200 characters; "" for anything else. Never the body: it
    may hold a proxy's internals (callers scrub configured secrets from ``body`` first)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    head = body[:65536]
    if ctype in ("text/html", "application/xhtml+xml") or head.lstrip()[:14].lower().startswith(
        (b"<!doctype", b"<html")
    ):
        m = _TITLE.search(head)
        text = html.unescape(m.group(1).decode("utf-8", "replace")) if m else ""
    elif ctype == "text/plain":
        text = next((line for line in head.decode("utf-8", "replace").splitlines() if line.strip()), "")
    else:
        return ""
    return one_line(text, _EXCERPT_CHARS)


def one_line(text: str, limit: int) -> str:
    """A vendor's words as a client's error message may carry them: whitespace folded to single spaces, characters
    that do not print dropped, at most ``limit`` characters."""
    return "".join(c for c in " ".join(text.split()) if c.isprintable())[:limit]


_ERROR_CHARS = 500
_MESSAGE_KEYS = ("message", "msg", "error_msg", "errorMessage", "errmsg", "detail")


def error_text(data: bytes) -> str:
    """The vendor's words in an error no rule reads whole: the message of its JSON (``message``, ``msg``...,
    at the top or under ``error``), else its whole text; one line, at most 500 characters."""
    try:
        obj = wire.loads_any(data)
    except msgspec.DecodeError:
        obj = None
    for where in (obj, obj.get("error") if isinstance(obj, dict) else None):
        if isinstance(where, dict):
            text = next((v for k in _MESSAGE_KEYS if isinstance(v := where.get(k), str) and v.strip()), None)
            if text is not None:
                return one_line(text, _ERROR_CHARS)
    return one_line(data.decode("utf-8", "replace"), _ERROR_CHARS)


def classify_error_event(vendor: Vendor, outcome: Outcome, data: bytes, now: float | None = None) -> Outcome:
    """The failure of an SSE ``event: error``, or of a chunk whose error has no message (``outcome``: how its data
    classified), carrying the vendor's words. Data no rule reads as an error (a shape no dialect has, plain text)
    is the vendor's error all the same: its text, classified as an error chunk's is (at 200, by the vendor's
    rules); a failure without a message gets the data's text."""
    if outcome.ok or outcome.failure is Failure.MALFORMED_RESPONSE:
        return classify_error(vendor, 200, ("", "", error_text(data)), {}, now)
    if not outcome.message:
        return msgspec.structs.replace(outcome, message=error_text(data))
    return outcome


def chunk_usage(vendor: Vendor, view: replies.ReplyView) -> replies.Usage | None:
    if view.usage is not None:
        return view.usage
    if vendor.quirks.usage_in_choice and view.choices:
        return view.choices[0].usage
    return None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    """``"20ms"``, ``"1.5s"``, ``"6m0s"`` (OpenAI's reset format) or plain seconds."""
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, num = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in _UNITS or not num:
            return None
        total += float(num) * _UNITS[unit]
        num, i = "", i + len(unit)
    return total if not num else None


def exhausted_for(headers: Mapping[str, str]) -> float | None:
    """Seconds until the vendor's own window resets, when a successful reply says it has no request or
    token left in it (``x-ratelimit-remaining-*: 0``, sent by OpenAI, Qianfan, Kimi, Azure); else None.
    A limit learned this way rests the account, so the next request does not collect a 429."""
    for kind in ("requests", "tokens"):
        if headers.get(f"x-ratelimit-remaining-{kind}") == "0":
            reset = headers.get(f"x-ratelimit-reset-{kind}") or headers.get("x-ratelimit-reset")
            return _duration(reset) if reset else 1.0
    return None
