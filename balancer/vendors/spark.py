"""iFlytek Spark, HTTP OpenAI-compatible API (``Authorization: Bearer <APIPassword>``).

Sources: iFLYTEK-OP websdk-java-demo docs (copy in the code index; see research vendors-api.md §4),
one-api ``relay/adaptor/xunfeiv2``. Every reply and stream chunk carries ``code``/``message``/``sid``;
errors are ``code != 0`` in the body. The HTTP status of those errors is not documented: the rules
match on the code alone, so any status works. SSE lines are ``data:{…}`` without a space; usage rides
on the last content chunk and the stream ends with ``data:[DONE]``. 11201 is the *daily* volume cap:
the account is out until midnight Beijing time. No balance API; prices not published in the sources found.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

# Every Spark fact below was gathered earlier (research vendors-api.md §4) from a copy of iFLYTEK's docs that
# this audit could not find again; the pages themselves were not read. Matching is on the body code only.
_CODES = "unconfirmed: Spark HTTP error codes as listed in research vendors-api.md §4 (iFLYTEK doc copy, not re-found)"
_WS = "unconfirmed: recalled from the WebSocket error-code page https://www.xfyun.cn/doc/spark/Web.html , not re-read"

VENDOR = Vendor(
    name="spark",
    title="iFlytek Spark (HTTP)",
    base_url="https://spark-api-open.xf-yun.com/v1",
    auth_scheme="Authorization: Bearer <APIPassword>",
    docs="https://www.xfyun.cn/doc/spark/HTTP%E8%B0%83%E7%94%A8%E6%96%87%E6%A1%A3.html",
    models={
        # Prices not found in any stored source (0 = unknown; set them in config).
        "lite": ModelInfo(8_192, 4_096, tools=False, json_mode=False, price_known=False),
        "generalv3": ModelInfo(8_192, 8_192, price_known=False),
        "pro-128k": ModelInfo(131_072, 4_096, price_known=False),
        "generalv3.5": ModelInfo(8_192, 8_192, price_known=False),
        "max-32k": ModelInfo(32_768, 8_192, price_known=False),
        "4.0Ultra": ModelInfo(8_192, 8_192, price_known=False),
    },
    # temperature (0, 1] (0 rejected), top_p (0, 1]; n is not a parameter of the API.
    # Whether include_usage is honoured is unconfirmed; usage comes on the last chunk anyway
    # (override: provider extra stream_usage_option: "true").
    quirks=Quirks(temperature=(0.01, 1.0), top_p=(0.01, 1.0), max_n=1, stream_usage_option=False, unsupported=("n",)),
    errors=(
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="11200",
            source=_CODES + " (11200 AppIdNoAuthError: no authorisation, or volume over the limit)",
        ),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="11201", resets="day_cn", source=_CODES + " (11201 daily volume cap)"),
        ErrorRule(
            Failure.RATE_LIMITED, code="11202", source=_CODES + " (11202 AppIdQpsOverFlowError: per-second limit)"
        ),
        ErrorRule(Failure.RATE_LIMITED, code="11203", source=_CODES + " (11203 concurrency limit)"),
        ErrorRule(
            Failure.RATE_LIMITED, code="10007", source=_CODES + " (10007 this user's previous answer still streaming)"
        ),
        ErrorRule(Failure.CONTENT_FILTERED, code="10013", source=_CODES + " (10013 input failed moderation)"),
        ErrorRule(Failure.CONTENT_FILTERED, code="10014", source=_CODES + " (10014 output sensitive)"),
        ErrorRule(Failure.CONTENT_FILTERED, code="10019", source=_CODES + " (10019 tendency to violation)"),
        ErrorRule(Failure.CONTEXT_LENGTH, code="10907", source=_CODES + " (10907 token count over the limit)"),
        ErrorRule(Failure.BAD_REQUEST, code="10003", source=_WS + " (10003 bad parameters)"),
        ErrorRule(Failure.BAD_REQUEST, code="10004", source=_WS + " (10004 bad parameters)"),
        ErrorRule(Failure.BAD_REQUEST, code="10005", source=_WS + " (10005 bad parameters)"),
        ErrorRule(Failure.BAD_REQUEST, code="10163", source=_WS + " (10163 request schema check failed)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="10008", source=_WS + " (10008 service capacity)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="10110", source=_WS + " (10110 service busy)"),
        ErrorRule(Failure.AUTH_FAILED, status=401, source=_WS + " (HTTP 401: authentication failed)"),
        ErrorRule(Failure.AUTH_FAILED, status=403, source=_WS + " (HTTP 403: authorisation failed)"),
    ),
)
