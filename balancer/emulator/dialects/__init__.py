"""Every vendor's dialect as the emulator speaks it, by vendor name (the names of ``balancer.vendors.REGISTRY``)."""

from __future__ import annotations

from balancer.emulator.dialects import (
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
from balancer.emulator.dialects.base import Dialect

DIALECTS: dict[str, Dialect] = {
    "openai": openai.DIALECT,
    "azure": azure.DIALECT,
    "deepseek": deepseek.DIALECT,
    "qwen": qwen.DIALECT,
    "kimi": kimi.DIALECT,
    "glm": glm.DIALECT,
    "ernie": ernie.DIALECT,
    "spark": spark.DIALECT,
    "baichuan": baichuan.DIALECT,
    "tiangong": tiangong.DIALECT,
    "hunyuan": hunyuan.DIALECT,
    "hunyuan-native": hunyuan_native.DIALECT,
    "yi": yi.DIALECT,
    "doubao": doubao.DIALECT,
    "minimax": minimax.DIALECT,
    "siliconflow": siliconflow.DIALECT,
    "stepfun": stepfun.DIALECT,
}
