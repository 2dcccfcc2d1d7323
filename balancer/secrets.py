"""Secrets in the config: ``${ENV_VAR}`` (``${VAR:-default}``) and ``file:/path`` values resolved at load time,
and :class:`Secret`, the type that holds an API key and never prints it (so it cannot reach a log line).

Offline (``balancer check --offline``, for CI) nothing is read: :func:`resolve` then keeps ``${VAR}`` and
``file:`` values as written (a ``${VAR:-default}`` takes its default) and :func:`references` says what the
running gateway will need. The syntax is checked either way.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from balancer.config_paths import anchor


class SecretError(Exception):
    """A secret could not be resolved (the message names where)."""


class Secret:
    """A secret value (API key). Never printed: ``repr``/``str`` show only that it is set.

    ``origin`` is where the value came from, as the config wrote it (``${DEEPSEEK_API_KEY}``,
    ``file:/run/secrets/ds``), or None for a literal: it names a place, never the value."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str | None = None) -> None:
        self._value = value
        self.origin = origin

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Reference:
    """A value the config takes from outside the file: an environment variable or a secret file."""

    where: str  # the config path that uses it
    kind: Literal["env", "file"]
    name: str  # the variable's name or the file's path
    has_default: bool = False  # ${VAR:-default}: optional (the default is never shown: it may be a key)

    def __str__(self) -> str:
        return f"${{{self.name}}}" if self.kind == "env" else f"file:{self.name}"


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SYNTAX = "write ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit)"


def references(value: str, where: str) -> list[Reference]:
    """The references in one config string, in order; SecretError names a malformed one (without
    echoing the value, which may be a key)."""
    if value.startswith("file:"):
        if not value[5:].strip():
            raise SecretError(f"{where}: file: needs the path of the secret file (file:/run/secrets/key)")
        return [Reference(where, "file", value[5:])]
    found = list(_ENV.finditer(value))
    starts = {m.start() for m in found}
    at = value.find("${")
    while at != -1:
        if at not in starts:
            raise SecretError(f"{where}: the '${{' at character {at + 1} does not start a reference: {_SYNTAX}")
        at = value.find("${", at + 2)
    return [Reference(where, "env", m.group(1), m.group(2) is not None) for m in found]


def resolve(value: str, where: str, *, offline: bool = False, base: Path | None = None) -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}`` and ``file:/path`` (secret files; a relative path is ``base``'s, the
    config file's directory: :mod:`balancer.config_paths`). Offline, read nothing: ``file:`` and ``${VAR}`` stay as
    written, ``${VAR:-default}`` takes its default."""
    references(value, where)  # the syntax, checked online and offline alike

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if not offline and name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        if offline:
            return m.group(0)
        raise SecretError(f"{where}: environment variable {name} is not set")

    if value.startswith("file:"):
        if offline:
            return value
        path = Path(anchor(value[5:], base))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretError(f"{where}: cannot read secret file {path}: {e.strerror}") from None
    return _ENV.sub(sub, value)


def expand(node: Any, *, offline: bool = False, base: Path | None = None) -> tuple[Any, list[Reference]]:
    """A parsed YAML tree with every string resolved (:func:`resolve`, ``file:`` paths against ``base``), and the
    references it used.
    SecretError names every reference that could not be resolved, not only the first."""
    refs: list[Reference] = []
    problems: list[str] = []

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, str):
            try:
                refs.extend(references(node, where))
                return resolve(node, where, offline=offline, base=base)
            except SecretError as e:
                problems.append(str(e))
                return node
        if isinstance(node, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node

    done = walk(node, "")
    if problems:
        raise SecretError(problems[0] if len(problems) == 1 else "\n  ".join([f"{len(problems)} problems:", *problems]))
    return done, refs


# Names of provider ``extra`` settings that hold a secret (a signing secret, an app key, a token).
_SECRET_NAME = re.compile(r"secret|key|token|password|passwd|sign|credential", re.IGNORECASE)
# A bearer token echoed back (a signed JWT, a key): 12+ characters with a digit, scrubbed whatever it is.
_BEARER = rb"(?i:bearer)\s+(?=[^\s\"',;\\]*\d)[^\s\"',;\\]{12,}"
_PART_MIN = 8  # parts of a composite key ("id.secret", "SecretId:SecretKey") scrubbed when this long
# A key in text where none belongs (a model name, a header, a URL path, an object's key a client sent; a vendor's
# error quoting one): OpenAI-style ``sk-``/``sk_``/``rk-`` keys (OpenAI, DeepSeek, Qwen, Kimi, Anthropic...), 8+
# characters with a digit, or masked as vendors quote them (``sk-proj-****abcd``, ``****abcd``).
_KEYLIKE = rb"(?<![A-Za-z0-9])(?:sk|rk)[-_](?=[\w\-*]*[\d*])[\w\-*]{8,}|\*{4,}[A-Za-z0-9]{2,8}"


def secret_values(api_key: Secret | None, extra: dict[str, str]) -> set[str]:
    """Every value of one provider that must never reach a client or a log line: the key, the parts of a
    composite key (GLM ``id.secret``, Hunyuan ``SecretId:SecretKey``, Tiangong ``app_key:secret``) and the
    ``extra`` settings whose name says secret (``signing_secret``, ``app_key``, ``token``...)."""
    values = {v for k, v in extra.items() if _SECRET_NAME.search(k) and v}
    if api_key is not None and api_key.reveal():
        key = api_key.reveal()
        values.add(key)
        values.update(p for p in re.split(r"[:.]", key) if len(p) >= _PART_MIN)
    return values


class Scrubber:
    """Replaces every configured secret, any ``Bearer <token>`` and any key-shaped token (``sk-…``) in upstream
    bytes, or in an error message or log field holding a client's text, with ``[redacted]``. Built once per
    config; used only on errors, so a regex pass costs nothing on the hot path."""

    __slots__ = ("_pattern",)

    def __init__(self, values: set[str]) -> None:
        alternatives = [re.escape(v.encode()) for v in sorted(values, key=len, reverse=True)]
        self._pattern = re.compile(b"|".join([*alternatives, _BEARER, _KEYLIKE]))

    def hits(self, data: bytes) -> bool:
        return self._pattern.search(data) is not None

    def __call__(self, data: bytes) -> bytes:
        return self._pattern.sub(b"[redacted]", data)

    def text(self, text: str) -> str:
        """``text`` with its secrets replaced (as is when it holds none)."""
        data = text.encode("utf-8", "surrogatepass")
        return self(data).decode("utf-8", "replace") if self.hits(data) else text


_KEYS_ONLY = Scrubber(set())  # what no configuration is needed to find: bearer tokens and key-shaped ones


def masked(text: str) -> str:
    """``text`` without bearer tokens or key-shaped tokens (``sk-…``); configured keys need the config's
    :class:`Scrubber`."""
    return _KEYS_ONLY.text(text)
