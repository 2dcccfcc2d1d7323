"""Zhipu GLM (bigmodel.cn): errors are HTTP status + a numeric business code in ``error.code``.

Source: https://docs.bigmodel.cn/cn/faq/api-code.md . 1113 (no balance / no resource pack) comes with
HTTP 429, like a rate limit: split on the code; 1304 is the daily call cap (out until midnight Beijing).
The raw ``id.secret`` key is accepted as a Bearer token (Portkey does this). With provider
``extra: {auth: jwt}`` the gateway instead signs an HS256 JWT from it as one-api does (header
``sign_type: SIGN``, claims ``api_key``, ``exp`` and ``timestamp`` in milliseconds), cached per key for
``JWT_TTL_S`` and renewed before it expires.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Mapping

import orjson

from balancer.errors import Failure
from balancer.vendors.base import Dialect, ErrorRule, ModelInfo, Quirks, Vendor, bearer

JWT_TTL_S = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(secret: str, signing_input: str) -> str:
    return _b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


@functools.lru_cache(maxsize=256)
def jwt(api_key: str, window: int) -> str:
    """The token for one key and one TTL window (so it is signed once per window, not per request)."""
    key_id, _, secret = api_key.partition(".")
    ts_ms = window * JWT_TTL_S * 1000
    header = _b64(orjson.dumps({"alg": "HS256", "sign_type": "SIGN"}))
    claims = _b64(orjson.dumps({"api_key": key_id, "exp": ts_ms + 2 * JWT_TTL_S * 1000, "timestamp": ts_ms}))
    return f"{header}.{claims}.{_hs256(secret, header + '.' + claims)}"


def sign(api_key: str, body: bytes, extra: Mapping[str, str], now: float) -> dict[str, str]:
    if extra.get("auth") != "jwt":
        return bearer(api_key)
    return bearer(jwt(api_key, int(now // JWT_TTL_S)))


def check_auth(headers: Mapping[str, str], key: str | None, body: bytes, now: float) -> bool:
    """Emulator: a raw key, or a JWT signed with the key's secret and not expired."""
    token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or key is None or token == key:
        return bool(token)
    parts = token.split(".")
    if len(parts) != 3:
        return False
    key_id, _, secret = key.partition(".")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = orjson.loads(base64.urlsafe_b64decode(padded))
    good = hmac.compare_digest(parts[2], _hs256(secret, parts[0] + "." + parts[1]))
    return good and claims.get("api_key") == key_id and claims.get("exp", 0) > now * 1000


VENDOR = Vendor(
    name="glm",
    title="Zhipu GLM",
    auth_scheme="Authorization: Bearer <id.secret> (or an HS256 JWT signed from it: extra auth=jwt)",
    sign=sign,
    check_auth=check_auth,
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
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1304", resets="day_cn"),  # daily call cap
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
