"""Zhipu GLM (bigmodel.cn): errors are HTTP status + a numeric business code in ``error.code``.

Source: https://docs.bigmodel.cn/cn/faq/api-code.md . 1113 (no balance / no resource pack) comes with
HTTP 429, like a rate limit: split on the code. The raw ``id.secret`` key is accepted as a Bearer token
(Portkey does this); the HS256 JWT one-api signs is not required.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import Dialect, ErrorRule, ModelInfo, Quirks, Vendor

VENDOR = Vendor(
    name="glm",
    title="Zhipu GLM",
    base_url="https://open.bigmodel.cn/api/paas/v4",
    docs="https://docs.bigmodel.cn/cn/faq/api-code.md",
    models={
        "glm-5.3": ModelInfo(1_000_000, 131_072, 8.0, 28.0, 2.0),
        "glm-4-plus": ModelInfo(128_000, 4_096, 5.0, 5.0),
        "glm-4-air": ModelInfo(128_000, 4_096, 0.5, 0.5),
        "glm-4-flash": ModelInfo(128_000, 4_096, 0.0, 0.0),
        "embedding-3": ModelInfo(8_192, None, 0.5, 0.0, kind="embeddings"),
    },
    # Historical docs: temperature (0, 1] with 0 excluded; one-api clamps into [0, 1].
    quirks=Quirks(temperature=(0.01, 1.0), top_p=(0.01, 0.99)),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1113"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1304"),  # daily call cap
        ErrorRule(Failure.RATE_LIMITED, code="1302"),
        ErrorRule(Failure.RATE_LIMITED, code="1303"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1305"),  # platform overloaded
        ErrorRule(Failure.UPSTREAM_ERROR, code="1312"),
        ErrorRule(Failure.CONTEXT_LENGTH, code="1261"),
        ErrorRule(Failure.CONTENT_FILTERED, code="1301"),
        ErrorRule(Failure.AUTH_FAILED, code="1000"),
        ErrorRule(Failure.AUTH_FAILED, code="1001"),
        ErrorRule(Failure.AUTH_FAILED, code="1002"),
        ErrorRule(Failure.AUTH_FAILED, code="1003"),
    ),
    dialect=Dialect(
        auth=(
            401,
            {"error": {"code": "1002", "message": "Authorization Token非法，请确认Authorization Token正确传递。"}},
        ),
        rate_limit=(
            429,
            {"error": {"code": "1302", "message": "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"}},
        ),
        balance_exhausted=(429, {"error": {"code": "1113", "message": "余额不足或无可用资源包，请充值。"}}),
        server_error=(429, {"error": {"code": "1305", "message": "该模型当前访问量过大，请您稍后再试"}}),
        content_filter=(
            400,
            {
                "error": {
                    "code": "1301",
                    "message": "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。",
                }
            },
        ),
        context_length=(400, {"error": {"code": "1261", "message": "Prompt 超长"}}),
    ),
)
