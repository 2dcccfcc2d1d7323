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
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor, bearer

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


VENDOR = Vendor(
    name="glm",
    title="Zhipu GLM",
    auth_scheme="Authorization: Bearer <id.secret> (or an HS256 JWT signed from it: extra auth=jwt)",
    sign=sign,
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
)
