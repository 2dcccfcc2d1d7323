"""The vendor registry: every vendor module's ``VENDOR``, by name."""

from __future__ import annotations

from balancer.vendors import (
    azure,
    baichuan,
    deepseek,
    doubao,
    ernie,
    glm,
    hunyuan,
    hunyuan_native,
    kimi,
    minimax,
    openai,
    qwen,
    siliconflow,
    spark,
    stepfun,
    tiangong,
    yi,
)
from balancer.vendors.base import Vendor

_MODULES = (
    *(openai, azure, deepseek, qwen, kimi, glm, ernie, spark),
    *(baichuan, tiangong, hunyuan, hunyuan_native, yi, doubao, minimax, siliconflow, stepfun),
)
REGISTRY: dict[str, Vendor] = {v.name: v for v in (m.VENDOR for m in _MODULES)}
