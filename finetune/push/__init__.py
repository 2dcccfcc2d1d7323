"""Vendors' fine-tuning APIs (one module each, facts with sources), by the balancer vendor name they serve."""

from __future__ import annotations

from finetune.push import bailian, openai, qianfan, siliconflow, volcengine, zhipu
from finetune.push.base import FineTuneApi

APIS: tuple[FineTuneApi, ...] = tuple(m.API for m in (bailian, zhipu, volcengine, siliconflow, qianfan, openai))
BY_VENDOR: dict[str, FineTuneApi] = {v: api for api in APIS for v in api.vendors}
