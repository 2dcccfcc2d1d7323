"""Qiao (桥): an OpenAI-compatible failover gateway for the Chinese LLM market."""

__version__ = "0.1.0"
