"""The vendor registry: every vendor module's ``VENDOR``, by name."""

from __future__ import annotations

from balancer.vendors import deepseek, glm, kimi, openai, qwen
from balancer.vendors.base import Vendor

REGISTRY: dict[str, Vendor] = {v.name: v for v in (m.VENDOR for m in (openai, deepseek, qwen, kimi, glm))}
