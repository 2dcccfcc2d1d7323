"""The emulator's deterministic replies: its tokenizer, the reply text for a prompt, and the OpenAI-shaped
completion and embeddings bodies every dialect starts from."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import time
from typing import Any

import orjson

_WORDS = ("你好", "！", "这是", "一个", "模拟", "的", "回答", "，", "来自", "桥", "网关", "。")


def count_tokens(text: str) -> int:
    """The emulator's tokenizer: one token per CJK character, one per 4 other characters (rounded up)."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return cjk + math.ceil((len(text) - cjk) / 4)


def text_of(content: Any) -> str:
    """A message's text: the string itself, or the text parts of a multimodal list joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def output_limit(body: dict[str, Any], ignores_max_completion_tokens: bool) -> int:
    """The completion tokens the request allows: max_completion_tokens, else max_tokens; a vendor that knows
    max_tokens alone ignores the other (``Dialect.ignores_max_completion_tokens``)."""
    limit = "max_tokens" if ignores_max_completion_tokens else "max_completion_tokens"
    asked = body.get(limit) or body.get("max_tokens")
    return int(asked or 1 << 30)


def turns_alternate(messages: list[Any]) -> bool:
    """Hunyuan's rule as its 400 words it: user (tool) and assistant alternate, starting with user and ending with
    user (tool); tool may repeat. System messages stand aside."""
    roles = [m.get("role") for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant", "tool")]
    if not roles or roles[0] != "user" or roles[-1] == "assistant":
        return False
    for before, after in itertools.pairwise(roles):
        same_side = (before == "assistant") == (after == "assistant")
        if same_side and not before == after == "tool":
            return False
    return True


def systems_of(messages: list[Any]) -> tuple[int, bool]:
    """How many system messages, and whether one comes after another role's message."""
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    later = any(a != "system" and b == "system" for a, b in itertools.pairwise(roles))
    return roles.count("system"), later


def empty_assistant_at(messages: list[Any]) -> tuple[int, bool] | None:
    """The first assistant message with nothing in it, and whether it has tool calls: no content, "", or text
    parts all empty without tool calls; "" or empty parts beside them (None or absent is how a tool call comes)."""
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        content, calls = m.get("content"), bool(m.get("tool_calls"))
        parts = isinstance(content, list) and all(isinstance(p, dict) and not p.get("text") for p in content)
        if content == "" or parts or (content is None and not calls):
            return i, calls
    return None


def unreasoned_at(messages: list[Any], empty_counts: bool, whole_turn: bool) -> int | None:
    """The index of the first assistant message that needs reasoning_content and has none (absent or null, and ""
    when ``empty_counts``): one with tool calls, or with ``whole_turn`` any between two user messages (or after the
    last) where one has tool calls."""
    need: list[int] = []
    turn: list[int] = []
    called = False
    for i, m in enumerate([*messages, {"role": "user"}]):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "user":
            need += turn if called else []
            turn, called = [], False
        elif role == "assistant":
            calls = bool(m.get("tool_calls"))
            called = called or calls
            turn += [i] if whole_turn or calls else []
    for i in need:
        reasoning = messages[i].get("reasoning_content")
        if reasoning is None or (empty_counts and reasoning == ""):
            return i
    return None


def thinks(body: dict[str, Any], default: bool) -> bool:
    """Whether the model thinks for this request: as its ``thinking.type`` says ("enabled" or "disabled"), else
    ``default``."""
    switch = body.get("thinking")
    said = switch.get("type") if isinstance(switch, dict) else None
    return said == "enabled" if said in ("enabled", "disabled") else default


_UNTYPED_OK = ("type", "anyOf", "$ref", "enum")  # a schema node naming its values by one of these (the spec's examples)


def _parameters(tools: Any) -> list[dict[str, Any]]:
    """Each tool's parameters that are an object (others are the request checks' to refuse)."""
    out = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        params = function.get("parameters") if isinstance(function, dict) else None
        if isinstance(params, dict):
            out.append(params)
    return out


def untyped_root(tools: Any) -> bool:
    """A tool's parameters whose root is not typed "object" (Moonshot's first check: github:14790897/
    MiqroForge-Desktop#1165, where a root without "type" is refused and the rest of the same schema taken)."""
    return any(params.get("type") != "object" for params in _parameters(tools))


