"""What a transcript must not hold: values under a secret-named key, at any depth, JSON held in a string included.

A name is secret when, lower-cased and without ``_``, ``-``, ``.``, ``/`` and spaces, it ends in one of
:data:`SECRET_SUFFIXES` (``api_key``, ``X-Api-Key``, ``clientSecret``, ``AccessKeySecret``, ``SecretId``,
``refresh_token``, ``passwd``, ``Set-Cookie``...) and is not a word of the model's vocabulary
(``eos_token``, ``max_token``), or when its last word is ``pass``, ``ak`` or ``sk`` (``user_pass``, ``baidu_sk``);
words are split at those separators and at a lower-to-upper case change (``api/key`` is ``api`` ``key``).
Not secret: ``tokens``, ``max_tokens``, ``token_count``, ``keyword``, ``monkey``, ``passage``, ``task``,
``sort_key``, ``session_id``, ``signature``/``sign`` (a request signature is no key), a bare ``key``.

What a secret-named key keeps: nothing when its value is a string, number, boolean or null (the key goes); its
type when the value is an object or array, which is written empty (``{"password": {"value": "x"}}`` becomes
``{"password": {}}``, ``{"credentials": ["sk-…"]}`` ``{"credentials": []}``): under a secret name every value
is a secret, and so is every key (a map may be keyed by tokens).

A JSON Schema names properties, it holds no values: in a request's ``tools[].function.parameters``,
``functions[].parameters`` and ``response_format.json_schema.schema`` a property named ``password`` keeps its
name and its schema. Under a secret-named property (at any depth below it) a schema keeps only what describes
the value — ``type`` (a JSON type), ``title``, ``description``, ``format``, bounds, and its subschemas, property
names and ``required`` names — never a keyword that may hold one (``default``, ``const``, ``enum``,
``examples``, ``pattern``, any other keyword). Elsewhere in a schema the instance keywords are stripped like
any value, and a secret-named keyword like any secret-named key.

A string holding a JSON object or array (a tool call's ``arguments``, a tool's JSON result), or holding one
encoded twice (a JSON string of it), is read as JSON: its secret values are removed too and it is written back
as JSON of the same nesting, so it still parses. One nested deeper than a body may be (100 levels:
:mod:`balancer.nesting`) is read as text, token by token (:func:`strip_text`), by the same rule: it still parses
too. The walks keep their own stack (:mod:`balancer.jsonwalk`): no depth of a request, of an upstream's reply or
of a string's JSON can exhaust Python's (a transcript record was lost from about 250 levels).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from balancer.jsonwalk import DROP, rebuild
from balancer.pii import embedded_json, json_text, looks_like_json

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
_SEPARATORS = re.compile(r"[_\-./ ]")
_WORDS = re.compile(r"[_\-./ ]+|(?<=[a-z0-9])(?=[A-Z])")
#: Raw request bytes (``_-./ `` deleted) that may hold a secret name: a stem of every rule (the Chinese names in
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
    return _HINT.search(bytes(raw).translate(None, b"_-./ ")) is not None


def strip_secrets(obj: Any) -> Any:
    """A copy of ``obj`` without secret values, at any depth (see the module's rule); a string holding a JSON
    object or array loses them too and stays JSON (re-encoded only when something was removed)."""
    return rebuild(obj, _leaf, _entry)


def _entry(name: str, value: Any) -> Any:
    """What a key of this name keeps of its value, to be walked."""
    if not is_secret_name(name):
        return value
    return type(value)() if isinstance(value, dict | list) else _DROP


def _leaf(value: Any) -> Any:
    return _text(value) if isinstance(value, str) else value


def _text(text: str) -> str:
    """A string without the secrets of the JSON it holds (as JSON, or as text when nested too deeply)."""
    if (inner := embedded_json(text)) is not None:
        clean = strip_secrets(inner)
        return text if clean == inner else json_text(clean)
    if looks_like_json(text):  # nested deeper than embedded_json reads (or no JSON): read as text
        return strip_text(text) if may_name_secret(text.encode("utf-8", "surrogatepass")) else text
    if (quoted := _quoted(text)) is not None:
        clean = _text(quoted)
        return text if clean == quoted else json_text(clean)
    return text


def _quoted(text: str) -> str | None:
    """The JSON text a string holds encoded once more (``"{\\"password\\": …}"``: arguments encoded twice)."""
    if text.lstrip()[:1] != '"':
        return None
    try:
        inner = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return inner if isinstance(inner, str) and looks_like_json(inner) else None


#: JSON text's tokens: a string, a structural character, a run of blanks, a scalar, any other character.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|\s+|[^\s{}\[\]:,"]+|.', re.DOTALL)


def strip_text(text: str) -> str:
    """JSON text without its secret values, read token by token (any depth, no recursion): what a string holding
    JSON nested deeper than :func:`balancer.pii.embedded_json` reads becomes. A secret-named key goes with its
    value, or keeps its value's type written empty (the module's rule); the text is kept as written otherwise,
    and a string in it that holds JSON loses its secrets too."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    opened: list[str] = []  # the containers the scan is in
    key = False  # the next string is an object's key
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok in ("{", "["):
            opened.append(tok)
            key = tok == "{"
        elif tok in ("}", "]"):
            if opened:
                opened.pop()
            _trailing_comma(out)  # left by an entry that was removed
            key = False
        elif tok == ",":
            key = opened[-1:] == ["{"]
        elif tok[:1] == '"' and key:
            key = False
            name = _string(tok)
            if name is not None and is_secret_name(name):
                i = _skip_entry(tokens, i, out, tok)
                key = tokens[i - 1] == ","  # the entry went with its comma: a key follows
                continue
        elif tok[:1] == '"' and may_name_secret(tok.encode("utf-8", "surrogatepass")):
            value = _string(tok)
            tok = tok if value is None or (clean := _text(value)) == value else json_text(clean)
        out.append(tok)
    return "".join(out)


