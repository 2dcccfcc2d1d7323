"""What a transcript must not hold: values under a secret-named key, at any depth, JSON held in a string included.

A name is secret when, lower-cased and without ``_``, ``-``, ``.`` and spaces, it ends in one of
:data:`SECRET_SUFFIXES` (``api_key``, ``X-Api-Key``, ``clientSecret``, ``AccessKeySecret``, ``SecretId``,
``refresh_token``, ``passwd``, ``Set-Cookie``...) and is not a word of the model's vocabulary
(``eos_token``, ``max_token``), or when its last word is ``pass``, ``ak`` or ``sk`` (``user_pass``, ``baidu_sk``).
Not secret: ``tokens``, ``max_tokens``, ``token_count``, ``keyword``, ``monkey``, ``passage``, ``task``,
``sort_key``, ``session_id``, ``signature``/``sign`` (a request signature is no key), a bare ``key``.

A string holding a JSON object or array (a tool call's ``arguments``, a tool's JSON result) is read as JSON:
its secret-named keys are removed too and it is written back as JSON, so it still parses.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from finetune.pii import embedded_json, json_text

SECRET_SUFFIXES = (
    "apikey",
    "accesskey",
    "accesskeyid",
    "privatekey",
    "secretkey",
    "secretid",
    "appkey",
    "clientkey",
    "sessionkey",
    "authkey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "subscriptionkey",
    "sshkey",
    "secret",
    "secrets",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "credential",
    "credentials",
    "authorization",
    "authentication",
    "auth",
    "bearer",
    "cookie",
    "cookies",
    "token",
    "密码",  # password
    "口令",  # password
    "密钥",  # secret key
    "秘钥",  # secret key
    "令牌",  # token
)
#: Names ending in ``token`` that are the model's vocabulary, not a credential.
_VOCABULARY = frozenset(
    f"{w}token" for w in ("max", "eos", "bos", "pad", "unk", "sep", "cls", "mask", "stop", "start", "end", "special")
) | {"nexttoken", "lasttoken", "firsttoken"}
_LAST_WORDS = frozenset({"pass", "ak", "sk"})
_SUFFIX = re.compile("(?:" + "|".join(sorted(SECRET_SUFFIXES, key=len, reverse=True)) + ")$")
_SEPARATORS = re.compile(r"[_\-. ]")
_WORDS = re.compile(r"[_\-. ]+|(?<=[a-z0-9])(?=[A-Z])")
#: Raw request bytes (``_-. `` deleted) that may hold a secret name: a stem of every rule (the Chinese names in
#: UTF-8 or as ``\uXXXX``), or an ASCII character written as a JSON escape (``"\u0070assword"`` is ``password``).
_ZH = SECRET_SUFFIXES[-5:]
_HINT = re.compile(
    rb'key|secret|passw|pwd|passphrase|credential|authori|authenti|bearer|cookie|(?:auth|token|pass|ak|sk)\\*"'
    rb"|\\u00[2-7][0-9a-f]|"
    + b"|".join([w.encode() for w in _ZH] + [w.encode("unicode_escape").replace(b"\\", b"\\\\") for w in _ZH]),
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether a key of this name holds a secret (see the module's rule)."""
    flat = _SEPARATORS.sub("", name).lower()
    if _SUFFIX.search(flat) and flat not in _VOCABULARY:
        return True
    words = _WORDS.split(name)
    return words[-1].lower() in _LAST_WORDS


def may_name_secret(raw: bytes | msgspec.Raw) -> bool:
    """False only when raw JSON bytes cannot hold a secret-named key (checked without decoding them)."""
    return _HINT.search(bytes(raw).translate(None, b"_-. ")) is not None


def strip_secrets(obj: Any) -> Any:
    """A copy of ``obj`` without secret-named keys, at any depth; a string holding a JSON object or array
    loses them too and stays JSON (re-encoded only when something was removed)."""
    if isinstance(obj, dict):
        return {k: strip_secrets(v) for k, v in obj.items() if not is_secret_name(str(k))}
    if isinstance(obj, list):
        return [strip_secrets(v) for v in obj]
    if isinstance(obj, str) and (inner := embedded_json(obj)) is not None:
        clean = strip_secrets(inner)
        return obj if clean == inner else json_text(clean)
    return obj
