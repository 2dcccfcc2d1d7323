"""iFlytek Spark (HTTP): ``data:{…}`` SSE lines without a space, ``code``/``message``/``sid`` on every reply
and chunk, and errors as ``code != 0`` in the body. Their HTTP status is not documented: answered at 200.
All bodies are hand-written from the codes listed in research vendors-api.md §4 (no Spark error body was
found in a vendor source)."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect

_SID = "cha000b0003@dx19a0emu0000"


def _err(code: int, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "sid": _SID}


DIALECT = Dialect(
    # The HTTP API's 401 body is not in the sources: an OpenAI-style envelope is assumed.
    auth=(401, {"error": {"message": "invalid api key", "type": "authentication_error", "code": "401"}}),
    rate_limit=(200, _err(11202, "AppIdQpsOverFlowError:该appId的请求qps超过限制")),
    balance_exhausted=(
        200,
        _err(11200, "AppIdNoAuthError:授权错误：该appId没有相关功能的授权 或者 业务量超过限制"),
    ),
    content_filter=(200, _err(10013, "输入内容审核不通过，涉嫌违规，请重新调整输入内容")),
    context_length=(200, _err(10907, "token数量超过上限。对话历史+问题的字数太多，需要精简输入")),
    bad_request=(200, _err(10005, "invalid parameter: messages")),
    server_error=(200, _err(10012, "EngineInternalError:引擎内部错误")),
    sse_space=False,
    extra_fields={"code": 0, "message": "Success", "sid": _SID},
)