def _string(token: str) -> str | None:
    try:
        value = msgspec.json.decode(token)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, str) else None


def _skip_entry(tokens: list[str], i: int, out: list[str], name: str) -> int:
    """Past a secret-named entry's value (``tokens[i]`` follows its key); an object or array is written empty, any
    other value goes with its key and the comma after it. Where the key is not followed by a colon, it is kept."""
    j = _blank(tokens, i)
    if j >= len(tokens) or tokens[j] != ":":
        out.append(name)
        return i
    j = _blank(tokens, j + 1)
    if j < len(tokens) and tokens[j] in ("{", "["):
        out.extend((name, *tokens[i:j], tokens[j] + ("}" if tokens[j] == "{" else "]")))
        depth = 0
        for end in range(j, len(tokens)):
            depth += 1 if tokens[end] in ("{", "[") else -1 if tokens[end] in ("}", "]") else 0
            if depth == 0:
                return end + 1
        return len(tokens)
    if j < len(tokens) and tokens[j] not in ("}", "]"):
        j = _blank(tokens, j + 1)
    return j + 1 if j < len(tokens) and tokens[j] == "," else j


def _blank(tokens: list[str], i: int) -> int:
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    return i


def _trailing_comma(out: list[str]) -> None:
    while out and out[-1].isspace():
        out.pop()
    if out and out[-1] == ",":
        out.pop()


def strip_request(body: Any) -> Any:
    """A chat-completion request body without secret values: :func:`strip_secrets`, but its tools' parameters and
    its response format's JSON Schema keep their property names and schemas (see the module's rule)."""
    return _request(body, _schema, _value)


def scrub_request(body: Any, scrub: Callable[[Any, bool], Any]) -> Any:
    """A request body with ``scrub(value, numbers)`` applied to every value: ``numbers`` False in its JSON
    Schemas (tools' parameters, the response format's schema), whose numbers are bounds, never PII."""
    return _request(body, lambda s: scrub(s, False), lambda _name, v: scrub(v, True))


_DROP: Any = DROP  # a value that is left out, key and all
_Strip = Callable[[Any], Any]


def _value(name: str, value: Any) -> Any:
    """What a key of this name keeps of its value."""
    kept = _entry(name, value)
    return kept if kept is _DROP else strip_secrets(kept)


def _kept(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    return {k: v for k, v in pairs if v is not _DROP}


_Rest = Callable[[str, Any], Any]


def _with(obj: Any, special: dict[str, _Strip], rest: _Rest) -> Any:
    """``obj`` with each key's value by ``rest(key, value)``, the values of the ``special`` keys by their own."""
    if not isinstance(obj, dict):
        return rest("", obj)
    return _kept((k, special[k](v) if k in special else rest(str(k), v)) for k, v in obj.items())


def _request(body: Any, schema: _Strip, rest: _Rest) -> Any:
    """``body`` with its JSON Schemas (see the module's rule) by ``schema``, every other value by ``rest``."""

    def each(f: _Strip) -> _Strip:
        return lambda v: [f(x) for x in v] if isinstance(v, list) else rest("", v)

    def function(fn: Any) -> Any:
        return _with(fn, {"parameters": schema}, rest)

    def tool(t: Any) -> Any:
        return _with(t, {"function": function}, rest)

    def response_format(fmt: Any) -> Any:
        return _with(fmt, {"json_schema": lambda js: _with(js, {"schema": schema}, rest)}, rest)

    return _with(body, {"tools": each(tool), "functions": each(function), "response_format": response_format}, rest)


#: Keywords whose value maps names (of properties, definitions) to subschemas.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
#: Keywords whose value is a subschema or a list of them.
_SUBSCHEMAS = frozenset(
    {"items", "prefixItems", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties"}
    | {"contains", "propertyNames", "not", "if", "then", "else", "anyOf", "allOf", "oneOf"}
)
#: Keywords that describe a value without holding one: what a secret property's schema keeps.
_DESCRIBING = frozenset(
    {"title", "description", "format", "$ref", "$id", "$schema", "$comment", "$anchor", "nullable", "strict"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength"}
    | {"minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "readOnly", "writeOnly"}
    | {"deprecated", "contentMediaType", "contentEncoding"}
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def _schema(obj: Any, secret: bool = False) -> Any:
    """A JSON Schema without secret values; ``secret``: it describes a secret-named property's value."""
    if isinstance(obj, bool):
        return obj
    if not isinstance(obj, dict):
        return {} if secret else strip_secrets(obj)
    names = obj.get("properties")
    return _kept((k, _keyword(str(k), v, secret, names)) for k, v in obj.items())


def _keyword(word: str, value: Any, secret: bool, names: Any) -> Any:
    if word in _NAMED_SCHEMAS and isinstance(value, dict):
        return {name: _schema(sub, secret or is_secret_name(str(name))) for name, sub in value.items()}
    if word in _SUBSCHEMAS:
        return [_schema(s, secret) for s in value] if isinstance(value, list) else _schema(value, secret)
    if word == "required" and isinstance(value, list) and all(isinstance(n, str) for n in value):
        return [n for n in value if isinstance(names, dict) and n in names] if secret else value
    if not secret:
        return _value(word, value)
    if word == "type":
        listed = value if isinstance(value, list) else [value]
        return value if all(isinstance(t, str) and t in _TYPES for t in listed) else _DROP
    if word in _DESCRIBING and isinstance(value, str | int | float | bool):
        return value
    return _DROP