def schema_break(tools: Any) -> str | None:
    """Where the first tool's parameters break Moonshot's JSON Schema subset, as its 400 says it
    (``<At path 'properties.x': why>``), or None. Three of its rules (github:MoonshotAI/walle docs/mfjs-spec.md;
    each seen refused): a property schema that is not an object, a node below the root naming no type, a node with
    both anyOf and type."""
    for params in _parameters(tools):
        broken = _break(params, "root")
        if broken is not None:
            return broken
    return None


def _break(node: dict[str, Any], path: str) -> str | None:
    if "anyOf" in node and "type" in node:
        return (
            f"<At path '{path}': when using anyOf, type should be defined in anyOf items instead of the parent schema>"
        )
    if path != "root" and not any(k in node for k in _UNTYPED_OK):
        return f"<At path '{path}': type is not defined>"
    prefix = "" if path == "root" else path + "."
    subs: list[tuple[Any, str]] = [(node.get("items"), prefix + "items")]
    properties = node.get("properties")
    for name, sub in properties.items() if isinstance(properties, dict) else ():
        if not isinstance(sub, dict):
            return f"<At path '{prefix}properties': property schema for '{name}' must be an object>"
        subs.append((sub, f"{prefix}properties.{name}"))
    anyof = node.get("anyOf")
    subs += [(s, f"{prefix}anyOf.{i}") for i, s in enumerate(anyof if isinstance(anyof, list) else [])]
    for sub, at in subs:
        broken = _break(sub, at) if isinstance(sub, dict) else None
        if broken is not None:
            return broken
    return None


def tool_choice_of(body: dict[str, Any]) -> str:
    """The request's tool_choice: its string, or an object's type ("function": a named tool); "" when absent."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice.get("type", ""))
    return choice if isinstance(choice, str) else ""


def has_media(messages: list[Any]) -> bool:
    """Whether a message's content is a list with a part that is not text (an image, audio, a file)."""
    return any(
        isinstance(m, dict)
        and isinstance(m.get("content"), list)
        and any(isinstance(p, dict) and p.get("type") not in (None, "text") for p in m["content"])
        for m in messages
    )


def prompt_tokens(messages: list[Any]) -> int:
    return sum(4 + count_tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict))


def reply_text(target: str, seed: str, tokens: int) -> list[str]:
    """Deterministic reply pieces (one token each) for a prompt."""
    h = int.from_bytes(hashlib.sha256(f"{target}|{seed}".encode()).digest()[:8], "big")
    rng = random.Random(h)
    return [rng.choice(_WORDS) for _ in range(tokens)]


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def message(target: str, body: dict[str, Any], completion: int) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason: a tool call when tools are offered to a user turn, JSON in
    JSON mode, else the deterministic text."""
    messages = body.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    tools = body.get("tools")
    if tools and body.get("tool_choice") != "none" and last.get("role") == "user":
        name = tools[0].get("function", {}).get("name", "tool")
        args = orjson.dumps({"query": text_of(last.get("content"))[:20]}).decode()
        call = {"id": "call_emu_0", "type": "function", "function": {"name": name, "arguments": args}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    text = "".join(reply_text(target, text_of(last.get("content")), completion))
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        text = orjson.dumps({"answer": text}).decode()
    return {"role": "assistant", "content": text}, "stop"


def choices_asked(body: dict[str, Any]) -> int:
    """``n``: how many choices the request asks for (each ``tokens`` long, all of them billed)."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 128 else 1


def completion(target: str, body: dict[str, Any], prompt: int, tokens: int) -> dict[str, Any]:
    """A whole chat completion, OpenAI-shaped, with the ``n`` choices asked for."""
    msg, finish = message(target, body, tokens)
    n = choices_asked(body)
    return {
        "id": "chatcmpl-emu-" + hashlib.sha256(orjson.dumps(body.get("messages"))).hexdigest()[:16],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": i, "message": msg, "finish_reason": finish} for i in range(n)],
        "usage": usage(prompt, tokens * n),
    }


def embeddings(body: dict[str, Any], prompt: int) -> dict[str, Any]:
    """One short deterministic vector per input."""
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = []
    for i, item in enumerate(items):
        h = hashlib.sha256(str(item).encode()).digest()
        data.append({"object": "embedding", "index": i, "embedding": [b / 255 for b in h[:8]]})
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }
