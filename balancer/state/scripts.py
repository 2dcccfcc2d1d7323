"""The Redis Lua scripts (``lua/<name>.lua``, each with a header saying its keys, arguments and invariant), read
from the package by name: one loader for every Redis-backed module of the state wing."""

from __future__ import annotations

from importlib import resources


def lua(name: str) -> str:
    """The text of ``lua/<name>.lua``, to ``register_script`` on a client."""
    return resources.files("balancer.state").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")
