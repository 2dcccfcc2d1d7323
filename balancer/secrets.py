"""Secrets in the config: ``${ENV_VAR}`` (``${VAR:-default}``) and ``file:/path`` values resolved at load time,
and :class:`Secret`, the type that holds an API key and never prints it (so it cannot reach a log line)."""

from __future__ import annotations

import os
import re
from pathlib import Path


class SecretError(Exception):
    """A secret could not be resolved (the message names where)."""


class Secret:
    """A secret value (API key). Never printed: ``repr``/``str`` show only that it is set."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def resolve(value: str, where: str) -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}`` and ``file:/path`` (secret files)."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise SecretError(f"{where}: environment variable {name} is not set")

    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretError(f"{where}: cannot read secret file {path}: {e.strerror}") from None
    return _ENV.sub(sub, value)
