"""Zhipu GLM (bigmodel.cn): errors are HTTP status + a numeric business code in ``error.code``.

Sources: https://docs.bigmodel.cn/cn/faq/api-code (business codes and their HTTP status),
https://docs.bigmodel.cn/cn/faq (what each HTTP status means), https://docs.bigmodel.cn/cn/api/rate-limit .
1113 (arrears / no resource pack) and the account codes 1110/1111/1112/1121 (inactive, missing, locked)
come with HTTP 429, like a rate limit: split on the code; 1304 is the daily call cap (out until midnight
Beijing). A missing or withdrawn model (1211, 1221, 1222, 1311) takes out that model only.
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
from balancer.vendors.base import BatchApi, ErrorRule, ModelInfo, Quirks, Vendor, bearer

JWT_TTL_S = 3600
_CODES = "https://docs.bigmodel.cn/cn/faq/api-code"
_FAQ = "https://docs.bigmodel.cn/cn/faq"
_RATE = "https://docs.bigmodel.cn/cn/api/rate-limit"


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
    docs=_CODES,
    # Text only (the vision models are the separate GLM-V ones): an image part is a 1210 "messages.content.type
    # 参数非法，取值范围 ['text']" (glm-4.6 and glm-5: github:TriDefender/zcode-api#26). JSON mode is json_object: a
    # json_schema is answered 200 with the schema ignored (glm-5.3-flash: github:hugalafutro/model-hotel#896), so the
    # gateway sends it elsewhere rather than let an answer that need not match the schema through.
    models={
        "glm-5.3": ModelInfo(1_000_000, 131_072, 8.0, 28.0, 2.0, vision=False, json_schema=False),
        "glm-4-plus": ModelInfo(128_000, 4_096, 5.0, 5.0, vision=False, json_schema=False),
        "glm-4-air": ModelInfo(128_000, 4_096, 0.5, 0.5, vision=False, json_schema=False),
        "glm-4-flash": ModelInfo(128_000, 4_096, 0.0, 0.0, vision=False, json_schema=False),
        "embedding-3": ModelInfo(8_192, None, 0.5, 0.0, kind="embeddings"),
    },
    # Historical docs: temperature (0, 1] with 0 excluded; one-api clamps into [0, 1].
    # The role "developer" is a 400 1214 "Incorrect role information" (github:vastsa/PI-Desktop#30,
    # github:openclaw/openclaw#23256): sent as "system". tool_choice is auto alone ("Tool choice must be auto":
    # github:vectorize-io/hindsight#4246) and the limit is max_tokens alone (both in AgentScope's GLM notes,
    # https://java.agentscope.io/v2/en/integration/model/glm).
    quirks=Quirks(
        temperature=(0.01, 1.0),
        top_p=(0.01, 0.99),
        developer_as_system=True,
        tool_choice=("auto",),
        max_tokens_only=True,
    ),
    # POST /paas/v4/files (purpose=batch) and /paas/v4/batches with endpoint "/v4/chat/completions"
    # (https://docs.bigmodel.cn/api-reference/批处理-api/创建批处理任务); "价格降低 50%" in the Batch API guide
    # (docs.bigmodel.cn/cn/guide/tools/batch, read in its mintlify mirror).
    batch=BatchApi(
        endpoint="/v4/chat/completions",
        price_factor=0.5,
        source="https://docs.bigmodel.cn/cn/guide/tools/batch",
    ),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1113", source=_CODES + " (1113 429 您的账户已欠费)"),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED, code="1304", resets="day_cn", source=_CODES + " (1304 该 API 已达今日调用次数限额)"
        ),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED, code="1308", source=_CODES + " (1308 已达到使用上限, reset at next_flush_time)"
        ),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1309", source=_CODES + " (1309 GLM Coding Plan 套餐已到期)"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1310", source=_CODES + " (1310 每周/每月使用上限)"),
        # Account codes arrive with HTTP 429 too (FAQ: 429 账户异常 / 终端账号异常): the account, not the rate.
        ErrorRule(
            Failure.AUTH_FAILED, code="1110", source=_CODES + " (1110 账户当前处于非活动状态); " + _FAQ + " (429)"
        ),
        ErrorRule(Failure.AUTH_FAILED, code="1111", source=_CODES + " (1111 您的账户不存在); " + _FAQ + " (429)"),
        ErrorRule(
            Failure.AUTH_FAILED, code="1112", source=_CODES + " (1112 您的账户已被锁定); " + _FAQ + " (429 账户异常)"
        ),
        ErrorRule(
            Failure.AUTH_FAILED,
            code="1121",
            source=_CODES + " (1121 账户存违规行为,账号已被锁定); " + _FAQ + " (429 账户异常)",
        ),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1120", source=_CODES + " (1120 无法成功访问您的账户,请稍后重试)"),
        ErrorRule(Failure.RATE_LIMITED, code="1302", source=_RATE + " (1302 触发用户速率限制)"),
        ErrorRule(Failure.RATE_LIMITED, code="1303", source=_CODES + " (1303 使用该 API 的频率过高)"),
        ErrorRule(Failure.RATE_LIMITED, code="1313", source=_CODES + " (1313 请求频率已受到限制, fair use)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1305", source=_RATE + " (1305 平台服务过载)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1312", source=_CODES + " (1312 该模型当前访问量过大)"),
        ErrorRule(Failure.MODEL_UNAVAILABLE, code="1211", source=_CODES + " (1211 模型不存在)"),
        ErrorRule(Failure.MODEL_UNAVAILABLE, code="1220", source=_CODES + " (1220 您无权访问 ${API_name})"),
        ErrorRule(Failure.MODEL_UNAVAILABLE, code="1221", source=_CODES + " (1221 API ${API_name} 已下线)"),
        ErrorRule(Failure.MODEL_UNAVAILABLE, code="1222", source=_CODES + " (1222 API ${API_name} 不存在)"),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE, code="1311", source=_CODES + " (1311 当前订阅套餐暂未开放${model_name}权限)"
        ),
        ErrorRule(Failure.CONTEXT_LENGTH, code="1261", source=_CODES + " (1261 Prompt 超长)"),
        ErrorRule(Failure.CONTENT_FILTERED, code="1301", source=_CODES + " (1301 不安全或敏感内容)"),
        # API call errors 1210-1215 are the request's: by code too, so they stay bad_request when they do not come with 400.
        ErrorRule(Failure.BAD_REQUEST, code="1210", source=_CODES + " (1210 API 调用参数有误)"),
        ErrorRule(Failure.BAD_REQUEST, code="1212", source=_CODES + " (1212 当前模型不支持 ${method} 调用方式)"),
        ErrorRule(Failure.BAD_REQUEST, code="1213", source=_CODES + " (1213 未正常接收到 ${field} 参数)"),
        ErrorRule(Failure.BAD_REQUEST, code="1214", source=_CODES + " (1214 ${field} 参数非法)"),
        ErrorRule(Failure.BAD_REQUEST, code="1215", source=_CODES + " (1215 ${field1} 与 ${field2} 不能同时设置)"),
        ErrorRule(Failure.AUTH_FAILED, code="1000", source=_CODES + " (1000 401 身份验证失败)"),
        ErrorRule(Failure.AUTH_FAILED, code="1001", source=_CODES + " (1001 401 Header 中未收到 Authentication 参数)"),
        ErrorRule(Failure.AUTH_FAILED, code="1002", source=_CODES + " (1002 Authentication Token 非法)"),
        ErrorRule(Failure.AUTH_FAILED, code="1003", source=_CODES + " (1003 401 Authentication Token 已过期)"),
        ErrorRule(Failure.AUTH_FAILED, code="1004", source=_CODES + " (1004 通过 Authentication Token 的验证失败)"),
        ErrorRule(Failure.AUTH_FAILED, code="1005", source=_CODES + " (1005 401 已开启二次认证保护)"),
    ),
)
