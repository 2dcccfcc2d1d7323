"""Zhipu GLM's error bodies (HTTP status + a numeric business code in ``error.code``, Chinese messages),
and its auth check: the raw ``id.secret`` key as a Bearer token, or an HS256 JWT signed from it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import orjson

from balancer.emulator.dialects.base import Dialect


def _hs256(secret: str, signing_input: str) -> str:
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_auth(headers: Mapping[str, str], key: str | None, body: bytes, now: float) -> bool:
    """A raw key, or a JWT signed with the key's secret and not expired."""
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


def _err(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


# Codes, messages and statuses from https://docs.bigmodel.cn/cn/faq/api-code (full-width punctuation as in its
# Markdown copies) and https://docs.bigmodel.cn/cn/api/rate-limit ; 1113 as replies really word it (ASCII
# comma, quoted verbatim by several third parties); the 401 wording as widely reported.
DIALECT = Dialect(
    auth=(401, _err("1002", "Authorization Token非法，请确认Authorization Token正确传递。")),
    rate_limit=(429, _err("1302", "您的账户已达到速率限制，请您控制请求频率")),
    balance_exhausted=(429, _err("1113", "余额不足或无可用资源包,请充值。")),
    server_error=(429, _err("1305", "该模型当前访问量过大，请您稍后再试")),
    content_filter=(
        400,
        _err(
            "1301", "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合"
        ),
    ),
    context_length=(400, _err("1261", "Prompt 超长")),
    model_unavailable=(400, _err("1211", "模型不存在，请检查模型代码")),
    check_auth=check_auth,
    # The role "developer": 1214 with the message github:openclaw/openclaw#23256 gives (2026-02).
    no_developer_role=(400, _err("1214", "角色信息不正确")),
    # An image part to a text model: 1210 as github:TriDefender/zcode-api#26 quotes it (glm-4.6, glm-5).
    text_only=(400, _err("1210", "messages.content.type 参数非法，取值范围 ['text']")),
    # tool_choice other than auto: Z.AI's message as github:vectorize-io/hindsight#4246 quotes it (through OpenRouter);
    # the code is hand-written.
    tool_choice=(("auto",), (400, _err("1214", "Tool choice must be auto"))),
    # max_tokens alone (AgentScope's GLM notes, https://java.agentscope.io/v2/en/integration/model/glm).
    ignores_max_completion_tokens=True,
    # json_schema: answered, the schema ignored (github:hugalafutro/model-hotel#896, glm-5.3-flash).
    no_json_schema=None,
)
